"""DCLM's remaining filters (issue 14), on cases worked out by reading DCLM's
content_filters.py / metadata_filters.py: repetition_filter, substring_filter,
line_length_filter, alphanumeric_char_ratio_filter,
alphabetic_characters_to_tokens_filter, page_length_filter by sentence,
random_sampling_filter and github_extension_filter."""

from __future__ import annotations

import json
import pickle
import random
import shutil
from collections import Counter
from itertools import islice

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from dcbench.baselines.registry import all_steps, get
from dcbench.baselines.steps.metadata import GITHUB_EXTENSIONS, page_draw
from dcbench.baselines.steps.repetition import ngram_fraction
from dcbench.baselines.units import sentence_tokenizer_available
from dcbench.errors import ConfigError
from tests.baselines.test_content import build, keeps

NEW_STEPS = ("repetition_filter", "substring_filter", "line_length_filter", "alphanumeric_char_ratio_filter",
             "alphabetic_characters_to_tokens_filter", "random_sampling_filter", "github_extension_filter")


def test_new_steps_are_listed_with_a_summary():
    steps = all_steps()
    for name in NEW_STEPS:
        assert name in steps and "DCLM" in steps[name].summary, name
    assert steps["random_sampling_filter"].any_text


# ---------------------------------------------------------- repetition_filter


def rep(granularity, max_fraction, **kw):
    return build("repetition_filter", granularity=granularity, max_fraction=max_fraction, **kw)


@pytest.mark.parametrize("granularity", ["line", "paragraph", 2, 8])
def test_repetition_empty_text_is_dropped(granularity):
    assert not keeps(rep(granularity, 1.0), "")


def test_repetition_blank_text_fails_lines_but_passes_ngrams():
    blank = "  \n \u00a0\n\u2003\u3000\n\n"
    assert not keeps(rep("line", 1.0), blank)  # no line left after stripping
    assert not keeps(rep("paragraph", 1.0), blank)
    assert keeps(rep(2, 0.0), blank)  # no words, so no n-gram: passes


def test_repetition_one_segment_passes_at_any_threshold():
    assert keeps(rep("line", 0.0), "only one line")
    assert keeps(rep("line", 0.0, count_characters=False), "\n\n  only one line  \n")
    assert keeps(rep("paragraph", 0.0), "one\nparagraph")
    assert keeps(rep("line", 0.0), "a\u2028a")  # U+2028 is not "\n": one line


def test_repetition_lines_count_and_characters():
    text = "spam eggs\nspam eggs\n\n\nham"  # lines: 2 duplicates of 3; chars 18 of 21
    assert keeps(rep("line", 0.67, count_characters=False), text)
    assert not keeps(rep("line", 0.66, count_characters=False), text)
    assert keeps(rep("line", 0.86), text)
    assert not keeps(rep("line", 0.85), text)
    assert keeps(rep("line", 2 / 3, count_characters=False), text)  # equal passes


def test_repetition_paragraphs():
    text = "x y\n\nx y\n\nz\nz"  # paragraphs "x y", "x y", "z\nz": 2 of 3; chars 6 of 9
    assert not keeps(rep("paragraph", 0.66, count_characters=False), text)
    assert keeps(rep("paragraph", 0.67, count_characters=False), text)
    assert keeps(rep("paragraph", 6 / 9), text) and not keeps(rep("paragraph", 0.66), text)


def test_repetition_ignore_case_and_unicode_spaces():
    text = "a\u00a0\nA\u3000\na"  # stripped lines "a", "A", "a"
    assert keeps(rep("line", 0.67, count_characters=False), text)  # 2 of 3
    assert not keeps(rep("line", 0.99, count_characters=False, ignore_case=True), text)  # 3 of 3


