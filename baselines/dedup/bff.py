"""BFF's `old-both` n-gram deduplication, sequential and partitioned.

The rule, per document, as DCLM's `bff --remove-type old-both` applies it
(`dedup/bff/src/main.rs`, `process_line_oldboth`):

1. Cut the text at every "\\n": paragraph j is the window
   [newline_j, newline_{j+1}) with newline_0 = 0 and a final window ending at
   len(text), so every paragraph after the first starts with its "\\n"
   (a text starting with "\\n" has an empty first paragraph).
2. Tokens of a paragraph: its Unicode word-boundary segments that are not all
   whitespace (punctuation kept). Its n-grams: every sliding window of
   `ngram_size` tokens; when there is none and the paragraph has at least
   `min_ngram_size` tokens, one n-gram of all of them. (So `min_ngram_size`
   only matters below `ngram_size`; a paragraph under both has no n-grams.)
3. `contained` = how many of the paragraph's n-grams the filter holds, all
   asked before any of them is inserted (an n-gram repeated inside one
   paragraph does not match itself). If contained / total > threshold the
   paragraph is marked; otherwise all its n-grams are inserted at once, so
   later paragraphs of the same document can match them. A marked
   paragraph's n-grams are not inserted. A paragraph with no n-grams is kept
   and inserts nothing (0/0 is not above the threshold).
4. Marked paragraphs are cut out. If Σ contained / Σ total over all the
   document's paragraphs (marked ones included) is > threshold, the text
   becomes "". `bff_contained_ngram_count_before_dedupe` = Σ contained.
5. A document whose text is then blank (only whitespace) is dropped.

With `annotate`, the text is kept and `bff_duplicate_spans` (the marked
paragraphs' [start, end) byte windows in the UTF-8 text) and
`bff_contained_ngram_count` are added; as in BFF the whole-document rule
does not show in the spans. Unlike BFF we keep every other field of the
document (BFF keeps only id, source, text and the two annotations).

Two ways to run it:

* `BFFDeduper(filter).process(doc)`: one document at a time against one
  `BloomFilter` (the reference).
* `PartitionedBFF(partitions).process_batch(docs)` / `dedup_batches(...)`:
  the n-gram hash space is split into P partitions by the hash's high bits,
  each its own Bloom filter, local or in a Ray actor (`RayPartition`). Per
  batch: (a) hash every n-gram of every paragraph, (b) ask each partition
  which of its hashes it held before the batch, (c) decide the batch's
  paragraphs in order, locally, with contained = "held before the batch" or
  "inserted earlier in this batch by a kept paragraph" (an exact set), and
  (d) insert the kept paragraphs' n-grams into their partitions. This is the
  sequential decision for the same document order, except for Bloom false
  positives among the batch's own n-grams (the exact set has none).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from dcbench.baselines.text import split_words
from dcbench.errors import ConfigError
from dcbench.taskloop import check_resources

from .bloom import BloomFilter, ensure_memory, paragraph_ngram_hashes, token_hashes

Tokenizer = Callable[[str], list[str]]
Decision = dict  # {"spans": [[start, end], ...], "drop": bool, "contained": int, "ngrams": int}

# Rust's char::is_whitespace (Unicode White_Space), which BFF's `trim()` uses; Python's
# str.strip() would also strip U+001C..U+001F.
_RUST_WHITESPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
                    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


def default_tokenizer(text: str) -> list[str]:
    """`baselines.text.split_words` with punctuation kept and whitespace dropped."""
    return split_words(text, ignore_punctuation=False, ignore_whitespace=True)


def is_blank(text: str) -> bool:
    return not text.strip(_RUST_WHITESPACE)


def paragraphs(text: str) -> list[str]:
    """BFF's windows: split at each "\\n", every piece after the first keeping its leading "\\n"."""
    parts = text.split("\n")
    return parts[:1] + ["\n" + p for p in parts[1:]]


