"""The text units DCLM's mappers share: paragraphs, sentences, joins and normalisers.

One module for what DCLM keeps in `baselines/mappers/core_utils.py`, with the
same semantics (word splitting lives in `baselines.text` and
`steps.content.split_words`):

* `split_paragraphs` cuts at a *regular expression* (`re.split`), so "\\n"
  gives lines and "\\n\\n" paragraphs; pieces are stripped and empty ones
  dropped unless `remove_empty` is false (then they are left as they are).
* `split_sentences` asks blingfire (default) or NLTK's Punkt for sentence
  spans; the sentences are those spans stripped, empty ones dropped. Like
  DCLM, only `remove_empty=True` is supported. `tokenizer_lang` "en" or
  "english" selects Punkt's trained English model (C4's); any other value,
  null included, an untrained Punkt tokenizer.
* the normalisers of DCLM's exact dedup (`DEDUP_NORMALIZERS`): C4's URL rule,
  strip + lowercase, timestamps to seconds, md5, and CCNet's line normaliser.

`sentence_tokenizer_available` says, before any work, what a sentence
tokenizer still needs installed (blingfire, NLTK and its Punkt data).
"""

from __future__ import annotations

import functools
import hashlib
import re
from datetime import datetime, timezone
from typing import Any, Callable

try:  # optional: only sentence splitting needs it (sentence_tokenizer_available says what is missing)
    import blingfire
except ImportError:  # pragma: no cover - depends on the installation
    blingfire = None
try:  # optional: only ccnet_dedup_normalizer needs it
    from unidecode import unidecode
except ImportError:  # pragma: no cover - depends on the installation
    unidecode = None

__all__ = ["DEDUP_NORMALIZERS", "SENTENCE_TOKENIZERS", "ccnet_dedup_normalizer", "hash_text", "join_paragraphs",
           "join_sentences", "normalize_timestamps", "normalize_url", "normalize_whitespace_and_lowercase",
           "sentence_tokenizer_available", "split_paragraphs", "split_sentences"]

SENTENCE_TOKENIZERS = ("blingfire", "nltk")
ENGLISH = ("en", "english")  # the tokenizer_lang values that select Punkt's English model
_REGEX_SPECIAL = frozenset(".^$*+?{}[]\\|()")


# ------------------------------------------------------------------ splitting


def split_paragraphs(text: str, paragraph_end: str = "\n", remove_empty: bool = True) -> list[str]:
    """The pieces of `text` between matches of the regex `paragraph_end`, stripped, empty ones
    dropped (`remove_empty`; otherwise returned unstripped)."""
    if paragraph_end and not _REGEX_SPECIAL.intersection(paragraph_end):
        pieces = text.split(paragraph_end)  # a literal separator: the same pieces as re.split, faster
    else:
        pieces = _compiled(paragraph_end).split(text)
    if remove_empty:
        return [s for piece in pieces if (s := piece.strip())]
    return pieces


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def split_sentences(text: str, remove_empty: bool = True, tokenizer: str = "blingfire",
                    tokenizer_lang: str | None = None) -> list[str]:
    """The sentences of `text` (stripped, empty ones dropped) as `tokenizer` finds them.

    Raises ValueError for an unknown tokenizer or `remove_empty=False` (DCLM
    does not implement it either), and RuntimeError naming what to install
    when the tokenizer is not usable here.
    """
    if not remove_empty:
        raise ValueError("sentence splitting keeps only non-empty sentences (remove_empty must be true), as DCLM")
    if tokenizer not in SENTENCE_TOKENIZERS:
        raise ValueError(f"unknown sentence tokenizer {tokenizer!r}; accepted: {', '.join(SENTENCE_TOKENIZERS)}")
    if len(text) == 0:
        return []
    spans = _sentence_spans(tokenizer, tokenizer_lang)(text)
    return [s for start, end in spans if (s := text[start:end].strip())]


def sentence_tokenizer_available(tokenizer: str, lang: str | None = None) -> str | None:
    """None when `split_sentences(..., tokenizer, lang)` can run here, else what to install."""
    if tokenizer == "blingfire":
        return None if blingfire is not None else "blingfire is not installed: `pip install blingfire`"
    if tokenizer != "nltk":
        return f"unknown sentence tokenizer {tokenizer!r}; accepted: {', '.join(SENTENCE_TOKENIZERS)}"
    nltk = _nltk()
    if nltk is None:
        return "nltk is not installed: `pip install nltk`, then `python -m nltk.downloader punkt_tab`"
    if lang in ENGLISH and _punkt_english(nltk) is None:
        return ("NLTK's English Punkt model is missing: `python -m nltk.downloader punkt_tab` "
                "(NLTK < 3.9: `python -m nltk.downloader punkt`)")
    return None


