"""Language id (specs/dclm.md section 2, steps 8-9) with the real lid.176 model."""

from __future__ import annotations

import pytest

from dcbench.baselines.registry import get
from dcbench.baselines.resources import lid176_path
from dcbench.baselines.steps.langid import is_space_or_punct, load_fasttext_model
from dcbench.errors import ConfigError

KEY = "language_id_whole_page_fasttext"

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
        spec.build({"model": "langdetect"})
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


def test_default_threshold_is_zero_and_strict():
    f = get("language_filter").build({"keep_languages": ["en"]})
    assert keeps(f, {"en": 0.01}) and not keeps(f, {"en": 0.0})


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
