"""Bloom-filter n-gram dedup (BFF old-both): throughput, memory and false-positive rate.

    python benchmarks/bloom_dedup.py [--data FILE.jsonl] [--repeats 5] [--ray]

On the shared real documents (`../shared/data/web/web_docs_combined.jsonl`,
field `text`) it prints, as CPU seconds of this one process (per core), the
median of `--repeats` runs:

1. n-gram hashing, filter insert and query, in n-grams/s, and the baseline
   in the same run: exact dedup with a Python set (of the 64-bit hashes, and
   of the n-gram strings themselves), with its memory.
2. Bytes per n-gram at 1% fp, theory and ours.
3. Measured false-positive rate vs configured (1% and 0.1%).
4. The whole BFF pass (tokenize, hash, decide, insert) on all documents:
   sequential `BFFDeduper`, and `dedup_batches` over 1 and 4 local partitions
   (and 2 Ray actors with `--ray`), with and without the tokenizer's time.

It only prints; nothing passes or fails.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dcbench.baselines.dedup.bff import (BFFDeduper, default_tokenizer, dedup_batches, local_partitions,  # noqa: E402
                                 paragraphs)
from dcbench.baselines.dedup.bloom import BloomFilter, paragraph_ngram_hashes, token_hashes  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "web" / "web_docs_combined.jsonl"
N = 13


def cpu(fn, repeats: int):
    """(median CPU seconds, last result) of fn() over `repeats` runs."""
    times, result = [], None
    for _ in range(repeats):
        gc.collect()
        t = time.process_time()
        result = fn()
        times.append(time.process_time() - t)
    return statistics.median(times), result


def rate(n: int, secs: float) -> str:
    return f"{n / secs / 1e6:6.2f} M/s" if secs > 0 else "   inf"


def differ(out: list, ref: list) -> str:
    """How two runs' outputs differ: any field (the contained count sees each run's own Bloom
    false positives), and the text or the keep/drop decision."""
    text = sum((a is None) != (b is None) or (a is not None and a["text"] != b["text"]) for a, b in zip(out, ref))
    return f"{sum(a != b for a, b in zip(out, ref))} docs in any field, {text} in text"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--ray", action="store_true", help="also run the pass over 2 Ray actor partitions")
    args = ap.parse_args()
    R = args.repeats

    docs = [json.loads(line) for line in open(args.data, encoding="utf-8")]
    mb = sum(len(d["text"].encode()) for d in docs) / 1e6
    print(f"{len(docs):,} documents, {mb:.1f} MB, from {args.data}; CPU time of one process, median of {R}")

    # Tokenize once (BFF's paragraphs, baselines.text.split_words); cached for later passes.
    cache: dict[str, list[str]] = {}

    def tokenize_all():
        cache.clear()
        for d in docs:
            for p in paragraphs(d["text"]):
                cache[p] = default_tokenizer(p)

    tok_secs, _ = cpu(tokenize_all, 1)
    para_tokens = [[cache[p] for p in paragraphs(d["text"])] for d in docs]
    n_tokens = sum(len(t) for ps in para_tokens for t in ps)
    print(f"tokenizer (baselines.text.split_words per paragraph): {n_tokens:,} tokens, "
          f"{mb / tok_secs:.2f} MB/s, {n_tokens / tok_secs / 1e6:.2f} M tokens/s")

    # ---- 1. n-gram hashing and filter ops
    def hash_all():
        out = []
        for ps in para_tokens:
            flat = [t for p in ps for t in p]
            h, _ = paragraph_ngram_hashes(token_hashes(flat), [len(p) for p in ps], N, N)
            out.append(h)
        return np.concatenate(out)

    hash_secs, hashes = cpu(hash_all, R)
    n = len(hashes)
    distinct = len(np.unique(hashes))
    print(f"\n1. {n:,} {N}-grams ({distinct:,} distinct), filter sized for {n:,} at 1% fp")
    print(f"   hashing (xxh3_64 per token + rolling polynomial): {rate(n, hash_secs)}")

    def insert_once():
        bf = BloomFilter(n, 0.01)
        t = time.process_time()
        for s in range(0, n, 1 << 16):
            bf.insert(hashes[s:s + (1 << 16)])
        return time.process_time() - t, bf

    ins = [insert_once() for _ in range(R)]
    ins_secs = statistics.median(t for t, _ in ins)
    bf = ins[-1][1]
    q_secs, _ = cpu(lambda: [bf.contains(hashes[s:s + (1 << 16)]) for s in range(0, n, 1 << 16)], R)
    print(f"   Bloom insert: {rate(n, ins_secs)}   query: {rate(n, q_secs)}   (batches of 65,536)")
    print(f"   end to end from tokens: insert {rate(n, hash_secs + ins_secs)}   query {rate(n, hash_secs + q_secs)}")

    # Baseline: exact dedup with a Python set, of the hashes and of the n-gram strings.
    hl = hashes.tolist()
    set_ins, s = cpu(lambda: set(hl), R)
    set_q, _ = cpu(lambda: [h in s for h in hl], R)
    tracemalloc.start()
    s2 = set(hashes.tolist())
    set_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del s2

    def string_set():
        out = set()
        for ps in para_tokens:
            for p in ps:
                for i in range(len(p) - N + 1):
                    out.add("\x1f".join(p[i:i + N]))
        return out

    str_secs, strings = cpu(string_set, max(1, R // 2))
    tracemalloc.start()
    strings2 = string_set()
    str_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del strings2
    print(f"   baseline, Python set of the 64-bit hashes: insert {rate(n, set_ins)} (from a list)   query "
          f"{rate(n, set_q)}   {set_bytes / distinct:.0f} bytes per distinct n-gram")
    print(f"   baseline, Python set of the n-gram strings (build + insert): {rate(n, str_secs)}   "
          f"{str_bytes / len(strings):.0f} bytes per distinct n-gram")
    del strings

    # ---- 2. memory
    theory = -np.log(0.01) / np.log(2) ** 2 / 8
    print(f"\n2. bytes per n-gram at 1% fp: theory {theory:.3f}; ours (BFF sizing) "
          f"{BloomFilter.required_bytes(10**6, 0.01) / 1e6:.3f} at 1M, "
          f"{BloomFilter.required_bytes(n, 0.01) / n:.3f} at {n:,}, "
          f"{BloomFilter.required_bytes(10**9, 0.01) / 1e9:.3f} at 1G (k={BloomFilter.sizing(10**9, 0.01)[1]}); "
          f"vs Python set of hashes {set_bytes / distinct:.0f}")

    # ---- 3. false-positive rate: filter sized for the distinct real n-grams, all inserted;
    # queries are fresh random 64-bit hashes (n-grams never inserted).
    print("\n3. false-positive rate (filter sized for the distinct real n-grams, all inserted; "
          "1M fresh queries per run)")
    uniq = np.unique(hashes)
    for fp in (0.01, 0.001):
        rates = []
        for seed in range(R):
            f = BloomFilter(len(uniq), fp, seed=seed)
            f.insert(uniq)
            fresh = np.random.default_rng(100 + seed).integers(0, 2**64 - 1, 1_000_000, dtype=np.uint64,
                                                               endpoint=True)
            rates.append(float(f.contains(fresh).mean()))
        st = f.stats()
        print(f"   configured {fp:.3%}: measured median {statistics.median(rates):.4%} "
              f"(runs {min(rates):.4%}..{max(rates):.4%}); fill {st['fill']:.3f}, k={f.k}")

    # ---- 4. the whole pass
    print(f"\n4. whole BFF old-both pass ({N}-grams, threshold 0.8), {len(docs):,} docs, {n:,} n-grams")
    cached = cache.__getitem__

    def seq():
        d = BFFDeduper(BloomFilter(n, 0.01), tokenizer=cached)
        return [d.process(doc) for doc in docs]

    def part(P):
        return lambda: list(dedup_batches(docs, local_partitions(P, n, 0.01), batch_size=1000, tokenizer=cached))

    runs = [("sequential BFFDeduper", seq), ("dedup_batches, 1 partition", part(1)),
            ("dedup_batches, 4 partitions", part(4))]
    ref = None
    for name, fn in runs:
        secs, out = cpu(fn, R)
        kept = sum(o is not None for o in out)
        removed_paras = sum(o is None or o["text"] != d["text"] for o, d in zip(out, docs))
        same = "" if ref is None else f"; differ from sequential: {differ(out, ref)}"
        ref = ref or out
        print(f"   {name:<30} without tokenizer {rate(n, secs)} n-grams, {len(docs) / secs:7,.0f} docs/s; "
              f"with it {rate(n, secs + tok_secs)}, {mb / (secs + tok_secs):.2f} MB/s; "
              f"kept {kept:,}, changed or dropped {removed_paras:,}{same}")

    # The paths meet different Bloom false positives at 1%; with (almost) none they must agree.
    exact_seq = BFFDeduper(BloomFilter(n, 1e-9), tokenizer=cached)
    exact_ref = [exact_seq.process(doc) for doc in docs]
    exact_p4 = list(dedup_batches(docs, local_partitions(4, n, 1e-9), batch_size=1000, tokenizer=cached))
    print(f"   at fp 1e-9, 4 partitions and sequential give identical outputs: {exact_p4 == exact_ref}")

    if args.ray:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        import ray

        from dcbench.baselines.dedup.bff import make_ray_partitions

        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
        try:
            times = []
            for _ in range(R):
                actors = make_ray_partitions(2, n, 0.01)
                ray.get([a.stats.remote() for a in actors])
                t = time.perf_counter()
                out = list(dedup_batches(docs, actors, batch_size=1000, tokenizer=cached))
                times.append(time.perf_counter() - t)
                for a in actors:
                    ray.kill(a)
            secs = statistics.median(times)
            print(f"   {'dedup_batches, 2 Ray actors':<30} wall {rate(n, secs)} n-grams (driver + actors); "
                  f"differ from sequential: {differ(out, ref)}")
        finally:
            ray.shutdown()


if __name__ == "__main__":
    main()
