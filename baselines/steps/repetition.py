"""Gopher repetition checks, as DCLM's `massive_web_repetition_filters` runs them, and
DCLM's `repetition_filter`, which runs one such check with any threshold.

The checks, in DCLM's order; the first one that fails drops the page:

1. duplicated lines, by count:        fraction > 0.30
2. duplicated paragraphs, by count:   fraction > 0.30
3. duplicated lines, by characters:   fraction > 0.20
4. duplicated paragraphs, by chars:   fraction > 0.20
5. most frequent 2-, 3-, 4-gram:      character fraction > 0.20, 0.18, 0.16
6. duplicated 5- ... 10-grams:        character fraction > 0.15, 0.14, 0.13, 0.12, 0.11, 0.10

Definitions (DCLM's `repetition_filter`):

* Lines are the pieces of ``text.split("\\n")``, paragraphs those of
  ``text.split("\\n\\n")``, each stripped (``str.strip``), empty ones left out.
  With 0 pieces the check fails, with 1 it passes. Count fraction = the
  number of pieces whose text occurs more than once / number of pieces; char
  fraction = their characters (length x occurrences) / characters of all
  pieces.
* Words are the UAX #29 word segments (uniseg's, see `baselines.text`) whose
  first character is alphanumeric; their total is the sum of their lengths
  (spaces and punctuation do not count). With fewer than n words the n-gram
  check passes.
* n = 2..4: if no n-gram occurs twice the check passes; otherwise the fraction
  is (character length of the longest n-gram among those tied at the highest
  count) x that count / total. The length of an n-gram is the sum of its
  word lengths.
* n = 5..10: the fraction is the total length of the words covered by at
  least one n-gram that occurs more than once (each word counted once) /
  total.
* An empty text fails. Fractions are compared with ``>``, as Python floats
  computed exactly as DCLM computes them (integer / integer).

Speed (the hot path of DCLM's chain): the words are mapped to integers once;
the n-grams of each size are numbered from those of the size below (pair the
(n-1)-gram number with the next word and renumber with one sort), so no
tuples are built; only n-grams whose (n-1)-gram prefix repeats are looked at;
when no n-gram of some size repeats, no longer one can, and the page passes
at once. ~10 MB/s on web pages (one core), word segmentation included.
On the 3,305 shared real documents every decision (and the first failing
check) equals a direct, unoptimised implementation of DCLM's `repetition_filter`
run on uniseg 0.10.1's segments.
"""

from __future__ import annotations

from collections import Counter
from itertools import count
from typing import Any, Literal

import numpy as np

from dcbench.baselines.registry import NON_NEGATIVE, Mapper, Page, Range, Rule, step
from dcbench.baselines.text import split_words
from dcbench.contracts import because, explained_by

TEXT_KEY = "text"

LINE_COUNT_MAX = 0.30
PARAGRAPH_COUNT_MAX = 0.30
LINE_CHARS_MAX = 0.20
PARAGRAPH_CHARS_MAX = 0.20
TOP_NGRAM_MAX = {2: 0.20, 3: 0.18, 4: 0.16}
DUPLICATE_NGRAM_MAX = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}


@step("filter", targets=("repeated_lines", "repeated_paragraphs", "repeated_ngrams"))
def massive_web_repetition_filters(*, skip_paragraph: bool = False) -> Mapper:
    """Drop pages with too many duplicated lines, paragraphs or word n-grams (Gopher; DCLM massive_web_repetition_filters).

    Checks in order (first failure drops): duplicated-line count fraction >
    0.3, paragraph (\\n\\n) count fraction > 0.3, duplicated-line character
    fraction > 0.2, paragraph character fraction > 0.2, top 2/3/4-gram
    character fraction > 0.20/0.18/0.16, duplicated 5..10-gram character
    coverage > 0.15..0.10. Words are UAX #29 segments starting with an
    alphanumeric character. Empty text is dropped. `skip_paragraph` leaves
    out the two paragraph checks.
    """

    def why(page: Page) -> str:
        text = page[TEXT_KEY]
        return explain_failure(text, repetition_failure(text, skip_paragraph))

    @explained_by(why)
    def keep(page: Page) -> list[Page]:
        return [page] if repetition_failure(page[TEXT_KEY], skip_paragraph) is None else []

    return keep


