"""Line modifiers of DCLM's RefinedWeb and C4 recipes, with DCLM's exact behaviour.

All but citation_removal_modifier (a regex over the whole text) work on the
lines of ``text.split("\\n")`` (only LF separates lines; a CR stays part of
its line), and all but within_page_dedup drop a page whose text ends up
empty. They differ in details that matter for exact reproduction:

* uppercase_ratio_line_modifier, numeric_ratio_line_modifier,
  counter_line_modifier and substring_line_modifier strip the rebuilt text
  (``str.strip``); line_length_modifier, punctuation_line_modifier,
  word_length_modifier and citation_removal_modifier do not.
* Empty lines are always kept (they do not count as "short" or "uppercase"),
  but a line of spaces is a line like any other.
* substring_line_modifier's banlist items are regular expressions, used
  unescaped (``.`` in "Read more..." matches any character) and, unless
  case-sensitive, lowercased before compiling, exactly as DCLM does.
* within_page_dedup (C4's rule) never drops a page, even an empty one.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from dcbench.baselines.registry import FRACTION, NON_NEGATIVE, Mapper, Page, ordered, step
from dcbench.baselines.steps.content import WordModel, split_words
from dcbench.baselines.units import normalize_whitespace_and_lowercase, split_paragraphs

TEXT_KEY = "text"
_SURROGATE = re.compile("[\ud800-\udfff]")


def _rebuilt(page: Page, lines: list[str], strip: bool = True) -> list[Page]:
    text = "\n".join(lines)
    if strip:
        text = text.strip()
    if text == "":
        return []
    page[TEXT_KEY] = text
    return [page]


def _unchanged(page: Page, text: str) -> list[Page]:
    """The result of rebuilding all of `text`'s lines: the text stripped."""
    text = text.strip()
    if text == "":
        return []
    page[TEXT_KEY] = text
    return [page]


# ------------------------------------------------------------ character ratios


@step("modifier", targets=("uppercase_lines",), ranges={"max_ratio": FRACTION})
def uppercase_ratio_line_modifier(*, max_ratio: float = 0.5) -> Mapper:
    """Remove lines whose share of uppercase characters exceeds max_ratio (DCLM uppercase_ratio_line_modifier).

    Share = characters with `str.isupper()` / all characters of the line
    (spaces and punctuation included); a share equal to max_ratio stays.
    Empty lines stay. The text is then stripped; an empty page is dropped.
    """
    return _ratio_modifier(str.isupper, max_ratio)


@step("modifier", targets=("numeric_lines",), ranges={"max_ratio": FRACTION})
def numeric_ratio_line_modifier(*, max_ratio: float = 1.0) -> Mapper:
    """Remove lines whose share of digits exceeds max_ratio (DCLM numeric_ratio_line_modifier).

    Share = characters with `str.isdigit()` / all characters of the line. As
    in DCLM's recipe, max_ratio 0.999999 removes the lines made only of
    digits ("2024") but not "1a" or "3.14". Empty lines stay. The text is
    then stripped; an empty page is dropped.
    """
    return _ratio_modifier(str.isdigit, max_ratio)


def _ratio_modifier(predicate, max_ratio: float) -> Mapper:
    # A line of n characters is removed when count / n > max_ratio. With
    # max_ratio >= 1 that can never happen, so only strip.
    never = max_ratio >= 1.0

    def modify(page: Page) -> list[Page]:
        text = page[TEXT_KEY]
        if never:
            return _unchanged(page, text)
        lines = text.split("\n")
        kept = [line for line in lines if not line or sum(map(predicate, line)) / len(line) <= max_ratio]
        if len(kept) == len(lines):
            return _unchanged(page, text)
        return _rebuilt(page, kept)

    return modify


# -------------------------------------------------------------------- counters

_COUNTER_WORDS = "likes|shares|comments|retweets|reposts|quotes|bookmarks|upvotes|downvotes|downloads|views|followers"


