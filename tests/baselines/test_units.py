"""DCLM's core utilities (baselines/units.py), on cases worked out from DCLM's core_utils.py."""

from __future__ import annotations

import hashlib

import pytest

from dcbench.baselines import units
from dcbench.baselines.units import (DEDUP_NORMALIZERS, ccnet_dedup_normalizer, hash_text, join_paragraphs,
                                     join_sentences, normalize_timestamps, normalize_url,
                                     normalize_whitespace_and_lowercase, sentence_tokenizer_available,
                                     split_paragraphs, split_sentences)

# ------------------------------------------------------------------ paragraphs


def test_split_paragraphs_strips_and_drops_empty():
    assert split_paragraphs("a\n\n  b  \n\t\nc") == ["a", "b", "c"]
    assert split_paragraphs("one\n\ntwo\nstill two", "\n\n") == ["one", "two\nstill two"]
    assert split_paragraphs("") == []
    assert split_paragraphs(" \n\u00a0\n\u2003\u3000") == []  # Unicode spaces strip away too


def test_split_paragraphs_keeps_everything_unstripped_when_asked():
    assert split_paragraphs("a\n\n b \n", remove_empty=False) == ["a", "", " b ", ""]
    assert split_paragraphs("", remove_empty=False) == [""]


def test_split_paragraphs_separator_is_a_regex():
    # DCLM calls re.split(paragraph_end, text).
    assert split_paragraphs("a1b22c", r"\d+") == ["a", "b", "c"]
    assert split_paragraphs("a.b", ".", remove_empty=False) == ["", "", "", ""]  # "." matches any character
    assert split_paragraphs("a\r\nb\nc", r"\r?\n") == ["a", "b", "c"]


def test_split_paragraphs_very_long_line():
    line = "x" * 1_000_000
    assert split_paragraphs(f"{line}\n\n{line}") == [line, line]


# ------------------------------------------------------------------- sentences


def test_split_sentences_blingfire():
    assert split_sentences("Hello world. This is it.") == ["Hello world.", "This is it."]
    assert split_sentences("Hi 😀. Next one. Fourth.") == ["Hi 😀.", "Next one.", "Fourth."]


def test_split_sentences_empty_and_blank():
    assert split_sentences("") == []
    assert split_sentences("   ") == []  # blingfire gives one blank span, stripped away
    assert split_sentences("\n\n") == []
    assert split_sentences("\u00a0\u2003\u3000") == []


def test_split_sentences_unicode_spaces_do_not_end_sentences():
    # blingfire does not cut after ". " when the space is a no-break, em or ideographic space.
    assert split_sentences("a\u00a0b. c\u3000d. \u2003e.") == ["a\u00a0b. c\u3000d. \u2003e."]


def test_split_sentences_very_long_line():
    text = "word " * 200_000 + ". Next."
    sentences = split_sentences(text)
    assert len(sentences) == 2 and sentences[1] == "Next."


def test_split_sentences_refuses_what_dclm_does_not_implement():
    with pytest.raises(ValueError, match="remove_empty"):
        split_sentences("a. b.", remove_empty=False)
    with pytest.raises(ValueError, match="unknown sentence tokenizer"):
        split_sentences("a. b.", tokenizer="spacy")


def test_sentence_tokenizer_available():
    assert sentence_tokenizer_available("blingfire") is None
    assert "unknown sentence tokenizer" in sentence_tokenizer_available("spacy")


def test_nltk_tokenizer_says_what_to_install():
    message = sentence_tokenizer_available("nltk", "english")
    try:
        import nltk  # noqa: F401
    except ImportError:
        assert "pip install nltk" in message and "nltk.downloader" in message
        with pytest.raises(RuntimeError, match="pip install nltk"):
            split_sentences("One. Two.", tokenizer="nltk", tokenizer_lang="english")
        return
    if message is not None:  # NLTK without the English Punkt data
        assert "nltk.downloader" in message
        return
    assert split_sentences("Mr. Smith came. He left.", tokenizer="nltk", tokenizer_lang="english") == [
        "Mr. Smith came.", "He left."]


def test_joins():
    assert join_sentences(["a.", "b."]) == "a. b."
    assert join_paragraphs(["a", "b"]) == "a\nb"
    assert join_paragraphs([]) == ""
    assert join_sentences(["a", "b"], sep="|") == "a|b"


# ---------------------------------------------------------------- normalisers


def test_normalize_url_c4_rule():
    assert normalize_url("https://www.example.com/a/b/") == "example.com/a/b"
    assert normalize_url("http://example.com/?utm_source=x&y=1") == "example.com"
    assert normalize_url("example.com/p?ref=home") == "example.com/p"
    assert normalize_url("example.com/p?feedback=1") == "example.com/p"  # "?feed" prefix, as C4
    assert normalize_url("example.com/p?a=1&utm_source=x") == "example.com/p?a=1&utm_source=x"  # only right after "?"
    # Every scheme is removed, not only the leading one (re.sub replaces all).
    assert normalize_url("https://a.com/redirect/http://www.b.com/") == "a.com/redirect/b.com"
    assert normalize_url("ftp://www.x.org///") == "ftp://www.x.org"
    assert normalize_url("") == ""


def test_normalize_whitespace_and_lowercase():
    assert normalize_whitespace_and_lowercase("  Hello World \n") == "hello world"
    assert normalize_whitespace_and_lowercase("\u00a0\u2003X\u3000") == "x"
    assert normalize_whitespace_and_lowercase("") == ""


def test_normalize_timestamps_reads_utc():
    assert normalize_timestamps("2020-01-01T00:00:00Z") == 1577836800.0
    assert normalize_timestamps("2020-01-01", date_format="%Y-%m-%d") == 1577836800.0
    assert normalize_timestamps("2020-01-01T00:00:00+0100", date_format="%Y-%m-%dT%H:%M:%S%z") == 1577833200.0
    assert normalize_timestamps("yesterday") == -1.0
    assert normalize_timestamps("", default_val=0.0) == 0.0
    with pytest.raises(TypeError):  # DCLM only catches ValueError
        normalize_timestamps(None)


def test_hash_text_is_md5_of_utf8():
    assert hash_text("") == "d41d8cd98f00b204e9800998ecf8427e"
    assert hash_text("é") == hashlib.md5("é".encode()).hexdigest()


def test_ccnet_normalizer():
    assert ccnet_dedup_normalizer("  Héllo, Wörld！ 2024 — “quoted” ") == "hello, world 0000  quoted"
    # Digits of any script become 0 before the punctuation is deleted, so the fullwidth "１"
    # of CCNet's punctuation list stays as "0".
    assert ccnet_dedup_normalizer("１２ ٣") == "00 0"
    assert ccnet_dedup_normalizer("a\x07b\x85c\x9fd") == "abcd"  # control characters deleted
    assert ccnet_dedup_normalizer("日本") == "Ri Ben "  # Unidecode transliterates (capitals, trailing space kept)
    assert ccnet_dedup_normalizer("… ’s") == " s"  # deleted, not mapped to "..." and "'"
    assert ccnet_dedup_normalizer("") == ""
    assert ccnet_dedup_normalizer(" \u00a0\u2003\u3000 ") == ""


def test_dedup_normalizers_by_name():
    assert set(DEDUP_NORMALIZERS) == {"normalize_url", "normalize_timestamps", "normalize_whitespace_and_lowercase",
                                      "hash_text", "ccnet_dedup_normalizer"}
    assert DEDUP_NORMALIZERS["hash_text"] is units.hash_text
