"""Throughput of the DCLM heuristic chain on the 3,305 shared real web documents.

Prints, as medians over --repeats runs:
  1. the whole chain in one process on one core: docs/s and MB/s per core,
     with the time spent in each step, against DCLM's own chain on this
     machine (0.05 MB/s per core with uniseg 0.10.1, specs/dclm.md section 2;
     quoted, not re-measured: DCLM's code is not part of dcbench);
  2. an ablation measured in the same run: *our* chain with the repetition
     step's words split by uniseg 0.10.1 (DCLM's segmenter) instead of
     `baselines.text`, on a subset: what our segmenter buys, and whether
     every document gets the same decision (kept, or removed by the same
     step) and the same output text either way;
  3. `dcbench process` on Ray with 1 and 2 workers over the documents cut
     into shards: wall time, MB/s and the speed-up from 1 to 2 workers.

    python benchmarks/heuristics.py [--repeats 3] [--recipe baselines/recipes/dclm_baseline.yaml]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import dcbench.baselines.steps.repetition as repetition  # noqa: E402
import dcbench.baselines.text as text_module  # noqa: E402
from dcbench.baselines.recipe import load_recipe  # noqa: E402
from dcbench.runner import run  # noqa: E402
from dcbench.shardwork import run_chain  # noqa: E402
from dcbench.shards import write_shard  # noqa: E402
from dcbench.stepstats import StepStats  # noqa: E402
from dcbench.taskloop import ray_init  # noqa: E402

DEFAULT_DOCS = REPO.parent / "shared" / "data" / "web" / "web_docs_combined.jsonl"
# DCLM's own heuristic chain on these documents, one core of this machine, uniseg 0.10.1
# (specs/dclm.md section 2: 0.05-0.06 MB/s, 94% of it in the repetition step).
DCLM_MB_S_PER_CORE = 0.05


def load_pages(path: Path) -> list[dict]:
    pages = []
    for line in path.open(encoding="utf-8"):
        d = json.loads(line)
        url = d.get("url") or f"https://{d['source']}.example/{d['id']}"
        pages.append({"text": d["text"], "metadata": {"WARC-Target-URI": url}})
    return pages


def chain_once(chain, pages) -> tuple[float, list[StepStats], list[tuple[str | None, str | None]]]:
    """CPU seconds, the step stats, and per document (the step that removed it, or None; its output text)."""
    steps = [StepStats.of(c) for c, _ in chain]
    outcomes = []
    start = time.process_time()
    for p in pages:
        before = [s.removed for s in steps]
        out = run_chain(dict(p, metadata=dict(p["metadata"])), chain, steps, [], "bench")
        by = next((s.name for s, b in zip(steps, before) if s.removed > b), None)
        outcomes.append((by, out[0]["text"] if out else None))
    return time.process_time() - start, steps, outcomes


def single_core(recipe, pages, repeats: int) -> float:
    chain = recipe.build()
    mb = sum(len(p["text"].encode()) for p in pages) / 1e6
    runs = [chain_once(chain, pages) for _ in range(repeats)]
    secs = statistics.median(r[0] for r in runs)
    steps, outcomes = runs[0][1], runs[0][2]
    kept = sum(by is None for by, _ in outcomes)
    print(f"\n1. whole chain, one process, CPU time (median of {repeats}): {len(pages):,} docs, {mb:.1f} MB")
    print(f"   {len(pages) / secs:,.0f} docs/s per core, {mb / secs:.2f} MB/s per core; kept {kept:,}")
    print(f"   DCLM's own chain, same documents and machine (specs/dclm.md, quoted): {DCLM_MB_S_PER_CORE:.2f} MB/s "
          f"per core -> ours is {mb / secs / DCLM_MB_S_PER_CORE:.0f}x")
    total = sum(s.secs for s in steps)
    for s in sorted(steps, key=lambda s: -s.secs)[:8]:
        print(f"     {s.name:<40} {s.secs / total:6.1%}  removed {s.removed:>5}")
    return mb / secs


def uniseg_words(t: str, ignore_punctuation: bool = False, ignore_whitespace: bool = True) -> list[str]:
    """DCLM's split_words(model='uniseg'), on uniseg itself."""
    from uniseg.wordbreak import words  # deferred: optional and slow to import; only this ablation uses it

    ws = list(words(t))
    if ignore_whitespace:
        ws = [w for w in ws if w.strip()]
    if ignore_punctuation:
        ws = [w for w in ws if w[0].isalnum()]
    return ws