def test_repetition_most_common_ngram():
    assert not keeps(rep(2, 0.99), "hello world hello world hello world")  # 10 chars x 3 / 30
    # Punctuation and any kind of space only separate words.
    assert not keeps(rep(2, 0.99), "hello, world! hello...\nworld")
    assert not keeps(rep(2, 0.99), "hello\u00a0world\u3000hello\u2003world")
    assert keeps(rep(2, 0.0), "hello")  # fewer words than n
    assert keeps(rep(3, 0.0), "one two three four")  # no n-gram twice


def test_repetition_ties_take_the_longest_ngram_whatever_the_order():
    # (x, y) and (qq, rr) both occur twice: the longer one counts, 4 chars x 2 / 12.
    for text in ("x y x y qq rr qq rr", "qq rr qq rr x y x y"):
        assert keeps(rep(2, 0.67), text)
        assert not keeps(rep(2, 0.66), text)


def test_repetition_duplicated_ngram_coverage():
    text = "a b c d e a b c d e f"  # the 5-gram a..e twice covers 10 of 11 characters
    assert keeps(rep(5, 10 / 11), text)
    assert not keeps(rep(5, 0.9), text)
    assert keeps(rep(6, 0.0), text)  # no 6-gram repeats


def test_repetition_explicit_ratio_for_any_n():
    assert not keeps(rep(1, 0.66, ngram_char_ratio="most_common"), "a a b")  # 1 x 2 / 3
    assert keeps(rep(1, 0.67, ngram_char_ratio="all"), "a a b")
    assert keeps(rep(3, 0.0, ngram_char_ratio="all"), "a b c d")


def test_repetition_overlapping_ngrams_can_exceed_one():
    # DCLM multiplies the top count by the n-gram length, overlaps included:
    # 99,999 bigrams (ab, ab) x 4 chars / 200,000 chars ~ 2.0 > 1.
    long_line = "ab " * 100_000
    assert not keeps(rep(2, 1.0), long_line)
    assert keeps(rep("line", 0.0), long_line)


def naive_fraction(words, n, ratio):
    """The definition read off DCLM's repetition_filter, with tuples and a Counter."""
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    counts = Counter(grams)
    if not grams or max(counts.values()) == 1:
        return 0.0
    total = sum(map(len, words))
    top = max(counts.values())
    if ratio == "most_common":
        return max(sum(map(len, g)) for g in counts if counts[g] == top) * top / total
    covered = {i + j for i, g in enumerate(grams) if counts[g] > 1 for j in range(n)}
    return sum(len(words[i]) for i in covered) / total


def test_ngram_fraction_equals_the_naive_definition():
    rnd = random.Random(3)
    vocab = ["a", "bb", "ccc", "a", "dddd", "é"]
    for _ in range(2000):
        words = [rnd.choice(vocab[:rnd.randint(1, 6)]) for _ in range(rnd.randint(0, 30))]
        n = rnd.randint(1, 10)
        for ratio in ("most_common", "all"):
            assert ngram_fraction(words, n, ratio) == naive_fraction(words, n, ratio), (words, n, ratio)


def test_repetition_filters_in_gophers_order_equal_the_massive_web_step(shared_data):
    with open(shared_data / "web" / "web_docs_combined.jsonl") as f:
        texts = [json.loads(line)["text"] for line in islice(f, 300)]
    gopher = [("line", 0.3, False), ("paragraph", 0.3, False), ("line", 0.2, True), ("paragraph", 0.2, True),
              (2, 0.2, True), (3, 0.18, True), (4, 0.16, True), (5, 0.15, True), (6, 0.14, True), (7, 0.13, True),
              (8, 0.12, True), (9, 0.11, True), (10, 0.10, True)]
    chain = [rep(g, m, count_characters=c) for g, m, c in gopher]
    massive = build("massive_web_repetition_filters")
    decisions = [(all(keeps(f, t) for f in chain), keeps(massive, t)) for t in texts]
    assert all(a == b for a, b in decisions)
    assert 0 < sum(a for a, _ in decisions) < len(texts)  # both outcomes occur


