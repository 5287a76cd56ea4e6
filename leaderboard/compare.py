"""Is A's data better than B's? Paired bootstrap comparison of evaluated runs (`dcbench compare A B`).

A side is one run or several seeds of one dataset: results JSONs written by `dcbench eval`
(which keep per-item values under `items`), or leaderboard entries (whose documents carry
the same items). Both sides must have been evaluated on the same items.

The statistics, for one metric (`correct` by default; `p_correct`, `bpb`, `margin`):

* a task's score is the mean of the metric over its items, averaged over a side's seeds;
  the aggregate is the mean over the suite's ranked tasks (TOY: every toy task; CORE: the
  22 core tasks) of the task scores, with accuracy centered on each task's random baseline
  ((acc - b) / (1 - b)), as TOY and CORE are. (A task scored per category, such as MMLU or
  Jeopardy, is averaged here over items, not categories.)
* the paired bootstrap draws, per replicate, the items of every task with replacement and uses
  the same draw for A and B (pairing removes the items' own difficulty from the noise); when a
  side has several seeds it also draws that side's seeds with replacement, the same draw for
  every task (a seed is one model). The difference A - B of each replicate gives the 95%
  percentile interval, the standard error and P(A beats B) (ties count half).
* the verdict: "A better" / "B better" when the interval excludes 0, else "no detectable
  difference at this size" with the items that would be needed to detect the observed
  difference at 95% confidence with 80% power, if the standard error shrinks as 1/sqrt(items):
  n_needed = n x ((1.96 + 0.84) x se / |d|)^2. (Seed-to-seed variance does not shrink with
  items: with seeds, more seeds may be what is needed.)

With one run a side, the interval covers item sampling only, not how another training seed would
land; with two or three seeds, redrawing them understates the seed-to-seed spread (a bootstrap
over 2 values). The leaderboard's Student-t interval over seeds is the conservative view of that
spread; train more seeds (`dcbench reproduce baseline --seeds N`) to tighten both.

Everything is drawn from one seeded generator, in a fixed order, so reruns print the same.
`separable(a_docs, b_docs)` is the same test on the leaderboard's documents, and
`t_interval(values)` the interval over seeds the leaderboard shows.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from dcbench.errors import ConfigError, DataError
from dcbench.eval.suites import core_task_names
from dcbench.manifest import MANIFEST_NAME, Manifest
from dcbench.table import format_table

NO_DIFFERENCE = "no detectable difference at this size"  # the verdict when the interval holds 0

METRICS = {  # name -> (what it is, higher is better)
    "correct": ("accuracy (1 when the model's choice is right)", True),
    "p_correct": ("probability mass on the correct choice, normalised over the choices", True),
    "bpb": ("bits per byte of the correct continuation (lower is better)", False),
    "margin": ("log-probability margin of the correct choice over the best wrong one", True),
}
Z_95, Z_80 = 1.959964, 0.841621  # two-sided 95% confidence, 80% power
DEFAULT_SAMPLES = 2000
CHUNK = 256  # bootstrap replicates drawn at once (memory: CHUNK x items per task)
RESULTS_GLOBS = ("*.json", "*/*.json", "*/*/*.json", "*/*/*/*.json")


# ------------------------------------------------------------------ runs


@dataclass
class Run:
    """One evaluated model: its per-item values per task, and what identifies it."""

    label: str
    suite: str
    items: dict[str, dict[str, np.ndarray]]  # task -> metric -> values (NaN where absent); "index": item rows
    baselines: dict[str, float]  # task -> random baseline in percent
    model: str | None = None
    dataset: str | None = None
    seed: int | None = None
    suite_id: str | None = None


def _values(value: Any) -> np.ndarray | None:
    if not isinstance(value, (list, tuple)):
        return None
    return np.array([np.nan if v is None else float(v) for v in value], dtype=np.float64)


def _items(raw: Any, where: str) -> dict[str, dict[str, np.ndarray]]:
    if not isinstance(raw, Mapping) or not raw:
        raise DataError(f"{where} has no per-item values (`items`): it was evaluated by an older dcbench; "
                        f"re-run `dcbench eval` on the model to compare it")
    out: dict[str, dict[str, np.ndarray]] = {}
    for task, metrics in raw.items():
        if isinstance(metrics, Mapping):
            out[str(task)] = {m: v for m in (*METRICS, "index") if (v := _values(metrics.get(m))) is not None}
    return out


def run_from_results(results: Mapping[str, Any], label: str) -> Run:
    """A `dcbench eval` results dict (with `items`) as a Run."""
    tasks = results.get("tasks") or {}
    chain = (results.get("model") or {}).get("id_chain") or {}
    return Run(label=label, suite=str(results.get("suite") or ""), items=_items(results.get("items"), label),
               baselines={t: float(v.get("random_baseline") or 0.0) for t, v in tasks.items()
                          if isinstance(v, Mapping)},
               model=chain.get("model"), dataset=chain.get("dataset"), seed=_seed_of(results),
               suite_id=results.get("suite_id"))


def _seed_of(results: Mapping[str, Any]) -> int | None:
    seed = (results.get("model") or {}).get("seed")
    return int(seed) if isinstance(seed, int) and not isinstance(seed, bool) else None


def run_from_submission(doc: Mapping[str, Any]) -> Run:
    """A leaderboard document (`dcbench submit` keeps the evaluation's items) as a Run."""
    ev = doc.get("eval") or {}
    chain = doc.get("chain") or {}
    label = f"{doc.get('name')} ({doc.get('id')})"
    return Run(label=label, suite=str(ev.get("suite") or ""), items=_items(ev.get("items"), label),
               baselines={str(k): float(v) for k, v in (ev.get("random_baselines") or {}).items()},
               model=chain.get("model"), dataset=chain.get("dataset"), seed=(doc.get("model") or {}).get("seed"),
               suite_id=ev.get("suite_id"))


def _is_results(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("tasks"), dict) and str(data.get("id", "")).startswith(
        "eval-")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _model_id(path: Path) -> str | None:
    try:
        man = Manifest.load(str(path / MANIFEST_NAME))
    except (DataError, OSError, ValueError):
        return None
    return man.id if man.kind == "model" else None


def results_in(path: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Evaluation results at `path`: the file itself, or every results JSON up to 4 levels below a
    directory (a model directory: those that evaluated this model), one per model."""
    if path.is_file():
        data = _read_json(path)
        if not _is_results(data):
            raise DataError(f"{path} is not a `dcbench eval` results file (no 'tasks' and eval id)")
        return [(path, data)]
    found = [(p, d) for g in RESULTS_GLOBS for p in sorted(path.glob(g)) if _is_results(d := _read_json(p))]
    model = _model_id(path)
    if model is not None:
        found = [(p, d) for p, d in found if ((d.get("model") or {}).get("id_chain") or {}).get("model") == model]
    by_model: dict[Any, tuple[Path, dict[str, Any]]] = {}
    for p, d in found:  # a model evaluated twice (eval.json and eval_toy.json) counts once
        key = ((d.get("model") or {}).get("id_chain") or {}).get("model") or str(p)
        by_model.setdefault(key, (p, d))
    return list(by_model.values())


def load_side(spec: str, store: Any = None) -> list[Run]:
    """The runs one side names: a results JSON, a directory (a model, a reproduce recipe directory
    with its seeds), or a leaderboard id (a submission, or a dataset: all its seeds) in `store`."""
    path = Path(spec)
    if path.exists():
        found = results_in(path)
        if not found:
            raise DataError(f"no evaluation results in {path}: run `dcbench eval` on the model first")
        return [run_from_results(d, str(p)) for p, d in found]
    if store is not None and spec.startswith(("submission-", "dataset-")):
        docs = _store_docs(spec, store)
        if docs:
            return [run_from_submission(d) for d in docs]
    hint = "" if store is not None else " (leaderboard ids need --store)"
    raise DataError(f"{spec!r} is neither a results JSON, a run directory nor a leaderboard id{hint}: pass what "
                    f"`dcbench eval` wrote, a `dcbench train --out` directory, or an id from `dcbench leaderboard`")


def _store_docs(spec: str, store: Any) -> list[dict[str, Any]]:
    if spec.startswith("submission-"):
        doc = store.get(spec)
        return [doc] if doc else []
    return [d for r in store.list() if r.get("dataset_id") == spec and (d := store.get(r["id"]))]


# ------------------------------------------------------------------ pairing


@dataclass
class Pairing:
    """Two sides matched task by task: values[side][task] is a (seeds x items) matrix."""

    metric: str
    suite: str
    tasks: list[str]
    aggregate_tasks: list[str]
    weights: dict[str, float]  # task -> weight of its score difference in the aggregate
    a: dict[str, np.ndarray]
    b: dict[str, np.ndarray]
    notes: list[str] = field(default_factory=list)


def aggregate_name(suite: str, metric: str = "correct") -> str:
    """TOY or CORE for accuracy (centered, as ranked); "mean <metric>" for a proxy."""
    if metric != "correct":
        return f"mean {metric}"
    return "TOY" if suite == "toy" else "CORE" if suite in ("core", "core+mmlu", "extended") else "MEAN"


def _aggregate_tasks(suite: str, tasks: list[str]) -> list[str]:
    if suite in ("core", "core+mmlu", "extended"):
        core = set(core_task_names())
        chosen = [t for t in tasks if t in core]
        return chosen or tasks
    return tasks


def pair(a: Sequence[Run], b: Sequence[Run], metric: str = "correct") -> Pairing:
    """Match the two sides' tasks and items; refuse what cannot be compared item by item."""
    if metric not in METRICS:
        raise ConfigError(f"--metric {metric!r}: use one of {', '.join(METRICS)}")
    runs = [*a, *b]
    suites = sorted({r.suite for r in runs})
    if len(suites) != 1:
        raise DataError(f"the runs were evaluated on different suites ({', '.join(suites)}): compare results of "
                        f"one suite (`dcbench eval --suite`)")
    suite_ids = {r.suite_id for r in runs if r.suite_id}
    if len(suite_ids) > 1:
        raise DataError(f"the runs were evaluated on different task files ({', '.join(sorted(suite_ids))}): "
                        f"evaluate both on the same --tasks-dir")
    notes: list[str] = []
    common = sorted(set.intersection(*(set(r.items) for r in runs)))
    dropped = sorted(set.union(*(set(r.items) for r in runs)) - set(common))
    if dropped:
        notes.append(f"tasks not in every run, left out: {', '.join(dropped)}")
    tasks = []
    for t in common:
        vals = [r.items[t].get(metric) for r in runs]
        if any(v is None for v in vals) or any(np.isnan(v).any() for v in vals):
            continue  # the metric does not apply to this task (or not to every item)
        sizes = {len(v) for v in vals}
        if len(sizes) != 1:
            raise DataError(f"task {t}: the runs scored different numbers of items ({sorted(sizes)}); compare "
                            f"complete evaluations of the same task files (no --limit)")
        index = [r.items[t]["index"] for r in runs if "index" in r.items[t]]
        if any(not np.array_equal(index[0], i) for i in index[1:]):
            raise DataError(f"task {t}: the runs scored different items of the task file; compare evaluations "
                            f"of the same task files")
        tasks.append(t)
    if not tasks:
        raise DataError(f"no task has per-item {metric!r} values in every run: try another --metric "
                        f"({', '.join(METRICS)})")
    agg = _aggregate_tasks(suites[0], tasks)
    base = {t: next((r.baselines[t] for r in runs if t in r.baselines), 0.0) for t in agg}
    weights = {t: (1.0 / (1.0 - 0.01 * base[t]) if metric == "correct" else 1.0) / len(agg) for t in agg}
    mat = {id(s): {t: np.vstack([r.items[t][metric] for r in s]) for t in tasks} for s in (a, b)}
    return Pairing(metric, suites[0], tasks, agg, weights, mat[id(a)], mat[id(b)], notes)


# ------------------------------------------------------------------ bootstrap


@dataclass
class Difference:
    """A - B for one task or the aggregate, with its bootstrap distribution's summary."""

    name: str
    items: int
    a: float
    b: float
    diff: float
    low: float
    high: float
    se: float
    p_a_better: float
    verdict: str
    items_needed: int | None  # None: separated already, or no difference to detect

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _seed_weights(rng: np.random.Generator, k: int, n: int) -> np.ndarray:
    """(n x k): how often each seed is drawn per replicate (all ones for a single seed)."""
    if k == 1:
        return np.ones((n, 1))
    draws = rng.integers(0, k, size=(n, k))
    return np.stack([np.bincount(row, minlength=k) for row in draws]).astype(np.float64)


def _replicates(rng, a: np.ndarray, b: np.ndarray, wa: np.ndarray, wb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per replicate, the task score of A and of B: items drawn once for both, seeds per side."""
    n_items = a.shape[1]
    out_a, out_b = [], []
    uniform = np.full(n_items, 1.0 / n_items)
    for start in range(0, len(wa), CHUNK):
        sa, sb = wa[start:start + CHUNK], wb[start:start + CHUNK]
        counts = rng.multinomial(n_items, uniform, size=len(sa)).astype(np.float64)
        out_a.append(((counts @ a.T) / n_items * sa).sum(1) / a.shape[0])  # mean over the drawn seeds
        out_b.append(((counts @ b.T) / n_items * sb).sum(1) / b.shape[0])
    return np.concatenate(out_a), np.concatenate(out_b)


def _summary(name: str, items: int, a: float, b: float, reps: np.ndarray, higher_better: bool) -> Difference:
    diff = a - b
    low, high = (float(x) for x in np.percentile(reps, [2.5, 97.5]))
    better = reps > 0 if higher_better else reps < 0
    p = float((better.sum() + 0.5 * (reps == 0).sum()) / len(reps))
    se = float(reps.std(ddof=1)) if len(reps) > 1 else 0.0
    if low > 0 or high < 0:
        verdict = "A better" if (low > 0) == higher_better else "B better"
        needed = None
    else:
        verdict = NO_DIFFERENCE
        needed = items_needed(items, se, diff)
    return Difference(name, items, a, b, diff, low, high, se, p, verdict, needed)


def items_needed(items: int, se: float, diff: float) -> int | None:
    """n x ((1.96 + 0.84) x se / |d|)^2: the items at which |d| would be detected (95%, power 80%);
    None when no difference was observed (no item count would separate the two)."""
    if diff == 0 or not math.isfinite(diff) or se == 0:
        return None
    return int(math.ceil(items * ((Z_95 + Z_80) * se / abs(diff)) ** 2))


@dataclass
class Comparison:
    metric: str
    suite: str
    aggregate: Difference
    tasks: list[Difference]
    samples: int
    seed: int
    seeds: tuple[int, int]
    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "higher_is_better": METRICS[self.metric][1], "suite": self.suite,
                "aggregate": self.aggregate.as_dict(), "tasks": [t.as_dict() for t in self.tasks],
                "samples": self.samples, "seed": self.seed, "seeds": {"A": self.seeds[0], "B": self.seeds[1]},
                "notes": self.notes, "items_needed_formula": "n x ((1.96 + 0.84) x se / |d|)^2"}


def compare_runs(a: Sequence[Run], b: Sequence[Run], *, metric: str = "correct", samples: int = DEFAULT_SAMPLES,
                 seed: int = 0) -> Comparison:
    """Per-task and aggregate differences A - B with paired bootstrap intervals (module docstring)."""
    if samples < 100:
        raise ConfigError(f"--samples {samples}: use at least 100 bootstrap samples (default {DEFAULT_SAMPLES})")
    for side, runs in (("A", a), ("B", b)):
        datasets = sorted({r.dataset for r in runs if r.dataset})
        if len(datasets) > 1:
            raise DataError(f"{side} holds runs of {len(datasets)} datasets ({', '.join(datasets)}): a side is one "
                            f"dataset's seeds; pass one recipe's directory (or results file, or id)")
    p = pair(a, b, metric)
    higher = METRICS[metric][1]
    rng = np.random.default_rng(seed)
    wa, wb = _seed_weights(rng, len(a), samples), _seed_weights(rng, len(b), samples)
    per_task, agg_a, agg_b, agg_reps = [], 0.0, 0.0, np.zeros(samples)
    for t in p.tasks:
        va, vb = p.a[t], p.b[t]
        ra, rb = _replicates(rng, va, vb, wa, wb)
        score_a, score_b = float(va.mean()), float(vb.mean())
        per_task.append(_summary(t, va.shape[1], score_a, score_b, ra - rb, higher))
        if t in p.weights:
            agg_reps += p.weights[t] * (ra - rb)
            agg_a += p.weights[t] * score_a
            agg_b += p.weights[t] * score_b
    if metric == "correct":  # centered: subtract the baselines' share from both sides' levels
        shift = sum(p.weights[t] * 0.01 * _baseline(a, b, t) for t in p.aggregate_tasks)
        agg_a, agg_b = agg_a - shift, agg_b - shift
    n_agg = sum(p.a[t].shape[1] for t in p.aggregate_tasks)
    aggregate = _summary(aggregate_name(p.suite, metric), n_agg, agg_a, agg_b, agg_reps, higher)
    return Comparison(metric, p.suite, aggregate, per_task, samples, seed, (len(a), len(b)), p.notes)


def _baseline(a: Sequence[Run], b: Sequence[Run], task: str) -> float:
    return next((r.baselines[task] for r in [*a, *b] if task in r.baselines), 0.0)


# ------------------------------------------------------------------ seeds on the leaderboard


def t_quantile(df: float, p: float) -> float:
    """Student's t quantile."""
    # deferred: scipy.special takes ~0.5 s to import (measured); `dcbench --help` must not pay it
    from scipy.special import stdtrit

    return float(stdtrit(df, p))


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float, float] | None:
    """(mean, sample sd, low, high): Student's t interval over seeds; None for fewer than 2 values."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if len(v) < 2:
        return None
    mean, sd = float(v.mean()), float(v.std(ddof=1))
    half = t_quantile(len(v) - 1, 0.5 + level / 2) * sd / math.sqrt(len(v))
    return mean, sd, mean - half, mean + half


def separable(a_docs: Sequence[Mapping[str, Any]], b_docs: Sequence[Mapping[str, Any]], *,
              samples: int = 1000, seed: int = 0) -> bool | None:
    """Whether two leaderboard groups (seeds of a dataset each) differ in their ranked aggregate:
    the paired bootstrap over items and seeds when both carry per-item values, else Welch's t
    interval over seeds when both have 2 or more; None when neither test can be made."""
    try:
        result = compare_runs([run_from_submission(d) for d in a_docs], [run_from_submission(d) for d in b_docs],
                              samples=samples, seed=seed)
        return result.aggregate.verdict != NO_DIFFERENCE
    except (DataError, ConfigError):
        pass
    return _welch_separable([_score(d) for d in a_docs], [_score(d) for d in b_docs])


def _score(doc: Mapping[str, Any]) -> float | None:
    aggs = (doc.get("eval") or {}).get("aggregates") or {}
    value = aggs.get("TOY", aggs.get("CORE"))
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _welch_separable(a: Iterable[float | None], b: Iterable[float | None]) -> bool | None:
    x = np.array([v for v in a if v is not None], dtype=np.float64)
    y = np.array([v for v in b if v is not None], dtype=np.float64)
    if len(x) < 2 or len(y) < 2:
        return None
    va, vb = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    if va + vb == 0:
        return bool(x.mean() != y.mean())
    df = (va + vb) ** 2 / (va ** 2 / (len(x) - 1) + vb ** 2 / (len(y) - 1))
    half = t_quantile(df, 0.975) * math.sqrt(va + vb)
    return bool(abs(x.mean() - y.mean()) > half)


# ------------------------------------------------------------------ output


def _num(metric: str, value: float) -> str:
    return f"{100 * value:+.2f}" if metric == "correct" else f"{value:+.4f}"


def _level(metric: str, value: float) -> str:
    return f"{100 * value:.2f}" if metric == "correct" else f"{value:.4f}"


def _row(c: Comparison, d: Difference) -> list[str]:
    return [d.name, f"{d.items:,}", _level(c.metric, d.a), _level(c.metric, d.b), _num(c.metric, d.diff),
            f"[{_num(c.metric, d.low)}, {_num(c.metric, d.high)}]", f"{d.p_a_better:.3f}",
            {"A better": "A", "B better": "B"}.get(d.verdict, "-")]


def format_comparison(c: Comparison, a_label: str, b_label: str) -> str:
    unit = " points" if c.metric == "correct" else ""
    what = METRICS[c.metric][0]
    head = ["task", "items", "A", "B", "A-B", "95% interval", "P(A better)", "better"]
    agg = c.aggregate
    lines = [f"A: {a_label} ({c.seeds[0]} run{'s' if c.seeds[0] != 1 else ''})",
             f"B: {b_label} ({c.seeds[1]} run{'s' if c.seeds[1] != 1 else ''})",
             f"suite {c.suite}, metric {c.metric}: {what}{'; scores in percent' if unit else ''}",
             f"paired bootstrap: {c.samples:,} samples over items{' and seeds' if max(c.seeds) > 1 else ''}, "
             f"seed {c.seed}", "",
             format_table(head, [_row(c, d) for d in c.tasks] + [_row(c, agg)]), ""]
    lines += [f"note: {n}" for n in c.notes]
    lines.append(f"{agg.name}: A - B = {_num(c.metric, agg.diff)}{unit}, 95% interval "
                 f"[{_num(c.metric, agg.low)}, {_num(c.metric, agg.high)}], P(A better) = {agg.p_a_better:.3f}")
    lines.append(f"verdict: {verdict_text(agg)}")
    return "\n".join(lines)


def verdict_text(d: Difference) -> str:
    if d.verdict != NO_DIFFERENCE:
        return d.verdict
    if d.items_needed is None:
        return f"{d.verdict} (no difference observed over {d.items:,} items)"
    return (f"{d.verdict} ({d.items:,} items; about {d.items_needed:,} would be needed to detect a difference this "
            f"large: n x ((1.96 + 0.84) x se / |d|)^2 with se {d.se:.4g}, d {d.diff:.4g})")
