"""line_counter_enricher and ken_lm_perplexity_enricher, on cases worked out from DCLM's code,
the perplexity with a real KenLM model and a real SentencePiece model built here."""

from __future__ import annotations

import math

import pytest

from dcbench.baselines.recipe import parse_recipe
from dcbench.baselines.registry import get
from dcbench.baselines.steps import enrichers
from dcbench.errors import ConfigError

try:  # optional packages: only the perplexity tests need them
    import kenlm
    import sentencepiece as spm
except ImportError:  # pragma: no cover - depends on the installation
    kenlm = spm = None

needs_kenlm = pytest.mark.skipif(kenlm is None or spm is None, reason="kenlm and sentencepiece are not installed")


def count(text, **params):
    page = {"text": text}
    assert get("line_counter_enricher").build(params)(page) == [page]
    return page[params.get("key", "num_lines")]


# ----------------------------------------------------------------- line counter


@pytest.mark.parametrize("text, lines", [
    ("Hello\n\nWorld and all\nand beyond", 3),  # DCLM's doctest
    ("", 0),
    ("   ", 0),
    (" \n\t\n  \n", 0),
    ("\u00a0\n\u2003\n\u3000", 0),  # Unicode spaces strip away
    ("one line", 1),
    ("a\r\nb", 2),                    # "\r" stays on the line, and is stripped
    ("a\rb", 1),                      # a lone "\r" is no line end
    ("x" * 200_000, 1),
    ("a\n" * 1000, 1000),
])
def test_line_counts(text, lines):
    assert count(text) == lines


@pytest.mark.parametrize("text, lines", [
    ("", 1), ("a\n", 2), ("a\n\nb", 3), ("\n", 2), ("   ", 1),
])
def test_line_counts_keeping_empty_pieces(text, lines):
    assert count(text, remove_empty=False) == lines


def test_paragraph_end_is_a_regex():
    assert count("a\nb\n\nc", paragraph_end="\n\n") == 2
    assert count("a\nb\n\n\nc", paragraph_end="\n\n") == 2          # "\nc" strips to "c"
    assert count("a. b. c", paragraph_end=r"\.") == 3
    assert count("a1b22c", paragraph_end=r"\d+", key="n") == 3
    with pytest.raises(ConfigError, match="line_counter_enricher: paragraph_end '\\(' is not a regular expression"):
        get("line_counter_enricher").build({"paragraph_end": "("})


def test_line_counter_key_and_overwrite():
    f = get("line_counter_enricher").build({})
    page = {"text": "a\nb", "num_lines": 7}
    with pytest.raises(ValueError, match="num_lines"):
        f(page)
    g = get("line_counter_enricher").build({"overwrite": True})
    assert g(page)[0]["num_lines"] == 2


# ------------------------------------------------------------------ normaliser


@pytest.mark.parametrize("text, normal", [
    ("", ""),
    ("   \n\t ", ""),
    ("  Hello world  ", "Hello world"),
    ("line one\nline two", "line oneline two"),        # control characters go, newlines too
    ("tab\there", "tabhere"),
    ("In 1984 and ٣٤", "In 0000 and 00"),             # every Unicode decimal digit
    ("１２", "00"),                                     # digits first: the table's "１" -> '"' never fires
    ("wait… “quoted” — ok", 'wait... "quoted"  -  ok'),
    ("a，b。c：d！", "a,b.c:d!"),
    ("x．y", "x. y"),
    ("\x85next\x9fline\x7f", "nextline"),             # C1 controls and DEL deleted
    ("\u00a0a\u00a0", "a"),                           # stripped; NBSP (160) is not deleted inside
    ("a\u00a0b", "a\u00a0b"),
    ("Café MAJUSCULE", "Café MAJUSCULE"),             # no lowercasing, accents kept
])
def test_ccnet_normalisation(text, normal):
    assert enrichers.ccnet_normalize(text) == normal


# -------------------------------------------------------------- KenLM perplexity

CORPUS = ["the cat sat on the mat", "a dog ran in the park", "the committee met on tuesday",
          "numbers like 000 and 00 are here"]


@pytest.fixture(scope="module")
def lm_files(tmp_path_factory):
    """A SentencePiece model trained here and a bigram ARPA model over its pieces: every piece a
    unigram (backoff 0), and one bigram, the first two pieces of "the cat"."""
    d = tmp_path_factory.mktemp("kenlm")
    (d / "corpus.txt").write_text("\n".join(CORPUS * 20))
    spm.SentencePieceTrainer.train(input=str(d / "corpus.txt"), model_prefix=str(d / "en.sp"), vocab_size=40,
                                   model_type="unigram", hard_vocab_limit=False, minloglevel=2)
    sp = spm.SentencePieceProcessor()
    sp.load(str(d / "en.sp.model"))
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size()) if not sp.is_control(i) and not sp.is_unknown(i)]
    logprob = {p: -(1.0 + (i % 5) / 10) for i, p in enumerate(pieces)}
    bigram = tuple(sp.encode_as_pieces("the cat")[:2])
    lines = ["\\data\\", f"ngram 1={len(pieces) + 3}", "ngram 2=1", "", "\\1-grams:",
             "-3.0\t<unk>\t0", "-99\t<s>\t0", "-0.7\t</s>"]
    lines += [f"{lp}\t{p}\t0" for p, lp in logprob.items()]
    lines += ["", "\\2-grams:", f"-0.05\t{bigram[0]} {bigram[1]}", "", "\\end\\", ""]
    (d / "en.arpa.bin").write_text("\n".join(lines))  # kenlm reads ARPA text whatever the name
    return d, sp, (logprob, bigram)


