"""The table of small runs a mixing law is fitted on, and nested prediction.

One JSON object a line (`dcbench mix run` appends them):

    {"mixture": "mix-003", "weights": {"web": 0.5, ...}, "losses": {"web": 3.12, ...},
     "step": 1200, "size": 250000, "sources": {"web": "/data/web", ...}}

`losses` holds the validation loss per validation domain; `step` and `size`
(non-embedding parameters) are optional and only needed for nested
prediction (the paper's Algorithm 1): fit the step law per mixture and size
to extrapolate every run to the target step, then the size law across sizes
to the target size, then the mixing law on those predictions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dcbench.baselines.mixing.laws import fit_size_law, fit_step_law
from dcbench.errors import ConfigError, DataError


@dataclass
class Run:
    mixture: str
    weights: dict[str, float]
    losses: dict[str, float]
    step: int | None = None
    size: float | None = None
    sources: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"mixture": self.mixture, "weights": self.weights, "losses": self.losses, "step": self.step,
                "size": self.size, "sources": self.sources}


def load_runs(path: str | Path) -> list[Run]:
    runs = []
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as e:
        raise DataError(f"cannot read runs table {path}: {e}") from e
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            runs.append(Run(str(d["mixture"]), {k: float(v) for k, v in d["weights"].items()},
                            {k: float(v) for k, v in d["losses"].items()}, d.get("step"), d.get("size"),
                            d.get("sources") or {}))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise DataError(f"{path}:{n}: not a run record ({e}); want mixture, weights and losses") from e
    if not runs:
        raise DataError(f"{path} holds no runs")
    return runs


def append_run(path: str | Path, run: Run) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(run.to_dict(), sort_keys=True) + "\n")


@dataclass
class Table:
    sources: list[str]
    mixtures: list[str]
    r: np.ndarray  # (mixtures, sources)
    losses: dict[str, np.ndarray]  # domain -> loss per mixture
    source_paths: dict[str, str]


def table(runs: list[Run]) -> Table:
    """One row per mixture (the runs must be at one step and size; see `predict_to`)."""
    sources = list(runs[0].weights)
    domains = list(runs[0].losses)
    seen = set()
    for run in runs:
        if list(run.weights) != sources or set(run.losses) != set(domains):
            raise DataError(f"run {run.mixture}: sources {list(run.weights)} / domains {sorted(run.losses)} differ "
                            f"from the first run's {sources} / {sorted(domains)}")
        if run.mixture in seen:
            raise DataError(f"mixture {run.mixture} appears twice at one step and size; give --step/--size "
                            f"targets (nested prediction) or one row per mixture")
        seen.add(run.mixture)
    r = np.array([[run.weights[s] for s in sources] for run in runs])
    losses = {d: np.array([run.losses[d] for run in runs]) for d in domains}
    paths = {}
    for run in runs:
        paths.update(run.sources)
    return Table(sources, [run.mixture for run in runs], r, losses, paths)


def latest(runs: list[Run]) -> list[Run]:
    """Each mixture's run at its largest size, then its last step."""
    best: dict[str, Run] = {}
    for run in runs:
        key = (run.size or 0, run.step or 0)
        cur = best.get(run.mixture)
        if cur is None or key > (cur.size or 0, cur.step or 0):
            best[run.mixture] = run
    return list(best.values())


def predict_to(runs: list[Run], *, target_step: int | None = None, target_size: float | None = None,
               tokens_per_step: float = 1.0, draws: int = 5, seed: int = 0, log=None) -> list[Run]:
    """Runs at (target_step, target_size) by the step law, then the size law (nested prediction)."""
    if target_step is not None:
        runs = _extrapolate_steps(runs, target_step, tokens_per_step, draws, seed, log)
    if target_size is not None:
        runs = _extrapolate_sizes(runs, target_size, draws, seed, log)
    return runs


def _extrapolate_steps(runs, target, tokens_per_step, draws, seed, log) -> list[Run]:
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        if run.step is None:
            raise DataError(f"run {run.mixture} has no step: the step law needs each run's checkpoints")
        groups.setdefault((run.mixture, run.size), []).append(run)
    out = []
    for (mix, size), rs in groups.items():
        rs = sorted(rs, key=lambda x: x.step)
        if len(rs) < 3:
            raise DataError(f"mixture {mix} (size {size}): {len(rs)} checkpoints; the step law needs at least 3")
        domains = list(rs[0].losses)
        y = np.array([[x.losses[d] for d in domains] for x in rs])
        law = fit_step_law([x.step for x in rs], y, tokens_per_step=tokens_per_step, draws=draws, seed=seed)
        pred = law.predict(target * tokens_per_step)[0]
        if log:
            log(f"  step law {mix} size {size}: beta={law.alpha:.3f} -> step {target}")
        out.append(Run(mix, rs[0].weights, dict(zip(domains, map(float, pred))), target, size, rs[0].sources))
    return out


def _extrapolate_sizes(runs, target, draws, seed, log) -> list[Run]:
    sizes = sorted({run.size for run in runs})
    if None in sizes or len(sizes) < 2:
        raise DataError(f"the size law needs runs at two or more sizes (got {sizes})")
    by = {(run.mixture, run.size): run for run in runs}
    mixtures = sorted({run.mixture for run in runs})
    missing = [(m, s) for m in mixtures for s in sizes if (m, s) not in by]
    if missing:
        raise ConfigError(f"the size law needs every mixture at every size; missing {missing[:5]}")
    domains = list(runs[0].losses)
    cols = [(m, d) for m in mixtures for d in domains]
    y = np.array([[by[(m, s)].losses[d] for m, d in cols] for s in sizes])
    law = fit_size_law(np.array(sizes, float), y, draws=draws, seed=seed)
    pred = law.predict(target)[0]
    if log:
        log(f"  size law: alpha={law.alpha:.3f} -> size {target:,.0f}")
    out = []
    for m in mixtures:
        first = by[(m, sizes[0])]
        losses = {d: float(pred[cols.index((m, d))]) for d in domains}
        out.append(Run(m, first.weights, losses, first.step, target, first.sources))
    return out
