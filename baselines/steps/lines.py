"""Line modifiers of DCLM's RefinedWeb recipe, with DCLM's exact behaviour.

All of them work on the lines of ``text.split("\\n")`` (only LF separates
lines; a CR stays part of its line) and drop a page whose text ends up empty.
They differ in details that matter for exact reproduction:

* uppercase_ratio_line_modifier, numeric_ratio_line_modifier,
  counter_line_modifier and substring_line_modifier strip the rebuilt text
  (``str.strip``); line_length_modifier does not.
* Empty lines are always kept (they do not count as "short" or "uppercase").
* substring_line_modifier's banlist items are regular expressions, used
  unescaped (``.`` in "Read more..." matches any character) and, unless
  case-sensitive, lowercased before compiling, exactly as DCLM does.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from dcbench.baselines.registry import FRACTION, NON_NEGATIVE, Mapper, Page, ordered, step

TEXT_KEY = "text"


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