def check_params(ngram_size: int, min_ngram_size: int, threshold: float) -> None:
    if not isinstance(ngram_size, int) or isinstance(ngram_size, bool) or ngram_size < 1:
        raise ConfigError(f"bff: ngram_size must be an integer >= 1, got {ngram_size!r}")
    if not isinstance(min_ngram_size, int) or isinstance(min_ngram_size, bool) or min_ngram_size < 0:
        raise ConfigError(f"bff: min_ngram_size must be an integer >= 0, got {min_ngram_size!r}")
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"bff: threshold must be a number in [0, 1], got {threshold!r}")


@dataclass
class DocPlan:
    """One document's paragraphs and the hashes of their n-grams (paragraph j owns
    hashes[offsets[j]:offsets[j+1]])."""

    paras: list[str]
    hashes: np.ndarray
    offsets: np.ndarray


def plan_document(text: Any, tokenizer: Tokenizer, ngram_size: int, min_ngram_size: int,
                  hash_seed: int = 0) -> DocPlan:
    if not isinstance(text, str):
        raise ValueError(f"document 'text' is {type(text).__name__}, not a string")
    paras = paragraphs(text)
    tokens: list[str] = []
    lengths = np.empty(len(paras), dtype=np.int64)
    for j, p in enumerate(paras):
        words = tokenizer(p)
        lengths[j] = len(words)
        tokens.extend(words)
    try:
        tok = token_hashes(tokens, hash_seed)
    except UnicodeEncodeError as e:
        raise ValueError(f"document text is not valid Unicode (lone surrogate): {e}") from None
    hashes, offsets = paragraph_ngram_hashes(tok, lengths, ngram_size, min_ngram_size, hash_seed)
    return DocPlan(paras, hashes, offsets)


def _decision(plan: DocPlan, removed: list[int], contained: int, threshold: float) -> Decision:
    total = len(plan.hashes)
    spans: list[list[int]] = []
    if removed:
        starts = np.zeros(len(plan.paras) + 1, dtype=np.int64)
        np.cumsum([len(p.encode("utf-8", "surrogatepass")) for p in plan.paras], out=starts[1:])
        spans = [[int(starts[j]), int(starts[j + 1])] for j in removed]
    drop = total > 0 and contained / total > threshold
    return {"spans": spans, "drop": bool(drop), "contained": int(contained), "ngrams": int(total)}


def apply_decision(doc: dict, decision: Decision, annotate: bool = False) -> dict | None:
    """The document BFF writes for `decision` (a shallow copy), or None when it is dropped.

    Without `annotate`: the spans are cut from the text, the text becomes ""
    when `drop`, and `bff_contained_ngram_count_before_dedupe` is added. With
    it: the text is kept and `bff_duplicate_spans` and
    `bff_contained_ngram_count` are added. Either way a blank text drops the
    document.
    """
    out = dict(doc)
    text = out["text"]
    if annotate:
        out["bff_duplicate_spans"] = [list(s) for s in decision["spans"]]
        out["bff_contained_ngram_count"] = decision["contained"]
    else:
        if decision["drop"]:
            text = ""
        elif decision["spans"]:
            raw = text.encode("utf-8", "surrogatepass")
            pieces, last = [], 0
            for start, end in decision["spans"]:
                pieces.append(raw[last:start])
                last = end
            pieces.append(raw[last:])
            text = b"".join(pieces).decode("utf-8", "surrogatepass")
        out["text"] = text
        out["bff_contained_ngram_count_before_dedupe"] = decision["contained"]
    return None if is_blank(text) else out


