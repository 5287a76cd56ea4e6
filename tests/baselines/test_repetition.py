"""massive_web_repetition_filters: DCLM's Gopher repetition checks, decisions worked out by hand."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from dcbench.baselines.registry import get
from dcbench.baselines.steps.repetition import ngram_failure, repetition_failure
from dcbench.baselines.text import split_words
from dcbench.errors import ConfigError

DOCS = Path("/work/shared/data/web/web_docs_combined.jsonl")


@pytest.fixture(scope="module")
def keep():
    return get("massive_web_repetition_filters").build({})


def kept(mapper, text: str) -> bool:
    page = {"text": text, "url": "u"}
    out = mapper(page)
    assert out in ([], [page])
    if out:
        assert out[0]["text"] == text  # a filter never edits the text
    return bool(out)


# ------------------------------------------------------------- registration


def test_registered_as_dclm_names_it():
    spec = get("massive_web_repetition_filters")
    assert spec.kind == "filter"
    assert set(spec.targets) == {"repeated_lines", "repeated_paragraphs", "repeated_ngrams"}
    assert list(spec.params) == ["skip_paragraph"] and spec.params["skip_paragraph"].default is False
    with pytest.raises(ConfigError):
        spec.build({"skip_paragraphs": True})


# ------------------------------------------------------------- DCLM's cases


def test_dclm_examples(keep):
    assert kept(keep, "This is a complex sentence with unique words.\n Here is another one.")
    # 4 words, 24 chars; the 2-gram ("repeat", "repeat") occurs twice: 12 * 2 / 24 = 1.0 > 0.2.
    assert not kept(keep, "Repeat repeat repeat repeat.")
    assert repetition_failure("Repeat repeat repeat repeat.") == "top_2gram"
    assert not kept(keep, "")
    assert repetition_failure("") == "empty"
    with pytest.raises(TypeError):
        keep({"text": None})


def test_zero_and_one_segment():
    assert repetition_failure(" \n\t\n ") == "line_count"  # no non-blank line: fails
    assert repetition_failure("Hello") is None  # one line, one paragraph, one word: passes
    assert repetition_failure("\n\n  Hello  \n") is None
    # Two equal words make one 2-gram: it occurs once, so the check passes.
    assert repetition_failure("word word") is None


# ------------------------------------------------------------ lines and paragraphs


# Seven lines: "abcdefghij" (10 chars) twice and five distinct one-word lines.
def _lines(unique_len: int) -> str:
    uniques = [(stem * 4)[:unique_len] for stem in ("alpha", "bravo", "charl", "delta", "echoe")]
    lines = ["abcdefghij", uniques[0], uniques[1], "abcdefghij", uniques[2], uniques[3], uniques[4]]
    return "\n".join(lines)


def test_line_char_fraction_just_above_and_at_the_threshold(keep):
    # Count fraction 2/7 = 0.286 <= 0.3. Chars: 20 duplicated of 20 + 5 * 15 = 95 -> 0.2105 > 0.2: drop.
    assert repetition_failure(_lines(15)) == "line_chars"
    assert not kept(keep, _lines(15))
    # With 16-char lines: 20 / 100 = 0.2, not above the threshold: kept (no repeated 2-gram either).
    assert repetition_failure(_lines(16)) is None
    assert kept(keep, _lines(16))


def test_line_count_fraction_at_and_above_the_threshold():
    uniques = [f"unique line number {w} with distinct words" for w in
               ("one", "two", "three", "four", "five", "six", "seven")]
    # 3 of 10 lines are the same "ok": 3/10 = 0.3 is not > 0.3; chars 6 / (6 + long) is small.
    ten = ["ok", uniques[0], uniques[1], "ok", uniques[2], uniques[3], "ok", uniques[4], uniques[5], uniques[6]]
    assert repetition_failure("\n".join(ten)) != "line_count"
    # Drop one unique line: 3/9 = 0.33 > 0.3.
    assert repetition_failure("\n".join(ten[:-1])) == "line_count"


def test_lines_are_stripped_and_blank_ones_ignored():
    # "  same  " and "same" are the same line after stripping; blank lines do not count.
    text = "same\n\n   \n  same  \nother words here\nmore words there\nlast words anywhere"
    # Lines: same, same, other.., more.., last.. -> 2/5 = 0.4 > 0.3.
    assert repetition_failure(text) == "line_count"


def test_paragraph_checks_and_skip_paragraph():
    lines = ["first distinct line", "second distinct line", "third distinct line",
             "fourth distinct line", "fifth distinct line"]
    text = "Title\n\nTitle\n\n" + "\n".join(lines)
    # Lines: Title, Title + 5 others: 2/7 = 0.286 passes. Paragraphs: Title, Title, (5 lines): 2/3 > 0.3.
    assert repetition_failure(text) == "paragraph_count"
    # Without the paragraph checks: line chars 10 / (10 + 96) = 0.094, and the words
    # "distinct line" repeat: top 2-gram ("distinct", "line") 4 times 12 chars = 48 / 101 > 0.2.
    assert repetition_failure(text, skip_paragraph=True) == "top_2gram"
    skip = get("massive_web_repetition_filters").build({"skip_paragraph": True})
    assert not kept(skip, text)


def test_paragraph_char_fraction():
    # A paragraph of 8 one-letter lines (15 chars with its newlines) twice, and 5 other
    # paragraphs of 38 distinct two-letter lines (76 chars of lines, 109 with newlines).
    para = "\n".join("abcdefgh")
    names = [f"{c}{d}" for c in "qrst" for d in "0123456789"][:38]
    others = ["\n".join(names[i:i + 8]) for i in range(0, 38, 8)]
    text = "\n\n".join([para, others[0], others[1], para, *others[2:]])
    # Line count 16/54 = 0.296, paragraph count 2/7 = 0.286, line chars 16/92 = 0.174: pass.
    # Paragraph chars 30/139 = 0.216 > 0.2: fail.
    assert repetition_failure(text) == "paragraph_chars"
    # Without paragraph checks the repeated 8 words (16 of 92 chars) fail the 5-gram check: 0.174 > 0.15.
    assert repetition_failure(text, skip_paragraph=True) == "duplicate_5gram"


# ------------------------------------------------------------------- n-grams


def _fillers(count: int, width: int = 3) -> list[str]:
    return [f"f{i:0{width - 1}d}" for i in range(count)]


def test_top_ngram_tie_takes_the_longest():
    # 2-grams ("a","b") and ("xx","yy") both occur twice (the top count). The tie is
    # broken by the longest: 4 chars x 2 = 8. Total = 4 + 8 + 27 = 39: 8/39 = 0.205 > 0.2.
    words = ["a", "b", "a", "b", "xx", "yy", "xx", "yy"] + _fillers(9)
    assert sum(map(len, words)) == 39
    assert ngram_failure(words) == "top_2gram"
    # The order of appearance does not matter.
    assert ngram_failure(["xx", "yy", "xx", "yy", "a", "b", "a", "b"] + _fillers(9)) == "top_2gram"
    # Had the short one been taken: 4/39 = 0.10, a pass. One more filler: 8/42 = 0.19, a pass.
    assert ngram_failure(words + _fillers(10)[9:]) is None
    # Through the step, on text.
    step = get("massive_web_repetition_filters").build({})
    assert not kept(step, " ".join(words) + ".")
    assert kept(step, " ".join(words + ["f09"]) + ".")


def test_top_3gram_and_4gram_thresholds():
    # ("aa","bb","cc") twice: top 2-gram ("aa","bb") 4 chars x 2 = 8; top 3-gram 6 x 2 = 12;
    # the 4-grams end in x1 / x2 and differ.
    words = ["aa", "bb", "cc", "x1", "aa", "bb", "cc", "x2"]  # 16 chars
    # Total 60: 8/60 = 0.133 <= 0.2, 12/60 = 0.2 > 0.18.
    assert ngram_failure(words + _fillers(11, width=4)) == "top_3gram"
    # Total 68: 12/68 = 0.176 <= 0.18.
    assert ngram_failure(words + _fillers(13, width=4)) is None
    # ("aa","bb","cc","dd") twice: 2/3/4-gram products 8, 12, 16.
    words = ["aa", "bb", "cc", "dd", "x1", "aa", "bb", "cc", "dd", "x2"]  # 20 chars
    # Total 96: 8/96, 12/96 = 0.125 pass, 16/96 = 0.1667 > 0.16.
    assert ngram_failure(words + _fillers(19, width=4)) == "top_4gram"
    # Total 104: 16/104 = 0.154; the 5-grams differ.
    assert ngram_failure(words + _fillers(21, width=4)) is None


def test_duplicated_5gram_coverage():
    rep = ["a", "b", "c", "d", "e"]
    # The 5-gram occurs twice: 10 covered chars. 2/3/4-grams: 4, 6, 8 chars.
    # Total 66: 4/66, 6/66 = 0.09, 8/66 = 0.12 pass; 10/66 = 0.1515 > 0.15 fails.
    words = rep + ["zz"] + _fillers(9) + rep + _fillers(18)[9:]
    assert sum(map(len, words)) == 66
    assert ngram_failure(words) == "duplicate_5gram"
    # Total 67 -> 10/67 = 0.149; the 6-grams differ ("e","zz") vs ("e","f09"): passes.
    words = rep + ["zzz"] + _fillers(9) + rep + _fillers(18)[9:]
    assert ngram_failure(words) is None


def test_overlapping_repeats_count_each_word_once():
    # "w1 w2 w1 w2 w1 w2" has the 5-gram (w1 w2 w1 w2 w1) twice, overlapping: the
    # covered words are all 6 (not 10). Compare with a plain reading of the definition.
    words = ["ab", "cd", "ab", "cd", "ab", "cd"]
    assert _literal_failure_on_words(words) == ngram_failure(words) == "top_2gram"
    for seed in range(3):
        rng = random.Random(seed)
        words = [rng.choice(["ab", "cd", "efg"]) for _ in range(40)] + _fillers(200)
        assert ngram_failure(words) == _literal_failure_on_words(words)


def test_words_are_alphanumeric_first_uniseg_segments():
    # Punctuation and spaces are not words and do not count as characters:
    # "e.g." -> "e.g"; "--" and "..." are dropped; "3.5" is one word.
    assert split_words("e.g. -- 3.5 ... x", ignore_punctuation=True) == ["e.g", "3.5", "x"]
    # So "x -- x -- y" has words x x y: 2-gram (x,x) once, (x,y) once: pass.
    assert repetition_failure("x -- x -- y") is None
    # "Hello, hello. Hello, hello." -> 4 words; ("Hello","hello") twice: 10*2/20 = 1.0.
    assert repetition_failure("Hello, hello. Hello, hello.") == "top_2gram"


def test_fewer_words_than_n_passes():
    assert ngram_failure([]) is None
    assert ngram_failure(["only"]) is None
    assert ngram_failure(["a", "b", "c", "d"]) is None


# --------------------------------------------- against a plain reading of the spec


def _literal_failure_on_words(words: list[str]) -> str | None:
    total = sum(len(w) for w in words)
    for n, limit in ((2, 0.20), (3, 0.18), (4, 0.16)):
        grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
        if not grams:
            continue
        counts = Counter(grams)
        top = max(counts.values())
        if top == 1:
            continue
        longest = max(sum(map(len, g)) for g, c in counts.items() if c == top)
        if longest * top / total > limit:
            return f"top_{n}gram"
    for n, limit in ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)):
        grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
        counts = Counter(grams)
        covered = {i + k for i, g in enumerate(grams) if counts[g] > 1 for k in range(n)}
        if grams and sum(len(words[i]) for i in covered) / total > limit:
            return f"duplicate_{n}gram"
    return None


def _literal_failure(text: str) -> str | None:
    if text == "":
        return "empty"

    def pieces(sep):
        return [p for part in text.split(sep) if (p := part.strip())]

    def fractions(segs):
        counts = Counter(segs)
        dup = {s: c for s, c in counts.items() if c > 1}
        return sum(dup.values()) / len(segs), sum(len(s) * c for s, c in dup.items()) / sum(map(len, segs))

    lines, paras = pieces("\n"), pieces("\n\n")
    if not lines or (len(lines) > 1 and fractions(lines)[0] > 0.3):
        return "line_count"
    if not paras or (len(paras) > 1 and fractions(paras)[0] > 0.3):
        return "paragraph_count"
    if len(lines) > 1 and fractions(lines)[1] > 0.2:
        return "line_chars"
    if len(paras) > 1 and fractions(paras)[1] > 0.2:
        return "paragraph_chars"
    return _literal_failure_on_words(split_words(text, ignore_punctuation=True))


def test_random_word_sequences_match_the_plain_reading():
    rng = random.Random(17)
    vocab = ["the", "cat", "sat", "on", "a", "mat", "big", "dog", "ran", "x", "yy", "zzz"]
    for _ in range(300):
        words = [rng.choice(vocab[: rng.randint(2, len(vocab))]) for _ in range(rng.randint(0, 60))]
        words += [f"u{i}" for i in range(rng.randint(0, 80))]
        if rng.random() < 0.3:
            rng.shuffle(words)
        assert ngram_failure(words) == _literal_failure_on_words(words), words


def test_random_texts_match_the_plain_reading():
    rng = random.Random(5)
    pieces = ["Read more", "Home", "the cat sat", "on the mat.", "", "  ", "A b c d e f", "Hello, world!"]
    for _ in range(300):
        text = "".join(rng.choice(pieces) + rng.choice(["\n", "\n\n", " ", "\n \n"]) for _ in range(rng.randint(0, 12)))
        assert repetition_failure(text) == _literal_failure(text), repr(text)


@pytest.mark.slow
def test_real_documents_match_the_plain_reading():
    if not DOCS.exists():
        pytest.skip(f"{DOCS} is not available")
    with DOCS.open() as f:
        docs = [json.loads(line)["text"] for _, line in zip(range(300), f)]
    results = [repetition_failure(d) for d in docs]
    assert results == [_literal_failure(d) for d in docs]
    assert 0 < sum(r is not None for r in results) < len(docs)
