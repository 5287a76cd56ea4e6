"""Torch CPU threads against speed, on a quiet machine and beside a busy competitor.

For each thread count 1..--max-threads (default: the CPUs this process may use)
and each load ("quiet": nothing added by this script; "busy": one extra process
spinning a busy loop, what a second job or a browser does to a small machine),
it runs a fresh child process that sets the threads the way `--threads` does
(`training.threads.use_threads`) and measures

* train: optimizer steps/s of the real trainer step (`training.trainer.train_step`)
  on the tier's own shapes (random token ids; the speed does not depend on the text);
* eval: items/s of the real scorer (`eval.scoring.score_items`) on 4-choice items
  of a 200-token context, batch 8, the tier's model in eval mode.

Each figure is the median over --repeats timed rounds after a warm-up round.
The load average at the start is printed: "quiet" is only as quiet as the machine.

    python benchmarks/threads.py [--tier toy-250k-1x] [--max-threads 2] [--repeats 3] [--steps 3] [--items 32]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch

from dcbench.eval.prompts import ScoredItem
from dcbench.eval.scoring import score_items
from dcbench.training.threads import use_threads
from dcbench.training.trainer import Dist, build_model, make_optimizer, resolve_tier, train_step

CHILD = "--child"


def child(kind: str, tier_name: str, threads: int, repeats: int, steps: int, items: int) -> dict:
    """Measure one (kind, threads) in this process; return the median rate."""
    info = use_threads(threads)
    torch.set_flush_denormal(True)  # as the trainer does
    tier = resolve_tier(tier_name)
    d = Dist(device=torch.device("cpu"))
    model = build_model(tier, d.device)
    gen = torch.Generator().manual_seed(0)
    if kind == "train":
        opt = make_optimizer(model, tier)
        batch = torch.randint(0, tier.model.vocab_size, (tier.global_batch, tier.model.seq_len + 1), generator=gen)

        def work() -> float:
            for _ in range(steps):
                train_step(model, opt, batch, tier, amp=True, d=d, lr=tier.lr)
            return steps
    else:
        def ids(n: int) -> list[int]:
            return torch.randint(2, tier.model.vocab_size, (n,), generator=gen).tolist()

        scored = [ScoredItem(i, [(ids(200), ids(6)) for _ in range(4)], 0) for i in range(items)]

        def work() -> float:
            score_items(model, scored, batch_size=8)
            return items
    work()  # warm-up
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        done = work()
        rates.append(done / (time.perf_counter() - t0))
    return {"kind": kind, "threads": info["threads"], "interop": info["interop_threads"],
            "median": statistics.median(rates), "rates": rates}


def run_child(kind: str, args: argparse.Namespace, threads: int) -> dict:
    cmd = [sys.executable, __file__, CHILD, kind, "--tier", args.tier, "--threads", str(threads),
           "--repeats", str(args.repeats), "--steps", str(args.steps), "--items", str(args.items)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def busy_loop() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(CHILD, default=None, choices=["train", "eval"], help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--tier", default="toy-250k-1x")
    p.add_argument("--max-threads", type=int, default=None, help="thread counts 1..N (default: CPUs available)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=3, help="training steps per timed round")
    p.add_argument("--items", type=int, default=32, help="eval items per timed round")
    p.add_argument("--loads", default="quiet,busy")
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.tier, args.threads, args.repeats, args.steps, args.items)))
        return 0

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    top = args.max_threads or cpus
    print(f"{cpus} CPUs available, load average {os.getloadavg()[0]:.2f} at start; tier {args.tier}; "
          f"medians of {args.repeats} rounds ({args.steps} steps, {args.items} eval items per round)")
    print(f"{'load':<6} {'threads':>7} {'train steps/s':>14} {'eval items/s':>13}")
    results = {}
    for load in args.loads.split(","):
        competitor = busy_loop() if load == "busy" else None
        try:
            for t in range(1, top + 1):
                tr = run_child("train", args, t)
                ev = run_child("eval", args, t)
                results[(load, t)] = (tr["median"], ev["median"])
                print(f"{load:<6} {t:>7} {tr['median']:>14.3f} {ev['median']:>13.1f}", flush=True)
        finally:
            if competitor is not None:
                competitor.kill()
                competitor.wait()
    for load in args.loads.split(","):
        best = max(range(1, top + 1), key=lambda t: results[(load, t)][0])
        base = results[(load, 1)]
        print(f"{load}: fastest training at {best} thread(s); vs 1 thread: "
              + ", ".join(f"{t} threads train x{results[(load, t)][0] / base[0]:.2f} eval x{results[(load, t)][1] / base[1]:.2f}"
                          for t in range(2, top + 1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
