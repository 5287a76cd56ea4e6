"""Content steps, pinned on cases worked out from specs/dclm.md section 2 (steps 7, 10-16, 18, 26)."""

from __future__ import annotations

import json
import random
import sys
from itertools import islice

import pytest

from dcbench.baselines.registry import get
from dcbench.baselines.steps import content
from dcbench.baselines.steps.content import fasttext_word_count, split_words
from dcbench.errors import ConfigError


def build(name, **params):
    return get(name).build(params)


def keeps(mapper, text, **extra):
    page = {"text": text, **extra}
    out = mapper(page)
    assert out in ([], [page])
    return bool(out)


def words(n, word="word", sep=" "):
    return sep.join([word] * n)


# ---------------------------------------------------------- fastText word count


def test_word_count_keeps_tokens_starting_alphanumeric():
    assert fasttext_word_count("Hello, world!") == 2  # "Hello," "world!"
    assert fasttext_word_count("Hello , world !") == 2  # "," and "!" start with punctuation
    assert fasttext_word_count("(parenthesised) word") == 1  # "(" first: not counted
    assert fasttext_word_count("_under score") == 1  # "_" is not alphanumeric
    assert fasttext_word_count("été ２０２４ ½ x") == 4  # Unicode letters, wide digits, numerics
    assert fasttext_word_count("") == 0


def test_word_count_ignores_newline_tokens():
    # fastText turns each "\n" into "</s>", which starts with "<".
    assert fasttext_word_count("a\nb") == 2
    assert fasttext_word_count("\n\n\n") == 0
    assert fasttext_word_count("a\n\n\nb\r\nc\td\ve\ff") == 6


def test_word_count_splits_only_where_fasttext_does():
    # A no-break space joins words for fastText (str.split would cut there)...
    assert fasttext_word_count("a\u00a0b c") == 2
    # ...and a token starting with it does not start alphanumeric.
    assert fasttext_word_count("\u00a0a b") == 1
    assert fasttext_word_count("x\u2003y\u3000z w") == 2
    # NUL separates for fastText (not for str.split).
    assert fasttext_word_count("a\x00b") == 2


def test_word_count_rejects_lone_surrogates():
    with pytest.raises(ValueError, match="surrogate"):
        fasttext_word_count("abc \ud800 def")


def test_other_spaces_are_exactly_what_str_split_adds_to_fasttext():
    unicode_spaces = {chr(i) for i in range(sys.maxunicode + 1) if chr(i).isspace()}
    assert set(content.OTHER_SPACES) == unicode_spaces - set(" \n\r\t\v\f")


def test_fast_count_equals_fasttext_tokenize():
    rnd = random.Random(5)
    alphabet = ["a", "Z", "1", "é", "日", ",", "(", "_", " ", "  ", "\n", "\r", "\t", "\v", "\f", "\x00",
                "\u00a0", "\u2003", "\x1c", "\u0085", "½", "</s>", "-"]
    for _ in range(3000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 25)))
        assert fasttext_word_count(text) == len(split_words(text, "fasttext", True, True)), repr(text)


def test_fast_count_equals_fasttext_tokenize_on_real_pages(web_docs):
    with open(web_docs, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in islice(f, 0, 3305, 10)]
    for text in texts:
        assert fasttext_word_count(text) == len(split_words(text, "fasttext", True, True))


def test_other_word_settings_follow_split_words():
    # Not ignoring punctuation: every fastText token that is not blank, "</s>" included.
    assert fasttext_word_count("a , b\nc", ignore_punctuation=False) == 5
    assert fasttext_word_count("a , b c", model="split") == 3
    assert split_words("a , b", "split", ignore_punctuation=False) == ["a", ",", "b"]


# -------------------------------------------------------------- page_length


@pytest.fixture(scope="module")
def page_length():
    return build("page_length_filter", length_type="word", min_length=50, max_length=100000,
                 ignore_punctuation=True)


def test_page_length_bounds_are_inclusive(page_length):
    assert keeps(page_length, words(50))
    assert not keeps(page_length, words(49))
    assert keeps(page_length, words(100000, "w"))
    assert not keeps(page_length, words(100001, "w"))


def test_page_length_does_not_count_newlines_or_punctuation(page_length):
    assert not keeps(page_length, words(49, sep="\n"))  # 49 words + 48 "</s>" tokens
    assert not keeps(page_length, words(49) + " ." * 10 + " -- ... !!")
    assert keeps(page_length, words(49) + " 7")  # a number counts
    assert keeps(page_length, words(50, sep="\n\n"))