class BFFDeduper:
    """Sequential old-both dedup against one filter (anything with `contains` / `insert`
    on uint64 arrays, normally a `BloomFilter`).

    Defaults are DCLM's command line: 13-grams (`--min-ngram-size 13
    --max-ngram-size 13`), `--filtering-threshold 0.8`, no annotation.
    `update=False` is BFF's `--no-update-bloom-filter` (query only).
    `tokenizer` defaults to `baselines.text.split_words(text,
    ignore_punctuation=False, ignore_whitespace=True)`; `hash_seed` seeds
    the n-gram hashes (keep it fixed for a filter's whole life).
    """

    def __init__(self, filter: Any, ngram_size: int = 13, min_ngram_size: int = 13, threshold: float = 0.8,
                 annotate: bool = False, *, update: bool = True, hash_seed: int = 0,
                 tokenizer: Tokenizer | None = None) -> None:
        check_params(ngram_size, min_ngram_size, threshold)
        self.filter = filter
        self.ngram_size, self.min_ngram_size, self.threshold = ngram_size, min_ngram_size, float(threshold)
        self.annotate, self.update, self.hash_seed = bool(annotate), bool(update), int(hash_seed)
        self.tokenizer = tokenizer or default_tokenizer

    def plan(self, doc: dict) -> DocPlan:
        return plan_document(doc.get("text"), self.tokenizer, self.ngram_size, self.min_ngram_size, self.hash_seed)

    def decide(self, doc: dict) -> Decision:
        """Run the rule on `doc`, updating the filter; returns the decision (see `apply_decision`)."""
        plan = self.plan(doc)
        removed: list[int] = []
        contained_total = 0
        for j in range(len(plan.paras)):
            h = plan.hashes[plan.offsets[j]:plan.offsets[j + 1]]
            if len(h) == 0:
                continue
            contained = int(np.count_nonzero(self.filter.contains(h)))
            contained_total += contained
            if contained / len(h) > self.threshold:
                removed.append(j)
            elif self.update:
                self.filter.insert(h)
        return _decision(plan, removed, contained_total, self.threshold)

    def process(self, doc: dict) -> dict | None:
        """The deduplicated document, or None when BFF would not write it."""
        return apply_decision(doc, self.decide(doc), self.annotate)

    __call__ = process


# --------------------------------------------------------------------------- partitions


def partition_of(hashes: np.ndarray, num_partitions: int) -> np.ndarray:
    """Partition of each hash: its top 32 bits scaled to [0, P) (any P, high bits only)."""
    hi = np.asarray(hashes, dtype=np.uint64) >> np.uint64(32)
    return ((hi * np.uint64(num_partitions)) >> np.uint64(32)).astype(np.intp)


def partition_expected_ngrams(expected_ngrams: int, num_partitions: int) -> int:
    """Items to size each of P partitions for: the mean share plus 4 standard deviations."""
    share = expected_ngrams / num_partitions
    return max(1, math.ceil(share + 4.0 * math.sqrt(share)))


MAX_PARTITIONS = 4096


def auto_partitions(expected_ngrams: int, fp_rate: float, driver_free: int, node_memory: Sequence[int]) -> int:
    """`partitions: auto`: 1 (one filter in the driver, the fastest) when the whole filter takes at most
    half the driver's free memory; else the fewest partitions whose filters each take at most 80% of the
    largest node's memory (the plan then checks that they all fit the cluster)."""
    total = BloomFilter.required_bytes(expected_ngrams, fp_rate)
    if total <= driver_free // 2:
        return 1
    biggest = 0.8 * max(node_memory, default=0)
    parts = max(2, math.ceil(total / biggest)) if biggest > 0 else MAX_PARTITIONS
    while parts < MAX_PARTITIONS and BloomFilter.required_bytes(partition_expected_ngrams(expected_ngrams, parts),
                                                                fp_rate) > biggest:
        parts += 1
    return parts


def partition_path(directory: str | Path, index: int, num_partitions: int) -> Path:
    """Where partition `index` of `num_partitions` is saved (the count is in the name: a
    filter set only continues with the same P, since P decides the routing)."""
    return Path(directory) / f"bloom-{index:04d}-of-{num_partitions:04d}.bin"


def local_partitions(num_partitions: int, expected_ngrams: int, fp_rate: float = 0.01, *, seed: int = 0,
                     load_dir: str | Path | None = None) -> list[BloomFilter]:
    """P in-process filters sized for `expected_ngrams` in all (or loaded from `load_dir`)."""
    if load_dir is not None:
        return [BloomFilter.load(partition_path(load_dir, i, num_partitions)) for i in range(num_partitions)]
    check_local_filters_fit(num_partitions, expected_ngrams, fp_rate)
    each = partition_expected_ngrams(expected_ngrams, num_partitions)
    return [BloomFilter(each, fp_rate, seed=seed) for _ in range(num_partitions)]


