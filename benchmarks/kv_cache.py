"""Generation speed with and without the key/value cache, on CPU.

Builds a `toy-1m-1x`-shaped OpenLM (random weights: speed does not depend on
them, and random weights rarely emit end of text, so every row decodes its
whole token budget: the slow case), loads it as `dcbench eval` does (fp32),
and greedily decodes the first --limit items of a real generation task
(triviaqa_sm_sub, 3-shot, from ../shared/data/eval/local_data) with and
without the cache. It checks the two give the same text for every item and
prints the median examples/s of --repeats runs each, and the speed-up.

    python benchmarks/kv_cache.py [--limit 32] [--repeats 3] [--batch 16] [--task triviaqa_sm_sub]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from eval_throughput import make_run  # noqa: E402

from dcbench.eval.model import load_model  # noqa: E402
from dcbench.eval.prompts import build_items  # noqa: E402
from dcbench.eval.runner import task_config  # noqa: E402
from dcbench.eval.scoring import score_generation  # noqa: E402
from dcbench.eval.suites import get_suite  # noqa: E402
from dcbench.eval.tasks import GENERATION, load_task  # noqa: E402


def timed(model, cfg, items, batch: int, use_cache: bool, repeats: int) -> tuple[float, list[str]]:
    """(median examples/s, outputs) of greedy decoding `items`."""
    rates, outputs = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _, outputs = score_generation(model, model, cfg, items, eos_id=model.eot_id, pad_id=model.pad_id,
                                      batch_size=batch, use_cache=use_cache)
        rates.append(len(items) / (time.perf_counter() - t0))
    return statistics.median(rates), outputs


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tier", default="toy-1m-1x")
    p.add_argument("--task", default="triviaqa_sm_sub")
    p.add_argument("--limit", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch", type=int, default=16)
    args = p.parse_args()
    local = REPO.parent / "shared" / "data" / "eval" / "local_data"
    if not local.is_dir():
        print(f"{local} is absent: the real generation task files are needed", file=sys.stderr)
        return 3
    spec = next((t for t in get_suite("extended").tasks if t.name == args.task and t.type == GENERATION), None)
    if spec is None:
        print(f"--task {args.task} is not a generation task of EXTENDED", file=sys.stderr)
        return 2
    plan = {"name": spec.name, "path": local / spec.dataset, "type": spec.type, "num_fewshot": spec.num_fewshot,
            "prompt": dict(spec.prompt)}
    torch.set_flush_denormal(True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU {torch.backends.cpu.get_cpu_capability()}")
    with tempfile.TemporaryDirectory() as tmp:
        model = load_model(make_run(Path(tmp), args.tier, 1024), device="cpu")
        cfg = task_config(plan, model.max_seq_len)
        items = build_items(cfg, load_task(cfg), model, limit=args.limit)
        budget = sum(it.max_new_tokens for it in items)
        slow, slow_out = timed(model, cfg, items, args.batch, False, args.repeats)
        fast, fast_out = timed(model, cfg, items, args.batch, True, args.repeats)
    same = sum(a == b for a, b in zip(slow_out, fast_out))
    print(f"{args.task}: {len(items)} items ({budget} new tokens at most), {args.tier} shape, fp32, batch "
          f"{args.batch}, median of {args.repeats}")
    print(f"  without cache: {slow:8.2f} examples/s")
    print(f"  with KV cache: {fast:8.2f} examples/s   ({fast / slow:.1f}x)")
    print(f"  identical outputs: {same} of {len(items)}")
    return 0 if same == len(items) else 4


if __name__ == "__main__":
    raise SystemExit(main())