def _default_ratio_known(values: dict[str, Any]) -> bool:
    n = values["granularity"]
    return isinstance(n, str) or values["ngram_char_ratio"] is not None or n in NGRAM_DEFAULT_RATIO


NGRAM_DEFAULT_RATIO = {**dict.fromkeys(TOP_NGRAM_MAX, "most_common"), **dict.fromkeys(DUPLICATE_NGRAM_MAX, "all")}


@step("filter", targets=("repeated_lines", "repeated_paragraphs", "repeated_ngrams"),
      ranges={"granularity": Range(1, None), "max_fraction": NON_NEGATIVE},
      rules=[Rule("granularity 2..10 when ngram_char_ratio is null", _default_ratio_known)])
def repetition_filter(
    *,
    granularity: Literal["line", "paragraph"] | int,
    max_fraction: float,
    count_characters: bool = True,
    ngram_char_ratio: Literal["most_common", "all"] | None = None,
    ignore_case: bool = False,
) -> Mapper:
    """Drop pages whose repeated lines, paragraphs or word n-grams exceed max_fraction (DCLM repetition_filter: one Gopher check).

    `line` / `paragraph`: the pieces between \\n / \\n\\n, stripped, empty
    ones left out; 0 pieces drop the page, 1 passes. Fraction = pieces that
    occur more than once / pieces, or with `count_characters` (default) their
    characters (length x occurrences) / characters of all pieces.
    An integer n: word n-grams, words being the UAX #29 segments that start
    with an alphanumeric character, as uniseg 0.10.1 (and 0.7.2) splits them,
    the versions DCLM's published results match (uniseg 0.8.1 also splits at
    U+2019). `most_common` (default for n = 2..4): characters of the longest
    n-gram among those tied at the top count x that count / characters of all
    words; `all` (default for 5..10): characters of the words covered by an
    n-gram occurring more than once / characters of all words. Fewer than n
    words, or no n-gram occurring twice, passes. `ignore_case` lowercases the
    text first. A fraction equal to max_fraction passes; an empty page is dropped.
    Stricter than DCLM: n outside 2..10 without ngram_char_ratio, and a
    negative max_fraction, are refused before any work (DCLM fails on every page).
    """

    what = (f"duplicate {granularity} {'character' if count_characters else 'count'} fraction"
            if isinstance(granularity, str) else
            f"{'top' if (ngram_char_ratio or NGRAM_DEFAULT_RATIO[granularity]) == 'most_common' else 'duplicate'} "
            f"{granularity}-gram character fraction")

    def why(page: Page) -> str:
        fraction = measure(page[TEXT_KEY])
        return f"no {granularity}s" if fraction is None else because(what, fraction, ">", max_fraction)

    def measure(text: str) -> float | None:
        if ignore_case:
            text = text.lower()
        if isinstance(granularity, str):
            fractions = _duplicate_fractions(text, "\n\n" if granularity == "paragraph" else "\n")
            return None if fractions is None else fractions[1] if count_characters else fractions[0]
        return ngram_fraction(_words(text), granularity, ngram_char_ratio or NGRAM_DEFAULT_RATIO[granularity])

    @explained_by(why)
    def keep(page: Page) -> list[Page]:
        text = page[TEXT_KEY]
        if text == "":
            return []
        if ignore_case:
            text = text.lower()
        if isinstance(granularity, str):
            fractions = _duplicate_fractions(text, "\n\n" if granularity == "paragraph" else "\n")
            if fractions is None:
                return []
            fraction = fractions[1] if count_characters else fractions[0]
        else:
            fraction = ngram_fraction(_words(text), granularity, ngram_char_ratio or NGRAM_DEFAULT_RATIO[granularity])
        return [] if fraction > max_fraction else [page]

    return keep


class _Words:
    """A text's n-gram words as numbers (equal words, equal numbers) and their lengths."""

    __slots__ = ("ids", "lengths", "vocab", "total")

    def __init__(self, words: list[str]) -> None:
        number = dict(zip(dict.fromkeys(words), count()))
        self.vocab = len(number)
        self.ids = np.fromiter(map(number.__getitem__, words), dtype=np.int64, count=len(words))
        self.lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        self.total = int(self.lengths.sum())