def test_page_length_default_counts_punctuation_and_newline_tokens():
    # DCLM's split_words default keeps punctuation tokens, and "</s>" is not blank.
    f = build("page_length_filter", min_length=3)
    assert keeps(f, "a , b")
    assert keeps(f, "a\nb")
    assert not keeps(f, "a b")
    g = build("page_length_filter", min_length=3, ignore_punctuation=True)
    assert not keeps(g, "a , b") and not keeps(g, "a\nb")


def test_page_length_other_units():
    text = "a\n\n  \nb c\n"
    assert keeps(build("page_length_filter", length_type="line", min_length=2, max_length=2), text)
    assert not keeps(build("page_length_filter", length_type="line", min_length=3), text)
    assert keeps(build("page_length_filter", length_type="line", min_length=5, remove_empty=False), text)
    # Paragraphs: "a" and "  \nb c\n".
    assert keeps(build("page_length_filter", length_type="paragraph", min_length=2, max_length=2), text)
    assert keeps(build("page_length_filter", length_type="char", min_length=len(text), max_length=len(text)), text)
    assert not keeps(build("page_length_filter", length_type="char", max_length=len(text) - 1), text)


def test_page_length_bad_parameters():
    spec = get("page_length_filter")
    with pytest.raises(ConfigError, match=r"page_length_filter.*'length_type'"):
        spec.build({"length_type": "sentences"})
    with pytest.raises(ConfigError, match=r"page_length_filter.*'min_length'.*'fifty'"):
        spec.build({"min_length": "fifty"})
    with pytest.raises(ConfigError, match=r"page_length_filter.*'min_lenght'"):
        spec.build({"min_lenght": 50})
    with pytest.raises(ConfigError, match=r"page_length_filter.*'ignore_punctuation'"):
        spec.build({"ignore_punctuation": "yes"})


# -------------------------------------------------------------- word_length


@pytest.fixture(scope="module")
def word_length():
    return build("word_length_filter", min_length=3, max_length=10)


def test_word_length_mean_bounds_are_inclusive(word_length):
    assert keeps(word_length, "abc abc")  # mean 3
    assert not keeps(word_length, "ab ab")  # mean 2
    assert keeps(word_length, "a abcde")  # (1 + 5) / 2 = 3
    assert keeps(word_length, "abcdefghij")  # 10
    assert not keeps(word_length, "abcdefghijk")  # 11


def test_word_length_counts_punctuation_and_needs_words(word_length):
    assert keeps(word_length, "ab, ab,")  # "ab," has 3 characters
    assert not keeps(word_length, "")
    assert not keeps(word_length, " \n\t ")


# ------------------------------------------------------------- symbol_ratio


@pytest.fixture(scope="module")
def symbols():
    return build("symbol_ratio_filter", max_symbol_to_word_ratio=0.1)


def test_symbol_ratio_at_the_maximum_passes(symbols):
    assert keeps(symbols, "#tag " + words(9))  # 1 / 10
    assert not keeps(symbols, "#tag #two " + words(8))  # 2 / 10
    assert keeps(symbols, "wait... " + words(9))
    assert keeps(symbols, "wait.... " + words(9))  # "...." holds one "..."
    assert not keeps(symbols, "wait...... " + words(9))  # "......" holds two
    assert keeps(symbols, words(7) + " . . .")  # ". . ." is 1 symbol and 3 words: 1 / 10
    assert not keeps(symbols, "wait\u2026 C# " + words(8))  # "…" and the "#" inside C#: 2 / 10


def test_symbol_ratio_without_words_drops(symbols):
    assert not keeps(symbols, "")
    assert not keeps(symbols, "\n \n")


# ------------------------------------------------------------ bullets, ellipses


@pytest.fixture(scope="module")
def bullets():
    return build("bullet_count_filter", max_bullet_start_ratio=0.9)


def test_bullet_ratio_at_the_maximum_passes(bullets):
    nine = "\n".join(["- item"] * 9 + ["plain line"])
    assert keeps(bullets, nine)  # 9 > 0.9 * 10 is false
    assert not keeps(bullets, "\n".join(["• item"] * 10))


def test_bullets_count_stripped_non_empty_lines(bullets):
    assert not keeps(bullets, "- a\n\n\n   \n- b")  # 2 lines, both bullets
    assert not keeps(bullets, "  * a\n\t● b")  # stripped before the test
    assert keeps(bullets, "+ a\n+ b")  # "+" is no bullet
    assert keeps(bullets, "")  # no lines: 0 > 0 is false
    assert keeps(bullets, "  \n \n")


