"""Language id (specs/dclm.md section 2, steps 8-9) with the real lid.176 model and the real langdetect."""

from __future__ import annotations

import pytest
import yaml
from langdetect import DetectorFactory, detect_langs

from dcbench.baselines.recipe import parse_recipe
from dcbench.baselines.registry import get
from dcbench.baselines.resources import lid176_path
from dcbench.baselines.steps.langid import is_space_or_punct, load_fasttext_model
from dcbench.baselines.units import sentence_tokenizer_available, split_sentences
from dcbench.errors import ConfigError

KEY = "language_id_whole_page_fasttext"
LD_KEY = "language_id_whole_page_langdetect"

ENGLISH = ("The committee met on Tuesday to discuss the new budget, and most members agreed that "
           "the proposal should be sent back for another review before the end of the month.")
GERMAN = ("Der Ausschuss traf sich am Dienstag, um den neuen Haushalt zu besprechen, und die meisten "
          "Mitglieder waren sich einig, dass der Vorschlag noch einmal geprüft werden sollte.")
FRENCH = ("Le comité s'est réuni mardi pour discuter du nouveau budget, et la plupart des membres ont "
          "convenu que la proposition devait être renvoyée pour un nouvel examen avant la fin du mois.")


@pytest.fixture(scope="module")
def enrich():
    return get("detect_lang_whole_page_enricher").build({"model": "fasttext", "key_prefix": "language_id_whole_page"})


def detect(enrich, text):
    page = {"text": text}
    assert enrich(page) == [page]
    return page[KEY]


def test_real_sentences_get_their_language(enrich):
    en, de, fr = detect(enrich, ENGLISH), detect(enrich, GERMAN), detect(enrich, FRENCH)
    assert list(en) == ["en"] and en["en"] > 0.65
    assert list(de) == ["de"] and de["de"] > 0.65
    assert list(fr) == ["fr"] and fr["fr"] > 0.65
    assert all(isinstance(p, float) and 0 < p <= 1.0001 for d in (en, de, fr) for p in d.values())


def test_empty_or_only_spaces_and_punctuation_gets_an_empty_dict(enrich):
    for text in ["", " ", "   ", "!!! ... ???", "- (*) -", ".,;:"]:
        assert detect(enrich, text) == {}, repr(text)


def test_newlines_and_tabs_are_not_spaces_for_dclm(enrich):
    # DCLM only treats ' ' and ASCII punctuation as empty, so these are predicted (one language).
    for text in ["\n", "\n\n", "\t", "...\n..."]:
        assert len(detect(enrich, text)) == 1, repr(text)
    assert is_space_or_punct("") and is_space_or_punct(" ?! ")
    assert not is_space_or_punct("\n") and not is_space_or_punct("a") and not is_space_or_punct("\u2026")


def test_newlines_are_deleted_not_replaced_by_spaces(enrich):
    model = load_fasttext_model(lid176_path())
    text = "Guten Morgen\nmein Freund\nwie geht es"
    joined = model.predict(text.replace("\n", ""))
    spaced = model.predict(text.replace("\n", " "))
    assert joined[1][0] != spaced[1][0]  # the two readings give different probabilities
    got = detect(enrich, text)
    assert got == {joined[0][0].removeprefix("__label__"): float(joined[1][0])}


def test_existing_key_raises_unless_overwrite(enrich):
    page = {"text": ENGLISH, KEY: {"xx": 1.0}}
    with pytest.raises(ValueError, match=KEY):
        enrich(page)
    again = get("detect_lang_whole_page_enricher").build({"overwrite": True})
    assert again(page) == [page] and list(page[KEY]) == ["en"]


def test_key_prefix_names_the_key():
    f = get("detect_lang_whole_page_enricher").build({"key_prefix": "lid"})
    page = {"text": GERMAN}
    f(page)
    assert list(page["lid_fasttext"]) == ["de"]


