"""Gopher repetition checks, as DCLM's `massive_web_repetition_filters` runs them.

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

import numpy as np

from dcbench.baselines.registry import Mapper, Page, step
from dcbench.baselines.text import split_words

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

    def keep(page: Page) -> list[Page]:
        return [page] if repetition_failure(page[TEXT_KEY], skip_paragraph) is None else []

    return keep


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
