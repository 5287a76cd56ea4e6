"""Content heuristics of DCLM's recipes, with DCLM's exact definitions:
RefinedWeb's (page length, word length, symbols, bullets, ellipses,
alphabetic words, stop words, word counts, newline runs), C4's banned
substrings and sentence counts, and RedPajama's GitHub rules (line length,
alphanumeric share, letters per token).

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
from pathlib import Path
from typing import Any, Callable, Literal

from tokenizers import Tokenizer

from dcbench.baselines import text as uax29
from dcbench import cache
from dcbench.baselines import units
from dcbench.baselines.registry import FRACTION, NON_NEGATIVE, Mapper, Page, Rule, ordered, step
from dcbench.baselines.resources import read_banlist, resolve_data_file
from dcbench.contracts import because, explained_by
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


def _tokenizer_only_for_sentences(values: dict[str, Any]) -> bool:
    return values["length_type"] == "sentence" or (values["tokenizer"] == "blingfire"
                                                   and values["tokenizer_lang"] is None)


@step("filter", targets=("too_short", "too_long"), ranges={"min_length": NON_NEGATIVE, "max_length": NON_NEGATIVE},
      rules=[ordered("min_length", "max_length"),
             Rule("tokenizer and tokenizer_lang only with length_type: sentence", _tokenizer_only_for_sentences),
             Rule("remove_empty: true with length_type: sentence",
                  lambda v: v["length_type"] != "sentence" or v["remove_empty"])])
def page_length_filter(
    *,
    length_type: Literal["word", "sentence", "line", "paragraph", "char"] = "word",
    min_length: int | float = 1,
    max_length: int | float = math.inf,
    ignore_punctuation: bool = False,
    ignore_whitespace: bool = True,
    model: WordModel = "fasttext",
    remove_empty: bool = True,
    tokenizer: Literal["blingfire", "nltk"] = "blingfire",
    tokenizer_lang: str | None = None,
) -> Mapper:
    """Keep pages whose length in words, sentences, lines, paragraphs or characters lies in [min_length, max_length] (DCLM page_length_filter).

    `word` counts DCLM's `split_words` tokens (`model`, default fastText;
    `uniseg` splits as uniseg 0.10.1, whose words DCLM's results match; with
    `ignore_punctuation: true`, as in the DCLM recipe, only tokens starting
    with an alphanumeric character, so newlines and punctuation do not
    count). `sentence` counts the non-empty sentences `tokenizer` finds
    (blingfire, or NLTK's Punkt: `tokenizer_lang` en/english selects its
    English model, as DCLM's C4 recipe; NLTK and its punkt_tab data must be
    installed). `line` / `paragraph` count the pieces between `\\n` /
    `\\n\\n` (stripped, empty ones left out unless `remove_empty: false`);
    `char` is `len(text)`. Both bounds are inclusive; an empty page has length 0.
    Stricter than DCLM: `length_type` defaults to `word` (DCLM requires it),
    `tokenizer`/`tokenizer_lang` are refused with other length types and
    `remove_empty: false` with `sentence` (DCLM fails on every page there).
    """
    length = _page_length(length_type, ignore_punctuation, ignore_whitespace, model, remove_empty,
                          tokenizer, tokenizer_lang)

    def why(page: Page) -> str:
        n = length(page[TEXT_KEY])
        short = n < min_length
        return because(f"{length_type}s", n, "<" if short else ">", min_length if short else max_length)

    @explained_by(why)
    def keep(page: Page) -> list[Page]:
        n = length(page[TEXT_KEY])
        return [] if n < min_length or n > max_length else [page]

    return keep


def _page_length(length_type: str, ignore_punctuation: bool, ignore_whitespace: bool, model: WordModel,
                 remove_empty: bool, tokenizer: str, tokenizer_lang: str | None) -> Callable[[str], int]:
    """The function counting a text's `length_type` units as page_length_filter does."""
    if length_type == "word":
        return lambda text: fasttext_word_count(text, ignore_punctuation, ignore_whitespace=ignore_whitespace,
                                                model=model)
    if length_type == "sentence":
        problem = units.sentence_tokenizer_available(tokenizer, tokenizer_lang)
        if problem is not None:
            raise ConfigError(f"page_length_filter with length_type: sentence and tokenizer: {tokenizer}: {problem}; "
                              f"or set tokenizer: blingfire (which splits sentences differently)")
        return lambda text: len(units.split_sentences(text, tokenizer=tokenizer, tokenizer_lang=tokenizer_lang))
    if length_type == "line" and remove_empty:
        return lambda text: len(_stripped_lines(text))
    if length_type in ("line", "paragraph"):
        sep = "\n" if length_type == "line" else "\n\n"
        return lambda text: len(units.split_paragraphs(text, sep, remove_empty))
    return len


