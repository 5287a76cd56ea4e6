"""The laws of data mixing, and their multi-start fits.

M4, per validation domain i, over mixture proportions r (Ye et al. eq. 6):

    L_i(r) = exp(log_c) + exp(log_k + sum_j t_j r_j)

c (the loss no mixture removes) and k stay positive through their logs, as
in the paper's code. On the simplex a row t is identified only up to a
shift (sum_j r_j = 1), which k absorbs: compare t's up to that shift.

Step law L(S) = E + B / S^beta and size law L(N) = E + A / N^alpha, both
written exp(log_c) + exp(alpha (log_x0 - log x)) with one alpha shared by all
the curves fitted together (the paper ties it across validation domains for
steps and across everything for sizes).

Fits follow the paper's code (law.py there): many starts, L-BFGS on the
summed Huber loss, and the start whose iterate scores the lowest Huber loss
on the evaluation rows (the last `valid_split` rows, or the fit rows when it
is 0) wins. Gradients are analytic and the optimiser is scipy's L-BFGS-B,
so thousands of starts take seconds on one core.

The implicit model (paper section 3.3) is for a validation set whose
composition is unknown: L = sum_k s_k [c_k + k_k exp(t_k . r)] with learned
s on the simplex, a one-hidden-layer network with exp units and softmax
output weights, trained with AdamW on a Huber loss as the paper does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
from scipy.optimize import minimize

EXP_CAP = 60.0  # exponents beyond this overflow into inf; clipping keeps L-BFGS finite


def huber(e: np.ndarray, delta: float) -> np.ndarray:
    a = np.abs(e)
    return np.where(a <= delta, 0.5 * e * e, delta * (a - 0.5 * delta))


def _exp(x: np.ndarray) -> np.ndarray:
    return np.exp(np.minimum(x, EXP_CAP))


@dataclass
class FitReport:
    loss: float  # Huber loss on the evaluation rows of the winning start
    starts: int
    iterations: int  # L-BFGS iterations of the winning start


def multistart(fun_grad: Callable[[np.ndarray], tuple[float, np.ndarray]], score: Callable[[np.ndarray], float],
               starts: Iterable[np.ndarray], *, max_iter: int = 1000) -> tuple[np.ndarray, FitReport]:
    """L-BFGS from every start; keep the iterate with the lowest `score` over all starts and iterations."""
    best_x, best, best_it, n = None, np.inf, 0, 0
    for x0 in starts:
        n += 1
        trail: list[np.ndarray] = []
        with np.errstate(over="ignore", invalid="ignore"):
            minimize(fun_grad, np.asarray(x0, float), jac=True, method="L-BFGS-B",
                     callback=lambda xk: trail.append(np.array(xk)), options={"maxiter": max_iter})
            for it, x in enumerate(trail or [np.asarray(x0, float)]):
                s = score(x)
                if np.isfinite(s) and s <= best:
                    best, best_x, best_it = s, x, it + 1
    if best_x is None:
        raise ValueError("no start reached a finite loss: check the data for NaN or non-positive losses")
    return best_x, FitReport(float(best), n, best_it)


def _split(n: int, valid_split: int) -> tuple[slice, slice]:
    if valid_split <= 0:
        return slice(0, n), slice(0, n)
    if valid_split >= n:
        raise ValueError(f"valid_split {valid_split} leaves no rows to fit ({n} rows)")
    return slice(0, n - valid_split), slice(n - valid_split, n)


# ------------------------------------------------------------------ M4


@dataclass
class M4Law:
    log_c: float
    log_k: float
    t: np.ndarray  # one coefficient per training source
    report: FitReport | None = field(default=None, compare=False)

    @property
    def c(self) -> float:
        return float(np.exp(self.log_c))

    @property
    def k(self) -> float:
        return float(np.exp(self.log_k))

    def predict(self, r: np.ndarray) -> np.ndarray:
        r = np.atleast_2d(np.asarray(r, float))
        return np.exp(self.log_c) + _exp(self.log_k + r @ self.t)

    def to_dict(self) -> dict:
        return {"log_c": float(self.log_c), "log_k": float(self.log_k), "t": [float(v) for v in self.t]}

    @classmethod
    def from_dict(cls, d: dict) -> "M4Law":
        return cls(float(d["log_c"]), float(d["log_k"]), np.asarray(d["t"], float))

    @staticmethod
    def params_to_law(p: np.ndarray) -> "M4Law":
        return M4Law(float(p[0]), float(p[1]), np.array(p[2:], float))


def m4_starts(n_sources: int, *, draws: int = 30, seed: int = 0) -> Iterable[np.ndarray]:
    """The paper's grid: log_c in linspace(-2, 1.5, 10) x log_k in linspace(-10, 1, 20) x `draws` t ~ U(0, 0.1)."""
    rng = np.random.default_rng(seed)
    for log_c in np.linspace(-2, 1.5, 10):
        for log_k in np.linspace(-10, 1, 20):
            for _ in range(draws):
                yield np.concatenate([[log_c, log_k], rng.random(n_sources) * 0.1])


