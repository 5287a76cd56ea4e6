"""HTML pages: Jinja2 templates with autoescape on, Plotly inlined, and a
Content-Security-Policy that lets only the page's own scripts run.

Every page extends `templates/page.html.j2` (spine). A stage renders its own
templates through `render(package, template, scripts=[...], **context)`: the
loader looks in the stage package's `templates/` folder, then the spine's.

Scripts are inlined, never loaded: plotly.js (`plotly.offline.get_plotlyjs()`,
~4.8 MB, once per page) and the page's small `.js` files from the templates
folders. The CSP lists the sha256 of each, so the browser runs exactly those
and blocks remote scripts, injected `<script>` elements and inline event
handlers (`onmouseover=`) alike. Hashes rather than a nonce keep the page
byte-identical for the same inputs. Data reaches the scripts as JSON in
`<script type="application/json">` blocks written with Jinja's `tojson`,
which escapes `<`, `>`, `&` and `'`, so a `</script>` inside a name stays text.

Plotly reads pseudo-HTML in its strings (`<b>`, `<br>`, `<a href>`); text
from users goes into figures through `plot_text`, which escapes it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import textwrap
from dataclasses import dataclass
from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup
from plotly.offline import get_plotlyjs

SPINE = "dcbench"
PLOT_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
PLOT_FONT = {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif", "size": 12}
CSP_BASE = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
            "form-action 'none'")


@dataclass(frozen=True)
class InlineScript:
    """One script written into the page verbatim, allowed by its hash."""

    name: str
    text: Markup

    @property
    def csp_source(self) -> str:
        digest = hashlib.sha256(self.text.encode("utf-8")).digest()
        return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def _checked(name: str, text: str) -> InlineScript:
    # An inline script ends at the first "</script"; "<!--" switches the tokenizer into a
    # mode where it may not. Neither may appear in code we inline.
    lowered = text.lower()
    if "</script" in lowered or "<!--" in lowered:
        raise ValueError(f"{name}: cannot be inlined (contains </script or <!--)")
    return InlineScript(name, Markup(text))


@cache
def plotly_script() -> InlineScript:
    return _checked("plotly.js", get_plotlyjs())


@cache
def environment(package: str) -> jinja2.Environment:
    """Templates of `package` (its `templates/` folder), falling back on the spine's."""
    loaders = [jinja2.PackageLoader(package, "templates")]
    if package != SPINE:
        loaders.append(jinja2.PackageLoader(SPINE, "templates"))
    return jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


@cache
def page_script(package: str, name: str) -> InlineScript:
    source, _, _ = environment(package).loader.get_source(environment(package), name)
    return _checked(name, source)


def render(package: str, template: str, *, scripts: tuple[str, ...] = (), plotly: bool = True,
           **context: Any) -> str:
    """Render `template` of `package`; `scripts` are `.js` files of its templates, run in order
    after plotly.js. The template gets `inline_scripts` and `csp` besides `context`."""
    inline = ([plotly_script()] if plotly else []) + [page_script(package, s) for s in scripts]
    csp = CSP_BASE + "; script-src " + (" ".join(s.csp_source for s in inline) or "'none'")
    return environment(package).get_template(template).render(inline_scripts=inline, csp=csp, **context)


def plot_text(value: Any, width: int = 0) -> str:
    """Text for a Plotly string (hover, tick label): escaped, so Plotly shows it literally;
    with `width`, long text is broken into lines of at most that many characters."""
    text = "" if value is None else str(value)
    lines = textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=True) if width else [text]
    return "<br>".join(html.escape(line, quote=True) for line in lines or [""])
