"""baselines.text: UAX #29 word segments equal to uniseg 0.10.1's (DCLM's reference)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from dcbench.baselines import text as T
from dcbench.baselines.text import segment_words, split_words

DOCS = Path("/work/shared/data/web/web_docs_combined.jsonl")

DCLM_EXAMPLE = "Also one with complications e.g., a 1.4 floating points..."


# ------------------------------------------------------------ DCLM's examples


def test_dclm_split_words_example_counts():
    # DCLM's test_core_utils: 9 / 14 / 17 words.
    assert split_words(DCLM_EXAMPLE, ignore_punctuation=True) == [
        "Also", "one", "with", "complications", "e.g", "a", "1.4", "floating", "points"]
    assert len(split_words(DCLM_EXAMPLE, ignore_punctuation=False)) == 14  # + "." "," "." "." "."
    assert len(split_words(DCLM_EXAMPLE, ignore_punctuation=True, ignore_whitespace=False)) == 17  # + 8 spaces
    assert len(split_words("Hello World and all", ignore_punctuation=True)) == 4
    assert split_words("One with CamelCasedWords") == ["One", "with", "CamelCasedWords"]


def test_all_segments_of_the_example():
    assert segment_words(DCLM_EXAMPLE) == [
        "Also", " ", "one", " ", "with", " ", "complications", " ", "e.g", ".", ",", " ", "a", " ",
        "1.4", " ", "floating", " ", "points", ".", ".", "."]


def test_flags_follow_dclm():
    text = "Hi, _x \u0308y\n"
    # Segments: "Hi" "," " " "_x" " \u0308" (a space with a combining mark) "y" "\n".
    assert segment_words(text) == ["Hi", ",", " ", "_x", " \u0308", "y", "\n"]
    # Both flags: first character alphanumeric ("_" is not).
    assert split_words(text, ignore_punctuation=True) == ["Hi", "y"]
    # Punctuation only: alphanumeric or whitespace first character.
    assert split_words(text, ignore_punctuation=True, ignore_whitespace=False) == ["Hi", " ", " \u0308", "y", "\n"]
    # Whitespace only: `seg.strip()` non-empty, so " \u0308" stays (the mark is not whitespace).
    assert split_words(text) == ["Hi", ",", "_x", " \u0308", "y"]
    assert split_words(text, ignore_whitespace=False) == segment_words(text)


def test_empty_and_none():
    assert segment_words("") == []
    assert split_words("", ignore_punctuation=True) == []
    with pytest.raises(TypeError):
        split_words(None)  # type: ignore[arg-type]


# ------------------------------------------------- the rules, worked by hand


@pytest.mark.parametrize("text, expected", [
    # WB5 letters, WB8 digits, WB9/10 letter-digit mixes.
    ("abc def", ["abc", " ", "def"]),
    ("mp3 4x4", ["mp3", " ", "4x4"]),
    # WB6/7: MidLetter (:), MidNumLet (. and U+2019), Single_Quote (') only between letters.
    ("can't can\u2019t", ["can't", " ", "can\u2019t"]),
    ("'Oh' he said", ["'", "Oh", "'", " ", "he", " ", "said"]),  # not joined at the edges
    ("a.b.c a:b end.", ["a.b.c", " ", "a:b", " ", "end", "."]),
    ("a.1 1.a a1.2", ["a", ".", "1", " ", "1", ".", "a", " ", "a1.2"]),
    # WB11/12: MidNum (, ;), MidNumLet (.), Single_Quote between digits; ':' is MidLetter only.
    ("3.14 1,000 1'000 1:2 1;2", ["3.14", " ", "1,000", " ", "1'000", " ", "1", ":", "2", " ", "1;2"]),
    ("a,b a;b", ["a", ",", "b", " ", "a", ";", "b"]),  # MidNum does not join letters
    ("1..2 a..b", ["1", ".", ".", "2", " ", "a", ".", ".", "b"]),  # one mid character only
    # WB13, WB13a/b: Katakana runs, ExtendNumLet joins everything wordy.
    ("\u30ab\u30bf\u30ab\u30ca", ["\u30ab\u30bf\u30ab\u30ca"]),
    ("\u30ab_a \u30aba _init_ 3_000", ["\u30ab_a", " ", "\u30ab", "a", " ", "_init_", " ", "3_000"]),
    # Hiragana and ideographs are Other: one character each.
    ("\u65e5\u672c \u3072\u3089", ["\u65e5", "\u672c", " ", "\u3072", "\u3089"]),
    # WB7a-c: Hebrew letters with quotes.
    ('\u05d0"\u05d1 \u05d0\'1 \u05d0"a', ['\u05d0"\u05d1', " ", "\u05d0'", "1", " ", "\u05d0", '"', "a"]),
    # WB3/3a/3b: CR LF together, newlines alone.
    ("a\r\nb\r\r\n\n\x0bc\u2028", ["a", "\r\n", "b", "\r", "\r\n", "\n", "\x0b", "c", "\u2028"]),
    # WB3d: runs of WSegSpace (U+3000 is one, U+00A0 is not).
    ("a  \u3000b\xa0\xa0c", ["a", "  \u3000", "b", "\xa0", "\xa0", "c"]),
    # WB4: Extend / Format / ZWJ attach to the preceding character and are then invisible...
    ("e\u0301te\u0301 Zucker\xadwatte", ["e\u0301te\u0301", " ", "Zucker\xadwatte"]),
    ("a.\u0308b 1\xad,\xad2", ["a.\u0308b", " ", "1\xad,\xad2"]),
    ("x \u0308 y", ["x", " \u0308", " ", "y"]),  # ...but a space run is only raw spaces (WB3d)
    # ...except after a newline or at the start, where they stand alone.
    ("\u0308a\n\u0308\u0308b", ["\u0308", "a", "\n", "\u0308\u0308", "b"]),
    # WB3c: ZWJ x Extended_Pictographic (emoji sequences), whatever came before the ZWJ.
    ("\U0001F468\u200d\U0001F469\u200d\U0001F467!", ["\U0001F468\u200d\U0001F469\u200d\U0001F467", "!"]),
    ("a\u200d\U0001F600b", ["a\u200d\U0001F600", "b"]),
    ("\n\u200d\U0001F600", ["\n", "\u200d\U0001F600"]),
    ("\u2764\ufe0f\U0001F600", ["\u2764\ufe0f", "\U0001F600"]),  # no ZWJ, no join
    # WB15/16: regional indicators pair up from the start of the run.
    ("\U0001F1FA\U0001F1F8\U0001F1EC\U0001F1E7\U0001F1EB", ["\U0001F1FA\U0001F1F8", "\U0001F1EC\U0001F1E7", "\U0001F1EB"]),
    ("x\U0001F1FA\U0001F1F8\U0001F1EB", ["x", "\U0001F1FA\U0001F1F8", "\U0001F1EB"]),
    # WB999: everything else is one character.
    ("$5 #tag (x)", ["$", "5", " ", "#", "tag", " ", "(", "x", ")"]),
])
def test_rules_by_hand(text, expected):
    assert segment_words(text) == expected
    # The general path alone gives the same.
    assert T._general().findall(text) == expected


def test_characters_whose_class_changed_after_unicode_16():
    # U+00B8 CEDILLA became ALetter in Unicode 17 (the regex module's data);
    # in uniseg 0.10.1 (Unicode 16) it is Other, so it splits a word.
    assert segment_words("a\xb8b") == ["a", "\xb8", "b"]
    assert segment_words("a\xb8b\xad") == ["a", "\xb8", "b\xad"]  # general path too
    # U+2605 BLACK STAR is Extended_Pictographic in Unicode 16 (not in the regex module's data).
    assert segment_words("\u200d\u2605") == ["\u200d\u2605"]


def test_general_path_pieces_join_seamlessly():
    # A soft hyphen, an emoji and a combining mark in a longer text: only the
    # pieces around them take the general path; the result is one segmentation.
    text = "Die Zucker\xadwatte ist s\xfc\xdf \U0001F600.\nNa\u0308chste  Zeile, 3.5 km.\n  \u0301x"
    assert segment_words(text) == [
        "Die", " ", "Zucker\xadwatte", " ", "ist", " ", "s\xfc\xdf", " ", "\U0001F600", ".", "\n",
        "Na\u0308chste", "  ", "Zeile", ",", " ", "3.5", " ", "km", ".", "\n", "  \u0301", "x"]
    assert split_words(text, ignore_punctuation=True) == [
        "Die", "Zucker\xadwatte", "ist", "s\xfc\xdf", "Na\u0308chste", "Zeile", "3.5", "km", "x"]


def test_tables_hold_uniseg_classes():
    # A few spot checks of the embedded Unicode 16 data.
    def value(ch: str) -> str:
        cp = ord(ch)
        return next((name for name, ranges in T.RANGES.items()
                     if name != "Extended_Pictographic" and any(lo <= cp <= hi for lo, hi in ranges)), "Other")
    assert value("a") == "ALetter" and value("\xe4") == "ALetter" and value("\xb8") == "Other"
    assert value("7") == "Numeric" and value("_") == "ExtendNumLet" and value("'") == "Single_Quote"
    assert value(".") == "MidNumLet" and value(":") == "MidLetter" and value(",") == "MidNum"
    assert value("\u2019") == "MidNumLet" and value(" ") == "WSegSpace" and value("\xad") == "Format"


# ---------------------------------------------------------- against uniseg


def _uniseg():
    return pytest.importorskip("uniseg.wordbreak", reason="uniseg (the reference segmenter) is not installed")


def _dclm_filter(tokens, ignore_punctuation, ignore_whitespace):
    if ignore_punctuation and ignore_whitespace:
        return [w for w in tokens if w[0].isalnum()]
    if ignore_punctuation:
        return [w for w in tokens if w[0].isalnum() or w[0].isspace()]
    if ignore_whitespace:
        return [w for w in tokens if w.strip()]
    return list(tokens)


@pytest.mark.slow
def test_same_segments_as_uniseg_on_real_documents():
    wordbreak = _uniseg()
    if not DOCS.exists():
        pytest.skip(f"{DOCS} is not available")
    with DOCS.open() as f:
        docs = [json.loads(line)["text"] for _, line in zip(range(150), f)]
    assert len(docs) == 150
    general_docs = 0
    for i, doc in enumerate(docs):
        ref = list(wordbreak.words(doc))
        assert segment_words(doc) == ref, f"document {i}"
        for flags in ((True, True), (True, False), (False, True)):
            assert split_words(doc, *flags) == _dclm_filter(ref, *flags), f"document {i}, flags {flags}"
        general_docs += T._fast().needs_general.search(doc) is not None
    assert general_docs > 0  # the general path was exercised too


_POOL = (list("aZ\xe91\u0663_'\".,:;  \t\r\n\x0b\x85\u2028#-/")
         + ["\xad", "\u0308", "\u0301", "\u200d", "\u200c", "\ufe0f", "\u05d0", "\u05d1", "\u30a2", "\u30fc",
            "\uff71", "\u3000", "\u2019", "\xb7", "\u2018", "\u24c2", "\xa9", "\u2605", "\u2764", "\U0001F600",
            "\U0001F44D", "\U0001F3FB", "\U0001F1FA", "\U0001F1F8", "\U0001F170", "\U000E0020", "\U00010400",
            "\U0001D7CE", "\u4e00", "\u0e01", "\xb8", "\xa0", "\u2060", "\ufeff", "\U0001B000", "\u2024",
            "\ufe52", "\uff07", "\uff0e", "\u066b", "\u066c", "\u037e", "\u055f"])


def test_same_segments_as_uniseg_on_random_strings():
    """Random strings over characters of every Word_Break class and the tricky cases."""
    wordbreak = _uniseg()
    rng = random.Random(29)
    for _ in range(3000):
        text = "".join(rng.choice(_POOL) for _ in range(rng.randint(1, 16)))
        ref = list(wordbreak.words(text))
        assert segment_words(text) == ref, repr(text)
        assert T._general().findall(text) == ref, repr(text)
        assert split_words(text, ignore_punctuation=True) == _dclm_filter(ref, True, True), repr(text)


def test_tables_equal_uniseg_data():
    """The embedded tables are uniseg 0.10.1's Word_Break and Extended_Pictographic data
    (checked on the planes where characters are assigned)."""
    wordbreak = _uniseg()
    emoji = pytest.importorskip("uniseg.emoji")
    cps = [*range(0x40000), *range(0xE0000, 0xE1000)]
    expected = {name: set() for name in T.RANGES}
    for cp in cps:
        ch = chr(cp)
        value = wordbreak.word_break(ch).value
        if value != "Other":
            expected[value].add(cp)
        if emoji.extended_pictographic(ch):
            expected["Extended_Pictographic"].add(cp)
    limit = set(cps)
    for name, ranges in T.RANGES.items():
        ours = {cp for lo, hi in ranges for cp in range(lo, hi + 1)} & limit
        assert ours == expected[name], name


def test_faster_than_uniseg():
    """Not a benchmark, a guard: the whole point is speed (>= 20x uniseg here; ~150x measured)."""
    wordbreak = _uniseg()
    import time

    text = (DCLM_EXAMPLE + " Zucker\xadwatte \U0001F600 ") * 200
    start = time.perf_counter()
    list(wordbreak.words(text))
    reference = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(5):
        segment_words(text)
    ours = (time.perf_counter() - start) / 5
    assert ours * 20 < reference