def check_local_filters_fit(num_partitions: int, expected_ngrams: int, fp_rate: float) -> None:
    """Refuse (ConfigError with the figures) P in-process filters for `expected_ngrams` that do not fit
    in this machine's available memory; called before any shard is read when the count is known."""
    each = partition_expected_ngrams(expected_ngrams, num_partitions)
    total = BloomFilter.required_bytes(each, fp_rate) * num_partitions
    ensure_memory(total, None, f"{num_partitions} local Bloom filter partition(s) for {expected_ngrams:,} n-grams "
                  f"at fp_rate {fp_rate}",
                  "run the partitions as Ray actors on several machines, lower expected_ngram_count or raise fp_rate")


def save_partitions(partitions: Sequence[Any], directory: str | Path) -> list[Path]:
    """Save every partition (local filters or actors) under `directory`; returns the paths."""
    paths = [partition_path(directory, i, len(partitions)) for i in range(len(partitions))]
    _gather([_call(p, "save", str(path)) for p, path in zip(partitions, paths)])
    return paths


class RayPartition:
    """One partition's Bloom filter, made to live in a Ray actor:
    `ray.remote(num_cpus=0)(RayPartition).remote(expected, fp)` (or `make_ray_partitions`).
    Also usable in-process."""

    def __init__(self, expected_ngrams: int | None = None, fp_rate: float = 0.01, *, seed: int = 0,
                 load_path: str | None = None) -> None:
        if load_path is not None:
            self.filter = BloomFilter.load(load_path)
        elif expected_ngrams is None:
            raise ConfigError("RayPartition needs expected_ngrams or load_path")
        else:
            self.filter = BloomFilter(expected_ngrams, fp_rate, seed=seed)

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        return self.filter.contains(hashes)

    def insert(self, hashes: np.ndarray) -> int:
        self.filter.insert(hashes)
        return self.filter.count

    def save(self, path: str) -> str:
        self.filter.save(path)
        return path

    def stats(self) -> dict:
        return self.filter.stats()


def make_ray_partitions(num_partitions: int, expected_ngrams: int, fp_rate: float = 0.01, *, seed: int = 0,
                        load_dir: str | Path | None = None) -> list[Any]:
    """P `RayPartition` actors (num_cpus=0, Ray `memory` reserved for the bits, spread over
    nodes), sized for `expected_ngrams` in all, or loaded from `load_dir` (a path every node sees).
    Ray must be initialised."""
    import ray

    each = partition_expected_ngrams(expected_ngrams, num_partitions)
    need = BloomFilter.required_bytes(each, fp_rate)
    check_resources(f"{num_partitions} Bloom filter partition actor(s) for {expected_ngrams:,} n-grams at fp rate "
                    f"{fp_rate}", num_partitions, memory=need, now=True,
                    advice="add machines (or memory) to the Ray cluster, use more partitions on more nodes, "
                           "lower expected_ngram_count or raise fp_rate")
    actor = ray.remote(num_cpus=0)(RayPartition)
    opts = {"memory": need, "scheduling_strategy": "SPREAD"}
    if load_dir is not None:
        return [actor.options(**opts).remote(load_path=str(partition_path(load_dir, i, num_partitions)))
                for i in range(num_partitions)]
    return [actor.options(**opts).remote(each, fp_rate, seed=seed) for _ in range(num_partitions)]


def _call(part: Any, method: str, *args: Any) -> Any:
    """part.method(*args), or part.method.remote(*args) for a Ray actor handle."""
    fn = getattr(part, method)
    remote = getattr(fn, "remote", None)
    return remote(*args) if remote is not None else fn(*args)


def _gather(results: list[Any]) -> list[Any]:
    """Resolve Ray object refs (one ray.get for all); plain values pass through."""
    ray = sys.modules.get("ray")
    if ray is None:
        return results
    idx = [i for i, r in enumerate(results) if isinstance(r, ray.ObjectRef)]
    if idx:
        values = ray.get([results[i] for i in idx])
        results = list(results)
        for i, v in zip(idx, values):
            results[i] = v
    return results


class BadDocument(NamedTuple):
    """A document of a batch that could not be deduplicated (quarantine it)."""

    reason: str


