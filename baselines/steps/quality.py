"""fastText quality steps, as DCLM's `fasttext_filter.yaml` uses them: an
enricher that scores each page, then selection by an absolute threshold
(DCLM's `quality_filter`, 0.018112 for its released classifier) or by a
global top fraction of the dataset (the top 10% that threshold stood for)."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from dcbench.baselines.quality.fasttext_quality import Scorer, top_fraction_plan
from dcbench.baselines.registry import Range, step
from dcbench.baselines.steps.global_common import good_docs
from dcbench.contracts import GlobalStep, Mapper, Page, because, explained_by
from dcbench.errors import ConfigError
from dcbench.estimate import DataScale, MemoryNeed, Room
from dcbench.shards import shard_stem
from dcbench.stages import GlobalContext


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
@step("filter", targets=("!hq_style",), any_text=True)
def quality_filter(*, key: str = "fasttext_hq_prob", threshold: float = 0.0, lower_better: bool = False,
                   key_must_exist: bool = True) -> Mapper:
    """Keep pages whose score in `key` is >= `threshold` (<= with `lower_better`), DCLM's quality_filter.

    With `key_must_exist` (the default) a page without the key raises and is
    quarantined (DCLM: an assertion, the page dropped as an error): the
    enricher must run first. With `key_must_exist: false` a missing score
    counts as -inf (+inf with `lower_better`), so the page is dropped unless
    the threshold is itself that infinity. Only the score is read, so a page
    whose text is a list of lines or absent is handled like any other.
    """
    missing = math.inf if lower_better else -math.inf

    def why(page: Page) -> str:
        if key not in page:
            return f"no {key} score"
        return because(key, page[key], ">" if lower_better else "<", threshold)

    @explained_by(why)
    def keep(page: Page) -> list[Page]:
        if key_must_exist:
            if key not in page:
                raise KeyError(f"quality_filter: page has no {key!r}; run its scoring enricher first, "
                               f"or set key_must_exist: false to drop such pages")
            score = page[key]
        else:
            score = page.get(key, missing)
        ok = score <= threshold if lower_better else score >= threshold
        return [page] if ok else []

    return keep


def _scores_of(uri: str, key: str) -> np.ndarray:
    def scores() -> Iterator[float]:
        for i, d in enumerate(good_docs(uri)):
            if key not in d:
                raise ValueError(f"{uri}: document {i} has no {key!r}; run the scoring enricher before "
                                 f"top_fraction_filter")
            yield d[key]

    return np.fromiter(scores(), dtype=np.float64)


class _TopFraction:
    """The global top fraction as a `GlobalStep`. The analysis gathers every document's score
    (8 bytes a document in the driver, 24 while the cut is found: the scores, their
    concatenation and numpy's partition; 24 MB per million documents at the peak); each shard's
    decision is two numbers (the cut score and how many documents scoring exactly it this shard
    keeps), and `apply` re-reads the score each page carries, so nothing per document is shipped."""

    def __init__(self, key: str, fraction: float):
        self.key, self.fraction = key, fraction

    def memory_needs(self, scale: DataScale, room: Room) -> list[MemoryNeed]:
        """The scores while the cut is found (`dcbench.estimate.MemoryEstimable`)."""
        return [MemoryNeed(f"the scores of {scale.documents:,} documents while the cut is found (24 bytes each)",
                           24 * scale.documents, "driver",
                           setting="quality_filter with a threshold instead (it holds nothing)")]

    def analyze(self, shards: list[str], ctx: GlobalContext) -> dict[str, Any]:
        values = ctx.map_shards(_scores_of, shards, self.key)
        plan = top_fraction_plan({shard_stem(u): v for u, v in zip(shards, values)}, self.fraction)
        cut = None if math.isinf(plan.threshold) else float(plan.threshold)  # None: nothing is kept
        return {stem: {"threshold": cut, "ties": ties} for stem, ties in plan.tie_quota.items()}

    def apply(self, decision: dict[str, Any]) -> Mapper:
        cut, ties = decision["threshold"], decision["ties"]
        seen = 0  # pages scoring exactly the cut so far; the first `ties` of them are kept

        def keep(page: Page) -> list[Page]:
            nonlocal seen
            score = page[self.key]
            if cut is None or score < cut:
                return []
            if score == cut:
                seen += 1
                return [page] if seen <= ties else []
            return [page]

        return keep


@step("global", targets=("!hq_style",), ranges={"fraction": Range(0, 1, low_open=True)})
def top_fraction_filter(*, key: str, fraction: float) -> GlobalStep:
    """Keep the top `fraction` of the whole dataset by the score in `key` (a global percentile).

    Exactly round(fraction x N) documents are kept; ties at the cut go to the
    earlier document in global order (shards by name, then file order).
    Memory: the scores, 8 bytes a document in the driver (24 at the peak).
    """
    return _TopFraction(key, fraction)