@pytest.fixture(scope="module")
def ellipses():
    return build("ellipsis_count_filter", max_ellipsis_end_ratio=0.3)


def test_ellipsis_ratio_at_the_maximum_passes(ellipses):
    lines = ["wait..."] * 3 + ["done."] * 7
    assert keeps(ellipses, "\n".join(lines))  # 3 > 0.3 * 10 is false
    assert not keeps(ellipses, "\n".join(["wait..."] * 4 + ["done."] * 6))


def test_ellipsis_forms_and_stripping(ellipses):
    assert not keeps(ellipses, "a . . .\nb\u2026\nc")  # 2 of 3
    assert not keeps(ellipses, "a...   \n\nb")  # trailing spaces stripped; blank line not counted: 1 of 2
    assert keeps(ellipses, "a..\nb\nc")  # ".." is not an ellipsis
    assert keeps(ellipses, "")


# ------------------------------------------------------------ alphabetic ratio


@pytest.fixture(scope="module")
def alpha():
    return build("alphabetic_word_ratio_filter", max_ratio=0.2)


def test_alphabetic_ratio_at_the_maximum_passes(alpha):
    assert keeps(alpha, "123 abc abc abc abc")  # 1 / 5
    assert not keeps(alpha, "123 456 abc abc abc")  # 2 / 5
    assert not keeps(alpha, "  123 456 abc abc abc")
    assert not keeps(alpha, "abc 3.14 -- abc abc")


def test_alphabetic_means_any_unicode_letter(alpha):
    assert keeps(alpha, "x2 état 日本 abc 2024")  # only "2024" has no letter: 1 / 5
    assert not keeps(alpha, "² ½ abc abc abc")  # superscript two and a half are not letters
    assert not keeps(alpha, "abc\u00a0123 !!!")  # the no-break space splits: 2 of 3
    assert not keeps(alpha, "")


def test_alphabetic_count_equals_a_plain_loop(alpha):
    rnd = random.Random(11)
    alphabet = ["a", "É", "日", "1", "²", "½", ".", "-", " ", "\n", "\t", "\u00a0", "_", "Ⅻ", "ß"]
    for _ in range(2000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 20)))
        toks = text.split()
        expect = bool(toks) and sum(not any(c.isalpha() for c in w) for w in toks) / len(toks) <= 0.2
        assert keeps(alpha, text) == expect, repr(text)


# ----------------------------------------------------------------- stop words


@pytest.fixture(scope="module")
def stops():
    return build("stop_word_filter", count_unique=False, min_stop_word=2)


def test_stop_words_count_with_repetition(stops):
    assert keeps(stops, "the the")
    assert keeps(stops, "The cat AND dog")
    assert not keeps(stops, "the cat")
    assert keeps(stops, "to be")


def test_stop_words_must_be_whole_tokens(stops):
    assert not keeps(stops, "the, cat and.")  # punctuation attached
    assert not keeps(stops, "theory another thesis")
    assert not keeps(stops, "")


def test_stop_words_unique_and_other_minimum():
    unique = build("stop_word_filter", count_unique=True, min_stop_word=2)
    assert not keeps(unique, "the the the")
    assert keeps(unique, "the x of")
    three = build("stop_word_filter", min_stop_word=3)
    assert not keeps(three, "the of") and keeps(three, "with that have")


# ------------------------------------------------------ word counter and removal


def test_word_counter_enricher_counts_like_page_length():
    f = build("word_counter_enricher", key="previous_word_count")
    page = {"text": "Hello, world!\n-- 3 cats"}
    assert f(page) == [page] and page["previous_word_count"] == 4
    with pytest.raises(ValueError, match="previous_word_count"):
        f(page)
    g = build("word_counter_enricher", key="previous_word_count", overwrite=True)
    page["text"] = "one"
    g(page)
    assert page["previous_word_count"] == 1
    d = build("word_counter_enricher")
    page = {"text": "a b"}
    d(page)
    assert page["word_count"] == 2


@pytest.fixture(scope="module")
def removal():
    return build("word_removal_ratio_filter", prev_word_count_key="previous_word_count", max_removed_ratio=0.05)


def test_word_removal_ratio_at_the_maximum_passes(removal):
    assert keeps(removal, words(95), previous_word_count=100)  # 5 / 100
    assert not keeps(removal, words(94), previous_word_count=100)  # 6 / 100
    assert keeps(removal, words(95) + " ... --", previous_word_count=100)  # punctuation not recounted
    assert keeps(removal, words(120), previous_word_count=100)  # more words: negative ratio