def profile_starts(r: np.ndarray, y: np.ndarray, points: int = 16) -> Iterable[np.ndarray]:
    """Starts from the two-domain notebook's idea: for c below min(y), log(y - c) is linear in r,
    so least squares gives log_k and t at once. Cheap, and close to the optimum for clean data."""
    a = np.hstack([np.ones((len(r), 1)), r])
    for c in np.min(y) * (1 - np.geomspace(1e-3, 1, points)):
        if c <= 0:
            continue
        coef, *_ = np.linalg.lstsq(a, np.log(y - c), rcond=None)
        yield np.concatenate([[np.log(c)], coef])


def fit_m4(r: np.ndarray, y: np.ndarray, *, draws: int = 30, seed: int = 0, delta: float = 0.05,
           valid_split: int = 0, max_iter: int = 1000, profile: bool = True) -> M4Law:
    """Fit L(r) = exp(log_c) + exp(log_k + r.t) to losses y of mixtures r (rows).

    Starts: the paper's 200-point (log_c, log_k) grid with `draws` random t each
    (30 gives its 6000 starts), plus the profile starts. Loss: summed Huber with
    `delta` (0.05 in the paper's 5-domain fit).
    """
    r, y = np.asarray(r, float), np.asarray(y, float)
    if r.ndim != 2 or len(r) != len(y):
        raise ValueError(f"want r of shape (mixtures, sources) and one loss per mixture, got {r.shape}, {y.shape}")
    fit, ev = _split(len(y), valid_split)
    rf, yf, re, ye = r[fit], y[fit], r[ev], y[ev]

    def fun_grad(p: np.ndarray) -> tuple[float, np.ndarray]:
        e_term = _exp(p[1] + rf @ p[2:])
        c = np.exp(p[0])
        err = c + e_term - yf
        g = np.clip(err, -delta, delta)
        grad = np.concatenate([[g.sum() * c, g @ e_term], rf.T @ (g * e_term)])
        return float(huber(err, delta).sum()), grad

    def score(p: np.ndarray) -> float:
        return float(huber(np.exp(p[0]) + _exp(p[1] + re @ p[2:]) - ye, delta).mean())

    starts = list(m4_starts(r.shape[1], draws=draws, seed=seed))
    if profile:
        starts += list(profile_starts(rf, yf))
    p, report = multistart(fun_grad, score, starts, max_iter=max_iter)
    law = M4Law.params_to_law(p)
    law.report = report
    return law


# ------------------------------------------------------------------ step and size laws


@dataclass
class PowerLaws:
    """Curves y_s(x) = exp(log_c[s]) + exp(alpha (log_x0[s] - log x)) sharing alpha."""

    log_c: np.ndarray
    log_x0: np.ndarray
    alpha: float
    report: FitReport | None = field(default=None, compare=False)

    def predict(self, x: np.ndarray | float) -> np.ndarray:
        """Rows: x values; columns: curves."""
        lx = np.log(np.atleast_1d(np.asarray(x, float)))[:, None]
        return np.exp(self.log_c)[None, :] + _exp(self.alpha * (self.log_x0[None, :] - lx))

    def to_dict(self) -> dict:
        return {"log_c": self.log_c.tolist(), "log_x0": self.log_x0.tolist(), "alpha": float(self.alpha)}


def fit_power_laws(x: np.ndarray, y: np.ndarray, *, x0_grid: np.ndarray, alpha_grid: np.ndarray, draws: int = 50,
                   seed: int = 0, delta: float = 0.05, valid_split: int = 0, max_iter: int = 400) -> PowerLaws:
    """Fit curves sharing alpha to y (rows: x values in order, columns: curves).

    Starts as in the paper's steplaw/sizelaw scripts: log_c = min(log y) + U(1, 2)
    per curve, log_x0 from `x0_grid` +- 0.5, alpha from `alpha_grid`, `draws` each.
    With `valid_split` v the last v rows choose the iterate (extrapolation check).
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if y.ndim == 1:
        y = y[:, None]
    n, s = y.shape
    fit, ev = _split(n, valid_split)
    lxf, yf, lxe, ye = np.log(x[fit])[:, None], y[fit], np.log(x[ev])[:, None], y[ev]

    def parts(p: np.ndarray, lx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c = np.exp(p[:s])
        d = p[s:2 * s][None, :] - lx
        return c, d, _exp(p[-1] * d)

    def fun_grad(p: np.ndarray) -> tuple[float, np.ndarray]:
        c, d, pw = parts(p, lxf)
        err = c[None, :] + pw - yf
        g = np.clip(err, -delta, delta)
        grad = np.concatenate([g.sum(0) * c, (g * pw).sum(0) * p[-1], [(g * pw * d).sum()]])
        return float(huber(err, delta).sum()), grad

    def score(p: np.ndarray) -> float:
        c, _, pw = parts(p, lxe)
        return float(huber(c[None, :] + pw - ye, delta).mean())

    rng = np.random.default_rng(seed)
    base = np.min(np.log(y), axis=0)

    def starts() -> Iterable[np.ndarray]:
        for lx0 in x0_grid:
            for a in alpha_grid:
                for _ in range(draws):
                    yield np.concatenate([base - (1 + rng.random(s)), lx0 + rng.random(s) - 0.5, [a]])

    p, report = multistart(fun_grad, score, starts(), max_iter=max_iter)
    return PowerLaws(p[:s], p[s:2 * s], float(p[-1]), report)


def fit_step_law(steps: np.ndarray, losses: np.ndarray, *, tokens_per_step: float = 1.0, **kw) -> PowerLaws:
    """L(S) = E + B/S^beta over training steps (x = tokens seen); the paper's start grid."""
    kw.setdefault("x0_grid", np.linspace(15, 23, 11))
    kw.setdefault("alpha_grid", np.linspace(0.65, 0.9, 10))
    return fit_power_laws(np.asarray(steps, float) * tokens_per_step, losses, **kw)