_last_words: list = [None, None]  # the last text seen and its _Words: consecutive steps share them


def _words(text: str) -> _Words:
    """DCLM's n-gram words of `text`, prepared once for consecutive repetition_filter steps (the cache
    holds a reference to the text, so an identity check is safe)."""
    if _last_words[0] is not text:
        _last_words[:] = [text, _Words(split_words(text, ignore_punctuation=True, ignore_whitespace=True))]
    return _last_words[1]


def ngram_fraction(words: list[str] | _Words, n: int, ratio: str) -> float:
    """DCLM's repeated n-gram character fraction of `words` (`most_common` or `all`); 0 when no n-gram repeats.

    The n-grams are numbered without building tuples: number the words, then
    n - 1 times pair each (k-gram number, next word) and renumber (`_number`),
    keeping only the starts whose k-gram repeats (no other n-gram can).
    """
    w = words if isinstance(words, _Words) else _Words(words)
    n_words = w.ids.size
    if n_words < n or w.vocab == n_words:  # too few words, or none repeats (so no n-gram does)
        return 0.0
    starts = np.arange(n_words - n + 1)
    keys = w.ids[starts]
    for k in range(1, n + 1):
        grams, occurrences = _number(keys)
        repeated = occurrences > 1
        if not repeated.any():
            return 0.0
        starts, grams, occurrences = starts[repeated], grams[repeated], occurrences[repeated]
        if k < n:
            keys = grams * w.vocab + w.ids[starts + k]
    if ratio == "most_common":
        ends = np.zeros(n_words + 1, dtype=np.int64)  # ends[i] = characters in words[:i]
        np.cumsum(w.lengths, out=ends[1:])
        top = int(occurrences.max())
        tied = starts[occurrences == top]
        return int((ends[tied + n] - ends[tied]).max()) * top / w.total
    delta = np.zeros(n_words + 1, dtype=np.int64)  # +1 where a repeated n-gram starts, -1 after it
    delta[starts] += 1
    delta[starts + n] -= 1
    return int(w.lengths[np.cumsum(delta[:n_words]) > 0].sum()) / w.total


def repetition_failure(text: str, skip_paragraph: bool = False) -> str | None:
    """The first Gopher check `text` fails, in DCLM's order, or None if it passes all.

    Names: ``line_count``, ``paragraph_count``, ``line_chars``,
    ``paragraph_chars``, ``top_2gram`` .. ``top_4gram``,
    ``duplicate_5gram`` .. ``duplicate_10gram``; ``empty`` for ''.
    """
    if not isinstance(text, str):
        raise TypeError(f"page text must be a str, got {type(text).__name__}")
    if text == "":
        return "empty"
    lines = _duplicate_fractions(text, "\n")
    if lines is None or lines[0] > LINE_COUNT_MAX:
        return "line_count"
    paragraphs = None
    if not skip_paragraph:
        paragraphs = _duplicate_fractions(text, "\n\n")
        if paragraphs is None or paragraphs[0] > PARAGRAPH_COUNT_MAX:
            return "paragraph_count"
    if lines[1] > LINE_CHARS_MAX:
        return "line_chars"
    if paragraphs is not None and paragraphs[1] > PARAGRAPH_CHARS_MAX:
        return "paragraph_chars"
    return ngram_failure(split_words(text, ignore_punctuation=True, ignore_whitespace=True))


_CHECKS = {"line_count": ("\n", 0, "duplicate line fraction", LINE_COUNT_MAX),
           "paragraph_count": ("\n\n", 0, "duplicate paragraph fraction", PARAGRAPH_COUNT_MAX),
           "line_chars": ("\n", 1, "duplicate line character fraction", LINE_CHARS_MAX),
           "paragraph_chars": ("\n\n", 1, "duplicate paragraph character fraction", PARAGRAPH_CHARS_MAX)}


