"""Content heuristics of DCLM's RefinedWeb recipe (page length, word length,
symbols, bullets, ellipses, alphabetic words, stop words, word counts,
newline runs), with DCLM's exact definitions:

* "words" for page length and word counts are fastText tokens
  (`fasttext.FastText.tokenize`: split at space, \\n, \\r, \\t, \\v, \\f and NUL
  only, each \\n giving a `</s>` token), keeping those whose first character
  is alphanumeric; see `fasttext_word_count`.
* "words" for the other filters are `str.split()` tokens (any Unicode
  whitespace), punctuation included.
* "lines" for bullets and ellipses are the `\\n`-separated lines, stripped,
  empty ones left out.

Several steps of a chain look at the same text: the split words, the stripped
lines and the word count of the last text seen are kept (one entry each, keyed
on the identity of the immutable text), so a page is split once, not per step.
"""

from __future__ import annotations

import math
import re
import sys
from operator import itemgetter
from typing import Any, Callable, Literal

from dcbench.baselines import text as uax29
from dcbench.baselines.registry import FRACTION, NON_NEGATIVE, Mapper, Page, ordered, step
from dcbench.errors import ConfigError

TEXT_KEY = "text"

WordModel = Literal["fasttext", "uniseg", "split"]

# --------------------------------------------------------------- word counting