class PartitionedBFF:
    """old-both over P partitions, one batch of documents at a time, in order.

    `partitions`: objects with `contains(uint64 array) -> bool array` and
    `insert(uint64 array)` (BloomFilter, RayPartition) or Ray actor handles
    of `RayPartition`. Results equal `BFFDeduper`'s for the same documents
    in the same order over one filter, up to Bloom false positives.
    """

    def __init__(self, partitions: Sequence[Any], ngram_size: int = 13, min_ngram_size: int = 13,
                 threshold: float = 0.8, annotate: bool = False, *, update: bool = True, hash_seed: int = 0,
                 tokenizer: Tokenizer | None = None) -> None:
        check_params(ngram_size, min_ngram_size, threshold)
        if not partitions:
            raise ConfigError("bff: at least one partition is needed")
        self.partitions = list(partitions)
        self.ngram_size, self.min_ngram_size, self.threshold = ngram_size, min_ngram_size, float(threshold)
        self.annotate, self.update, self.hash_seed = bool(annotate), bool(update), int(hash_seed)
        self.tokenizer = tokenizer or default_tokenizer
        self._pending: list[Any] = []  # insert calls not yet confirmed (Ray)

    # (b) and (d): talk to the partitions
    def _route(self, hashes: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        P = len(self.partitions)
        if P == 1:
            return np.arange(len(hashes)), [hashes]
        part = partition_of(hashes, P)
        order = np.argsort(part, kind="stable")
        bounds = np.zeros(P + 1, dtype=np.int64)
        np.cumsum(np.bincount(part, minlength=P), out=bounds[1:])
        sorted_h = hashes[order]
        return order, [sorted_h[bounds[i]:bounds[i + 1]] for i in range(P)]

    def _contains_before(self, hashes: np.ndarray) -> np.ndarray:
        order, chunks = self._route(hashes)
        calls = [_call(p, "contains", c) if len(c) else None for p, c in zip(self.partitions, chunks)]
        answers = _gather(self._pending + calls)[len(self._pending):]
        self._pending = []
        found = np.empty(len(hashes), dtype=bool)
        found[order] = np.concatenate([np.asarray(a, dtype=bool) if a is not None else np.zeros(0, bool)
                                       for a in answers]) if len(hashes) else np.zeros(0, bool)
        return found

    def _insert(self, hashes: np.ndarray) -> None:
        if not len(hashes):
            return
        _, chunks = self._route(hashes)
        for p, c in zip(self.partitions, chunks):
            if len(c):
                self._pending.append(_call(p, "insert", c))
        # Local inserts are already done; Ray ones run before the next batch's `contains` on the same
        # actor (calls from one caller run in order) and are confirmed with it, or by `flush`.
        self._pending = [r for r in self._pending if _is_ref(r)]

    def flush(self) -> None:
        """Wait until every insert has reached its partition (raises a partition's error)."""
        _gather(self._pending)
        self._pending = []

    # (a) + (c)
    def decide_batch(self, docs: Sequence[dict]) -> list[Decision | BadDocument]:
        """Decisions for `docs` in order, updating the partitions; a document that cannot
        be read gets a `BadDocument` and leaves the filter untouched."""
        plans: list[DocPlan | BadDocument] = []
        for doc in docs:
            try:
                text = doc.get("text") if isinstance(doc, dict) else None
                plans.append(plan_document(text, self.tokenizer, self.ngram_size, self.min_ngram_size,
                                           self.hash_seed))
            except (ValueError, TypeError) as e:
                plans.append(BadDocument(f"bff: {e}"))
        good = [p for p in plans if isinstance(p, DocPlan)]
        if not good:
            return list(plans)
        hashes = np.concatenate([p.hashes for p in good])
        # Global paragraph offsets into `hashes`.
        counts = np.concatenate([np.diff(p.offsets) for p in good])
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])

        prior = self._contains_before(hashes) if len(hashes) else np.zeros(0, dtype=bool)
        prior_counts = _segment_sums(prior, offsets)

        # Only an n-gram whose value recurs within the batch can match one inserted earlier in
        # the batch; those (usually few) go through an exact set, in order.
        n = len(hashes)
        recurs = np.zeros(n, dtype=bool)
        if n > 1:
            order = np.argsort(hashes)
            sorted_h = hashes[order]
            same = sorted_h[1:] == sorted_h[:-1]
            recurs[order[1:][same]] = True
            recurs[order[:-1][same]] = True
        ask = _by_paragraph(np.flatnonzero(recurs & ~prior), hashes, offsets)
        remember = _by_paragraph(np.flatnonzero(recurs), hashes, offsets) if self.update else {}

        # The sequential decision, paragraph by paragraph (only those with n-grams matter).
        n_paras = [len(p.paras) for p in good]
        doc_of = np.repeat(np.arange(len(good)), n_paras)
        first_para = np.zeros(len(good) + 1, dtype=np.int64)
        np.cumsum(n_paras, out=first_para[1:])
        removed: list[list[int]] = [[] for _ in good]
        contained_totals = [0] * len(good)
        seen: set[int] = set()
        kept = np.ones(n, dtype=bool)
        threshold = self.threshold
        nz = np.flatnonzero(counts)
        for g, total, contained, d in zip(nz.tolist(), counts[nz].tolist(), prior_counts[nz].tolist(),
                                          doc_of[nz].tolist()):
            asks = ask.get(g)
            if asks:
                contained += sum(1 for h in asks if h in seen)
            contained_totals[d] += contained
            if contained / total > threshold:
                removed[d].append(g - int(first_para[d]))
                kept[offsets[g]:offsets[g + 1]] = False
            else:
                more = remember.get(g)
                if more:
                    seen.update(more)
        if self.update:
            self._insert(hashes[kept])

        results: list[Decision | BadDocument] = []
        d = 0
        for item in plans:
            if isinstance(item, BadDocument):
                results.append(item)
            else:
                results.append(_decision(item, removed[d], contained_totals[d], threshold))
                d += 1
        return results

    def process_batch(self, docs: Sequence[dict]) -> list[dict | None | BadDocument]:
        """Output documents for `docs` in order: a dict, None (dropped) or `BadDocument`."""
        decisions = self.decide_batch(docs)
        return [d if isinstance(d, BadDocument) else apply_decision(doc, d, self.annotate)
                for doc, d in zip(docs, decisions)]


