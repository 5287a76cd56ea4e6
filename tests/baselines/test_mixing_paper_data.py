"""Our mixing-law fits against the paper's own training losses (../shared/data/mixing).

The loss files are the authors' whitespace-separated text: checkpoint path,
validation file, loss. They are read by the small loader here, never by the
product. Tests skip where the folder is absent.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from dcbench.baselines.mixing.grid import double_diminishing_grid
from dcbench.baselines.mixing.laws import fit_m4, fit_step_law

# the paper's grouping of the 22 Pile validation sets into 5 coarse domains (mix_5_domains)
COARSE = {
    "academic": ["ArXiv", "PubMed_Abstracts", "PhilPapers", "NIH_ExPorter", "FreeLaw", "USPTO_Backgrounds",
                 "PubMed_Central"],
    "prose": ["PG19", "Books3", "BookCorpus2"],
    "dialogue": ["Ubuntu_IRC", "OpenSubtitles", "EuroParl", "Enron_Emails", "HackerNews", "YoutubeSubtitles"],
    "symbolic": ["DM_Mathematics", "Github"],
    "internet": ["Pile-CC", "OpenWebText2", "StackExchange", "Wikipedia_en"],
}


@pytest.fixture(scope="module")
def mixing(shared_data: Path) -> Path:
    path = shared_data / "mixing"
    if not path.is_dir():
        pytest.skip(f"{path} is absent: the mixing-law paper's losses are not on this machine")
    return path


def load_losses(path: Path, *, keep_default: bool = False) -> dict[str, dict[str, dict[int, float]]]:
    """mixture ("0.25-0.75") -> validation set -> step -> loss. Run ids above 900 (the
    default and optimised mixtures) are dropped unless `keep_default`, as the paper's loader does."""
    out: dict = defaultdict(lambda: defaultdict(dict))
    for line in set(path.read_text().splitlines()):
        parts = line.split()
        if len(parts) != 3:
            continue
        model, data, loss = parts
        run, step = model.strip("/").split("/")[-2:]
        if not step.isdigit():
            continue
        head, *shares = run.split("-")
        if int(head.split("_")[-1]) > 900 and not keep_default:
            continue
        out["-".join(shares)][data.split("/")[-1].split(".")[-2]][int(step)] = float(loss)
    return out


def shares(mixture: str) -> list[float]:
    return [float(v) for v in mixture.split("-")]


def coarse_loss(losses: dict, mixture: str, domain: str, step: int, weights: dict[str, float]) -> float:
    subs = COARSE[domain]
    norm = sum(weights[s] for s in subs)
    return sum(losses[mixture][s][step] * weights[s] / norm for s in subs)


# ------------------------------------------------------------------ Table 1: three domains


# The paper fits 24 mixtures and validates on 8 without naming them. Its
# "random guess" column (the mid-range of the fit losses, MAE on the
# validation mixtures: 0.8758 / 0.1331 / 0.1045) singles out one split of
# the 32 mixtures: of all C(32, 8) splits only this one reproduces all three
# numbers to four decimals.
TABLE1_VALIDATION = ["0.0-0.25-0.75", "0.125-0.0-0.875", "0.125-0.125-0.75", "0.125-0.5-0.375",
                     "0.25-0.125-0.625", "0.25-0.625-0.125", "0.5-0.125-0.375", "0.5-0.375-0.125"]
PAPER_M4_MAE = {"Github": 0.0365, "Books3": 0.0074, "Pile-CC": 0.0078}
PAPER_RANDOM_MAE = {"Github": 0.8758, "Books3": 0.1331, "Pile-CC": 0.1045}


def test_table1_m4_validation_error(mixing):
    losses = load_losses(mixing / "3Mix" / "410M.txt")
    assert len(losses) == 32
    fit = [m for m in losses if m not in TABLE1_VALIDATION]
    r_fit, r_val = np.array([shares(m) for m in fit]), np.array([shares(m) for m in TABLE1_VALIDATION])
    mae = {}
    for domain in PAPER_M4_MAE:
        y_fit = np.array([losses[m][domain][60000] for m in fit])
        y_val = np.array([losses[m][domain][60000] for m in TABLE1_VALIDATION])
        guess = (y_fit.max() + y_fit.min()) / 2
        assert np.mean(np.abs(y_val - guess)) == pytest.approx(PAPER_RANDOM_MAE[domain], abs=5e-5)
        law = fit_m4(r_fit, y_fit, draws=0)  # profile starts reach the grid's optimum here
        mae[domain] = float(np.mean(np.abs(law.predict(r_val) - y_val)))
    assert mae["Github"] <= 1.5 * PAPER_M4_MAE["Github"]
    assert mae["Pile-CC"] <= 1.5 * PAPER_M4_MAE["Pile-CC"]
    # Books3 does not reach the paper's 0.0074: the Huber optimum of M4 on these 24
    # mixtures (every start agrees) gives 0.025 on the 8, and the form with one
    # exponential per source (M1) gives 0.0070 there, so the split and data are right
    # and the gap is in M4 itself. Pinned so that a regression shows.
    assert mae["Books3"] < 0.03


