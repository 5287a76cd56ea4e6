"""fastText quality steps, as DCLM's `fasttext_filter.yaml` uses them: an
enricher that scores each page, then selection by an absolute threshold
(DCLM's `quality_filter`, 0.018112 for its released classifier) or by a
global top fraction of the dataset (the top 10% that threshold stood for)."""

from __future__ import annotations

import functools

import numpy as np

from dcbench.baselines.quality.fasttext_quality import Scorer, top_fraction_mask
from dcbench.baselines.registry import Range, step
from dcbench.baselines.steps.global_common import DropByIndex, good_docs
from dcbench.contracts import GlobalStep, Mapper, Page
from dcbench.errors import ConfigError


@functools.lru_cache(maxsize=4)
def _scorer(path: str, hq_label: str) -> Scorer:
    return Scorer(path, hq_label=hq_label)


@step("enricher", files=("model_filename",))
def classify_fasttext_hq_prob_enricher(*, model_filename: str, key: str = "fasttext_hq_prob",
                                       hq_label: str = "__label__hq", overwrite: bool = False) -> Mapper:
    """Score each page with a fastText quality classifier: p(high quality) into `key` (DCLM's enricher).

    The text's lines are joined by spaces; the score is the top-1 probability
    when the label is `hq_label`, else one minus it. `model_filename` is a
    `.bin` path (DCLM's released `fasttext_oh_eli5.bin` loads this way; in
    dcbench recipes `{pool}` expands to the pool's directory, where
    `dcbench pool toy` trains one on its reference set).
    """
    try:
        scorer = _scorer(model_filename, hq_label)
    except (OSError, ValueError) as e:
        raise ConfigError(f"quality model {model_filename!r} could not be loaded: {e}; train one with "
                          f"`dcbench quality train POS NEG -o MODEL` or give the path of a fastText .bin") from e

    def enrich(page: Page) -> list[Page]:
        if key in page and not overwrite:
            raise ValueError(f"page already has {key!r} (set overwrite: true to replace it)")
        page[key] = float(scorer.score(page["text"]))
        return [page]

    return enrich


# Its job is to keep the reference style: scored against every planted document but those.
@step("filter", targets=("!hq_style",))
def quality_filter(*, key: str, threshold: float = 0.0, lower_better: bool = False) -> Mapper:
    """Keep pages whose score in `key` is >= `threshold` (<= with `lower_better`), DCLM's quality_filter.

    A page without the key raises (and is quarantined): the enricher must run first.
    """

    def keep(page: Page) -> list[Page]:
        score = page[key]
        ok = score <= threshold if lower_better else score >= threshold
        return [page] if ok else []

    return keep


def _scores_of(uri: str, key: str) -> np.ndarray:
    scores = []
    for i, d in enumerate(good_docs(uri)):
        if key not in d:
            raise ValueError(f"{uri}: document {i} has no {key!r}; run the scoring enricher before top_fraction_filter")
        scores.append(d[key])
    return np.asarray(scores, dtype=np.float64)


@step("global", targets=("!hq_style",), ranges={"fraction": Range(0, 1, low_open=True)})
def top_fraction_filter(*, key: str, fraction: float) -> GlobalStep:
    """Keep the top `fraction` of the whole dataset by the score in `key` (a global percentile).

    Exactly round(fraction x N) documents are kept; ties at the cut go to the
    earlier document in global order (shards by name, then file order).
    """
    return DropByIndex(_scores_of, (key,), lambda scores: {s: ~m for s, m in top_fraction_mask(scores, fraction).items()})
