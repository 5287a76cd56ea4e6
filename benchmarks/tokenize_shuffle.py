"""Throughput of tokenize + shuffle with the GPT-NeoX-20B tokenizer on the 3,305 shared web documents.

Prints, as medians over --repeats runs:
  1. the baseline in the same run: bare `Tokenizer.encode_batch` over all
     documents in one process, tokens/s per core (CPU time, one tokenizer
     thread) and wall tokens/s with the library's default threads;
  2. `tokenize_dataset` on Ray over the documents cut into --shards shards
     (seq_len 2048, 16 cells) with 1 and 2 workers: wall time, tokens/s,
     and the speed-up from 1 to 2 workers. Ray start-up is not timed.

    python benchmarks/tokenize_shuffle.py [--repeats 3] [--shards 8]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dcbench.taskloop import ray_init  # noqa: E402
from dcbench.shards import write_shard  # noqa: E402
from dcbench.training.tokenize import tokenize_dataset  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
DOCS = SHARED / "web" / "web_docs_combined.jsonl"
NEOX = SHARED / "tokenizers" / "gpt-neox-20b.json"

BARE = """
import json, sys, time
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1])
texts = [json.loads(l)["text"] for l in open(sys.argv[2], encoding="utf-8")]
cpu, wall = time.process_time(), time.perf_counter()
n = sum(len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False))
print(json.dumps({"tokens": n, "cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall}))
"""


def bare(parallel: bool) -> dict:
    """One fresh process per run: TOKENIZERS_PARALLELISM is read once per process."""
    env = dict(os.environ, TOKENIZERS_PARALLELISM="true" if parallel else "false")
    out = subprocess.run([sys.executable, "-c", BARE, str(NEOX), str(DOCS)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def cut_shards(root: Path, n: int) -> int:
    docs = [{"text": json.loads(line)["text"]} for line in DOCS.open(encoding="utf-8")]
    for i in range(n):
        write_shard(str(root / f"web-{i:03d}.jsonl"), docs[i::n])
    return sum(len(d["text"].encode()) for d in docs)


def ray_run(pool: Path, work: Path, workers: int, tag: str) -> tuple[float, int, float]:
    """(wall seconds, tokens, tokens per CPU second inside the tasks)."""
    start = time.perf_counter()
    m = tokenize_dataset(str(pool), str(work / tag), str(NEOX), seq_len=2048, workers=workers, num_cells=16)
    wall = time.perf_counter() - start
    stats = json.loads((work / tag / "stats.json").read_text())
    return wall, m.extra["content_tokens"], stats["content_tokens_per_cpu_sec"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--shards", type=int, default=8)
    args = ap.parse_args()
    if not (DOCS.is_file() and NEOX.is_file()):
        sys.exit(f"needs {DOCS} and {NEOX}")

    single = [bare(False) for _ in range(args.repeats)]
    threaded = [bare(True) for _ in range(args.repeats)]
    tokens = single[0]["tokens"]
    per_core = statistics.median(tokens / r["cpu"] for r in single)
    wall_thr = statistics.median(tokens / r["wall"] for r in threaded)
    print(f"load average at the start: {os.getloadavg()}")
    print(f"documents: {DOCS.name}, {tokens:,} NeoX tokens")
    print(f"baseline encode_batch, 1 thread : {per_core / 1e6:.3f} M tok/s per core (CPU time)")
    print(f"baseline encode_batch, default  : {wall_thr / 1e6:.3f} M tok/s wall "
          f"(threads on {os.cpu_count()} cores)")

    with tempfile.TemporaryDirectory(prefix="tokbench") as tmp:
        pool, work = Path(tmp) / "pool", Path(tmp) / "out"
        mb = cut_shards(pool, args.shards) / 1e6
        os.environ["DCBENCH_RAY_TMP"] = str(Path(tmp) / "ray")
        ray_init(2, None)
        ray_run(pool, work, 2, "warm")  # workers start, import and load the tokenizer once
        walls = {}
        for workers in (1, 2):
            runs = [ray_run(pool, work, workers, f"w{workers}-{r}") for r in range(args.repeats)]
            walls[workers] = statistics.median(r[0] for r in runs)
            print(f"tokenize_dataset, {workers} worker(s), {args.shards} shards: {walls[workers]:.2f} s wall, "
                  f"{runs[0][1] / walls[workers] / 1e6:.3f} M tok/s, {mb / walls[workers]:.2f} MB/s "
                  f"({runs[0][1] / walls[workers] / workers / 1e6:.3f} M tok/s per worker; "
                  f"{statistics.median(r[2] for r in runs) / 1e6:.3f} M tok/s per CPU second in the tasks)")
        print(f"speed-up 1 -> 2 workers: {walls[1] / walls[2]:.2f}x")
        import ray

        ray.shutdown()  # before the temporary directory holding Ray's session goes
    print(f"load average at the end (other work on the machine slows wall figures): {os.getloadavg()}")


if __name__ == "__main__":
    main()
