"""A fastText quality classifier as DCLM uses one: training, scoring, selection.

Training follows DCLM's `baselines/train_fasttext_classifier.py`: a
supervised fastText model (softmax loss) over one-line examples
``__label__hq <text>`` / ``__label__cc <text>`` with lr 0.1, dim 100, ws 5,
epoch 5, minCount 1 and word n-grams up to 2 (the setting of DCLM's released
`openhermes_reddit_eli5_vs_rw_v2_bigram_200k_train.bin`; the script's own
default is 1), seed 42. DCLM's script takes a ready fastText file; here
documents may also come from jsonl/parquet shards, and each text is put on
one line exactly as the scorer reads it (``" ".join(text.strip().splitlines())``)
so training and inference see the same input. Unlike DCLM, the examples are
shuffled with the seed, `thread` defaults to 1 (fastText is only
deterministic single-threaded) and the model is written atomically.

Scoring follows DCLM's `classify_fasttext_hq_prob`: the text's lines are
joined with single spaces after stripping the ends, fastText predicts the
top-1 label, and the score is its probability when that label is the
high-quality label, else one minus it. (DCLM tests "label is `__label__cc`"
rather than "label is hq"; for a two-label classifier the two are the same.)

Selection follows DCLM's `quality_filter` (keep ``score >= threshold``) and
adds an exact global top fraction (ties broken by the global order: shards
sorted by name, documents in file order).
"""

from __future__ import annotations

import ctypes
import math
import os
import random
import struct
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from dcbench.atomic import atomic_path
from dcbench.shards import Bad, read_shard

HQ_LABEL = "__label__hq"
CC_LABEL = "__label__cc"
LABEL_PREFIX = "__label__"

# fastText's binary header: int32 magic, int32 version (.bin and quantized .ftz alike).
_FASTTEXT_MAGIC = 793712314
_SHARD_SUFFIXES = (".jsonl", ".jsonl.gz", ".json.gz", ".jsonl.zst", ".jsonl.zstd", ".json.zst", ".parquet")


def prepare_text(text: str) -> str:
    """The one line fastText sees: ends stripped, lines joined by single spaces (DCLM)."""
    return " ".join(text.strip().splitlines())


def _without_surrogates(text: str) -> str:
    """Lone surrogates (from JSON escapes) cannot cross into fastText; replace them."""
    return text.encode("utf-8", "replace").decode("utf-8")


# ------------------------------------------------------------------ training

_M_PERTURB = -6  # glibc mallopt parameter


