"""Decisions you can trust: which metric ranks recipes the same way from seed to seed?

Trains toy-250k-1x on the three reproduce recipes (DCLM-Baseline, RefinedWeb, the
unfiltered pool) with 3 training seeds each (`dcbench reproduce baseline --seeds 3`,
through its Python API), then prints two tables in DataDecide's spirit (Magnusson et
al., 2025):

    python benchmarks/decisions.py                   # full budget (640 steps a model)
    python benchmarks/decisions.py --max-steps 120   # shortened run
    python benchmarks/decisions.py --json out.json   # also write every figure as JSON

Work goes to ``runs/decisions`` (``runs/decisions-<N>steps`` with --max-steps) and
resumes: a rerun only recomputes the tables. Training is nearly all of the time (9
models); on a quiet 2-core machine ``DCBENCH_THREADS=2`` trains about 1.5x faster than
the default single thread (``--threads 2``; benchmarks/threads.py), and slower beside
any other load.

Metrics, one score per model (seed) and recipe:

* ``TOY``: the accuracy headline (centred mean accuracy over the toy tasks), as ranked;
* ``TOY-proxy``: the mean standardised proxy (`dcbench eval --help`);
* ``p_correct``, ``bpb``, ``margin``: the mean over tasks of each task's mean per-item
  value, over the tasks where the metric applies to every item of every model (the
  aggregate `dcbench compare --metric M` uses). Lower is better for bpb only.

**Decision accuracy** (table 1). The reference ranking of the recipes is by each metric's
mean over all seeds. For a pair of recipes (A, B), each of the k x k combinations of one
seed of A and one seed of B is a "decision": it agrees when the sign of score(A, i) -
score(B, j) equals the sign of the difference of the all-seed means (a tie on exactly one
side counts half). A pair's decision accuracy is the share of agreeing combinations; the
metric's is the mean over the 3 pairs. *Full ranking* is the share of the k^3 ways of
taking one seed per recipe whose complete ranking of the three equals the reference
(ties in a single seed's scores count as disagreement). A training seed fixes the weight
initialisation (and the order of the data), so models of one seed are paired: the
*same seed* columns count only the k combinations where A and B share the seed (pair:
score(A, s) vs score(B, s); full ranking: the three recipes of seed s). The reference
contains the seed being judged, so with 3 seeds these shares lean towards agreement: read
them as a comparison between metrics, not an absolute.

**Seeds `compare` needs** (table 2). For each pair and each `compare` metric (correct,
i.e. TOY; p_correct; bpb; margin: TOY-proxy has no per-item form there) we run
`compare_runs` (leaderboard/compare.py, the code behind `dcbench compare`) with the
first 1, 2, ..., k seeds on each side and report the first count from which the
aggregate verdict is decided ("A better" / "B better") and stays the same up to k;
``>k`` when it is still undecided (or changes) at k.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from dcbench.flows.reproduce import DEFAULT_RECIPES, reproduce  # noqa: E402
from dcbench.leaderboard.compare import (METRICS, NO_DIFFERENCE, compare_runs, pair,  # noqa: E402
                                         run_from_results, t_interval)
from dcbench.table import format_table  # noqa: E402

TIER = "toy-250k-1x"
UNDECIDED = NO_DIFFERENCE
HEADLINE = ("TOY", "TOY-proxy")
ITEM_METRICS = ("p_correct", "bpb", "margin")
ALL_METRICS = (*HEADLINE, *ITEM_METRICS)
COMPARE_METRICS = {"TOY": "correct", "p_correct": "p_correct", "bpb": "bpb", "margin": "margin"}


def higher_is_better(metric: str) -> bool:
    return metric != "bpb"


# ------------------------------------------------------------------ scores


def item_scores(runs: list, metric: str) -> list[float]:
    """Per run, the plain mean over tasks of the per-item mean of `metric` (compare's aggregate tasks)."""
    p = pair(runs, list(runs), metric)  # every run on both sides: the tasks where all have the metric
    return [sum(p.a[t][i].mean() for t in p.aggregate_tasks) / len(p.aggregate_tasks) for i in range(len(runs))]


def scores_by_metric(by_recipe: dict[str, list[dict]]) -> dict[str, dict[str, list[float]]]:
    """metric -> recipe -> one score per seed (seeds in training-seed order)."""
    labelled = [(r, s) for r, runs in by_recipe.items() for s in runs]
    out: dict[str, dict[str, list[float]]] = {m: {r: [] for r in by_recipe} for m in ALL_METRICS}
    for recipe, s in labelled:
        for m in HEADLINE:
            value = (s["results"].get("aggregates") or {}).get(m)
            if not isinstance(value, (int, float)):
                raise SystemExit(f"{s['eval_path']}: no {m} aggregate ({value!r}); re-run `dcbench eval` on it")
            out[m][recipe].append(float(value))
    runs = [run_from_results(s["results"], s["eval_path"]) for _, s in labelled]
    for m in ITEM_METRICS:
        for (recipe, _), value in zip(labelled, item_scores(runs, m)):
            out[m][recipe].append(float(value))
    return out


# ------------------------------------------------------------------ decision accuracy


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def agreement(single: float, reference: float) -> float:
    """1 when two differences have the same sign, 0.5 when exactly one is a tie, else 0."""
    a, b = _sign(single), _sign(reference)
    return 1.0 if a == b else 0.5 if 0 in (a, b) else 0.0


def pair_accuracy(a: list[float], b: list[float]) -> float:
    """Share of the (seed of A, seed of B) combinations ordering A, B as the all-seed means do."""
    ref = float(np.mean(a) - np.mean(b))
    return float(np.mean([agreement(x - y, ref) for x, y in itertools.product(a, b)]))


def same_seed_accuracy(a: list[float], b: list[float]) -> float:
    """Share of the seeds s for which score(A, s) vs score(B, s) orders A, B as the all-seed means do."""
    ref = float(np.mean(a) - np.mean(b))
    return float(np.mean([agreement(x - y, ref) for x, y in zip(a, b)]))


def ranking(values: dict[str, float], higher: bool) -> tuple[str, ...] | None:
    """Recipes best first; None when two scores tie (no strict ranking)."""
    if len(set(values.values())) < len(values):
        return None
    return tuple(sorted(values, key=values.get, reverse=higher))


def full_ranking_share(scores: dict[str, list[float]], higher: bool) -> tuple[float, float]:
    """Shares of the one-seed-per-recipe choices (all of them; the same seed for every recipe)
    whose ranking equals the all-seed mean ranking."""
    recipes = list(scores)
    ref = ranking({r: float(np.mean(scores[r])) for r in recipes}, higher)
    combos = list(itertools.product(*(scores[r] for r in recipes)))
    same = list(zip(*(scores[r] for r in recipes)))  # seed s of every recipe
    share = [float(np.mean([ref is not None and ranking(dict(zip(recipes, c)), higher) == ref for c in cs]))
             for cs in (combos, same)]
    return share[0], share[1]


def decision_table(scores: dict[str, dict[str, list[float]]]) -> tuple[list[list[str]], dict]:
    rows, data = [], {}
    for m in ALL_METRICS:
        per = scores[m]
        pairs = {f"{a} vs {b}": pair_accuracy(per[a], per[b]) for a, b in itertools.combinations(per, 2)}
        mean_acc = float(np.mean(list(pairs.values())))
        same = float(np.mean([same_seed_accuracy(per[a], per[b]) for a, b in itertools.combinations(per, 2)]))
        full, full_same = full_ranking_share(per, higher_is_better(m))
        best_first = ranking({r: float(np.mean(v)) for r, v in per.items()}, higher_is_better(m))
        data[m] = {"pairs": pairs, "decision_accuracy": mean_acc, "same_seed_decision_accuracy": same,
                   "full_ranking": full, "same_seed_full_ranking": full_same, "mean_ranking": best_first}
        rows.append([m, *(f"{v:.2f}" for v in pairs.values()), f"{mean_acc:.2f}", f"{same:.2f}", f"{full:.2f}",
                     f"{full_same:.2f}",
                     " > ".join(best_first) if best_first else "tie"])
    return rows, data


def score_table(scores: dict[str, dict[str, list[float]]]) -> list[list[str]]:
    rows = []
    for m in ALL_METRICS:
        for recipe, values in scores[m].items():
            found = t_interval(values)
            sd = f"{found[1]:.4f}" if found else "-"
            rows.append([m, recipe, f"{np.mean(values):.4f}", sd, " ".join(f"{v:.4f}" for v in values)])
    return rows


# ------------------------------------------------------------------ seeds compare needs


def verdicts(a: list, b: list, metric: str, samples: int) -> list[str]:
    """The aggregate verdict of `compare` with the first 1..k seeds of each side."""
    k = min(len(a), len(b))
    return [compare_runs(a[:n], b[:n], metric=metric, samples=samples).aggregate.verdict for n in range(1, k + 1)]


def seeds_needed(found: list[str]) -> int | None:
    """The first seed count from which the verdict is decided and stays; None if none."""
    for n in range(1, len(found) + 1):
        tail = found[n - 1:]
        if tail[0] != UNDECIDED and all(v == tail[0] for v in tail):
            return n
    return None


def _short(v: str) -> str:
    return {"A better": "A", "B better": "B"}.get(v, "-")


def seeds_table(by_recipe: dict[str, list[dict]], samples: int) -> tuple[list[list[str]], dict]:
    runs = {r: [run_from_results(s["results"], s["eval_path"]) for s in ss] for r, ss in by_recipe.items()}
    rows, data = [], {}
    for a, b in itertools.combinations(runs, 2):
        for shown, metric in COMPARE_METRICS.items():
            found = verdicts(runs[a], runs[b], metric, samples)
            need = seeds_needed(found)
            k = len(found)
            data[f"{a} vs {b} / {shown}"] = {"verdicts": found, "seeds_needed": need}
            winner = {"A better": a, "B better": b}.get(found[-1], "-")
            rows.append([f"{a} vs {b}", shown, " ".join(_short(v) for v in found),
                         str(need) if need else f">{k}", winner])
    return rows, data


# ------------------------------------------------------------------ main


def group(summaries: list[dict]) -> dict[str, list[dict]]:
    by_recipe: dict[str, list[dict]] = {}
    for s in sorted(summaries, key=lambda s: (s["seed"] is None, s["seed"])):
        by_recipe.setdefault(s["recipe"], []).append(s)
    return by_recipe


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-steps", type=int, default=None, help="train N steps a model (a shortened run)")
    ap.add_argument("--seeds", type=int, default=3, help="training seeds per recipe (default 3)")
    ap.add_argument("--out", default=None, help="working directory (default runs/decisions[-<N>steps])")
    ap.add_argument("--workers", type=int, default=None, help="Ray workers for processing and tokenizing")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads for training and eval (sets $DCBENCH_THREADS; default: the project's)")
    ap.add_argument("--samples", type=int, default=2000, help="bootstrap samples per compare (default 2000)")
    ap.add_argument("--json", default=None, help="also write the tables' figures to this JSON file")
    args = ap.parse_args()
    if args.seeds < 2:
        ap.error("--seeds must be at least 2: agreement across seeds needs several")
    if args.max_steps is not None and args.max_steps < 1:
        ap.error("--max-steps must be at least 1")
    if args.threads is not None:
        if args.threads < 1:
            ap.error("--threads must be at least 1")
        os.environ["DCBENCH_THREADS"] = str(args.threads)  # read by `train` and `eval` inside reproduce
    out = args.out or ("runs/decisions" if args.max_steps is None else f"runs/decisions-{args.max_steps}steps")
    started, load0, t0 = datetime.now(timezone.utc), os.getloadavg(), time.perf_counter()
    summaries = reproduce(tier=TIER, out=out, recipes=DEFAULT_RECIPES, workers=args.workers,
                          max_steps=args.max_steps, seeds=args.seeds)
    trained_s = time.perf_counter() - t0
    by_recipe = group(summaries)
    scores = scores_by_metric(by_recipe)
    dec_rows, dec = decision_table(scores)
    seed_rows, need = seeds_table(by_recipe, args.samples)
    steps = summaries[0]["steps"]
    print()
    print(f"{TIER}, {steps} steps a model{' (SHORTENED: --max-steps)' if args.max_steps else ' (full budget)'}, "
          f"{args.seeds} seeds x {len(by_recipe)} recipes, {os.environ.get('DCBENCH_THREADS', 'default')} "
          f"threads; started {started:%Y-%m-%d %H:%M} UTC; "
          f"load average at start {load0[0]:.2f}, at end {os.getloadavg()[0]:.2f}; "
          f"wall {trained_s:.0f} s for reproduce, {time.perf_counter() - t0:.0f} s in all")
    print()
    print(format_table(["metric", "recipe", "mean", "sd", "per seed"], score_table(scores),
                       title="Scores (bpb: lower is better)"))
    print()
    pair_names = list(next(iter(dec.values()))["pairs"])
    print(format_table(["metric", *pair_names, "decision acc.", "same seed", "full ranking", "same seed",
                        "ranking by mean"], dec_rows,
                       title="Decision accuracy: share of one-seed decisions matching the all-seed means"))
    print()
    print(format_table(["pair (A vs B)", "metric", "verdict with 1..k seeds", "seeds needed", "better"],
                       seed_rows, title=f"Seeds `compare` needs (paired bootstrap, {args.samples} samples)"))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "tier": TIER, "steps": steps, "seeds": args.seeds, "started": started.isoformat(),
            "load_average": {"start": load0, "end": os.getloadavg()}, "seconds": time.perf_counter() - t0,
            "scores": scores, "decision_accuracy": dec, "compare": need,
            "compare_metrics": {k: METRICS[v][0] for k, v in COMPARE_METRICS.items()}}, indent=2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