@step("filter", targets=("word_length",), ranges={"min_length": NON_NEGATIVE, "max_length": NON_NEGATIVE},
      rules=[ordered("min_length", "max_length")])
def word_length_filter(*, min_length: int | float = 0, max_length: int | float = math.inf) -> Mapper:
    """Keep pages whose mean word length (characters per `split()` token, punctuation included) lies in [min_length, max_length] (DCLM word_length_filter).

    A page without words is dropped.
    """

    def why(page: Page) -> str:
        words = _split(page[TEXT_KEY])
        if not words:
            return "no words"
        mean = sum(map(len, words)) / len(words)
        return because("mean word length", mean, "<" if mean < min_length else ">",
                       min_length if mean < min_length else max_length)

    @explained_by(why)
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

    def why(page: Page) -> str:
        text = page[TEXT_KEY]
        words = len(_split(text))
        if words == 0:
            return "no words"
        return because("symbol-to-word ratio", sum(text.count(s) for s in _SYMBOLS) / words, ">",
                       max_symbol_to_word_ratio)

    @explained_by(why)
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


def _bullet_lines(text: str) -> tuple[int, int]:
    """(lines starting with a bullet, stripped non-empty lines)."""
    lines = _stripped_lines(text)
    return sum(1 for line in lines if line.startswith(_BULLETS)), len(lines)


def _ellipsis_lines(text: str) -> tuple[int, int]:
    """(lines ending with an ellipsis, stripped non-empty lines)."""
    lines = _stripped_lines(text)
    return sum(1 for line in lines if line.endswith(_ELLIPSES)), len(lines)


@step("filter", targets=("bullets",), ranges={"max_bullet_start_ratio": FRACTION})
def bullet_count_filter(*, max_bullet_start_ratio: float = 0.9) -> Mapper:
    """Drop pages where more than max_bullet_start_ratio × lines start with "●", "•", "*" or "-" (DCLM bullet_count_filter).

    Lines are the stripped, non-empty `\\n` lines; a page without lines passes.
    """

    def why(page: Page) -> str:
        bullets, lines = _bullet_lines(page[TEXT_KEY])
        return because("lines starting with a bullet", bullets, ">",
                       f"{max_bullet_start_ratio!r} × {lines:,} lines")

    @explained_by(why)
    def keep(page: Page) -> list[Page]:
        bullets, lines = _bullet_lines(page[TEXT_KEY])
        return [] if bullets > max_bullet_start_ratio * lines else [page]

    return keep


@step("filter", targets=("ellipsis",), ranges={"max_ellipsis_end_ratio": FRACTION})
def ellipsis_count_filter(*, max_ellipsis_end_ratio: float = 0.3) -> Mapper:
    """Drop pages where more than max_ellipsis_end_ratio × lines end with "...", ". . ." or "…" (DCLM ellipsis_count_filter).

    Lines are the stripped, non-empty `\\n` lines; a page without lines passes.
    """

    def why(page: Page) -> str:
        ellipses, lines = _ellipsis_lines(page[TEXT_KEY])
        return because("lines ending with an ellipsis", ellipses, ">",
                       f"{max_ellipsis_end_ratio!r} × {lines:,} lines")

    @explained_by(why)
    def keep(page: Page) -> list[Page]:
        ellipses, lines = _ellipsis_lines(page[TEXT_KEY])
        return [] if ellipses > max_ellipsis_end_ratio * lines else [page]

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

    def no_alpha_ratio(text: str) -> float | None:
        total = len(_split(text))
        return None if total == 0 else (len(inner.findall(text)) + (1 if first.match(text) else 0)) / total

    def why(page: Page) -> str:
        ratio = no_alpha_ratio(page[TEXT_KEY])
        return "no words" if ratio is None else because("share of words without a letter", ratio, ">", max_ratio)

    @explained_by(why)
    def keep(page: Page) -> list[Page]:
        ratio = no_alpha_ratio(page[TEXT_KEY])
        return [page] if ratio is not None and ratio <= max_ratio else []

    return keep


STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})


@step("filter", targets=("no_stopwords",), ranges={"min_stop_word": NON_NEGATIVE})
def stop_word_filter(*, count_unique: bool = False, min_stop_word: int = 2) -> Mapper:
    """Keep pages with at least `min_stop_word` `split()` tokens equal, lowercased, to the, be, to, of, and, that, have or with (DCLM stop_word_filter).

    Repeats count unless `count_unique`. Tokens must match exactly: "The"
    counts, "the," and "to." do not.
    """

    def why(page: Page) -> str:
        stops = [w.lower() for w in _split(page[TEXT_KEY]) if w.lower() in STOP_WORDS]
        return because("unique stop words" if count_unique else "stop words", len(set(stops) if count_unique else stops),
                       "<", min_stop_word)

    @explained_by(why)
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

    def why(page: Page) -> str:
        before = page.get(prev_word_count_key, 0)
        if before == 0:
            return f"no words before ({prev_word_count_key} 0)"
        now = page[new_word_count_key] if new_word_count_key and new_word_count_key in page else \
            fasttext_word_count(page[TEXT_KEY], ignore_punctuation, ignore_whitespace=ignore_whitespace, model=model)
        return because(f"share of words removed ({before:,} -> {now:,})", (before - now) / before, ">",
                       max_removed_ratio)

    @explained_by(why)
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