@contextmanager
def _zero_filled_malloc() -> Iterator[bool]:
    """Make glibc's malloc return zero-filled blocks for the duration (True when it could).

    fastText random-initialises only ``thread/10`` of the input matrix (block i
    by thread i, 10 blocks) and relies on the rest being zero, as the
    `std::vector` of stock fastText is. fasttext-numpy2 0.10.4 allocates that
    matrix uninitialised, so with ``thread < 10`` a matrix small enough to come
    from the heap (under glibc's 32 MiB mmap threshold) starts with stale heap
    bytes: training then fails at random with "Encountered NaN" or gives a
    different model on every run. A perturb byte of 0xff makes glibc clear
    every block it hands out (``memset(p, 0xff ^ 0xff, n)``), which restores
    stock fastText's zero fill and with it determinism.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        yield False
        return
    previous = int(os.environ.get("MALLOC_PERTURB_", "0") or 0) & 0xFF
    ok = bool(mallopt(_M_PERTURB, 0xFF))
    try:
        yield ok
    finally:
        mallopt(_M_PERTURB, previous)



@dataclass(frozen=True)
class TrainReport:
    model_path: str
    train_examples: int
    label_counts: dict[str, int]
    skipped_empty: int  # documents whose text was blank
    skipped_bad: int  # unreadable shard records (see dcbench.shards.Bad)
    train_precision_at_1: float
    valid_examples: int | None = None
    precision_at_1: float | None = None
    recall_at_1: float | None = None
    seconds: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)


def _is_shard(path: str) -> bool:
    low = path.lower()
    return any(low.endswith(s) for s in _SHARD_SUFFIXES)


def _example_lines(path: str | os.PathLike, label: str, counts: dict[str, int]) -> Iterator[str]:
    """fastText lines from one input: shard documents get `label`; lines of a
    fastText-format text file keep their own labels (unlabelled ones get `label`)."""
    path = os.fspath(path)
    if _is_shard(path):
        for rec in read_shard(path):
            if isinstance(rec, Bad):
                counts["bad"] += 1
                continue
            text = prepare_text(rec["text"])
            if not text:
                counts["empty"] += 1
                continue
            yield f"{label} {text}"
        return
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if not line.startswith(LABEL_PREFIX):
                line = f"{label} {line}"
            yield line


def _labels_of(line: str) -> list[str]:
    out = []
    for tok in line.split():
        if not tok.startswith(LABEL_PREFIX):
            break
        out.append(tok)
    return out


def _write_lines(path: Path, lines: Sequence[str]) -> None:
    """One example per line, UTF-8; bytes that came in undecodable go back out as
    they were, lone surrogates from JSON escapes become "?"."""
    with open(path, "wb") as f:
        for line in lines:
            try:
                data = line.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:
                data = _without_surrogates(line).encode("utf-8")
            f.write(data)
            f.write(b"\n")


def train(
    pos_paths: Iterable[str | os.PathLike],
    neg_paths: Iterable[str | os.PathLike],
    out_path: str | os.PathLike,
    *,
    lr: float = 0.1,
    dim: int = 100,
    epoch: int = 5,
    word_ngrams: int = 2,
    min_count: int = 1,
    ws: int = 5,
    bucket: int = 2_000_000,
    seed: int = 42,
    thread: int = 1,
    valid: str | os.PathLike | None = None,
    valid_frac: float = 0.0,
    shuffle: bool = True,
    hq_label: str = HQ_LABEL,
    cc_label: str = CC_LABEL,
) -> TrainReport:
    """Train a fastText quality classifier and write it to `out_path` atomically.

    `pos_paths` / `neg_paths`: jsonl(.gz/.zst) or parquet shards (field
    `text`), labelled `hq_label` / `cc_label`, or fastText-format text files
    whose lines keep their own ``__label__x`` labels. Validation: a
    fastText-format file `valid`, or a `valid_frac` share held out of the
    shuffled examples (DCLM's `--valid_frac`). Returns counts and
    precision@1 / recall@1 on the training and validation examples.
    """
    import fasttext  # deferred: ~0.13 s to import (measured); `dcbench --help` and `dcbench steps` must not pay it

    if not 0.0 <= valid_frac < 1.0:
        raise ValueError(f"valid_frac must be in [0, 1), got {valid_frac}")
    for name, label in (("hq_label", hq_label), ("cc_label", cc_label)):
        if not label.startswith(LABEL_PREFIX) or len(label.split()) != 1:
            raise ValueError(f"{name}={label!r}: a label is one word starting with {LABEL_PREFIX!r}")
    if valid is not None and not Path(valid).is_file():
        raise FileNotFoundError(f"validation file {valid} does not exist")
    started = time.perf_counter()
    counts = {"bad": 0, "empty": 0}
    lines: list[str] = []
    for paths, label in ((pos_paths, hq_label), (neg_paths, cc_label)):
        for p in paths:
            if not Path(p).exists() and "://" not in os.fspath(p):
                raise FileNotFoundError(f"training input {p} does not exist")
            lines.extend(_example_lines(p, label, counts))
    if shuffle:
        random.Random(seed).shuffle(lines)
    valid_lines: list[str] = []
    if valid is None and valid_frac > 0:
        n_train = int(len(lines) * (1 - valid_frac))
        lines, valid_lines = lines[:n_train], lines[n_train:]
    label_counts: dict[str, int] = {}
    for line in lines:
        for lab in _labels_of(line):
            label_counts[lab] = label_counts.get(lab, 0) + 1
    if len(label_counts) < 2:
        raise ValueError(f"training needs examples of at least two labels, got {label_counts or 'none'}")

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    params = {"lr": lr, "dim": dim, "ws": ws, "epoch": epoch, "minCount": min_count, "wordNgrams": word_ngrams,
              "bucket": bucket, "seed": seed, "thread": thread, "loss": "softmax"}
    with tempfile.TemporaryDirectory(prefix=".fasttext-train-", dir=out.parent) as tmp:
        train_file = Path(tmp) / "train.txt"
        _write_lines(train_file, lines)
        with _zero_filled_malloc() as zeroed:
            try:
                model = fasttext.train_supervised(input=str(train_file), verbose=0, **params)
            except RuntimeError as e:
                if "NaN" not in str(e):
                    raise
                raise RuntimeError(f"fastText training diverged (NaN) with {params}; try a lower lr") from e
        params["zero_filled_init"] = zeroed
        _, train_p, _ = model.test(str(train_file))
        valid_n = valid_p = valid_r = None
        if valid is not None or valid_lines:
            if valid is None:
                valid_file = Path(tmp) / "valid.txt"
                _write_lines(valid_file, valid_lines)
            else:
                valid_file = Path(valid)
            valid_n, valid_p, valid_r = model.test(str(valid_file))
        with atomic_path(out) as partial:
            model.save_model(str(partial))
    return TrainReport(
        model_path=str(out),
        train_examples=len(lines),
        label_counts=dict(sorted(label_counts.items())),
        skipped_empty=counts["empty"],
        skipped_bad=counts["bad"],
        train_precision_at_1=float(train_p),
        valid_examples=None if valid_n is None else int(valid_n),
        precision_at_1=None if valid_p is None else float(valid_p),
        recall_at_1=None if valid_r is None else float(valid_r),
        seconds=time.perf_counter() - started,
        params=params,
    )


# ------------------------------------------------------------------ scoring


def _check_model_file(path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"fastText model {path} does not exist")
    with open(path, "rb") as f:
        head = f.read(8)
    if len(head) < 8 or struct.unpack("<i", head[:4])[0] != _FASTTEXT_MAGIC:
        raise ValueError(f"{path} is not a fastText .bin/.ftz model (bad header)")


class Scorer:
    """Scores texts with a fastText classifier loaded from a .bin/.ftz path.

    ``score(text)`` is DCLM's `classify_fasttext_hq_prob`; ``score_many`` gives
    the same numbers through fastText's list predict, which is faster.
    """

    def __init__(self, model_path: str | os.PathLike, *, hq_label: str = HQ_LABEL, batch_size: int = 1024):
        import fasttext  # deferred: ~0.13 s to import (measured); `dcbench --help` and `dcbench steps` must not pay it

        path = Path(model_path)
        _check_model_file(path)
        self.model_path = str(path)
        self.model = fasttext.load_model(str(path))
        self.labels = list(self.model.labels)
        if hq_label not in self.labels:
            raise ValueError(f"hq_label={hq_label!r} is not a label of {path} (labels: {', '.join(self.labels)})")
        self.hq_label = hq_label
        self.batch_size = batch_size

    def score(self, text: str) -> float:
        line = prepare_text(text)
        try:
            labels, probs = self.model.predict(line)
        except (UnicodeError, TypeError):  # pybind11 refuses lone surrogates with a TypeError
            labels, probs = self.model.predict(_without_surrogates(line))
        p = float(probs[0])
        return p if labels[0] == self.hq_label else 1.0 - p

    def _score_lines(self, lines: list[str]) -> np.ndarray:
        try:
            labels, probs = self.model.predict(lines)
        except (UnicodeError, TypeError):  # pybind11 refuses lone surrogates with a TypeError
            labels, probs = self.model.predict([_without_surrogates(s) for s in lines])
        hq = self.hq_label
        p = np.fromiter((x[0] for x in probs), dtype=np.float64, count=len(lines))
        is_hq = np.fromiter((x[0] == hq for x in labels), dtype=bool, count=len(lines))
        return np.where(is_hq, p, 1.0 - p)

    def score_many(self, texts: Iterable[str]) -> np.ndarray:
        """Scores of `texts`, in order, as float64 (equal to `score` of each)."""
        out: list[np.ndarray] = []
        batch: list[str] = []
        for text in texts:
            batch.append(prepare_text(text))
            if len(batch) >= self.batch_size:
                out.append(self._score_lines(batch))
                batch = []
        if batch:
            out.append(self._score_lines(batch))
        return np.concatenate(out) if out else np.empty(0, dtype=np.float64)

    def score_docs(self, docs: Iterable[Any], content_key: str = "text") -> np.ndarray:
        """Scores of a shard's good documents (dicts or strings; `dcbench.shards.Bad` skipped)."""
        def texts() -> Iterator[str]:
            for i, d in enumerate(docs):
                if isinstance(d, Bad):
                    continue
                v = d if isinstance(d, str) else d.get(content_key) if isinstance(d, Mapping) else None
                if not isinstance(v, str):
                    raise ValueError(f"document {i}: {content_key!r} is {type(v).__name__}, not a string")
                yield v

        return self.score_many(texts())


# ------------------------------------------------------------------ selection


def threshold_mask(scores: np.ndarray, threshold: float, *, lower_better: bool = False) -> np.ndarray:
    """DCLM's `quality_filter`: keep ``score >= threshold`` (``<=`` when lower is better)."""
    s = np.asarray(scores, dtype=np.float64)
    return s <= threshold if lower_better else s >= threshold


def keep_count(n: int, fraction: float) -> int:
    """round(fraction x n), halves rounded up, computed on the decimal value of `fraction`
    (so 0.35 x 10 keeps 4, not 3 from the binary 0.34999...)."""
    if not 0.0 <= fraction <= 1.0 or math.isnan(fraction):
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    return int(math.floor(Fraction(repr(float(fraction))) * n + Fraction(1, 2)))


def _ordered_scores(scores_per_shard: Mapping[str, np.ndarray]) -> tuple[list[str], list[np.ndarray]]:
    names = sorted(scores_per_shard)
    arrays = [np.asarray(scores_per_shard[n], dtype=np.float64).reshape(-1) for n in names]
    for n, a in zip(names, arrays):
        if np.isnan(a).any():
            raise ValueError(f"shard {n}: NaN scores cannot be ranked")
    return names, arrays


def _kth_largest(values: np.ndarray, k: int) -> float:
    return float(np.partition(values, len(values) - k)[len(values) - k])


@dataclass(frozen=True)
class TopFractionPlan:
    """The decision of a global top fraction, compact enough to ship per shard:
    keep ``score > threshold``, plus the first ``tie_quota[shard]`` documents
    whose score equals the threshold."""

    threshold: float
    tie_quota: dict[str, int]
    keep: int
    total: int


def top_fraction_plan(scores_per_shard: Mapping[str, np.ndarray], fraction: float) -> TopFractionPlan:
    """Plan to keep exactly `keep_count(N, fraction)` documents with the highest
    scores; among equal scores at the boundary, the earlier in global order win."""
    names, arrays = _ordered_scores(scores_per_shard)
    total = sum(len(a) for a in arrays)
    k = keep_count(total, fraction)
    if k == 0:
        return TopFractionPlan(math.inf, {n: 0 for n in names}, 0, total)
    t = _kth_largest(np.concatenate(arrays), k)
    need = k - sum(int((a > t).sum()) for a in arrays)
    quota = {}
    for n, a in zip(names, arrays):
        q = min(need, int((a == t).sum()))
        quota[n] = q
        need -= q
    return TopFractionPlan(t, quota, k, total)


def apply_top_fraction(scores: np.ndarray, threshold: float, tie_quota: int) -> np.ndarray:
    """One shard's keep mask under a `TopFractionPlan`."""
    s = np.asarray(scores, dtype=np.float64)
    keep = s > threshold
    keep[np.flatnonzero(s == threshold)[: max(0, int(tie_quota))]] = True
    return keep


def top_fraction_mask(scores_per_shard: Mapping[str, np.ndarray], fraction: float) -> dict[str, np.ndarray]:
    """Keep masks that keep exactly round(fraction x N) documents over all shards."""
    plan = top_fraction_plan(scores_per_shard, fraction)
    return {n: apply_top_fraction(scores_per_shard[n], plan.threshold, plan.tie_quota[n]) for n in sorted(scores_per_shard)}


def select_threshold_for_fraction(scores: np.ndarray | Mapping[str, np.ndarray], fraction: float) -> float:
    """The score of the round(fraction x N)-th best document: `threshold_mask`
    with it keeps that many documents, more only when others tie with it
    (DCLM's 0.018112 was chosen this way as the top ~10%). +inf when nothing is kept."""
    arrays = _ordered_scores(scores)[1] if isinstance(scores, Mapping) else _ordered_scores({"": scores})[1]
    values = np.concatenate(arrays) if arrays else np.empty(0)
    k = keep_count(len(values), fraction)
    return math.inf if k == 0 else _kth_largest(values, k)


__all__: Sequence[str] = (
    "HQ_LABEL", "CC_LABEL", "prepare_text", "TrainReport", "train", "Scorer", "threshold_mask", "keep_count",
    "TopFractionPlan", "top_fraction_plan", "apply_top_fraction", "top_fraction_mask", "select_threshold_for_fraction",
)
