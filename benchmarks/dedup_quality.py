"""Throughput of the dedup and quality global steps on the 3,305 shared real web documents.

Prints, as medians over --repeats runs, in documents per second per core
(CPU time of this single-threaded process) and MB/s of text:

  1. MinHash signatures (5-word shingles, 128 permutations): ours (`signatures`,
     numpy engine) against the in-run baselines datasketch `MinHash.bulk` with
     its default sha1 hashing and with xxh32 (our `engine="datasketch"`);
  2. the LSH reduction (`near_duplicates`: banding, verification, union-find);
  3. exact dedup: `exact_keys` (xxh3_128 and md5, whitespace_lower) and the reduction;
  4. fastText scoring: our `Scorer.score_many` (DCLM's line joining included)
     against bare `model.predict(list)` on the same, already joined, lines,
     and DCLM's one-call-per-document `Scorer.score`.

A classifier is trained first on ../shared/data/quality/train.txt (bucket
200k) unless --model names one.

    python benchmarks/dedup_quality.py [--repeats 5] [--model path.bin]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from dcbench.baselines.dedup import exact, minhash  # noqa: E402
from dcbench.baselines.quality import fasttext_quality as fq  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
DEFAULT_DOCS = SHARED / "web" / "web_docs_combined.jsonl"


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    """Median CPU seconds and median wall seconds of `repeats` calls, and the last result."""
    cpu, wall, out = [], [], None
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu), statistics.median(wall), out


def timed_interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float, object]]:
    """Like `timed` for several functions, run round-robin so that load from
    other processes on a shared machine falls on all of them alike."""
    runs: dict[str, list] = {k: [[], [], None] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            c0, w0 = time.process_time(), time.perf_counter()
            out = fn()
            runs[k][0].append(time.process_time() - c0)
            runs[k][1].append(time.perf_counter() - w0)
            runs[k][2] = out
    return {k: (statistics.median(c), statistics.median(w), o) for k, (c, w, o) in runs.items()}


def line(name: str, n: int, mb: float, cpu: float, wall: float, base: float | None = None) -> None:
    extra = f"  x{base / cpu:5.2f} vs baseline" if base else ""
    print(f"  {name:<46} {n / cpu:9.0f} docs/s/core {mb / cpu:7.1f} MB/s  (wall {n / wall:9.0f} docs/s){extra}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=Path, default=DEFAULT_DOCS)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--model", type=Path, default=None)
    args = ap.parse_args()

    texts = [json.loads(x)["text"] for x in args.docs.open(encoding="utf-8")]
    n = len(texts)
    mb = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts) / 1e6
    print(f"{n} documents, {mb:.1f} MB of text ({mb * 1e6 / n / 1000:.1f} kB per document), "
          f"median of {args.repeats} runs\n")

    print("MinHash signatures (5-word shingles, num_perm=128)")
    from datasketch import MinHash

    def datasketch_sha1():
        sets = [minhash.shingles(t) for t in texts]
        return MinHash.bulk(sets, num_perm=128)

    r = max(1, args.repeats // 2)
    res = timed_interleaved({
        "sha1": datasketch_sha1,
        "xxh32": lambda: minhash.signatures(texts, engine="datasketch"),
        "ours": lambda: minhash.signatures(texts),
    }, r)
    base_cpu, base_wall, _ = res["sha1"]
    line("datasketch MinHash.bulk, default sha1 (baseline)", n, mb, base_cpu, base_wall)
    cpu, wall, _ = res["xxh32"]
    line("datasketch MinHash.bulk, hashfunc=xxh32", n, mb, cpu, wall, base_cpu)
    cpu, wall, sigs = res["ours"]
    line("ours: signatures() (same values as xxh32 bulk)", n, mb, cpu, wall, base_cpu)

    cpu, wall, masks = timed(lambda: minhash.near_duplicates({"all": sigs}), args.repeats)
    line("near_duplicates() reduction (9x13 bands)", n, mb, cpu, wall)
    print(f"  -> {int(masks['all'].sum())} near duplicates at Jaccard >= 0.8\n")

    print("Exact dedup (whitespace_lower)")
    for h in ("xxh3_128", "md5"):
        cpu, wall, keys = timed(lambda: exact.exact_keys(texts, normalize="whitespace_lower", hash=h), args.repeats)
        line(f"exact_keys(hash={h})", n, mb, cpu, wall)
    cpu, wall, masks = timed(lambda: exact.exact_duplicates({"all": keys}, num_buckets=8), args.repeats)
    line("exact_duplicates() reduction, 8 buckets", n, mb, cpu, wall)
    print(f"  -> {int(masks['all'].sum())} exact duplicates\n")

    print("fastText quality scoring (dim 100, word bigrams)")
    with tempfile.TemporaryDirectory() as tmp:
        model_path = args.model
        if model_path is None:
            train_txt = SHARED / "quality" / "train.txt"
            report = fq.train([train_txt], [], Path(tmp) / "q.bin", bucket=200_000,
                              valid=SHARED / "quality" / "valid.txt")
            model_path = Path(report.model_path)
            print(f"  trained on {report.train_examples} examples in {report.seconds:.1f} s, "
                  f"valid precision@1 {report.precision_at_1:.3f}")
        scorer = fq.Scorer(model_path)
        joined = [fq.prepare_text(t) for t in texts]
        model = scorer.model
        res = timed_interleaved({"bare": lambda: model.predict(joined), "ours": lambda: scorer.score_many(texts)},
                                args.repeats)
        base_cpu, base_wall, _ = res["bare"]
        line("bare fastText model.predict(list), pre-joined", n, mb, base_cpu, base_wall)
        cpu, wall, scores = res["ours"]
        line("ours: Scorer.score_many(texts)", n, mb, cpu, wall, base_cpu)
        print(f"  -> ours runs at {100 * base_cpu / cpu:.0f}% of bare fastText's speed (CPU time; "
              f"ours also joins the lines, DCLM's preprocessing)")
        cpu1, wall1, _ = timed(lambda: [scorer.score(t) for t in texts], max(1, args.repeats // 2))
        line("Scorer.score per document (DCLM's way)", n, mb, cpu1, wall1, base_cpu)
        single = np.array([scorer.score(t) for t in texts])
        print(f"  score_many == score for every document: {bool(np.array_equal(single, scores))}")
        t = fq.select_threshold_for_fraction(scores, 0.1)
        print(f"  top-10% threshold on these documents: {t:.6f}")


if __name__ == "__main__":
    main()