def by_hand(sp, model, normal_text):
    """DCLM's perplexity worked out for this model: 10 ** -(sum of log10 p(piece | previous) + log10 p(</s> | last))
    / (pieces + 1), a piece after its bigram partner scoring -0.05, every other its unigram (unknown: -3)."""
    logprob, bigram = model
    tokens = sp.encode_as_pieces(normal_text) + ["</s>"]
    total, previous = 0.0, "<s>"
    for token in tokens:
        unigram = -0.7 if token == "</s>" else logprob.get(token, -3.0)
        total += -0.05 if (previous, token) == bigram else unigram
        previous = token
    return 10.0 ** (-total / len(tokens))


def perplexity_step(d, **params):
    return get("ken_lm_perplexity_enricher").build(
        {"model_path": str(d / "en.arpa.bin"), "tokenizer_path": str(d / "en.sp.model"), **params})


@needs_kenlm
@pytest.mark.parametrize("text, normal", [
    ("the cat sat on the mat", "the cat sat on the mat"),
    ("  The cat\nsat 42… ", "The catsat 00..."),
    ("zebra quagga", "zebra quagga"),                 # unknown pieces score as <unk>
    ("", ""),                                          # just the sentence end
    (" \n\t", ""),
    ("a dog — ran", "a dog  -  ran"),
])
@needs_kenlm
def test_perplexity_matches_the_formula_by_hand(lm_files, text, normal):
    d, sp, model = lm_files
    f = perplexity_step(d)
    page = {"text": text}
    assert f(page) == [page]
    got = page["kenlm_perplexity"]
    assert got == round(got, 1)
    assert got == pytest.approx(by_hand(sp, model, normal), abs=0.05 + 1e-4 * got)


@needs_kenlm
def test_empty_text_scores_the_sentence_end_alone(lm_files):
    d, _, _ = lm_files
    page = {"text": ""}
    perplexity_step(d)(page)
    assert page["kenlm_perplexity"] == round(10 ** 0.7, 1) == 5.0


@needs_kenlm
def test_familiar_text_has_lower_perplexity(lm_files):
    d, _, _ = lm_files
    f = perplexity_step(d, key="ppl")
    seen, unseen = {"text": "the cat sat on the mat"}, {"text": "xylophone quixotic zephyr"}
    f(seen), f(unseen)
    assert seen["ppl"] < unseen["ppl"] and math.isfinite(unseen["ppl"])
    with pytest.raises(ValueError, match="ppl"):
        f(seen)
    q = get("quality_filter").build({"key": "ppl", "threshold": seen["ppl"], "lower_better": True})
    assert q(seen) == [seen] and q(unseen) == []


@needs_kenlm
def test_dclm_default_paths_resolve_against_the_current_directory(lm_files, tmp_path, monkeypatch):
    d, _, _ = lm_files
    models = tmp_path / enrichers.DCLM_MODEL_DIR
    models.mkdir(parents=True)
    for name in ("en.arpa.bin", "en.sp.model"):
        (models / name).write_bytes((d / name).read_bytes())
    monkeypatch.chdir(tmp_path)
    recipe = parse_recipe({"steps": [{"func": "ken_lm_perplexity_enricher"}]}, source="r", text="", default_name="r")
    [(_, f)] = recipe.build()
    page = {"text": "the cat"}
    assert f(page)[0]["kenlm_perplexity"] > 0


@needs_kenlm
def test_missing_files_refuse_the_recipe_when_loaded(lm_files, tmp_path, monkeypatch):
    d, _, _ = lm_files
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"step 1: step 'ken_lm_perplexity_enricher': model_path '.*en.arpa.bin' "
                                          r"is not a file; download en.arpa.bin from https://huggingface.co/edugp/kenlm"):
        parse_recipe({"steps": [{"func": "ken_lm_perplexity_enricher"}]}, source="r", text="", default_name="r")
    with pytest.raises(ConfigError, match="tokenizer_path 'nope.model' is not a file"):
        parse_recipe({"steps": [{"func": "ken_lm_perplexity_enricher", "model_path": str(d / "en.arpa.bin"),
                                 "tokenizer_path": "nope.model"}]}, source="r", text="", default_name="r")


@needs_kenlm
def test_missing_packages_are_named(lm_files, monkeypatch):
    d, _, _ = lm_files
    monkeypatch.setattr(enrichers, "kenlm", None)
    monkeypatch.setattr(enrichers, "sentencepiece", None)
    with pytest.raises(ConfigError, match="needs `pip install kenlm` and `pip install sentencepiece`"):
        perplexity_step(d)


@needs_kenlm
def test_a_broken_model_file_is_a_config_error(lm_files, tmp_path):
    d, _, _ = lm_files
    bad = tmp_path / "bad.arpa"
    bad.write_text("not a language model\n")
    with pytest.raises(ConfigError, match="ken_lm_perplexity_enricher"):
        get("ken_lm_perplexity_enricher").build({"model_path": str(bad), "tokenizer_path": str(d / "en.sp.model")})