# fastText splits only at these; str.split() also splits at the other Unicode
# spaces below and does not split at NUL. Texts holding any of them (or lone
# surrogates, which fastText cannot encode) take the careful path.
FASTTEXT_SEPARATORS = " \n\r\t\v\f\x00"
OTHER_SPACES = "\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_CAREFUL = re.compile("[\x00" + OTHER_SPACES + "\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Other spaces become a character that is neither a space nor alphanumeric, so
# str.split() cuts exactly where fastText does and first characters keep their class.
_TO_FASTTEXT_SPLIT = {ord(c): "\x01" for c in OTHER_SPACES} | {0: " "}
_first = itemgetter(0)


def _fasttext_tokens(text: str) -> list[str]:
    import fasttext

    return fasttext.FastText.tokenize(text)


def split_words(text: str, model: WordModel = "fasttext", ignore_punctuation: bool = False,
                ignore_whitespace: bool = True) -> list[str]:
    """DCLM's `split_words`: tokens of `model`, keeping those whose first character is
    alphanumeric (`ignore_punctuation`), or also whitespace ones, or the non-blank ones."""
    if model == "uniseg":
        return uax29.split_words(text, ignore_punctuation, ignore_whitespace)
    if model == "fasttext":
        tokens = _fasttext_tokens(text)
    elif model == "split":
        tokens = text.split()
    else:
        raise ValueError(f"unknown word tokenizer {model!r}")
    return uax29.filter_segments(list(tokens), ignore_punctuation, ignore_whitespace)


def _last_text(fn: Callable[[str], Any]) -> Callable[[str], Any]:
    """Remember `fn`'s result for the last text object seen: consecutive steps
    look at the same page text, and the cache holds a reference to it, so an
    identity check is safe."""
    last: list[Any] = [None, None]

    def cached(text: str) -> Any:
        if last[0] is not text:
            last[0], last[1] = text, fn(text)
        return last[1]

    return cached


def fasttext_word_count(text: str, ignore_punctuation: bool = True, *, ignore_whitespace: bool = True,
                        model: WordModel = "fasttext") -> int:
    """Number of words as DCLM counts them for page length and word-removal ratio.

    Default: fastText tokens (`fasttext.FastText.tokenize`: split at space,
    \\n, \\r, \\t, \\v, \\f, NUL; every \\n is a `</s>` token) whose first
    character is alphanumeric, so `</s>` and tokens starting with punctuation
    are not counted ("Hello, world!" has 2, "-- 3 cats" has 2). Computed
    without building fastText's token list; other settings use DCLM's
    `split_words`. Raises ValueError on lone surrogates, which fastText
    cannot read.
    """
    if not (ignore_punctuation and ignore_whitespace and model == "fasttext"):
        return len(split_words(text, model, ignore_punctuation, ignore_whitespace))
    return _fasttext_alnum_count(text)


@_last_text
def _fasttext_alnum_count(text: str) -> int:
    if _CAREFUL.search(text):
        if _SURROGATE.search(text):
            raise ValueError("text has lone surrogates (invalid Unicode); fastText cannot tokenize it")
        words = text.translate(_TO_FASTTEXT_SPLIT).split()
    else:
        words = _split(text)
    return sum(map(str.isalnum, map(_first, words)))


@_last_text
def _split(text: str) -> list[str]:
    """`text.split()`, shared by the steps looking at the same text."""
    return text.split()


@_last_text
def _stripped_lines(text: str) -> list[str]:
    """DCLM's `split_paragraphs(text, '\\n')`: lines stripped, empty ones left out."""
    return [s for line in text.split("\n") if (s := line.strip())]


# ------------------------------------------------------------------- modifiers


@step("modifier", targets=("excess_newlines",), ranges={"max_consecutive": NON_NEGATIVE})
def newline_removal_modifier(*, max_consecutive: int = 2) -> Mapper:
    """Shrink every run of more than `max_consecutive` newlines to exactly `max_consecutive` (DCLM newline_removal_modifier).

    Only `\\n` counts ("\\n \\n \\n" is not a run). Pages are never dropped,
    even when the text is or becomes empty.
    """
    if max_consecutive < 0:
        raise ConfigError(f"newline_removal_modifier: max_consecutive must be >= 0, got {max_consecutive}")
    run = "\n" * (max_consecutive + 1)
    pattern = re.compile("\n{%d,}" % (max_consecutive + 1))
    keep = "\n" * max_consecutive

    def modify(page: Page) -> list[Page]:
        text = page[TEXT_KEY]
        if run in text:
            page[TEXT_KEY] = pattern.sub(keep, text)
        return [page]

    return modify


# --------------------------------------------------------------------- filters


@step("filter", targets=("too_short", "too_long"), ranges={"min_length": NON_NEGATIVE, "max_length": NON_NEGATIVE},
      rules=[ordered("min_length", "max_length")])
def page_length_filter(
    *,
    length_type: Literal["word", "line", "paragraph", "char"] = "word",
    min_length: int | float = 1,
    max_length: int | float = math.inf,
    ignore_punctuation: bool = False,
    ignore_whitespace: bool = True,
    model: WordModel = "fasttext",
    remove_empty: bool = True,
) -> Mapper:
    """Keep pages whose length in words, lines, paragraphs or characters lies in [min_length, max_length] (DCLM page_length_filter).

    `word` counts DCLM's `split_words` tokens (`model`, default fastText;
    with `ignore_punctuation: true`, as in the DCLM recipe, only tokens
    starting with an alphanumeric character, so newlines and punctuation do
    not count). `line` / `paragraph` count the pieces between `\\n` / `\\n\\n`
    (stripped, empty ones left out unless `remove_empty: false`); `char` is
    `len(text)`. Both bounds are inclusive. DCLM's `sentence` type (blingfire)
    is not available. DCLM requires `length_type`; ours defaults to `word`.
    """

    if length_type == "word":
        def length(text: str) -> int:
            return fasttext_word_count(text, ignore_punctuation, ignore_whitespace=ignore_whitespace, model=model)
    elif length_type in ("line", "paragraph"):
        sep = "\n" if length_type == "line" else "\n\n"

        def length(text: str) -> int:
            if remove_empty:
                if sep == "\n":
                    return len(_stripped_lines(text))
                return sum(1 for p in text.split(sep) if p.strip())
            return len(text.split(sep))
    else:
        length = len

    def keep(page: Page) -> list[Page]:
        n = length(page[TEXT_KEY])
        return [] if n < min_length or n > max_length else [page]

    return keep


@step("filter", targets=("word_length",), ranges={"min_length": NON_NEGATIVE, "max_length": NON_NEGATIVE},
      rules=[ordered("min_length", "max_length")])
def word_length_filter(*, min_length: int | float = 0, max_length: int | float = math.inf) -> Mapper:
    """Keep pages whose mean word length (characters per `split()` token, punctuation included) lies in [min_length, max_length] (DCLM word_length_filter).

    A page without words is dropped.
    """

    def keep(page: Page) -> list[Page]:
        words = _split(page[TEXT_KEY])
        if not words:
            return []
        mean = sum(map(len, words)) / len(words)
        return [] if mean < min_length or mean > max_length else [page]

    return keep


_SYMBOLS = ("#", "...", ". . .", "\u2026")


@step("filter", targets=("symbols",), ranges={"max_symbol_to_word_ratio": NON_NEGATIVE})
def symbol_ratio_filter(*, max_symbol_to_word_ratio: float = 0.1) -> Mapper:
    """Drop pages whose (count of "#", "...", ". . ." and "…") / (`split()` words) exceeds the maximum (DCLM symbol_ratio_filter).

    Occurrences are counted with `str.count` per symbol (non-overlapping:
    "......" is two "..."). A page without words is dropped; a ratio equal to
    the maximum passes.
    """

    def keep(page: Page) -> list[Page]:
        text = page[TEXT_KEY]
        words = len(_split(text))
        if words == 0:
            return []
        symbols = sum(text.count(s) for s in _SYMBOLS)
        return [] if symbols / words > max_symbol_to_word_ratio else [page]

    return keep


_BULLETS = ("\u25cf", "\u2022", "*", "-")
_ELLIPSES = ("...", ". . .", "\u2026")


@step("filter", targets=("bullets",), ranges={"max_bullet_start_ratio": FRACTION})
def bullet_count_filter(*, max_bullet_start_ratio: float = 0.9) -> Mapper:
    """Drop pages where more than max_bullet_start_ratio × lines start with "●", "•", "*" or "-" (DCLM bullet_count_filter).

    Lines are the stripped, non-empty `\\n` lines; a page without lines passes.
    """

    def keep(page: Page) -> list[Page]:
        lines = _stripped_lines(page[TEXT_KEY])
        bullets = sum(1 for line in lines if line.startswith(_BULLETS))
        return [] if bullets > max_bullet_start_ratio * len(lines) else [page]

    return keep


@step("filter", targets=("ellipsis",), ranges={"max_ellipsis_end_ratio": FRACTION})
def ellipsis_count_filter(*, max_ellipsis_end_ratio: float = 0.3) -> Mapper:
    """Drop pages where more than max_ellipsis_end_ratio × lines end with "...", ". . ." or "…" (DCLM ellipsis_count_filter).

    Lines are the stripped, non-empty `\\n` lines; a page without lines passes.
    """

    def keep(page: Page) -> list[Page]:
        lines = _stripped_lines(page[TEXT_KEY])
        ellipses = sum(1 for line in lines if line.endswith(_ELLIPSES))
        return [] if ellipses > max_ellipsis_end_ratio * len(lines) else [page]

    return keep


_alpha_class: str | None = None


def _alphabetic_class() -> str:
    """The body of a regex character class holding exactly the characters for which str.isalpha() is true."""
    global _alpha_class
    if _alpha_class is None:
        ranges, start = [], None
        for i in range(sys.maxunicode + 2):
            alpha = i <= sys.maxunicode and chr(i).isalpha()
            if alpha and start is None:
                start = i
            elif not alpha and start is not None:
                ranges.append((start, i - 1))
                start = None

        def esc(i: int) -> str:
            return "\\x%02x" % i if i < 0x20 else re.escape(chr(i))

        _alpha_class = "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in ranges)
    return _alpha_class


@step("filter", targets=("non_alpha",), ranges={"max_ratio": FRACTION})
def alphabetic_word_ratio_filter(*, max_ratio: float = 0.2) -> Mapper:
    """Drop pages where the share of `split()` words without any alphabetic character exceeds max_ratio (DCLM alphabetic_word_ratio_filter).

    "Alphabetic" is `str.isalpha()` (any Unicode letter): "3.14", "--" and
    "2024" have none, "x2" and "état" have one. A ratio equal to max_ratio
    passes; a page without words is dropped.
    """
    alpha = _alphabetic_class()
    # A word (a maximal run of non-space characters) with no letter, preceded by a space...
    inner = re.compile(rf"\s[^\s{alpha}]+(?!\S)")
    # ...or at the start of the text.
    first = re.compile(rf"[^\s{alpha}]+(?!\S)")

    def keep(page: Page) -> list[Page]:
        text = page[TEXT_KEY]
        total = len(_split(text))
        if total == 0:
            return []
        no_alpha = len(inner.findall(text)) + (1 if first.match(text) else 0)
        return [page] if no_alpha / total <= max_ratio else []

    return keep


STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})