# ------------------------------------------- RedPajama's GitHub filters (DCLM)


@step("filter", ranges={"max_length": NON_NEGATIVE})
def line_length_filter(*, length_type: Literal["max", "avg"] = "max", max_length: int | float = 1000) -> Mapper:
    """Drop pages whose longest (`max`) or mean (`avg`) line is longer than max_length characters (DCLM line_length_filter, RedPajama's GitHub rule).

    Lines are `str.splitlines()` pieces, so besides \\n they also end at \\r,
    \\v, \\f, \\x1c-\\x1e, \\x85, U+2028 and U+2029; a line's length is its
    `len` (spaces of any kind count). The mean divides by every line, empty
    ones included. A length equal to max_length passes; an empty page is dropped.
    """

    def why(page: Page) -> str:
        lengths = list(map(len, page[TEXT_KEY].splitlines()))
        if not lengths:
            return "empty text"
        length = max(lengths) if length_type == "max" else sum(lengths) / len(lengths)
        return because("longest line" if length_type == "max" else "mean line length", length, ">", max_length)

    @explained_by(why)
    def keep(page: Page) -> list[Page]:
        text = page[TEXT_KEY]
        if not text:
            return []
        lengths = list(map(len, text.splitlines()))
        length = max(lengths) if length_type == "max" else sum(lengths) / len(lengths)
        return [] if length > max_length else [page]

    return keep


@step("filter", ranges={"max_alnum_ratio": FRACTION})
def alphanumeric_char_ratio_filter(*, max_alnum_ratio: float = 0.25) -> Mapper:
    """Drop pages whose share of alphanumeric characters is below max_alnum_ratio (DCLM alphanumeric_char_ratio_filter, RedPajama's GitHub rule).

    Despite its name (DCLM's), `max_alnum_ratio` is a minimum. Share =
    characters with `str.isalnum()` (any script's letters and digits) / `len`
    of the text, spaces and newlines included. A share equal to it passes; an
    empty page is dropped.
    """

    def why(page: Page) -> str:
        text = page[TEXT_KEY]
        return because("alphanumeric share", sum(map(str.isalnum, text)) / len(text), "<", max_alnum_ratio) \
            if text else "empty text"

    @explained_by(why)
    def keep(page: Page) -> list[Page]:
        text = page[TEXT_KEY]
        if text == "":
            return []
        return [] if sum(map(str.isalnum, text)) / len(text) < max_alnum_ratio else [page]

    return keep


NEOX_NAMES = re.compile(r"EleutherAI/(pythia-[\w.-]+|gpt-neox-20b)")  # hub names of the GPT-NeoX-20B tokenizer
ALPHA_PER_TOKEN_MIN = 1.5  # DCLM's fixed threshold: its factory takes only the tokenizer


def neox_tokenizer_path() -> Path:
    """Where `dcbench tokenizer download` puts GPT-NeoX-20B's tokenizer.json (as training and eval look for it)."""
    return cache.neox_tokenizer_path()


def tokenizer_file(name: str) -> Path:
    """The local tokenizer.json `name` stands for: a path (a file, or a folder holding tokenizer.json), or
    a hub name of GPT-NeoX-20B's tokenizer (Pythia's), read from `dcbench tokenizer download`'s copy."""
    path = Path(name).expanduser()
    if path.is_dir():
        path = path / "tokenizer.json"
    if path.is_file():
        return path
    where = "alphabetic_characters_to_tokens_filter: tokenizer_name"
    if NEOX_NAMES.fullmatch(name):
        neox = neox_tokenizer_path()
        if neox.is_file():
            return neox
        raise ConfigError(f"{where} {name!r} is the GPT-NeoX-20B tokenizer, which is not at {neox}: run "
                          f"`dcbench tokenizer download`, or set tokenizer_name to a local tokenizer.json")
    raise ConfigError(f"{where} {name!r} is not a local file, and dcbench does not download tokenizers for this "
                      f"step: set tokenizer_name to the path of a tokenizer.json (Hugging Face tokenizers format)")