def uniseg_ablation(recipe, pages, n_docs: int) -> None:
    subset = pages[:: max(1, len(pages) // n_docs)][:n_docs]  # spread over every source in the file
    mb = sum(len(p["text"].encode()) for p in subset) / 1e6
    ours, _, ours_out = chain_once(recipe.build(), subset)
    original = text_module.split_words
    patched = [m for m in (text_module, repetition) if getattr(m, "split_words", None) is original]
    if not patched:
        print("\n2. ablation skipped: no step splits words with baselines.text.split_words any more")
        return
    for m in patched:
        m.split_words = uniseg_words
    try:
        base_chain = load_recipe(recipe.source).before_first_global().build()
        base, _, base_out = chain_once(base_chain, subset)
    finally:
        for m in patched:
            m.split_words = original
    differ = [i for i, (a, b) in enumerate(zip(ours_out, base_out)) if a != b]
    print(f"\n2. ablation in the same run, {len(subset)} docs spread over the file ({mb:.2f} MB): our chain with "
          f"the repetition step's words from uniseg 0.10.1 instead of baselines.text")
    print(f"   with uniseg words: {mb / base:.3f} MB/s per core; ours: {mb / ours:.2f} MB/s per core; "
          f"speed-up {base / ours:.1f}x")
    print(f"   per document (kept or removing step, and output text): {len(subset) - len(differ)} of {len(subset)} "
          f"the same" + (f"; differ at {differ[:10]}" if differ else ""))


def ray_scaling(recipe, pages, repeats: int, shards: int) -> None:
    mb = sum(len(p["text"].encode()) for p in pages) / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(shards):
            write_shard(f"{tmp}/pool/shard_{i:03d}.jsonl", pages[i::shards])
        walls = {}
        ray_init(2, None)
        for workers in (1, 2):
            times = []
            for r in range(repeats):
                t = time.perf_counter()
                run(recipe, f"{tmp}/pool", f"{tmp}/out-{workers}-{r}", workers=workers, max_quarantine=1.0)
                times.append(time.perf_counter() - t)
            walls[workers] = statistics.median(times)
            print(f"   {workers} worker(s): wall {walls[workers]:.1f} s, {mb / walls[workers]:.2f} MB/s, "
                  f"{mb / walls[workers] / workers:.2f} MB/s per worker")
        print(f"   speed-up 1 -> 2 workers: {walls[1] / walls[2]:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", default=str(DEFAULT_DOCS), help="jsonl with a `text` field per line")
    ap.add_argument("--recipe", default=str(REPO / "baselines" / "recipes" / "dclm_baseline.yaml"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline-docs", type=int, default=150, help="docs for the slow uniseg ablation")
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--skip-ray", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    pages = load_pages(Path(args.docs))
    recipe = load_recipe(args.recipe).before_first_global()
    print(f"recipe {recipe.name} ({len(recipe.steps)} steps) on {args.docs}; {os.cpu_count()} CPUs")
    single_core(recipe, pages, args.repeats)
    uniseg_ablation(recipe, pages, args.baseline_docs)
    if not args.skip_ray:
        print(f"\n3. dcbench process on Ray, {args.shards} shards (wall time, median of {args.repeats})")
        ray_scaling(recipe, pages, args.repeats, args.shards)


if __name__ == "__main__":
    main()
