"""Modifiers that reshape a page's keys or the form of its content, with DCLM's exact behaviour.

* `key_name_modifier` renames a key (DCLM's older raw sources keep the text
  under `content`); when the new key is already there and overwriting is not
  allowed, DCLM warns and leaves the page as it is. So do we, and we count
  those pages: the log says how many (at the 1st, 10th, 100th, ... one).
* `split_lines_modifier` turns the text into a list of lines and
  `join_lines_modifier` turns such a list back into a str. Between the two the
  text is a list, which only steps registered with `any_text=True` accept
  (the runner quarantines a page that reaches any other step that way).
* `html_content_extraction_modifier` replaces the page's HTML with its text:
  DCLM's jusText paragraphs (the `justext` package), or Resiliparse's main
  content extraction, which made DCLM-Pool's texts.

Where DCLM drops a page because the mapper raised (a page without the key,
text of another type), the page is quarantined here, with the reason.
"""

from __future__ import annotations

import logging
from typing import Literal

from dcbench.baselines.registry import Mapper, Page, Rule, step
from dcbench.errors import ConfigError

try:  # optional: only html_content_extraction_modifier with extractor: resiliparse needs it
    from resiliparse.extract.html2text import extract_plain_text
except ImportError:  # pragma: no cover - depends on the installation
    extract_plain_text = None

log = logging.getLogger(__name__)

TEXT_KEY = "text"


def _text_of(page: Page, step_name: str) -> object:
    if TEXT_KEY not in page:
        keys = ", ".join(sorted(map(str, page))) or "none"
        raise KeyError(f"the page has no '{TEXT_KEY}' key (its keys: {keys}); put key_name_modifier before "
                       f"{step_name} when the text is under another key")
    return page[TEXT_KEY]


# ------------------------------------------------------------------ key names


@step("modifier", any_text=True,
      rules=[Rule("old_key != new_key", lambda v: v["old_key"] != v["new_key"])])
def key_name_modifier(*, old_key: str = "content", new_key: str = "text", allow_overwrite: bool = False) -> Mapper:
    """Rename the page key old_key to new_key, e.g. DCLM's older pools' `content` to `text` (DCLM key_name_modifier).

    A page without old_key is left as it is. A page that already has new_key
    keeps both keys as they are unless `allow_overwrite` (then old_key's value
    replaces new_key's); as DCLM warns on each such page, the log counts them.
    Stricter than DCLM: old_key equal to new_key (which DCLM turns into a
    warning on every page) is refused when the recipe loads.
    """
    kept_both = [0]

    def modify(page: Page) -> list[Page]:
        if old_key in page:
            if new_key not in page or allow_overwrite:
                page[new_key] = page.pop(old_key)
            else:
                kept_both[0] += 1
                n = kept_both[0]
                if str(n).rstrip("0") == "1":  # the 1st, 10th, 100th, ... such page of this worker
                    log.warning("key_name_modifier: %d page(s) already had '%s' and kept it, with '%s' left as it "
                                "is (allow_overwrite: false), as DCLM does", n, new_key, old_key)
        return [page]

    return modify


# -------------------------------------------------------------- lines as a list


@step("modifier", any_text=True, rules=[Rule("delimiter is not empty", lambda v: v["delimiter"] != "")])
def split_lines_modifier(*, delimiter: str = "\n") -> Mapper:
    """Turn the text into the list of its pieces between delimiters, for list-wise steps such as exact_dedup (DCLM split_lines_modifier).

    The pieces are `str.split(delimiter)`: empty and blank pieces stay ("a\\n"
    gives ["a", ""]). A page whose text is empty is dropped; a text that is
    already a list passes unchanged. Any other text (a number, no text key)
    quarantines the page. Pair it with join_lines_modifier: no other step
    accepts list text. Stricter than DCLM: an empty delimiter (which fails on
    every page there) is refused when the recipe loads.
    """

    def modify(page: Page) -> list[Page]:
        text = _text_of(page, "split_lines_modifier")
        if isinstance(text, list):
            return [page]
        if not isinstance(text, str):
            raise TypeError(f"split_lines_modifier needs text that is a string or a list, got {type(text).__name__}")
        if text == "":
            return []
        page[TEXT_KEY] = text.split(delimiter)
        return [page]

    return modify


@step("modifier", any_text=True)
def join_lines_modifier(*, delimiter: str = "\n") -> Mapper:
    """Join list text (from split_lines_modifier, after list-wise steps) back into one string (DCLM join_lines_modifier).

    The pieces are joined with `delimiter`. A page whose list is empty is
    dropped, but a list of empty pieces gives an empty text that is kept (as
    DCLM does). Text that is already a string passes unchanged, even when
    empty. Pieces that are not strings, or text of another type, quarantine
    the page.
    """

    def modify(page: Page) -> list[Page]:
        text = _text_of(page, "join_lines_modifier")
        if isinstance(text, str):
            return [page]
        if not isinstance(text, list):
            raise TypeError(f"join_lines_modifier needs text that is a list or a string, got {type(text).__name__}")
        if not text:
            return []
        page[TEXT_KEY] = delimiter.join(text)  # raises TypeError on a piece that is not a string
        return [page]

    return modify


# ------------------------------------------------------------------ HTML to text


@step("modifier")
def html_content_extraction_modifier(*, extractor: Literal["justext", "resiliparse"] = "justext") -> Mapper:
    """Replace the page's HTML with the text extracted from it (DCLM html_content_extraction_modifier).

    `justext` (DCLM's step; needs `pip install justext`): every paragraph
    jusText finds, boilerplate included (DCLM gives it no stop words and
    keeps all), joined by a blank line; an HTML parser error (an empty or
    blank page) or no paragraph drops the page. `resiliparse` (not DCLM's
    step but the extraction that made DCLM-Pool's texts,
    `extract_plain_text(html, main_content=True)`): the main content; an
    empty result drops the page.
    """
    extract = _justext_extractor() if extractor == "justext" else _resiliparse_extractor()

    def modify(page: Page) -> list[Page]:
        text = extract(page[TEXT_KEY])
        if text is None:
            return []
        page[TEXT_KEY] = text
        return [page]

    return modify


def _justext_extractor():
    try:
        # deferred: justext is optional (only this extractor needs it) and takes ~60 ms to import
        import justext
        from lxml.etree import ParserError
    except ImportError as e:
        raise ConfigError("html_content_extraction_modifier with extractor: justext needs the jusText package: "
                          "`pip install justext` (or use extractor: resiliparse)") from e

    def extract(html: str) -> str | None:
        try:
            paragraphs = justext.justext(html, ())
        except ParserError:  # an empty or unparsable document: DCLM drops the page
            return None
        return "\n\n".join(p.text for p in paragraphs) if paragraphs else None

    return extract


def _resiliparse_extractor():
    if extract_plain_text is None:
        raise ConfigError("html_content_extraction_modifier with extractor: resiliparse needs Resiliparse: "
                          "`pip install resiliparse` (or use extractor: justext)")

    def extract(html: str) -> str | None:
        return extract_plain_text(html, main_content=True) or None

    return extract