@step("modifier", targets=("counter_lines",))
def counter_line_modifier() -> Mapper:
    """Remove lines that are only a social-media counter such as "1,234 likes" or "12K views!" (DCLM counter_line_modifier).

    A line (lowercased) is removed when all of it matches: optional non-word
    characters, a digit, then digits/","/".", an optional k/m/b, whitespace,
    one of likes, shares, comments, retweets, reposts, quotes, bookmarks,
    upvotes, downvotes, downloads, views, followers, optional non-word
    characters. "Hello with 3 views." stays. The text is then stripped; an
    empty page is dropped.
    """
    line = re.compile(rf"\W*\d[\d,.]*[KkMmBb]?\s+(?:{_COUNTER_WORDS})\W*$")
    # The same test for every line of the lowercased text at once (\W and \s
    # kept from crossing newlines, so the search stays linear): pages without
    # a counter line (almost all) skip the per-line pass.
    anywhere = re.compile(rf"^[^\w\n]*\d[\d,.]*[KkMmBb]?[^\S\n]+(?:{_COUNTER_WORDS})[^\w\n]*$", re.MULTILINE)

    def modify(page: Page) -> list[Page]:
        text = page[TEXT_KEY]
        if anywhere.search(text.lower()) is None:
            return _unchanged(page, text)
        return _rebuilt(page, [s for s in text.split("\n") if line.match(s.lower()) is None])

    return modify


# ------------------------------------------------------------------ word counts


@step("modifier", targets=("short_lines",), ranges={"min_length": NON_NEGATIVE, "max_length": NON_NEGATIVE},
      rules=[ordered("min_length", "max_length")])
def line_length_modifier(*, min_length: int | float = 0, max_length: int | float = math.inf) -> Mapper:
    """Keep only lines with min_length..max_length whitespace-separated words, and empty lines (DCLM line_length_modifier).

    Words are `line.split()` tokens; both bounds are inclusive; a line of
    only spaces has 0 words. The text is not stripped; an empty page is
    dropped.
    """

    def modify(page: Page) -> list[Page]:
        text = page[TEXT_KEY]
        lines = text.split("\n")
        kept = [line for line in lines if not line or min_length <= len(line.split()) <= max_length]
        if len(kept) == len(lines):
            return [page] if text else []
        return _rebuilt(page, kept, strip=False)

    return modify


# ------------------------------------------------------------------- substrings


@step("modifier", targets=("boilerplate",), ranges={"max_length": NON_NEGATIVE})
def substring_line_modifier(
    *,
    banlist: str | list[str],
    case_sensitive: bool = False,
    location: Literal["any", "prefix", "suffix"] = "any",
    max_length: int | float | None = None,
    remove_substring_only: bool = False,
) -> Mapper:
    """Remove lines (or just the matched text) containing a banlist item, e.g. "items in cart", "Read more...", "Sign-in" (DCLM substring_line_modifier).

    Banlist items are regular expressions, not escaped (the "..." of "Read
    more..." matches any three characters) and case-insensitive unless
    `case_sensitive`. `location`: anywhere in the line (with one optional
    whitespace before), `prefix` (at the start, one optional whitespace
    after) or `suffix` (at the end, one optional whitespace before). Only
    lines with at most `max_length` `split()` words are touched. With
    `remove_substring_only` the matches are deleted from the line and a line
    left blank (or already blank, i.e. only spaces) is removed; otherwise
    matching lines are removed. The text is then stripped; an empty page is
    dropped.
    """
    items = [banlist] if isinstance(banlist, str) else list(banlist)
    if not case_sensitive:
        items = [item.lower() for item in items]  # DCLM lowercases the patterns themselves
    body = f"(?:{'|'.join(items)})"
    if location == "prefix":
        source = rf"^{body}\s?"
    elif location == "suffix":
        source = rf"\s?{body}$"
    else:
        source = rf"\s?{body}"
    try:
        pattern = re.compile(source) if case_sensitive else re.compile(source, re.IGNORECASE)
    except re.error as e:
        raise ValueError(f"banlist is not a valid regular expression ({source!r}): {e}") from e
    sub, search = pattern.sub, pattern.search

    def modify(page: Page) -> list[Page]:
        kept = []
        for line in page[TEXT_KEY].split("\n"):
            if max_length is None or len(line.split()) <= max_length:
                if remove_substring_only:
                    cut = sub("", line)
                    if line and (not cut or cut.isspace()):
                        continue
                    line = cut
                elif search(line):
                    continue
            kept.append(line)
        return _rebuilt(page, kept)

    return modify


# ---------------------------------------------------------------- C4's rules


@step("modifier")
def citation_removal_modifier() -> Mapper:
    """Delete Wikipedia-style citation marks "[12]", "[]", "[edit]" and "[citation needed]" (DCLM citation_removal_modifier).

    Matching is case-sensitive ("[Edit]" stays) and `\\d` takes any Unicode
    digit ("[٣]" goes). Nothing else changes: the text is not stripped, so a
    page left as spaces stays; a page left empty is dropped.
    """
    citation = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")

    def modify(page: Page) -> list[Page]:
        text = citation.sub("", page[TEXT_KEY])
        if text == "":
            return []
        page[TEXT_KEY] = text
        return [page]

    return modify