def test_word_removal_edge_cases(removal):
    assert not keeps(removal, "anything", previous_word_count=0)
    with pytest.raises(KeyError, match="previous_word_count"):
        removal({"text": "x"})
    given = build("word_removal_ratio_filter", prev_word_count_key="previous_word_count",
                  new_word_count_key="now")
    assert not keeps(given, words(100), previous_word_count=100, now=90)  # the given count wins
    assert keeps(given, words(100), previous_word_count=100)  # absent: recounted


def test_counter_then_modified_text_then_removal_recounts():
    count = build("word_counter_enricher", key="previous_word_count")
    removal = build("word_removal_ratio_filter", prev_word_count_key="previous_word_count")
    page = {"text": words(100)}
    count(page)
    page["text"] = words(90)
    assert removal(page) == []


# ----------------------------------------------------------------- newlines


def test_newline_runs_shrink_to_max_consecutive():
    f = build("newline_removal_modifier", max_consecutive=2)
    page = {"text": "a\n\n\n\n\nb\n\n\nc\n\nd\ne"}
    assert f(page) == [page] and page["text"] == "a\n\nb\n\nc\n\nd\ne"
    page = {"text": "a\n \n \nb"}  # not a run of "\n"
    f(page)
    assert page["text"] == "a\n \n \nb"
    page = {"text": ""}
    assert f(page) == [page]  # never drops


def test_newline_other_maxima():
    one = build("newline_removal_modifier", max_consecutive=1)
    page = {"text": "a\n\nb\nc"}
    one(page)
    assert page["text"] == "a\nb\nc"
    zero = build("newline_removal_modifier", max_consecutive=0)
    page = {"text": "a\nb\n\nc"}
    zero(page)
    assert page["text"] == "abc"
    with pytest.raises(ConfigError, match="newline_removal_modifier"):
        build("newline_removal_modifier", max_consecutive=-1)
    with pytest.raises(ConfigError, match=r"newline_removal_modifier.*'max_consecutive'"):
        build("newline_removal_modifier", max_consecutive=2.5)


# ------------------------------------------------------------------- schema


def test_targets_and_kinds():
    expect = {
        "newline_removal_modifier": ("modifier", {"excess_newlines"}),
        "page_length_filter": ("filter", {"too_short", "too_long"}),
        "word_length_filter": ("filter", {"word_length"}),
        "symbol_ratio_filter": ("filter", {"symbols"}),
        "bullet_count_filter": ("filter", {"bullets"}),
        "ellipsis_count_filter": ("filter", {"ellipsis"}),
        "alphabetic_word_ratio_filter": ("filter", {"non_alpha"}),
        "stop_word_filter": ("filter", {"no_stopwords"}),
        "word_counter_enricher": ("enricher", set()),
        "word_removal_ratio_filter": ("filter", set()),
        "url_substring_filter": ("filter", {"spam_url"}),
        "url_removal_modifier": ("modifier", {"url_in_text"}),
        "move_url_modifier": ("modifier", set()),
        "language_filter": ("filter", {"non_english"}),
        "detect_lang_whole_page_enricher": ("enricher", set()),
    }
    for name, (kind, targets) in expect.items():
        spec = get(name)
        assert spec.kind == kind and set(spec.targets) == targets, name
        assert spec.summary and "DCLM" in spec.summary, name


@pytest.mark.parametrize("name, params, needle", [
    ("word_length_filter", {"max_length": "ten"}, "'max_length'"),
    ("symbol_ratio_filter", {"max_ratio": 0.1}, "'max_ratio'"),
    ("bullet_count_filter", {"max_bullet_start_ratio": None}, "'max_bullet_start_ratio'"),
    ("stop_word_filter", {"count_unique": 1}, "'count_unique'"),
    ("word_counter_enricher", {"model": "spacy"}, "'model'"),
    ("word_removal_ratio_filter", {"prev_word_count_key": 3}, "'prev_word_count_key'"),
    ("alphabetic_word_ratio_filter", {"max_ratio": [0.2]}, "'max_ratio'"),
    ("ellipsis_count_filter", {"max_ellipsis_ratio": 0.3}, "'max_ellipsis_ratio'"),
])
def test_bad_parameters_name_step_and_parameter(name, params, needle):
    with pytest.raises(ConfigError) as e:
        get(name).build(params)
    assert f"'{name}'" in str(e.value) and needle in str(e.value)
