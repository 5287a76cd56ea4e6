"""Mixing-law fit speed: M4 starts per second per core, against the paper's own way.

The paper's code (law.py in yegcjs/mixinglaws) runs torch.optim.LBFGS (lr 0.01,
history 10, max_iter 20, strong Wolfe) for 50 outer steps from each start on
the summed Huber loss. We run scipy's L-BFGS-B with analytic gradients from
the same starts. Both are timed here on the same synthetic 3-source,
24-mixture problem (the size of the paper's Table 1), with the final loss
each reaches, so the speed-up is measured at equal quality.

    python benchmarks/mixing_fit.py --starts 200 --repeats 3
    python benchmarks/mixing_fit.py --paper      # also the fit errors on the paper's own losses

With --paper it prints our M4 errors on ../shared/data/mixing next to the
paper's (Table 1; the 5-domain notebook), read with the tests' loader.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from dcbench.baselines.mixing.laws import M4Law, fit_m4, huber, m4_starts  # noqa: E402


def problem(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = M4Law(np.log(1.2), np.log(0.9), np.array([-2.5, 0.4, 0.6]))
    r = rng.dirichlet(np.ones(3) * 1.5, size=24)
    return r, truth.predict(r) + rng.normal(0, 0.004, 24)


def paper_fit(r: np.ndarray, y: np.ndarray, starts: list[np.ndarray], delta: float = 0.05) -> float:
    """The paper's per-start torch LBFGS, 50 outer steps; the best train Huber (mean) over starts."""
    x, t = torch.tensor(r, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    best = np.inf
    for p0 in starts:
        p = torch.nn.Parameter(torch.tensor(p0, dtype=torch.float32))
        opt = torch.optim.LBFGS([p], lr=0.01, history_size=10, max_iter=20, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.huber_loss(t, torch.exp(p[0]) + torch.exp(p[1] + x @ p[2:]),
                                                  delta=delta, reduction="sum")
            loss.backward()
            return loss

        for _ in range(50):
            opt.step(closure)
            with torch.no_grad():
                pred = (torch.exp(p[0]) + torch.exp(p[1] + x @ p[2:])).numpy()
            loss = float(huber(pred - y, delta).mean())
            if np.isfinite(loss):
                best = min(best, loss)
    return best


def paper_errors() -> None:
    """Table 1 (3 domains, 24 fit / 8 validation) and the 5-domain explicit aggregate, as the tests fit them."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "baselines"))
    import json
    from pathlib import Path

    from test_mixing_paper_data import (COARSE, PAPER_M4_MAE, TABLE1_VALIDATION, coarse_loss, load_losses,
                                        shares)

    root = Path(os.environ.get("DCBENCH_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    mixing = root / "mixing"
    if not mixing.is_dir():
        print(f"--paper: {mixing} is absent")
        return
    losses = load_losses(mixing / "3Mix" / "410M.txt")
    fit = [m for m in losses if m not in TABLE1_VALIDATION]
    rf, rv = np.array([shares(m) for m in fit]), np.array([shares(m) for m in TABLE1_VALIDATION])
    print("Table 1, 410M at 60k steps, validation MAE of M4 (ours / paper):")
    for d, paper in PAPER_M4_MAE.items():
        law = fit_m4(rf, np.array([losses[m][d][60000] for m in fit]))
        err = np.mean(np.abs(law.predict(rv) - np.array([losses[m][d][60000] for m in TABLE1_VALIDATION])))
        print(f"  {d:8} {err:.4f} / {paper:.4f}")
    weights = json.loads((mixing / "valid_weight.json").read_text())
    losses = load_losses(mixing / "5Mix" / "70M.txt")
    mixes = sorted(losses)
    r = np.array([shares(m) for m in mixes])
    w = {d: sum(weights[s] for s in subs) for d, subs in COARSE.items()}
    y = {d: np.array([coarse_loss(losses, m, d, 30000, weights) for m in mixes]) for d in COARSE}
    total = sum(w[d] * y[d] for d in COARSE)
    full = sum(w[d] * fit_m4(r, y[d]).predict(r) for d in COARSE)
    print(f"5 domains, 70M at 30k: explicit MAE fitting all 26 (the notebook's way) {np.mean(np.abs(full - total)):.4f}"
          f" (notebook, on 6 of them: 0.0086)")
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(len(mixes))
        a, b = order[:20], order[20:]
        pred = sum(w[d] * fit_m4(r[a], y[d][a]).predict(r[b]) for d in COARSE)
        print(f"  held out (fit 20, predict 6), split {seed}: {np.mean(np.abs(pred - total[b])):.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--starts", type=int, default=200, help="starts timed for each method (default 200)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--paper", action="store_true", help="also fit the paper's losses (30 draws: 6000 starts)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    r, y = problem()
    starts = list(m4_starts(3, draws=1))[: args.starts]  # the paper's grid, one t draw per (log_c, log_k)
    draws = max(1, args.starts // 200)
    ours, theirs, ours_loss, their_loss = [], [], None, None
    for _ in range(args.repeats):
        t0 = time.process_time()
        law = fit_m4(r, y, draws=draws, profile=False)
        ours.append(law.report.starts / (time.process_time() - t0))
        ours_loss = law.report.loss
        t0 = time.process_time()
        their_loss = paper_fit(r, y, starts)
        theirs.append(len(starts) / (time.process_time() - t0))
    print(f"M4 fit, 3 sources x 24 mixtures, median of {args.repeats}, one core (CPU time); ours from "
          f"{law.report.starts} starts, the paper's from {len(starts)} of the same grid")
    print(f"  ours  (scipy L-BFGS-B, analytic gradient): {statistics.median(ours):8.1f} starts/s, "
          f"best Huber {ours_loss:.3e}")
    print(f"  paper (torch LBFGS, 50 x 20 iterations):  {statistics.median(theirs):8.1f} starts/s, "
          f"best Huber {their_loss:.3e}")
    print(f"  speed-up {statistics.median(ours) / statistics.median(theirs):.1f}x")
    if args.paper:
        paper_errors()


if __name__ == "__main__":
    main()