# What DCLM's regex `[.!?"\u2026]\s*$` finds at a line's end: `\s` and `str.rstrip()` agree on
# Unicode whitespace, so "the stripped line ends with one of these" is the same test, in linear time.
_END_PUNCTUATION = ('.', '!', '?', '"', "\u2026")
_ELLIPSES = ("...", "\u2026")


@step("modifier")
def punctuation_line_modifier(*, remove_ellipses: bool = False) -> Mapper:
    """Keep only lines ending in terminal punctuation (. ! ? " or …), and empty lines (DCLM punctuation_line_modifier).

    Trailing whitespace after the mark is allowed (any Unicode space); a line
    of only spaces is removed, an empty line stays. With `remove_ellipses`
    (C4's rule, as in DCLM's c4.yaml) lines ending in "..." or "…" are removed
    too. The text is not stripped; a page left empty is dropped.
    """

    def keep(line: str) -> bool:
        if not line:
            return True
        end = line.rstrip()
        return end.endswith(_END_PUNCTUATION) and not (remove_ellipses and end.endswith(_ELLIPSES))

    def modify(page: Page) -> list[Page]:
        lines = page[TEXT_KEY].split("\n")
        kept = [line for line in lines if keep(line)]
        if len(kept) == len(lines):
            return [page] if page[TEXT_KEY] else []
        return _rebuilt(page, kept, strip=False)

    return modify


@step("modifier", ranges={"max_length": NON_NEGATIVE})
def word_length_modifier(*, max_length: int | float = 1000, model: WordModel = "fasttext",
                         ignore_punctuation: bool = False, ignore_whitespace: bool = True) -> Mapper:
    """Remove lines holding a word longer than max_length characters (DCLM word_length_modifier).

    Words are DCLM's `split_words` tokens of the line (`model`: fastText by
    default, which splits only at ASCII spaces and NUL; `split` is
    `str.split()`, any Unicode space; `uniseg` is UAX #29 words), filtered by
    `ignore_punctuation` / `ignore_whitespace` as in DCLM. A word of exactly
    max_length stays. Lines with no words (empty or spaces) stay. The text is
    not stripped; a page left empty is dropped. With fastText a text holding
    lone surrogates raises (DCLM drops such a page as an error; here it is
    quarantined).
    """
    if model == "fasttext":
        def check(text: str) -> None:
            if _SURROGATE.search(text):
                raise ValueError("text has lone surrogates (invalid Unicode); fastText cannot tokenize it")
    else:
        def check(text: str) -> None:
            return None

    def fits(line: str) -> bool:
        # A word is a piece of its line, so a line no longer than max_length always fits.
        if len(line) <= max_length:
            return True
        return all(len(w) <= max_length for w in split_words(line, model, ignore_punctuation, ignore_whitespace))

    def modify(page: Page) -> list[Page]:
        text = page[TEXT_KEY]
        check(text)
        lines = text.split("\n")
        kept = [line for line in lines if fits(line)]
        if len(kept) == len(lines):
            return [page] if text else []
        return _rebuilt(page, kept, strip=False)

    return modify


@step("modifier", targets=("repeated_lines", "repeated_paragraphs"))
def within_page_dedup(*, granularity: Literal["line", "paragraph"] = "line", normalize: bool = True) -> Mapper:
    """Remove repeats of a line or paragraph within the page, keeping the first (DCLM within_page_dedup).

    Units are the pieces between "\\n" (`line`) or "\\n\\n" (`paragraph`),
    rejoined with the same separator. With `normalize` units compare
    stripped and lowercased, and units that are blank then are never removed;
    without it they compare exactly and only empty units are never removed
    (a repeated line of spaces is). The page is never dropped, even when its
    text is empty. DCLM accepts only these two granularities (any other
    fails on every page there); here it is refused when the recipe loads.
    """
    sep = "\n" if granularity == "line" else "\n\n"

    def modify(page: Page) -> list[Page]:
        units = split_paragraphs(page[TEXT_KEY], paragraph_end=sep, remove_empty=False)
        seen: set[str] = set()
        kept = []
        for unit in units:
            key = normalize_whitespace_and_lowercase(unit) if normalize else unit
            if not key or key not in seen:
                kept.append(unit)
                seen.add(key)
        if len(kept) < len(units):
            page[TEXT_KEY] = sep.join(kept)
        return [page]

    return modify