def test_repetition_bad_parameters():
    with pytest.raises(ConfigError, match="granularity 2..10 when ngram_char_ratio is null"):
        build("repetition_filter", granularity=11, max_fraction=0.1)
    with pytest.raises(ConfigError, match="granularity"):
        build("repetition_filter", granularity=0, max_fraction=0.1, ngram_char_ratio="all")
    with pytest.raises(ConfigError, match="granularity"):
        build("repetition_filter", granularity="word", max_fraction=0.1)
    with pytest.raises(ConfigError, match="max_fraction"):
        build("repetition_filter", granularity="line")
    with pytest.raises(ConfigError, match="max_fraction"):
        build("repetition_filter", granularity="line", max_fraction=-0.1)


# ----------------------------------------------------------- substring_filter

JS = "Warning: JavaScript should be enabled"


def sub(banlist=None, **kw):
    return build("substring_filter", banlist=banlist, **kw) if banlist is not None else build("substring_filter", **kw)


def test_substring_anywhere_lowercased():
    assert not keeps(sub("javascript"), JS)
    assert not keeps(sub(["JavaScript"]), JS)  # entries are lowercased too
    assert keeps(sub("{"), JS)
    assert not keeps(sub(["python", "enabled"]), JS)
    assert keeps(sub("javascript", case_sensitive=True), JS)
    assert not keeps(sub("JavaScript", case_sensitive=True), JS)


def test_substring_prefix_and_suffix():
    assert not keeps(sub("warning", location="prefix"), JS)
    assert keeps(sub("javascript", location="prefix"), JS)
    assert not keeps(sub("enabled", location="suffix"), JS)
    assert keeps(sub("javascript", location="suffix"), JS)
    # Python's $ also matches before one final newline, not two.
    assert not keeps(sub("enabled", location="suffix"), JS + "\n")
    assert keeps(sub("enabled", location="suffix"), JS + "\n\n")
    assert keeps(sub("enabled", location="suffix"), JS + " ")


def test_substring_exact_word():
    assert keeps(sub("java", exact_word=True), JS)
    assert not keeps(sub("javascript", exact_word=True), JS)
    assert keeps(sub("warn", location="prefix", exact_word=True), JS)
    assert keeps(sub("xxx", exact_word=True), "a xxx123 b")
    assert keeps(sub("xxx", exact_word=True), "a xxx_ b")  # "_" is a word character
    assert not keeps(sub("xxx", exact_word=True), "a xxx-b")
    assert not keeps(sub("xxx", exact_word=True), "a\u3000xxx\u00a0b")  # Unicode spaces are boundaries


def test_substring_entries_are_regexes():
    assert not keeps(sub("lorem.ipsum"), "Lorem-Ipsum dolor")  # "." is any character
    assert keeps(sub("lorem ipsum"), "lorem\u00a0ipsum")  # a space matches only a space
    assert not keeps(sub(r"\{"), "function() { }")


def test_substring_empty_blank_and_long_texts():
    f = sub(["lorem ipsum", "{"])
    assert keeps(f, "")
    assert keeps(f, " \n\t\u00a0\u2003\u3000")
    assert not keeps(f, "a" * 1_000_000 + " Lorem Ipsum")


