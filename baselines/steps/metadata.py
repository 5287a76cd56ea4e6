"""Filters on what a page is rather than what it says: DCLM's random subsampling and
RedPajama's GitHub file-extension rule.

`random_sampling_filter` is seeded: a page's draw is a hash of the page and the
seed, so the same pages are kept however the input is sharded, however many
workers run, and in whatever order (DCLM draws from an unseeded global RNG).
"""

from __future__ import annotations

import json
from typing import Any

import xxhash

from dcbench.baselines.registry import FRACTION, NON_NEGATIVE, Mapper, Page, step

TEXT_KEY = "text"
URL_KEY = "url"

# RedPajama v1's GitHub extensions, as DCLM's github_extension_filter lists them (case-sensitive;
# "Dockerfile" and "Makefile" match any name ending with them).
GITHUB_EXTENSIONS = (
    ".asm", ".bat", ".cmd", ".c", ".h", ".cs", ".cpp", ".hpp", ".c++", ".h++", ".cc", ".hh", ".C", ".H", ".cmake",
    ".css", ".dockerfile", ".f90", ".f", ".f03", ".f08", ".f77", ".f95", ".for", ".fpp", ".go", ".hs", ".html",
    ".java", ".js", ".jl", ".lua", ".md", ".markdown", ".php", ".php3", ".php4", ".php5", ".phps", ".phpt", ".pl",
    ".pm", ".pod", ".perl", ".ps1", ".psd1", ".psm1", ".py", ".rb", ".rs", ".sql", ".scala", ".sh", ".bash",
    ".command", ".zsh", ".ts", ".tsx", ".tex", ".vb", "Dockerfile", "Makefile", ".xml", ".rst", ".m", ".smali",
)

_SPAN = float(1 << 64)


@step("filter", ranges={"keep_probability": FRACTION, "seed": NON_NEGATIVE}, any_text=True)
def random_sampling_filter(*, keep_probability: float = 0.1, seed: int = 0) -> Mapper:
    """Keep each page with probability keep_probability, a seeded draw per page (DCLM random_sampling_filter).

    DCLM keeps a page when an unseeded `random.random()` < keep_probability,
    so its sample changes from run to run and with the number of workers.
    Ours draws u in [0, 1) from a 64-bit hash (xxh3, seeded with `seed`) of
    the page's url and text and keeps the page when u < keep_probability:
    the same pages are kept on every run, however the input is sharded or
    parallelised, and a different `seed` draws a different sample. Unlike
    DCLM, copies of a page (same url and text) share one draw: all are kept
    or none. The page's text may be a list of lines or absent (then the whole
    page is hashed). keep_probability must lie in [0, 1], as in DCLM.
    """

    def keep(page: Page) -> list[Page]:
        return [page] if page_draw(page, seed) < keep_probability else []

    return keep


def page_draw(page: Page, seed: int) -> float:
    """The page's uniform draw in [0, 1) for `seed` (see random_sampling_filter)."""
    return xxhash.xxh3_64_intdigest(_page_key(page), seed=seed % (1 << 64)) / _SPAN


def _page_key(page: Page) -> bytes:
    text, url = page.get(TEXT_KEY), page.get(URL_KEY)
    if isinstance(text, str) and (url is None or isinstance(url, str)):
        return f"{url or ''}\x00{text}".encode("utf-8", "surrogatepass")
    shown: Any = page if text is None else [url, text]
    return json.dumps(shown, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")


@step("filter", any_text=True)
def github_extension_filter(*, filename_key: str = "filename", allowed_extensions: list[str] | None = None) -> Mapper:
    """Keep pages whose `filename_key` field ends with an allowed extension (DCLM github_extension_filter, RedPajama's GitHub rule).

    `allowed_extensions` defaults to RedPajama v1's 66 code and markup
    extensions (".py", ".C", "Makefile", ...). Matching is `str.endswith`:
    case-sensitive ("x.C" is kept, "x.CPP" is not), and an entry without a
    dot matches any name ending with it ("GNUMakefile" is kept, "makefile" is
    not). A page without the field (or with a non-string one) is dropped; an
    empty list drops every page.
    """
    allowed = GITHUB_EXTENSIONS if allowed_extensions is None else tuple(allowed_extensions)

    def keep(page: Page) -> list[Page]:
        name = page.get(filename_key, "")
        return [page] if isinstance(name, str) and name.endswith(allowed) else []

    return keep