def _is_ref(x: Any) -> bool:
    ray = sys.modules.get("ray")
    return ray is not None and isinstance(x, ray.ObjectRef)


def _segment_sums(flags: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    csum = np.zeros(len(flags) + 1, dtype=np.int64)
    np.cumsum(flags, out=csum[1:])
    return csum[offsets[1:]] - csum[offsets[:-1]]


def _by_paragraph(positions: np.ndarray, hashes: np.ndarray, offsets: np.ndarray) -> dict[int, list[int]]:
    """{global paragraph index: [hash, ...]} for the given n-gram positions."""
    if not len(positions):
        return {}
    paras = np.searchsorted(offsets, positions, side="right") - 1  # ascending, as positions are
    cuts = np.flatnonzero(paras[1:] != paras[:-1]) + 1
    groups = np.split(hashes[positions], cuts)
    return dict(zip(paras[np.concatenate(([0], cuts))].tolist(), (g.tolist() for g in groups)))


def dedup_batches(docs: Iterable[dict], partitions: Sequence[Any], batch_size: int = 1000,
                  **options: Any) -> Iterator[dict | None | BadDocument]:
    """Deduplicate `docs` in order over `partitions`, `batch_size` documents per round trip;
    yields one result per input document (dict, None = dropped, or `BadDocument`).
    `options` are `PartitionedBFF`'s (ngram_size, min_ngram_size, threshold, annotate,
    update, hash_seed, tokenizer). Every insert has reached its partition when the
    iterator is exhausted."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"bff: batch_size must be a positive integer, got {batch_size!r}")
    bff = PartitionedBFF(partitions, **options)
    batch: list[dict] = []
    for doc in docs:
        batch.append(doc)
        if len(batch) >= batch_size:
            yield from bff.process_batch(batch)
            batch = []
    if batch:
        yield from bff.process_batch(batch)
    bff.flush()
