"""Built-in recipe steps. Importing this package registers them all.

Step names and parameter names follow DCLM's mappers, so a DCLM recipe
reads the same here.
"""

from dcbench.baselines.steps import urls, langid, content, repetition, lines, dedup, quality, prox, pagekeys, sources, metadata, enrichers  # noqa: F401