@functools.cache
def _sentence_spans(tokenizer: str, lang: str | None) -> Callable[[str], Any]:
    """A function giving the (start, end) character spans of the sentences of a text."""
    problem = sentence_tokenizer_available(tokenizer, lang)
    if problem is not None:
        raise RuntimeError(problem)
    if tokenizer == "blingfire":
        return lambda text: blingfire.text_to_sentences_and_offsets(text)[1]
    nltk = _nltk()
    punkt = _punkt_english(nltk) if lang in ENGLISH else nltk.tokenize.punkt.PunktSentenceTokenizer()
    return lambda text: list(punkt.span_tokenize(text))


def _nltk() -> Any:
    try:
        # deferred: NLTK is optional (only `tokenizer: nltk` needs it) and its import takes 2.7 s (measured,
        # nltk 3.10.4)
        import nltk
    except ImportError:
        return None
    return nltk


@functools.cache
def _punkt_english(nltk: Any) -> Any:
    """NLTK's trained English Punkt tokenizer (C4's), or None when its data is not installed."""
    try:
        if hasattr(nltk.tokenize.punkt, "PunktTokenizer"):  # NLTK >= 3.9 ships it as punkt_tab
            return nltk.tokenize.punkt.PunktTokenizer("english")
        return nltk.data.load("tokenizers/punkt/english.pickle")
    except LookupError:
        return None


def join_sentences(lines: list[str], sep: str = " ") -> str:
    return sep.join(lines)


def join_paragraphs(paragraphs: list[str], sep: str = "\n") -> str:
    return sep.join(paragraphs)


# ---------------------------------------------------------------- normalisers

_SCHEME = re.compile(r"https?://(www\.)?")
_TRACKING = re.compile(r"\?(utm_|ref|feed).*")


def normalize_url(url: str) -> str:
    """C4's URL key (TFDS c4_utils): every `http(s)://` (and a `www.` after it) deleted, anything
    from a `?utm_`, `?ref` or `?feed` on deleted, trailing slashes stripped."""
    return _TRACKING.sub("", _SCHEME.sub("", url)).rstrip("/")


def normalize_whitespace_and_lowercase(text: str) -> str:
    return text.strip().lower()


def normalize_timestamps(timestamp: str, date_format: str = "%Y-%m-%dT%H:%M:%SZ", default_val: float = -1.0) -> float:
    """Seconds since the epoch of `timestamp` read with `date_format`; `default_val` when it does not parse.

    A time without a zone is read as UTC. DCLM reads it in the machine's
    local time zone, so the two agree on a machine set to UTC; ours does not
    depend on where it runs.
    """
    try:
        moment = datetime.strptime(timestamp, date_format)
    except ValueError:
        return default_val
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def hash_text(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


# CCNet's punctuation map: only its keys matter here, as the normaliser deletes them.
_CCNET_PUNCTUATION = "，。、„”“«»１」「《》´∶：？！（）；–—．～’…━〈〉【】％►"
_NON_PRINTING = "".join(map(chr, [*range(0, 32), *range(127, 160)]))
_CCNET_DELETE = re.compile("[" + re.escape(_CCNET_PUNCTUATION + _NON_PRINTING) + "]")
_DIGIT = re.compile(r"\d")


def ccnet_dedup_normalizer(line: str) -> str:
    """CCNet's line key: stripped, lowercased, every digit (`\\d`, any script) -> "0", CCNet's
    Unicode punctuation and the control characters U+0000-001F, U+007F-009F deleted, then
    transliterated to ASCII (Unidecode). A blank line gives ''. Because digits are replaced
    first, the fullwidth "１" in CCNet's punctuation list becomes "0" rather than being deleted."""
    line = line.strip()
    if not line:
        return line
    if unidecode is None:
        raise RuntimeError("the ccnet_dedup_normalizer needs Unidecode: `pip install Unidecode`")
    return unidecode(_CCNET_DELETE.sub("", _DIGIT.sub("0", line.lower())))


DEDUP_NORMALIZERS: dict[str, Callable[..., Any]] = {
    "normalize_url": normalize_url,
    "normalize_timestamps": normalize_timestamps,
    "normalize_whitespace_and_lowercase": normalize_whitespace_and_lowercase,
    "hash_text": hash_text,
    "ccnet_dedup_normalizer": ccnet_dedup_normalizer,
}
