"""Mixtures to try: the paper's double-diminishing grid and Dirichlet draws.

Caps come from data: a source with A tokens cannot take more than A / T of a
T-token run without repeating (`caps_from_tokens`). The grid (find_opt in
the paper's pipeline) gives every source but the last the shares cap,
cap/2, cap/4, ... with cap floored to a multiple of 1/16 and anything below
1/16 set to 0; the last source takes the remainder, which must fit its cap.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from dcbench.errors import ConfigError

GRID = 1 / 16


def caps_from_tokens(available: dict[str, float], target_tokens: float, *, epochs: float = 1.0) -> dict[str, float]:
    """Largest share of a `target_tokens` run each source can fill with at most `epochs` passes."""
    if target_tokens <= 0:
        raise ConfigError(f"target tokens must be positive, got {target_tokens}")
    return {n: min(1.0, epochs * a / target_tokens) for n, a in available.items()}


def check_caps(caps: list[float]) -> None:
    if any(not 0 <= c <= 1 for c in caps):
        raise ConfigError(f"caps must lie in [0, 1], got {caps}")
    if sum(caps) < 1 - 1e-9:
        raise ConfigError(f"the caps sum to {sum(caps):.4g} < 1: the sources cannot fill the run; "
                          f"lower the target tokens or allow more epochs")


def _levels(cap: float, step: float) -> list[float]:
    top = step * math.floor(cap / step + 1e-9)
    out = {0.0}
    for s in range(int(cap / step) + 1):
        r = top * 2.0 ** -s
        out.add(r if r >= step - 1e-12 else 0.0)
    return sorted(out)


def double_diminishing_grid(caps: list[float], *, step: float = GRID) -> np.ndarray:
    """Every grid mixture (rows) under `caps`, in a fixed order."""
    check_caps(caps)
    rows = []
    for head in itertools.product(*(_levels(c, step) for c in caps[:-1])):
        last = 1.0 - sum(head)
        if -1e-12 <= last <= caps[-1] + 1e-12:
            rows.append([*head, max(0.0, last)])
    if not rows:
        raise ConfigError(f"no grid mixture fits the caps {caps}")
    return np.unique(np.round(np.array(rows), 12), axis=0)


def sample_grid(n: int, caps: list[float], *, seed: int = 0, step: float = GRID) -> np.ndarray:
    """`n` distinct grid mixtures drawn uniformly (the paper's Alg. 2 draws its fit mixtures this way)."""
    grid = double_diminishing_grid(caps, step=step)
    if n > len(grid):
        raise ConfigError(f"asked for {n} mixtures but the grid under these caps has only {len(grid)}")
    pick = np.random.default_rng(seed).choice(len(grid), size=n, replace=False)
    return grid[np.sort(pick)]


def sample_dirichlet(n: int, caps: list[float], *, alpha: float = 1.0, seed: int = 0, decimals: int = 4,
                     max_tries: int = 1000) -> np.ndarray:
    """`n` Dirichlet(alpha) mixtures within the caps (rejection), rounded to `decimals` and summing to 1."""
    check_caps(caps)
    if alpha <= 0:
        raise ConfigError(f"Dirichlet alpha must be positive, got {alpha}")
    rng = np.random.default_rng(seed)
    cap = np.asarray(caps)
    out: list[np.ndarray] = []
    for _ in range(max_tries):
        draw = rng.dirichlet(np.full(len(caps), alpha), size=max(4 * n, 64))
        draw = np.round(draw, decimals)
        draw[:, -1] = np.round(1 - draw[:, :-1].sum(1), decimals)
        ok = draw[(draw >= 0).all(1) & (draw <= cap + 1e-12).all(1)]
        out.extend(ok)
        if len(out) >= n:
            return np.array(out[:n])
    raise ConfigError(f"could not draw {n} Dirichlet mixtures inside the caps {caps}; loosen the caps")