@step("filter", files={"tokenizer_name": tokenizer_file})
def alphabetic_characters_to_tokens_filter(*, tokenizer_name: str = "EleutherAI/pythia-6.9b-deduped") -> Mapper:
    """Drop pages with fewer than 1.5 alphabetic characters per token (DCLM alphabetic_characters_to_tokens_filter, RedPajama's GitHub rule).

    Tokens are those of the Hugging Face tokenizer `tokenizer_name`, without
    special tokens added (`tokenizer.tokenize`). DCLM downloads it from the
    hub; we read a local tokenizer.json: give its path (or a folder holding
    it), or keep DCLM's default, Pythia's tokenizer, which is GPT-NeoX-20B's
    and is read from `dcbench tokenizer download`'s copy. Alphabetic means
    `str.isalpha()`. The threshold is fixed at 1.5 as in DCLM (a ratio equal
    to it passes); an empty page is dropped.
    """
    tok = _load_tokenizer(tokenizer_file(tokenizer_name))

    def keep(page: Page) -> list[Page]:
        text = page[TEXT_KEY]
        if text == "":
            return []
        tokens = len(tok.encode(text, add_special_tokens=False))
        alpha = sum(map(str.isalpha, text))
        return [] if tokens == 0 or alpha / tokens < ALPHA_PER_TOKEN_MIN else [page]

    return keep


def _load_tokenizer(path: Path) -> Tokenizer:
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as e:  # tokenizers raises a bare Exception on a bad file
        raise ConfigError(f"alphabetic_characters_to_tokens_filter: {path} is not a Hugging Face tokenizer.json "
                          f"({e})") from e
    tok.no_truncation()  # as transformers' tokenize(): every token counts, whatever the file sets
    tok.no_padding()
    return tok


# ---------------------------------------------------------- substring_filter


def _banlist_file(name: str | None) -> Path | None:
    return name and resolve_data_file(name)


@step("filter", files={"banlist_from_fname": _banlist_file})
def substring_filter(
    *,
    banlist: str | list[str] | None = None,
    banlist_from_fname: str | None = None,
    location: Literal["any", "prefix", "suffix"] = "any",
    case_sensitive: bool = False,
    exact_word: bool = False,
) -> Mapper:
    """Drop pages whose text contains a banned string (DCLM substring_filter: C4's "lorem ipsum", "{" and bad-words rules).

    The banlist is `banlist` (a string or a list) or, taking precedence, the
    lines of the file `banlist_from_fname` (read as DCLM reads it: every
    line, unstripped; a relative path resolves against the current folder).
    Entries are regular expressions, not escaped (DCLM's quirk: "." matches
    any character), joined into one alternation. Unless `case_sensitive`, the
    entries and the text are lowercased first. `exact_word` puts regex word
    boundaries (\\b) around the alternation. `location: prefix` matches only
    at the start of the text; `suffix` only at its end (as Python's `$`, also
    just before one final \\n).
    Stricter than DCLM: an empty banlist, an empty entry (both would match
    every page and drop all of them) or an invalid regex stops the recipe
    before any work.
    """
    entries = _substring_banlist(banlist, banlist_from_fname)
    if not case_sensitive:
        entries = [e.lower() for e in entries]
    pattern = f"(?:{'|'.join(entries)})"
    if exact_word:
        pattern = rf"\b{pattern}\b"
    pattern = {"prefix": f"^{pattern}", "suffix": f"{pattern}$"}.get(location, pattern)
    try:
        search = re.compile(pattern).search
    except re.error as e:
        raise ConfigError(f"substring_filter: the banlist is not a valid regular expression ({e}); its entries are "
                          f"regexes, as in DCLM: escape special characters with \\") from None

    def keep(page: Page) -> list[Page]:
        text = page[TEXT_KEY]
        return [] if search(text if case_sensitive else text.lower()) else [page]

    return keep


def _substring_banlist(banlist: str | list[str] | None, banlist_from_fname: str | None) -> list[str]:
    where = "substring_filter"
    if banlist_from_fname is not None:
        source = f"banlist_from_fname {banlist_from_fname!r}"
        try:
            path = resolve_data_file(banlist_from_fname)
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}. A relative path is read from the current folder, as DCLM reads its "
                              f"configs' paths from its repository root: run from a DCLM checkout, or give the "
                              f"file's full path") from e
        try:
            entries = read_banlist(str(path))
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from e
    elif banlist is not None:
        entries, source = [banlist] if isinstance(banlist, str) else list(banlist), "banlist"
    else:
        raise ConfigError(f"{where} needs banlist (a string or a list) or banlist_from_fname (a file)")
    if not entries:
        raise ConfigError(f"{where}: {source} is empty; DCLM would drop every page with it")
    if "" in entries:
        line = entries.index("") + 1
        raise ConfigError(f"{where}: {source} has an empty entry (number {line}), which matches every page; remove it")
    return entries