def test_model_is_loaded_once_per_path():
    assert load_fasttext_model(lid176_path()) is load_fasttext_model(str(lid176_path()))


def test_bad_enricher_parameters():
    spec = get("detect_lang_whole_page_enricher")
    with pytest.raises(ConfigError, match=r"detect_lang_whole_page_enricher.*'model'"):
        spec.build({"model": "cld3"})
    with pytest.raises(ConfigError, match="detect_lang_whole_page_enricher.*seed"):
        spec.build({"model": "fasttext", "seed": 0})
    with pytest.raises(ConfigError, match="detect_lang_whole_page_enricher.*seed"):
        spec.build({"seed": 1})
    with pytest.raises(ConfigError, match="detect_lang_whole_page_enricher.*not found"):
        spec.build({"model_path": "/nonexistent/lid.176.bin"})
    with pytest.raises(ConfigError, match=r"detect_lang_whole_page_enricher.*'overwrite'"):
        spec.build({"overwrite": "yes"})


# --------------------------------------------------------------- language_filter


def lang_filter(**params):
    return get("language_filter").build({"key": KEY, "keep_languages": ["en"], "threshold": 0.65} | params)


def keeps(f, scores):
    page = {"text": "t", KEY: scores}
    out = f(page)
    assert out in ([], [page])
    return bool(out)


def test_threshold_is_strict():
    f = lang_filter()
    assert not keeps(f, {"en": 0.65})  # exactly at the threshold fails
    assert keeps(f, {"en": 0.6500001})
    assert not keeps(f, {"en": 0.64})
    assert keeps(f, {"en": 1.00001})  # fastText can round above 1


def test_language_must_be_present_and_listed():
    f = lang_filter()
    assert not keeps(f, {})
    assert not keeps(f, {"de": 0.99})
    assert not keeps(f, {"EN": 0.99})  # no case folding
    g = lang_filter(keep_languages=["de", "en"])
    assert keeps(g, {"de": 0.9}) and keeps(g, {"en": 0.9}) and not keeps(g, {"fr": 0.9})
    assert not keeps(lang_filter(keep_languages=[]), {"en": 0.99})


def test_default_threshold_is_zero_and_strict_and_default_key_is_dclms_langdetect():
    f = get("language_filter").build({"keep_languages": ["en"]})
    page = {"text": "t", LD_KEY: {"en": 0.01}}
    assert f(page) == [page]
    assert f({"text": "t", LD_KEY: {"en": 0.0}}) == []
    with pytest.raises(KeyError, match=LD_KEY):
        f({"text": "t", KEY: {"en": 0.9}})


def test_missing_key_raises():
    with pytest.raises(KeyError, match=KEY):
        lang_filter()({"text": "t"})


def test_enricher_and_filter_together(enrich):
    f = lang_filter()
    pages = [{"text": t} for t in (ENGLISH, GERMAN, FRENCH, "", "...")]
    survivors = [p["text"] for p in pages if enrich(p) and f(p)]
    assert survivors == [ENGLISH]


def test_bad_filter_parameters():
    spec = get("language_filter")
    with pytest.raises(ConfigError, match=r"language_filter.*'keep_languages'"):
        spec.build({"keep_languages": "en"})
    with pytest.raises(ConfigError, match=r"language_filter.*'threshold'"):
        spec.build({"threshold": "high"})
    with pytest.raises(ConfigError, match=r"language_filter.*'treshold'"):
        spec.build({"treshold": 0.5})


# ------------------------------------------------------------------ langdetect


def dclm_langdetect(text, seed):
    """What DCLM computes: langdetect's global seed set, then `{x.lang: x.prob for x in detect_langs(text)}`."""
    saved = DetectorFactory.seed
    DetectorFactory.seed = seed
    try:
        return {x.lang: x.prob for x in detect_langs(text)}
    finally:
        DetectorFactory.seed = saved


@pytest.fixture(scope="module")
def ld_enrich():
    return get("detect_lang_whole_page_enricher").build({"model": "langdetect", "key_prefix": "language_id_whole_page",
                                                         "seed": 0})


