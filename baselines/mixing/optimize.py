"""The mixture with the lowest predicted loss under per-source caps.

`grid` enumerates the double-diminishing grid and takes the argmin, as the
paper's find_opt does. `simplex` then refines the best grid points with SLSQP
on the continuous simplex (bounds [floor, cap], weights summing to 1). Both
are deterministic: same law and caps, same answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from dcbench.baselines.mixing.fitted import MixingLaw
from dcbench.baselines.mixing.grid import GRID, check_caps, double_diminishing_grid
from dcbench.errors import ConfigError


@dataclass
class Optimum:
    weights: np.ndarray
    predicted: float
    domains: dict[str, float]  # predicted loss per validation domain
    candidates: int  # grid points scored


def optimize(law: MixingLaw, caps: list[float], *, floor: float = 0.0, method: str = "grid",
             step: float = GRID, refine_from: int = 8) -> Optimum:
    if method not in ("grid", "simplex"):
        raise ConfigError(f"method must be 'grid' or 'simplex', got {method!r}")
    if len(caps) != len(law.sources):
        raise ConfigError(f"{len(caps)} caps for {len(law.sources)} sources ({', '.join(law.sources)})")
    check_caps(caps)
    if floor < 0 or floor * len(caps) > 1 or any(c < floor for c in caps):
        raise ConfigError(f"floor {floor} cannot be met: it must be >= 0, below every cap, and n*floor <= 1")
    grid = double_diminishing_grid(caps, step=step)
    grid = grid[(grid >= floor - 1e-12).all(1)]
    if not len(grid):
        raise ConfigError(f"no grid mixture has every share >= floor {floor}; lower it or use --method simplex")
    pred = law.predict(grid)
    order = np.argsort(pred, kind="stable")
    best, best_loss = grid[order[0]], float(pred[order[0]])
    if method == "simplex":
        bounds = [(floor, c) for c in caps]
        cons = [{"type": "eq", "fun": lambda r: np.sum(r) - 1, "jac": lambda r: np.ones_like(r)}]
        for i in order[:refine_from]:
            res = minimize(lambda r: float(law.predict(r[None, :])[0]), grid[i], method="SLSQP", bounds=bounds,
                           constraints=cons, options={"ftol": 1e-12, "maxiter": 500})
            r = np.clip(res.x, floor, caps)
            r = r / r.sum()
            loss = float(law.predict(r[None, :])[0])
            if np.all(r <= np.asarray(caps) + 1e-9) and loss < best_loss - 1e-12:
                best, best_loss = r, loss
    domains = {d: float(v[0]) for d, v in law.predict_domains(best[None, :]).items()}
    return Optimum(np.asarray(best, float), best_loss, domains, len(grid))