@step("filter", targets=("no_stopwords",), ranges={"min_stop_word": NON_NEGATIVE})
def stop_word_filter(*, count_unique: bool = False, min_stop_word: int = 2) -> Mapper:
    """Keep pages with at least `min_stop_word` `split()` tokens equal, lowercased, to the, be, to, of, and, that, have or with (DCLM stop_word_filter).

    Repeats count unless `count_unique`. Tokens must match exactly: "The"
    counts, "the," and "to." do not.
    """

    def keep(page: Page) -> list[Page]:
        seen: set[str] = set()
        count = 0
        for word in _split(page[TEXT_KEY]):
            low = word.lower()
            if low in STOP_WORDS:
                if count_unique:
                    seen.add(low)
                    count = len(seen)
                else:
                    count += 1
                if count >= min_stop_word:
                    return [page]
        return []

    return keep


# ------------------------------------------------------------- word counts


@step("enricher")
def word_counter_enricher(
    *,
    key: str = "word_count",
    overwrite: bool = False,
    ignore_punctuation: bool = True,
    ignore_whitespace: bool = True,
    model: WordModel = "fasttext",
) -> Mapper:
    """Add `page[key]` = the page's word count, counted as page_length_filter counts words (DCLM word_counter_enricher).

    Default: fastText tokens starting with an alphanumeric character (see
    `fasttext_word_count`). A page that already has the key raises unless
    `overwrite`.
    """

    def enrich(page: Page) -> list[Page]:
        if not overwrite and key in page:
            raise ValueError(f"word_counter_enricher: page already has {key!r} (set overwrite: true)")
        page[key] = fasttext_word_count(page[TEXT_KEY], ignore_punctuation,
                                        ignore_whitespace=ignore_whitespace, model=model)
        return [page]

    return enrich


