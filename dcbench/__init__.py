"""dcbench: a data-curation benchmark harness in the style of DCLM.

This package is the spine every stage shares: the CLI, errors, shard I/O,
content ids and the Ray runner. Nothing stage-specific lives here.
"""

__version__ = "0.1.0"