def fit_size_law(sizes: np.ndarray, losses: np.ndarray, **kw) -> PowerLaws:
    """L(N) = E + A/N^alpha over non-embedding parameter counts; the paper's start grid."""
    kw.setdefault("x0_grid", np.linspace(15, 25, 20))
    kw.setdefault("alpha_grid", np.linspace(0.3, 0.8, 10))
    kw.setdefault("delta", 0.08)
    return fit_power_laws(sizes, losses, **kw)


# ------------------------------------------------------------------ implicit aggregation


class ImplicitLaw:
    """L(r) = bias + sum_k softmax(v)_k exp(W_k . r + b_k): K latent validation domains of unknown shares.

    Trained as the paper's code trains it: AdamW (lr 0.1, weight decay 1e-3),
    `iters` full-batch steps of Huber loss on the first 80% of rows, keeping
    the step with the lowest mean absolute error over all rows; the best of
    `restarts` seeds by that error wins.
    """

    def __init__(self, state: dict[str, np.ndarray]):
        self.state = {k: np.asarray(v, float) for k, v in state.items()}

    @property
    def k(self) -> int:
        return len(self.state["b"])

    def shares(self) -> np.ndarray:
        v = self.state["v"]
        e = np.exp(v - v.max())
        return e / e.sum()

    def predict(self, r: np.ndarray) -> np.ndarray:
        r = np.atleast_2d(np.asarray(r, float))
        h = _exp(r @ self.state["W"].T + self.state["b"])
        return h @ self.shares() + float(self.state["bias"])

    def to_dict(self) -> dict:
        return {k: np.asarray(v).tolist() for k, v in self.state.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "ImplicitLaw":
        return cls(d)

    @classmethod
    def fit(cls, r: np.ndarray, y: np.ndarray, *, k: int = 5, iters: int = 5000, restarts: int = 4,
            delta: float = 0.05, seed: int = 0) -> "ImplicitLaw":
        import torch  # deferred: ~2 s to import (measured); only the implicit-aggregation fit needs it

        r_t = torch.as_tensor(np.asarray(r, float), dtype=torch.float64)
        y_t = torch.as_tensor(np.asarray(y, float), dtype=torch.float64)
        n_fit = len(y_t) - max(1, len(y_t) // 5) if len(y_t) >= 5 else len(y_t)
        best, best_err = None, np.inf
        for i in range(restarts):
            gen = torch.Generator().manual_seed(seed * 1000 + i)
            bound = 1 / np.sqrt(r_t.shape[1])  # nn.Linear's default init range
            p = {"W": (torch.rand(k, r_t.shape[1], generator=gen, dtype=torch.float64) * 2 - 1) * bound,
                 "b": (torch.rand(k, generator=gen, dtype=torch.float64) * 2 - 1) * bound,
                 "v": (torch.rand(k, generator=gen, dtype=torch.float64) * 2 - 1) / np.sqrt(k),
                 "bias": torch.tensor(float(y_t.min()) * 0.9, dtype=torch.float64)}
            for t in p.values():
                t.requires_grad_(True)
            opt = torch.optim.AdamW(list(p.values()), lr=0.1, weight_decay=1e-3)

            def forward(x: "torch.Tensor") -> "torch.Tensor":
                h = torch.exp(torch.clamp(x @ p["W"].T + p["b"], max=EXP_CAP))
                return h @ torch.softmax(p["v"], 0) + p["bias"]

            for _ in range(iters):
                loss = torch.nn.functional.huber_loss(forward(r_t[:n_fit]), y_t[:n_fit], delta=delta)
                opt.zero_grad()
                loss.backward()
                opt.step()
                with torch.no_grad():
                    err = float(torch.mean(torch.abs(forward(r_t) - y_t)))
                if err < best_err:
                    best_err = err
                    best = {name: t.detach().numpy().copy() for name, t in p.items()}
        if best is None:
            raise ValueError("the implicit model never reached a finite error: check the losses")
        return cls(best)