@step("filter", ranges={"max_removed_ratio": FRACTION})
def word_removal_ratio_filter(
    *,
    prev_word_count_key: str = "word_count",
    new_word_count_key: str | None = None,
    max_removed_ratio: float = 0.05,
    ignore_punctuation: bool = True,
    ignore_whitespace: bool = True,
    model: WordModel = "fasttext",
) -> Mapper:
    """Drop pages that lost more than max_removed_ratio of their words since word_counter_enricher counted them (DCLM word_removal_ratio_filter).

    Ratio = (page[prev_word_count_key] − now) / page[prev_word_count_key],
    where "now" is `page[new_word_count_key]` if given and present, else a
    recount as word_counter_enricher counts. A ratio equal to the maximum
    passes; a previous count of 0 drops the page; a page without the previous
    count raises. DCLM requires `prev_word_count_key`; ours defaults to
    word_counter_enricher's default key.
    """

    def keep(page: Page) -> list[Page]:
        if prev_word_count_key not in page:
            raise KeyError(f"word_removal_ratio_filter: page has no {prev_word_count_key!r} (run word_counter_enricher first)")
        before = page[prev_word_count_key]
        if before == 0:
            return []
        if new_word_count_key and new_word_count_key in page:
            now = page[new_word_count_key]
        else:
            now = fasttext_word_count(page[TEXT_KEY], ignore_punctuation,
                                      ignore_whitespace=ignore_whitespace, model=model)
        return [] if (before - now) / before > max_removed_ratio else [page]

    return keep