def test_substring_banlist_file_takes_precedence(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lists = tmp_path / "baselines" / "mappers" / "banlists"
    lists.mkdir(parents=True)
    (lists / "words.txt").write_text("badword\nworse word\n")
    f = build("substring_filter", banlist="zzz", banlist_from_fname="baselines/mappers/banlists/words.txt",
              exact_word=True)
    assert not keeps(f, "a BADWORD here") and not keeps(f, "a worse word")
    assert keeps(f, "zzz") and keeps(f, "badword123")


def test_substring_pickled_banlist(tmp_path):
    path = tmp_path / "words.pkl"
    path.write_bytes(pickle.dumps({"badword", "worse"}))
    f = build("substring_filter", banlist_from_fname=str(path))
    assert not keeps(f, "so worse") and keeps(f, "fine")


def test_substring_refuses_banlists_that_match_everything(tmp_path):
    with pytest.raises(ConfigError, match="substring_filter needs banlist"):
        build("substring_filter")
    with pytest.raises(ConfigError, match="empty"):
        sub([])
    with pytest.raises(ConfigError, match="empty entry"):
        sub(["a", ""])
    blank_line = tmp_path / "list.txt"
    blank_line.write_text("a\n\nb\n")
    with pytest.raises(ConfigError, match=r"empty entry \(number 2\)"):
        build("substring_filter", banlist_from_fname=str(blank_line))
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        sub("(")
    with pytest.raises(ConfigError, match="substring_filter.*nowhere.txt"):
        build("substring_filter", banlist_from_fname=str(tmp_path / "nowhere.txt"))


# --------------------------------------------------------- line_length_filter


def test_line_length_max_and_avg():
    assert not keeps(build("line_length_filter"), "a" * 1001 + "\nshort")
    assert keeps(build("line_length_filter"), "a" * 1000 + "\nshort")  # equal passes
    five = ("a" * 200 + "\n") * 5  # 5 lines of 200
    assert not keeps(build("line_length_filter", length_type="avg", max_length=199), five)
    assert keeps(build("line_length_filter", length_type="avg", max_length=200), five)
    # Empty lines count in the mean: "x" * 300 and "".
    text = "x" * 300 + "\n\n"
    assert keeps(build("line_length_filter", length_type="avg", max_length=150), text)
    assert not keeps(build("line_length_filter", length_type="avg", max_length=149), text)


def test_line_length_empty_blank_unicode_and_long():
    f = build("line_length_filter", max_length=1000)
    assert not keeps(f, "")
    assert not keeps(build("line_length_filter", length_type="avg"), "")
    assert keeps(f, "   ")
    assert keeps(f, "\n")  # one empty line
    # splitlines() also breaks at U+2028 (and \r, \x85...), but not at no-break or ideographic spaces.
    assert keeps(f, "a" * 600 + "\u2028" + "a" * 600)
    assert keeps(f, "a" * 600 + "\r\n" + "a" * 600)
    assert not keeps(f, "a" * 600 + "\u00a0" + "a" * 600)
    assert not keeps(f, "a" * 600 + "\u3000" + "a" * 600)
    assert not keeps(f, "x" * 1_000_000)


# --------------------------------------------- alphanumeric_char_ratio_filter


def test_alphanumeric_ratio_is_a_minimum():
    f = build("alphanumeric_char_ratio_filter")  # 0.25
    assert keeps(f, "Hello123")
    assert keeps(f, "Hello 123!")
    assert not keeps(f, "!@#$%")
    assert keeps(f, "a!!!")  # 0.25: equal passes
    assert not keeps(f, "a!!!!")  # 0.2
    assert keeps(build("alphanumeric_char_ratio_filter", max_alnum_ratio=1.0), "abcd")
    assert keeps(build("alphanumeric_char_ratio_filter", max_alnum_ratio=0.0), "!!!")


def test_alphanumeric_ratio_empty_blank_unicode_and_long():
    f = build("alphanumeric_char_ratio_filter", max_alnum_ratio=0.5)
    assert not keeps(f, "")
    assert not keeps(f, "    ")
    assert keeps(f, "é1\u00a0\u2003")  # 2 of 4: spaces of any kind count as characters
    assert keeps(f, "日本\u3000\u3000")
    assert not keeps(f, "a" + " " * 1_000_000)


# ------------------------------------- alphabetic_characters_to_tokens_filter


@pytest.fixture()
def word_tokenizer(tmp_path):
    """A real tokenizer.json whose tokens are the runs \\w+ and [^\\w\\s]+ (unknown words allowed)."""
    tok = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path / "tok" / "tokenizer.json"
    path.parent.mkdir()
    tok.save(str(path))
    return path


def test_alpha_per_token(word_tokenizer):
    f = build("alphabetic_characters_to_tokens_filter", tokenizer_name=str(word_tokenizer))
    assert keeps(f, "Hello123")  # 5 letters, 1 token
    assert not keeps(f, "12 34")  # no letters
    assert keeps(f, "ab c")  # 3 / 2 = 1.5: equal passes
    assert not keeps(f, "ab c d")  # 4 / 3
    assert keeps(f, "été ñu")  # any script's letters: 5 / 2
    assert not keeps(f, "")
    assert not keeps(f, "   \u00a0\u3000")  # no token at all (DCLM divides by zero: the page is dropped)
    assert keeps(f, "word " * 100_000)
    # A folder holding tokenizer.json works too.
    g = build("alphabetic_characters_to_tokens_filter", tokenizer_name=str(word_tokenizer.parent))
    assert keeps(g, "Hello123")


def test_alpha_per_token_default_needs_the_neox_download(tmp_path, monkeypatch):
    monkeypatch.setenv("DCBENCH_CACHE", str(tmp_path))
    with pytest.raises(ConfigError, match=r"GPT-NeoX-20B.*dcbench tokenizer download.*tokenizer_name"):
        build("alphabetic_characters_to_tokens_filter")


def test_alpha_per_token_default_is_neox_from_the_download(tmp_path, monkeypatch, shared_data):
    neox = shared_data / "tokenizers" / "gpt-neox-20b.json"
    if not neox.is_file():
        pytest.skip(f"no GPT-NeoX tokenizer at {neox}")
    monkeypatch.setenv("DCBENCH_CACHE", str(tmp_path))
    (tmp_path / "tokenizers").mkdir()
    shutil.copy(neox, tmp_path / "tokenizers" / "gpt-neox-20b.json")
    f = build("alphabetic_characters_to_tokens_filter")
    assert keeps(f, "Hello123")  # "Hello" "123": 5 / 2
    assert not keeps(f, "12345")
    assert not keeps(f, "A1B2C3")  # 6 tokens, 3 letters
    assert keeps(f, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")  # 14 tokens
    assert not keeps(f, "\u00a0\u2003\u3000")


def test_alpha_per_token_refuses_to_download(tmp_path):
    with pytest.raises(ConfigError, match="does not download.*tokenizer_name"):
        build("alphabetic_characters_to_tokens_filter", tokenizer_name="gpt2")
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not a Hugging Face tokenizer.json"):
        build("alphabetic_characters_to_tokens_filter", tokenizer_name=str(bad))


# ------------------------------------------------- page_length_filter: sentence


def sentences(min_length, max_length=float("inf")):
    return build("page_length_filter", length_type="sentence", min_length=min_length, max_length=max_length)


def test_sentence_length_with_blingfire():
    assert keeps(sentences(1, 1), "Hello world.")
    assert keeps(sentences(2, 2), "Hello world. This is a test.")
    assert keeps(sentences(2, 2), "Hello world. \n\n\n This is a test.")
    assert keeps(sentences(1, 1), "no full stop at all here just words")
    assert keeps(sentences(1, 1), "Dr. Jones paid 3.5 dollars.")
    assert keeps(sentences(3, 3), "Wow! Is it? I guess so...yes...")


def test_sentence_length_empty_blank_unicode_and_long():
    f = sentences(1)
    assert not keeps(f, "")
    assert not keeps(f, "   \n\t ")
    assert not keeps(f, "\u00a0\u2003\u3000")
    assert keeps(sentences(1, 1), "a\u00a0b. c\u3000d.")  # blingfire does not cut at these spaces
    assert keeps(sentences(1, 1), "word " * 100_000)


def test_sentence_length_nltk_needs_nltk():
    problem = sentence_tokenizer_available("nltk", "english")
    spec = get("page_length_filter")
    params = {"length_type": "sentence", "min_length": 3, "tokenizer": "nltk", "tokenizer_lang": "english"}
    if problem is None:
        f = spec.build(params)
        assert keeps(f, "Mr. Smith came home. He ate. Then he slept.")
        return
    with pytest.raises(ConfigError, match=r"page_length_filter.*tokenizer: nltk.*nltk"):
        spec.build(params)


def test_sentence_options_only_with_sentence():
    spec = get("page_length_filter")
    with pytest.raises(ConfigError, match="tokenizer and tokenizer_lang only with length_type: sentence"):
        spec.build({"length_type": "word", "tokenizer_lang": "english"})
    with pytest.raises(ConfigError, match="remove_empty: true with length_type: sentence"):
        spec.build({"length_type": "sentence", "remove_empty": False})


# ---------------------------------------------------- random_sampling_filter


def pages(n):
    return [{"text": f"document {i} " + "x" * (i % 7), "url": f"https://example.com/{i}"} for i in range(n)]


def kept_ids(mapper, docs):
    return {d["url"] for d in docs if mapper(dict(d))}


def test_random_sampling_is_a_function_of_the_page_and_seed():
    docs = pages(20_000)
    f = build("random_sampling_filter", keep_probability=0.3, seed=7)
    kept = kept_ids(f, docs)
    assert abs(len(kept) / len(docs) - 0.3) < 0.02  # ~7 standard deviations
    # Same decisions from a new worker, in another order, in other shards.
    shuffled = docs[:]
    random.Random(1).shuffle(shuffled)
    g = build("random_sampling_filter", keep_probability=0.3, seed=7)
    shards = [shuffled[i::3] for i in range(3)]
    assert set().union(*(kept_ids(g, shard) for shard in shards)) == kept
    # Another seed draws another sample of the same size.
    other = kept_ids(build("random_sampling_filter", keep_probability=0.3, seed=8), docs)
    assert other != kept and abs(len(other) - len(kept)) < 800
    # A larger probability keeps a superset (the same draw, a higher bar).
    assert kept <= kept_ids(build("random_sampling_filter", keep_probability=0.5, seed=7), docs)


def test_random_sampling_bounds_and_text_shapes():
    docs = pages(500)
    assert kept_ids(build("random_sampling_filter", keep_probability=0.0), docs) == set()
    assert len(kept_ids(build("random_sampling_filter", keep_probability=1.0), docs)) == 500
    f = build("random_sampling_filter", keep_probability=1.0)
    for page in ({"text": ["a", "b"]}, {"content": "no text key"}, {"text": "\ud800 lone surrogate"},
                 {"text": "", "url": None}):
        assert f(page) == [page]
    assert 0 <= page_draw({"text": ["a"]}, 0) < 1
    with pytest.raises(ConfigError, match="keep_probability"):
        build("random_sampling_filter", keep_probability=1.5)


# ---------------------------------------------------- github_extension_filter


def names_kept(mapper, *names, key="filename"):
    return [n for n in names if mapper({key: n})]


def test_github_extensions_default():
    f = build("github_extension_filter")
    assert names_kept(f, "script.py", "Makefile", "Dockerfile", "GNUMakefile", "main.C", "x.h++") == [
        "script.py", "Makefile", "Dockerfile", "GNUMakefile", "main.C", "x.h++"]
    assert names_kept(f, "notes.txt", "README", "makefile", "x.CPP", "", "py") == []
    assert f({"text": "no filename"}) == []
    assert f({"filename": None}) == []
    assert len(GITHUB_EXTENSIONS) == 66


def test_github_extensions_custom():
    f = build("github_extension_filter", allowed_extensions=[".txt", ".md"], filename_key="path")
    assert names_kept(f, "a.txt", "b.md", "c.py", key="path") == ["a.txt", "b.md"]
    assert names_kept(build("github_extension_filter", allowed_extensions=[]), "a.py", "Makefile") == []