def test_langdetect_whole_page_equals_dclms_seeded_detect_langs(ld_enrich):
    mixed = ENGLISH + " " + GERMAN
    for text in (ENGLISH, GERMAN, FRENCH, mixed, "Hello", "été\tà Paris"):
        page = {"text": text}
        assert ld_enrich(page) == [page]
        assert page[LD_KEY] == dclm_langdetect(text, 0), text
    page = {"text": mixed}
    ld_enrich(page)
    assert set(page[LD_KEY]) == {"en", "de"} and all(isinstance(p, float) for p in page[LD_KEY].values())


def test_langdetect_seed_makes_it_reproducible_and_is_not_global():
    a = get("detect_lang_whole_page_enricher").build({"model": "langdetect", "seed": 3})
    pages = [{"text": ENGLISH + " " + FRENCH} for _ in range(3)]
    results = [a(p)[0][LD_KEY] for p in pages]
    assert results[0] == results[1] == results[2] == dclm_langdetect(ENGLISH + " " + FRENCH, 3)
    assert DetectorFactory.seed is None  # langdetect's own, process-wide seed is left alone
    unseeded = get("detect_lang_whole_page_enricher").build({"model": "langdetect"})
    page = {"text": ENGLISH}
    assert list(unseeded(page)[0][LD_KEY]) == ["en"]


def test_langdetect_empty_spaces_and_punctuation_get_an_empty_dict(ld_enrich):
    for text in ["", " ", "    ", "!!! ... ???", ".,;: -"]:
        page = {"text": text}
        assert ld_enrich(page)[0][LD_KEY] == {}, repr(text)


@pytest.mark.parametrize("text", ["\n", "\t\t", "\u00a0", "12345", "2024-01-01 10:00", "\u2026"])
def test_langdetect_text_without_letters_raises_as_dclms_page_fails(ld_enrich, text):
    # Not space-or-punct for DCLM, so langdetect runs, finds no features and raises: the page is quarantined.
    with pytest.raises(Exception, match="No features"):
        dclm_langdetect(text, 0)
    with pytest.raises(ValueError, match="langdetect cannot identify"):
        ld_enrich({"text": text})


def test_langdetect_unicode_spaces_are_text_for_dclm(ld_enrich):
    # U+3000 (ideographic space) is a CJK n-gram to langdetect: a language comes out, as in DCLM.
    text = "\u2003 \u3000"
    page = {"text": text}
    assert ld_enrich(page)[0][LD_KEY] == dclm_langdetect(text, 0) != {}


def test_langdetect_key_prefix_and_overwrite():
    f = get("detect_lang_whole_page_enricher").build({"model": "langdetect", "key_prefix": "lid", "seed": 0})
    page = {"text": GERMAN}
    f(page)
    assert list(page["lid_langdetect"]) == ["de"]
    with pytest.raises(ValueError, match="lid_langdetect"):
        f(page)


# ----------------------------------------------------------- paragraph enricher


def dclm_paragraph(text, detect, tokenizer="blingfire"):
    """DCLM's detect_lang_paragraph_helper, worked out: per sentence, skip space/punct ones, average per language."""
    found = {}
    for sentence in split_sentences(text, tokenizer=tokenizer):
        if sentence.strip(" !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"):
            for lang, p in detect(sentence).items():
                found.setdefault(lang, []).append(p)
    return {lang: {"average_probability": sum(ps) / len(ps), "number_of_sentences": len(ps)}
            for lang, ps in found.items()}


def test_paragraph_langdetect_averages_per_language():
    f = get("detect_lang_paragraph_enricher").build({"model": "langdetect", "tokenizer": "blingfire", "seed": 0})
    text = f"{ENGLISH} {GERMAN} ... {FRENCH} Another English sentence is here for the count. !!!"
    page = {"text": text}
    assert f(page) == [page]
    got = page["language_id_paragraph_langdetect"]
    assert got == dclm_paragraph(text, lambda s: dclm_langdetect(s, 0))
    assert got["en"]["number_of_sentences"] == 2 and got["de"]["number_of_sentences"] == 1
    assert got["fr"]["number_of_sentences"] == 1 and 0.9 < got["en"]["average_probability"] <= 1