def explain_failure(text: str, failure: str | None) -> str:
    """The measured value of the check `repetition_failure` named, against its threshold."""
    if failure is None or failure == "empty":
        return "passes every check" if failure is None else "empty text"
    if failure in _CHECKS:
        sep, which, what, limit = _CHECKS[failure]
        fractions = _duplicate_fractions(text, sep)
        return f"no {what.split()[1]}s" if fractions is None else because(what, fractions[which], ">", limit)
    kind, n = failure.split("_")[0], int(failure.rsplit("_", 1)[1].removesuffix("gram"))
    words = _Words(split_words(text, ignore_punctuation=True, ignore_whitespace=True))
    if kind == "top":
        return because(f"top {n}-gram character fraction", ngram_fraction(words, n, "most_common"), ">",
                       TOP_NGRAM_MAX[n])
    return because(f"duplicate {n}-gram character fraction", ngram_fraction(words, n, "all"), ">",
                   DUPLICATE_NGRAM_MAX[n])


def _duplicate_fractions(text: str, sep: str) -> tuple[float, float] | None:
    """(count fraction, char fraction) of duplicated pieces; None when there are no pieces.

    One piece gives (0, 0): DCLM passes that check without computing.
    """
    if sep not in text:
        return (0.0, 0.0) if text.strip() else None
    pieces = [s for part in text.split(sep) if (s := part.strip())]
    if len(pieces) < 2:
        return (0.0, 0.0) if pieces else None
    counts = Counter(pieces)
    if len(counts) == len(pieces):
        return 0.0, 0.0
    dup_count = dup_chars = 0
    for piece, times in counts.items():
        if times > 1:
            dup_count += times
            dup_chars += len(piece) * times
    return dup_count / len(pieces), dup_chars / sum(map(len, pieces))


def ngram_failure(words: list[str]) -> str | None:
    """The first failing n-gram check (n = 2..10) for `words`, or None."""
    n_words = len(words)
    if n_words < 2:
        return None
    number = dict(zip(dict.fromkeys(words), count()))
    vocab = len(number)
    if vocab == n_words:  # no word repeats, so no n-gram does
        return None
    ids = np.fromiter(map(number.__getitem__, words), dtype=np.int64, count=n_words)
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=n_words)
    total = int(lengths.sum())
    ends = np.zeros(n_words + 1, dtype=np.int64)  # ends[i] = characters in words[:i]
    np.cumsum(lengths, out=ends[1:])

    # Only an n-gram whose (n-1)-gram prefix repeats can repeat, so each size
    # looks at those starts only ("candidates"); every other n-gram occurs once.
    starts = np.flatnonzero(np.bincount(ids)[ids[:-1]] > 1)
    prefix = ids[starts]  # number of the (n-1)-gram at each candidate start
    for n in range(2, 11):
        if n > 2:
            fits = starts <= n_words - n
            starts, prefix = starts[fits], prefix[fits]
        if starts.size == 0:  # nothing repeats at this size, nor will at larger ones
            return None
        grams, occurrences = _number(prefix * vocab + ids[starts + (n - 1)])
        repeated = occurrences > 1
        if not repeated.any():
            return None
        if n in TOP_NGRAM_MAX:
            top = int(occurrences.max())
            tied = starts[occurrences == top]
            longest = int((ends[tied + n] - ends[tied]).max())
            if longest * top / total > TOP_NGRAM_MAX[n]:
                return f"top_{n}gram"
        starts, prefix = starts[repeated], grams[repeated]
        if n in DUPLICATE_NGRAM_MAX:
            delta = np.zeros(n_words + 1, dtype=np.int64)  # +1 where a repeated n-gram starts, -1 after it
            delta[starts] += 1
            delta[starts + n] -= 1
            covered = np.cumsum(delta[:n_words]) > 0
            if int(lengths[covered].sum()) / total > DUPLICATE_NGRAM_MAX[n]:
                return f"duplicate_{n}gram"
    return None


def _number(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense numbers for `keys` (equal keys, equal numbers) and, per key, how often it occurs."""
    order = keys.argsort()
    ordered = keys[order]
    first = np.empty(ordered.size, dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    group = np.cumsum(first) - 1
    numbers = np.empty_like(group)
    numbers[order] = group
    return numbers, np.bincount(group)[numbers]