# ------------------------------------------------------------------ five coarse domains


NOTEBOOK_FIT = {  # mix_5_domains.ipynb, 70M at 30k steps, all 26 mixtures: (best Huber loss, log_c)
    "academic": (0.0005682876217179, 0.9750),
    "prose": (0.00012334295024629682, 1.2624),
    "dialogue": (0.0005513424403034151, 1.1375),
    "symbolic": (0.0001428198884241283, 0.4750),
    "internet": (8.165960753103718e-05, 1.2402),
}


@pytest.mark.slow
def test_five_domain_fits_match_the_paper_code_and_aggregate(mixing):
    weights = json.loads((mixing / "valid_weight.json").read_text())
    losses = load_losses(mixing / "5Mix" / "70M.txt")
    mixtures = sorted(losses)
    assert len(mixtures) == 26
    r = np.array([shares(m) for m in mixtures])
    domain_weight = {d: sum(weights[s] for s in subs) for d, subs in COARSE.items()}
    y = {d: np.array([coarse_loss(losses, m, d, 30000, weights) for m in mixtures]) for d in COARSE}
    total = sum(domain_weight[d] * y[d] for d in COARSE)

    laws = {}
    for d, (huber, log_c) in NOTEBOOK_FIT.items():
        laws[d] = fit_m4(r, y[d], draws=0)  # profile starts: the same optima as the 6000-start grid
        assert laws[d].report.loss == pytest.approx(huber, rel=0.01)
        assert laws[d].log_c == pytest.approx(log_c, abs=2e-3)
    # The notebook's "held-out" 0.0086 scores these all-26 fits on 6 of the 26 (the 6
    # depend on set order, so they cannot be recovered); over all 26 the same fits give:
    explicit = sum(domain_weight[d] * laws[d].predict(r) for d in COARSE)
    assert np.mean(np.abs(explicit - total)) <= 1.5 * 0.0086

    # truly held out: fit 20, predict 6, over three seeded splits
    errors = []
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(26)
        fit, held = order[:20], order[20:]
        pred = sum(domain_weight[d] * fit_m4(r[fit], y[d][fit], draws=0).predict(r[held]) for d in COARSE)
        errors.append(np.mean(np.abs(pred - total[held])))
    assert np.mean(errors) < 0.04  # 0.019 / 0.016 / 0.051 when written: a held-out law is 2-5x the in-sample one


# ------------------------------------------------------------------ step law and grid


@pytest.mark.slow
@pytest.mark.parametrize("size", ["70M", "160M"])
def test_step_law_from_30k_steps_predicts_the_default_run_at_100k(mixing, size):
    weights = json.loads((mixing / "valid_weight.json").read_text())
    losses = load_losses(mixing / "RedPajama" / f"{size}.txt", keep_default=True)
    default = next(m for m in losses if m.startswith("0.66796875"))  # run 999, RedPajama's own mixture
    steps = sorted(s for s in losses[default]["Github"] if 10000 <= s <= 30000)
    assert len(steps) == 11
    y = np.array([[coarse_loss(losses, default, d, s, weights) for d in COARSE] for s in steps])
    law = fit_step_law(steps, y, tokens_per_step=2**20, draws=1)  # alpha shared by the 5 domains
    w = np.array([sum(weights[s] for s in COARSE[d]) for d in COARSE])
    predicted = float(law.predict(100000 * 2**20)[0] @ w)
    observed = sum(wd * coarse_loss(losses, default, d, 100000, weights) for wd, d in zip(w, COARSE))
    assert abs(predicted - observed) < 0.01  # 3.3x the steps of the fit


def test_double_diminishing_grid_holds_the_pipelines_mixtures(mixing):
    caps = [1, 1, 0.5857, 0.2588, 0.2254, 0.1779, 0.1727]  # RedPajama domains at 100B tokens
    grid = double_diminishing_grid(caps)
    rows = [shares(line) for line in (mixing / "RedPajama" / "proportions.txt").read_text().split()]
    assert len(rows) == 20
    for row in rows:
        assert np.abs(grid - np.array(row)).max(axis=1).min() < 1e-9, row
