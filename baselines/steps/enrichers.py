"""Enrichers that add a number to each page: its line count, and its KenLM perplexity (DCLM's
`line_counter_enricher` and `ken_lm_perplexity_enricher`).

The perplexity is CCNet's: the text is normalised (stripped, digits to 0,
Unicode punctuation to ASCII, control characters deleted), cut into
SentencePiece pieces and scored by a KenLM n-gram model. kenlm and
sentencepiece are optional packages; a recipe that uses the step without them,
or without its model files, is refused when it is loaded, before any work.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from dcbench.baselines.registry import Mapper, Page, Rule, step
from dcbench.baselines.units import split_paragraphs
from dcbench.errors import ConfigError

try:  # optional: only ken_lm_perplexity_enricher needs it (the step's rule says what to install)
    import kenlm
except ImportError:  # pragma: no cover - depends on the installation
    kenlm = None
try:  # optional, as kenlm
    import sentencepiece
except ImportError:  # pragma: no cover - depends on the installation
    sentencepiece = None

TEXT_KEY = "text"

# ------------------------------------------------------------------ line counts


@step("enricher")
def line_counter_enricher(*, paragraph_end: str = "\n", remove_empty: bool = True, key: str = "num_lines",
                          overwrite: bool = False) -> Mapper:
    """Add `page[key]` = the number of lines (or paragraphs) of the text (DCLM line_counter_enricher).

    The text is cut at each match of the regular expression `paragraph_end`
    ("\\n" lines, "\\n\\n" paragraphs), as DCLM's split_paragraphs does. With
    `remove_empty` blank pieces (after stripping) are not counted, so an
    empty or whitespace-only text has 0 lines; without it every piece counts,
    so "" has 1 and "a\\n" has 2. A page that already has the key raises
    unless `overwrite`.
    """
    try:
        re.compile(paragraph_end)
    except re.error as e:
        raise ConfigError(f"line_counter_enricher: paragraph_end {paragraph_end!r} is not a regular expression ({e})")

    def enrich(page: Page) -> list[Page]:
        if not overwrite and key in page:
            raise ValueError(f"line_counter_enricher: page already has {key!r} (set overwrite: true)")
        page[key] = len(split_paragraphs(page[TEXT_KEY], paragraph_end, remove_empty))
        return [page]

    return enrich


# ------------------------------------------------------------------ perplexity

# Where DCLM's setup.py puts the English Wikipedia model (huggingface.co/edugp/kenlm, wikipedia/):
# relative paths resolve against the current directory, as when DCLM runs from its repository root.
DCLM_MODEL_DIR = "baselines/mappers/enrichers/quality_prediction_enrichment_models"
MODEL_SOURCE = "https://huggingface.co/edugp/kenlm/tree/main/wikipedia"

# CCNet's replace_unicode_punct table (punctuation mode 1), then its non-printing characters
# (code points 0-31 and 127-159, newlines and tabs included) deleted: one translate does both,
# since no replacement contains a deleted character.
_UNICODE_PUNCT = {
    "，": ",", "。": ".", "、": ",", "„": '"', "”": '"', "“": '"', "«": '"', "»": '"', "１": '"', "」": '"',
    "「": '"', "《": '"', "》": '"', "´": "'", "∶": ":", "：": ":", "？": "?", "！": "!", "（": "(", "）": ")",
    "；": ";", "–": "-", "—": " - ", "．": ". ", "～": "~", "’": "'", "…": "...", "━": "-", "〈": "<", "〉": ">",
    "【": "[", "】": "]", "％": "%", "►": "-",
}
_NORMALIZE = str.maketrans({**_UNICODE_PUNCT, **dict.fromkeys(map(chr, [*range(32), *range(127, 160)]))})
_DIGIT = re.compile(r"\d")


def ccnet_normalize(text: str) -> str:
    """The text as DCLM's KenlmModel normalises it before scoring (CCNet, no lowercasing, accents kept).

    Stripped; every Unicode decimal digit becomes "0" (before the punctuation
    table, so a fullwidth "１" becomes "0", not the table's '"'); Unicode
    punctuation becomes ASCII; control characters are deleted, so lines run
    together with nothing between them.
    """
    text = text.strip()
    if not text:
        return text
    return _DIGIT.sub("0", text).translate(_NORMALIZE)


def _kenlm_ready(values: dict[str, Any]) -> bool:
    """The step's rule: its packages are installed and its model files are there (else a ConfigError)."""
    missing = [f"`pip install {name}`" for name, module in (("kenlm", kenlm), ("sentencepiece", sentencepiece))
               if module is None]
    if missing:
        raise ConfigError(f"the KenLM perplexity needs {' and '.join(missing)} "
                          f"(kenlm also installs from https://github.com/kpu/kenlm/archive/master.zip)")
    for param, name in (("model_path", "en.arpa.bin"), ("tokenizer_path", "en.sp.model")):
        if not Path(values[param]).expanduser().is_file():
            raise ConfigError(f"{param} {values[param]!r} is not a file; download {name} from {MODEL_SOURCE} "
                              f"and set {param} to its path (DCLM's setup.py puts it in {DCLM_MODEL_DIR}/)")
    return True


@functools.lru_cache(maxsize=2)
def load_kenlm(model_path: str, tokenizer_path: str) -> tuple[Any, Any]:
    """(KenLM model, SentencePiece processor), loaded once per process and pair of paths."""
    try:
        model = kenlm.Model(str(Path(model_path).expanduser()))
        pieces = sentencepiece.SentencePieceProcessor()
        pieces.load(str(Path(tokenizer_path).expanduser()))
    except (OSError, RuntimeError) as e:
        raise ConfigError(f"ken_lm_perplexity_enricher: could not load {model_path} / {tokenizer_path}: {e}") from None
    return model, pieces


def kenlm_perplexity(model: Any, pieces: Any, text: str) -> float:
    """DCLM's perplexity of `text`: 10 ** (-log10 score / tokens), rounded to one decimal.

    Each line of the piece sequence (there is one, the normaliser deleted the
    newlines) is scored with sentence start and end; its tokens are its
    pieces plus one for the end. An empty text is just the end: 1 token.
    """
    tokenized = " ".join(pieces.encode_as_pieces(ccnet_normalize(text)))
    log_score, length = 0.0, 0
    for line in tokenized.split("\n"):
        log_score += model.score(line)
        length += len(line.split()) + 1
    return round(10.0 ** (-log_score / length), 1)


@step("enricher", files=("model_path", "tokenizer_path"),
      rules=(Rule("kenlm and sentencepiece are installed; model_path and tokenizer_path are files", _kenlm_ready),))
def ken_lm_perplexity_enricher(*, key: str = "kenlm_perplexity", overwrite: bool = False,
                               model_path: str = f"{DCLM_MODEL_DIR}/en.arpa.bin",
                               tokenizer_path: str = f"{DCLM_MODEL_DIR}/en.sp.model") -> Mapper:
    """Add `page[key]` = the text's perplexity under a KenLM model, CCNet-normalised and SentencePiece-tokenized (DCLM ken_lm_perplexity_enricher).

    Lower is more like the model's training text (DCLM: English Wikipedia);
    filter with `quality_filter` and `lower_better: true`. `model_path` is a
    KenLM model (`.arpa` or binary, DCLM's `en.arpa.bin`, about 4 GB) and
    `tokenizer_path` its SentencePiece model (`en.sp.model`); both default to
    where DCLM's setup.py puts them, relative to the current directory. The
    parameters are ours: DCLM's step has only `key` and `overwrite`. Needs
    the kenlm and sentencepiece packages; without them, or without the files,
    the recipe is refused when loaded. A page that already has the key raises
    unless `overwrite`.
    """
    model, pieces = load_kenlm(model_path, tokenizer_path)

    def enrich(page: Page) -> list[Page]:
        if not overwrite and key in page:
            raise ValueError(f"ken_lm_perplexity_enricher: page already has {key!r} (set overwrite: true)")
        page[key] = kenlm_perplexity(model, pieces, page[TEXT_KEY])
        return [page]

    return enrich