def test_paragraph_fasttext_top1_per_sentence_and_newline_quirk():
    f = get("detect_lang_paragraph_enricher").build({"model": "fasttext", "tokenizer": "blingfire"})
    text = f"{ENGLISH} {GERMAN} {FRENCH}"
    page = {"text": text}
    f(page)
    model = load_fasttext_model(lid176_path())

    def top1(sentence):
        labels, probs = model.predict(sentence)
        return {labels[0].removeprefix("__label__"): float(probs[0])}

    assert page["language_id_paragraph_fasttext"] == dclm_paragraph(text, top1)
    assert set(page["language_id_paragraph_fasttext"]) == {"en", "de", "fr"}
    # blingfire keeps a single newline inside a sentence; fastText refuses it, as DCLM's page fails.
    with pytest.raises(ValueError, match="one line at a time"):
        f({"text": "first line\nsecond line of the same sentence."})


@pytest.mark.parametrize("text", ["", " ", "...", "\u00a0\u2003", "   \n\n  "])
def test_paragraph_empty_whitespace_and_punctuation_give_an_empty_dict(text):
    for model in ("fasttext", "langdetect"):
        f = get("detect_lang_paragraph_enricher").build({"model": model, "tokenizer": "blingfire"})
        page = {"text": text}
        assert f(page)[0][f"language_id_paragraph_{model}"] == {}, (model, text)


def test_paragraph_enricher_parameters():
    spec = get("detect_lang_paragraph_enricher")
    with pytest.raises(ConfigError, match=r"needs parameter 'tokenizer'"):
        spec.build({"model": "langdetect"})
    with pytest.raises(ConfigError, match=r"'tokenizer'"):
        spec.build({"model": "langdetect", "tokenizer": "spacy"})
    with pytest.raises(ConfigError, match="seed is not supported"):
        spec.build({"model": "fasttext", "tokenizer": "blingfire", "seed": 1})
    problem = sentence_tokenizer_available("nltk")
    if problem is not None:
        with pytest.raises(ConfigError, match="detect_lang_paragraph_enricher: .*nltk"):
            spec.build({"model": "langdetect", "tokenizer": "nltk"})


# ------------------------------------------------------- language_filter details


def test_language_filter_handles_any_text_and_reads_only_the_key():
    assert get("language_filter").any_text
    f = lang_filter()
    for page in ({"text": ["line one", "line two"], KEY: {"en": 0.9}}, {KEY: {"en": 0.9}}):
        assert f(page) == [page]


def test_dclm_c4_language_steps_load_and_run():
    config = yaml.safe_load(open("/work/shared/data/reference/dclm_baselines_configs/c4.yaml"))
    steps = [s for s in config[0]["steps"] if s["func"] in ("detect_lang_whole_page_enricher", "language_filter")]
    recipe = parse_recipe({"steps": steps}, source="c4.yaml", text="", default_name="c4")
    (_, enrich), (_, keep) = recipe.build()
    pages = [{"text": t} for t in (ENGLISH, GERMAN, "")]
    survivors = [p["text"] for p in pages if enrich(p) and keep(p)]
    assert survivors == [ENGLISH]


def test_a_paragraph_key_does_not_satisfy_language_filter():
    steps = [{"func": "detect_lang_paragraph_enricher", "model": "langdetect", "tokenizer": "blingfire"},
             {"func": "language_filter", "key": "language_id_paragraph_langdetect"}]
    with pytest.raises(ConfigError, match="paragraph_enricher writes it, but its values are per-sentence"):
        parse_recipe({"steps": steps}, source="r", text="", default_name="r")
