"""Global dedup steps: BFF Bloom-filter n-gram dedup, exact dedup, MinHash LSH.

Each is a global step (see `dcbench.stages`): `analyze` reads the whole
dataset once and decides per document; `apply` enacts the decision shard by
shard. Decisions depend only on the documents and their global order (shards
by name, documents in file order), never on the number of workers.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import sys
from typing import Any, Literal

import numpy as np

from dcbench.baselines.dedup.bff import (BadDocument, PartitionedBFF, apply_decision, auto_partitions,
                                         check_local_filters_fit, check_params, local_partitions, make_ray_partitions,
                                         partition_expected_ngrams, save_partitions)
from dcbench.baselines.dedup.bloom import BloomFilter
from dcbench.baselines.dedup.exact import (Normalization, ShardUnits, drop_units, normalizer, shard_units,
                                           unit_duplicates)
from dcbench.baselines.dedup.minhash import near_duplicates, signatures
from dcbench.baselines.registry import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, Range, Rule, step
from dcbench.baselines.steps.global_common import DropByIndex, good_docs
from dcbench.contracts import GlobalStep, Mapper, Page
from dcbench.errors import ConfigError
from dcbench.estimate import DataScale, MemoryNeed, Room, current_room, is_sample
from dcbench.shards import shard_stem
from dcbench.stages import GlobalContext

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ BFF


def _decide_all(docs: Any, partitions: list[Any], batch_size: int, options: dict[str, Any]) -> list[dict[str, Any]]:
    """BFF decisions (JSON-ready) for `docs` in order, the filter updated as it goes."""
    bff = PartitionedBFF(partitions, **options)
    out: list[dict[str, Any]] = []
    for batch in iter(lambda: list(itertools.islice(docs, batch_size)), []):
        out.extend({"bad": d.reason} if isinstance(d, BadDocument) else d for d in bff.decide_batch(batch))
    bff.flush()
    return out


def _text_bytes(uri: str) -> int:
    return sum(len(d["text"].encode("utf-8", "surrogatepass")) for d in good_docs(uri))


class _BFF:
    """BFF as a `GlobalStep`: per shard (DCLM's scope) or one filter over the whole dataset."""

    def __init__(self, options: dict[str, Any], expected_ngrams: int | None, fp_rate: float, scope: str,
                 partitions: int | str, filter_dir: str | None, batch_size: int):
        self.options, self.expected, self.fp_rate = options, expected_ngrams, fp_rate
        self.scope, self.partitions, self.filter_dir, self.batch_size = scope, partitions, filter_dir, batch_size

    def analyze(self, shards: list[str], ctx: GlobalContext) -> dict[str, Any]:
        sample = is_sample(ctx)  # `dcbench plan`: a filter sized for the sample, in-process, saved nowhere
        fixed = None if sample else self.expected
        if self.scope == "shard":
            results = ctx.map_shards(_bff_one_shard, shards, self.options, fixed, self.fp_rate, self.batch_size)
            return {shard_stem(u): r for u, r in zip(shards, results)}
        expected = fixed or _estimate_ngrams(sum(ctx.map_shards(_text_bytes, shards)))
        parts = local_partitions(1, expected, self.fp_rate) if sample else self._partitions(expected)
        decisions: dict[str, Any] = {}
        stems = [shard_stem(u) for u in shards]
        order = sorted(range(len(shards)), key=lambda i: stems[i])  # the global order: shards by name
        for i in order:
            decisions[stems[i]] = {"docs": _decide_all(good_docs(shards[i]), parts, self.batch_size, self.options)}
        if self.filter_dir and not sample:
            save_partitions(parts, self.filter_dir)
        return decisions

    def _partitions(self, expected: int) -> list[Any]:
        load = self.filter_dir if self.filter_dir and os.path.isdir(self.filter_dir) and os.listdir(self.filter_dir) else None
        parts = self._partition_count(expected, current_room())
        if self.partitions == "auto":
            print(f"bff_dedup: partitions: auto -> {parts} for {expected:,} n-grams at fp_rate {self.fp_rate}",
                  file=sys.stderr)
        if parts == 1:
            return local_partitions(1, expected, self.fp_rate, load_dir=load)
        return make_ray_partitions(parts, expected, self.fp_rate, load_dir=load)

    def _partition_count(self, expected: int, room: Room) -> int:
        if self.partitions != "auto":
            return int(self.partitions)
        return auto_partitions(expected, self.fp_rate, room.driver, room.nodes)

    def memory_needs(self, scale: DataScale, room: Room) -> list[MemoryNeed]:
        """The Bloom filter(s) for the n-grams of `scale` (`dcbench.estimate.MemoryEstimable`)."""
        fp = self.fp_rate
        where = "worker" if self.scope == "shard" else "driver"
        batch = MemoryNeed(f"a batch of {self.batch_size:,} documents' n-gram hashes and bit positions",
                           _batch_bytes(self.batch_size * scale.text_bytes // max(scale.documents, 1)), where,
                           setting="batch_size (smaller)")
        if self.scope == "shard":
            n = self.expected or _estimate_ngrams(math.ceil(scale.text_bytes / max(scale.shards, 1)))
            return [MemoryNeed(f"a Bloom filter per shard for {n:,} n-grams at fp_rate {fp}",
                               BloomFilter.required_bytes(n, fp), "worker",
                               setting="fp_rate (higher), or smaller shards"), batch]
        expected = self.expected or _estimate_ngrams(scale.text_bytes)
        parts = self._partition_count(expected, room)
        if parts == 1:
            return [MemoryNeed(f"the Bloom filter for {expected:,} n-grams at fp_rate {fp}",
                               BloomFilter.required_bytes(expected, fp), "driver",
                               setting="partitions: auto (Bloom filter partitions in Ray actors; add nodes with "
                                       "--address), fp_rate (higher), or scope: shard"), batch]
        each = partition_expected_ngrams(expected, parts)
        return [MemoryNeed(f"Bloom filter partition actor(s) for {each:,} n-grams at fp_rate {fp}",
                           BloomFilter.required_bytes(each, fp), "actor", count=parts,
                           setting="partitions (more of them, on more nodes: --address), fp_rate (higher), "
                                   "or scope: shard"), batch]

    def apply(self, decision: dict[str, Any]) -> Mapper:
        docs = iter(decision["docs"])
        annotate = self.options.get("annotate", False)

        def apply(page: Page) -> list[Page]:
            d = next(docs)
            if "bad" in d:
                raise ValueError(d["bad"])
            out = apply_decision(page, d, annotate)
            return [] if out is None else [out]

        return apply


def _batch_bytes(text_bytes: int) -> int:
    # Per n-gram (about one per 4 bytes of text) a batch holds its hash, its sort order, the sorted
    # copy and flags: ~30 bytes; each filter call adds its (k, 65,536) index arrays, ~16 MiB.
    return text_bytes * 30 // 4 + 16 * 2**20


def _estimate_ngrams(text_bytes: int) -> int:
    # Web text has about one UAX #29 token (words and punctuation) per 4-5 bytes; an n-gram
    # per token is an upper bound, so the filter's real false-positive rate stays below the target.
    return max(10_000, text_bytes // 4)


def _bff_one_shard(uri: str, options: dict[str, Any], expected: int | None, fp_rate: float,
                   batch_size: int) -> dict[str, Any]:
    """DCLM's unit of dedup: a fresh filter for this shard alone."""
    n = expected or _estimate_ngrams(_text_bytes(uri))
    return {"docs": _decide_all(good_docs(uri), local_partitions(1, n, fp_rate), batch_size, options)}


def _filter_fits(values: dict[str, Any]) -> bool:
    """The rule "a local Bloom filter fits in memory", checkable up front when expected_ngram_count is given
    (a filter over Ray actors, `partitions` > 1, is sized by the actors' own memory requests)."""
    if values["expected_ngram_count"] is not None and values["partitions"] == 1:
        check_local_filters_fit(1, values["expected_ngram_count"], values["fp_rate"])
    return True


_BFF_RANGES = {"ngram_size": AT_LEAST_ONE, "min_ngram_size": NON_NEGATIVE, "filtering_threshold": FRACTION,
               "expected_ngram_count": AT_LEAST_ONE, "fp_rate": Range(0, 1, low_open=True, high_open=True),
               "partitions": AT_LEAST_ONE, "batch_size": AT_LEAST_ONE}
_BFF_RULES = [Rule("scope 'shard' with partitions 1 and no bloom_filter_dir (one fresh filter per shard)",
                   lambda v: v["scope"] != "shard" or (v["partitions"] == 1 and not v["bloom_filter_dir"])),
              Rule("a Bloom filter for expected_ngram_count at fp_rate that fits in memory", _filter_fits)]


@step("global", targets=("exact_duplicate", "near_duplicate"), state=("bloom_filter_dir",), ranges=_BFF_RANGES,
      rules=_BFF_RULES)
def bff_dedup(*, ngram_size: int = 13, min_ngram_size: int = 13, filtering_threshold: float = 0.8,
              expected_ngram_count: int | None = None, fp_rate: float = 0.01,
              scope: Literal["global", "shard"] = "global", partitions: int | Literal["auto"] = 1,
              annotate: bool = False, bloom_filter_dir: str | None = None, batch_size: int = 1000) -> GlobalStep:
    """BFF Bloom-filter n-gram dedup with the `old-both` rule (DCLM-Baseline's dedup).

    UAX #29 tokens, n-grams per paragraph: a paragraph with more than
    `filtering_threshold` of its n-grams already seen is removed, otherwise its
    n-grams are inserted at once; a document with more than the threshold seen
    overall is emptied. `scope: shard` dedups each shard on its own filter (as
    DCLM ran it); `global` runs one filter over the whole dataset, its hash
    space split over `partitions` Ray actors so it can exceed one machine's
    memory (`auto`: one filter in the driver when it takes at most half its
    free memory, else as few actors as fit the largest node; `dcbench plan`
    shows the choice). `expected_ngram_count` sizes the filter (estimated
    from the text size when null); `bloom_filter_dir` loads a saved filter
    to continue over a later pool increment, and saves it afterwards.
    `annotate` marks duplicate spans (`bff_duplicate_spans`) instead of
    removing them.
    """
    options = {"ngram_size": ngram_size, "min_ngram_size": min_ngram_size, "threshold": filtering_threshold,
               "annotate": annotate}
    check_params(ngram_size, min_ngram_size, filtering_threshold)
    return _BFF(options, expected_ngram_count, fp_rate, scope, partitions, bloom_filter_dir, batch_size)


# ------------------------------------------------------------------ exact and MinHash


def _units_of(uri: str, options: dict[str, Any]) -> ShardUnits:
    return shard_units(good_docs(uri, any_text=True), **options)


def _signatures_of(uri: str, ngram: int, num_perm: int, seed: int) -> np.ndarray:
    return signatures(good_docs(uri), ngram=ngram, num_perm=num_perm, seed=seed)


class _ExactDedup:
    """Exact dedup as a `GlobalStep`: unit keys per shard, one reduction, a unit decision per shard."""

    def __init__(self, options: dict[str, Any], keep: str, num_buckets: int):
        self.options, self.keep, self.num_buckets = options, keep, num_buckets

    def analyze(self, shards: list[str], ctx: GlobalContext) -> dict[str, Any]:
        units = ctx.map_shards(_units_of, shards, self.options)
        per_shard = {shard_stem(u): v for u, v in zip(shards, units)}
        return unit_duplicates(per_shard, keep=self.keep, num_buckets=self.num_buckets)

    def apply(self, decision: dict[str, Any]) -> Mapper:
        return drop_units(decision, self.options["content_key"])


def _normalizer_usable(values: dict[str, Any]) -> bool:
    """The rule "the normalisers can run here" (the CCNet one needs Unidecode)."""
    for name in ("normalize", "selection_normalize"):
        try:
            normalizer(values[name])("x")
        except RuntimeError as e:
            raise ConfigError(f"{name} {values[name]!r}: {e}") from e
    return True


@step("global", targets=("exact_duplicate",), ranges={"num_buckets": AT_LEAST_ONE}, any_text=True,
      rules=[Rule("normalisers whose libraries are installed", _normalizer_usable)])
def exact_dedup(*, content_key: str = "text", normalize: Normalization | None = None,
                selection_key: str | None = None, selection_normalize: Normalization | None = None,
                selection_reverse: bool = False, num_buckets: int = 16) -> GlobalStep:
    """Exact dedup (DCLM's exact_dedup): of the units with the same normalised content, keep one.

    A unit is the `content_key` value when it is a string (a URL, a text) and
    each item when it is a list (the lines of split_lines_modifier): dropped
    items are cut out of their document, and a document left with none is
    removed. `normalize` takes DCLM's names (normalize_url,
    normalize_whitespace_and_lowercase, ccnet_dedup_normalizer, hash_text,
    normalize_timestamps; null: the raw unit) and ours (`strip_lower` = DCLM's
    whitespace+lowercase, which strips only the ends; `whitespace_lower` also
    collapses inner whitespace; `url` = normalize_url). The unit kept is the
    first in global order (shards by name, then file order, then list order),
    or with `selection_key` the one whose document's value (after
    `selection_normalize`) is smallest, largest with `selection_reverse`;
    values compare as numpy compares them (numbers as numbers, strings by code
    point) and ties go to the first in global order. DCLM keeps the first row
    of a Ray groupby instead, an order that depends on how Ray partitions the
    data. Stricter than DCLM: an unknown normaliser name is refused (DCLM
    silently does not normalise), and a document without the content or the
    selection value is quarantined (DCLM's job fails). As in DCLM, only a
    shard that loses a unit is rewritten, so a document whose content is an
    empty list is removed only there. DCLM also rewrites every content of such
    a shard as a list (or, when each has one unit left, as a string); that is
    not copied, as join_lines_modifier gives the same text either way. Units
    are keyed by a 128-bit xxh3 hash where DCLM uses md5 (the same groups
    barring a collision). The hash space is cut into `num_buckets` parts that
    are reduced independently.
    """
    options = {"content_key": content_key, "normalize": normalize, "selection_key": selection_key,
               "selection_normalize": selection_normalize}
    keep = "first" if selection_key is None else "max" if selection_reverse else "min"
    return _ExactDedup(options, keep, num_buckets)


@step("global", targets=("exact_duplicate", "near_duplicate"),
      ranges={"ngram": AT_LEAST_ONE, "num_perm": AT_LEAST_ONE, "threshold": FRACTION, "seed": Range(0, 2**32 - 1),
              "num_buckets": AT_LEAST_ONE})
def minhash_dedup(*, ngram: int = 5, num_perm: int = 128, threshold: float = 0.8, seed: int = 1,
                  num_buckets: int = 16) -> GlobalStep:
    """MinHash LSH near-duplicate dedup (datasketch-compatible signatures of word `ngram` shingles).

    Candidate pairs from LSH bands are verified by estimated Jaccard >=
    `threshold`, joined into clusters, and every cluster keeps its first
    document in global order.
    """
    return DropByIndex(_signatures_of, (ngram, num_perm, seed),
                    lambda sigs: near_duplicates(sigs, threshold=threshold, num_buckets=num_buckets))
