"""Mixing laws on data whose law we know: recovery, the grid, the optimiser, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dcbench.baselines.mixing.fitted import MixingLaw, fit_mixing_law
from dcbench.baselines.mixing.grid import caps_from_tokens, double_diminishing_grid, sample_dirichlet, sample_grid
from dcbench.baselines.mixing.laws import ImplicitLaw, M4Law, fit_m4, fit_size_law, fit_step_law
from dcbench.mixture import Mixture, load_mixture, save_mixture
from dcbench.baselines.mixing.optimize import optimize
from dcbench.baselines.mixing.runs import Run, append_run, load_runs, predict_to, table
from dcbench.cli import main
from dcbench.errors import ConfigError, DataError

TRUE = {  # three validation domains over three sources; each domain is helped most by its own source
    "a": M4Law(np.log(1.2), np.log(0.9), np.array([-2.5, 0.4, 0.6])),
    "b": M4Law(np.log(2.0), np.log(0.6), np.array([0.3, -1.8, 0.2])),
    "c": M4Law(np.log(1.6), np.log(1.1), np.array([0.5, 0.1, -3.0])),
}
NOISE = 0.004


def _synthetic(n: int, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    r = rng.dirichlet(np.ones(3) * 1.5, size=n)
    clean = {d: law.predict(r) for d, law in TRUE.items()}
    noisy = {d: y + rng.normal(0, NOISE, n) for d, y in clean.items()}
    return r, clean, noisy


@pytest.mark.slow
def test_m4_recovers_a_known_law_to_the_noise_level():
    r, clean, noisy = _synthetic(32, seed=1)
    fit, held = slice(0, 24), slice(24, 32)
    for d, truth in TRUE.items():
        law = fit_m4(r[fit], noisy[d][fit], draws=1)
        # held-out error against the truth is below the noise, and against noisy
        # observations it is what the noise alone costs (E|N(0, s)| = 0.8 s)
        assert np.mean(np.abs(law.predict(r[held]) - clean[d][held])) < NOISE
        assert np.mean(np.abs(law.predict(r[held]) - noisy[d][held])) < 1.5 * 0.8 * NOISE
        # t is identified up to a shift on the simplex: compare centred rows
        assert np.allclose(law.t - law.t.mean(), truth.t - truth.t.mean(), atol=0.35)
        assert law.c == pytest.approx(truth.c, abs=0.08)


@pytest.mark.slow
def test_m4_fit_is_exact_without_noise_and_deterministic():
    r, clean, _ = _synthetic(20, seed=2)
    a = fit_m4(r, clean["a"], draws=1)
    b = fit_m4(r, clean["a"], draws=1)
    assert np.max(np.abs(a.predict(r) - clean["a"])) < 1e-4
    assert a.to_dict() == b.to_dict()


def test_fit_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="one loss per mixture"):
        fit_m4(np.ones((4, 3)) / 3, np.ones(5))


@pytest.mark.slow
def test_implicit_model_recovers_an_unknown_composition():
    r, clean, _ = _synthetic(40, seed=3)
    shares = {"a": 0.5, "b": 0.3, "c": 0.2}  # hidden from the model
    total = sum(w * clean[d] for d, w in shares.items())
    model = ImplicitLaw.fit(r[:32], total[:32], k=3, iters=3000, restarts=2)
    held_err = np.mean(np.abs(model.predict(r[32:]) - total[32:]))
    spread = np.mean(np.abs(total[32:] - total[:32].mean()))  # a constant guess
    assert held_err < 0.1 * spread
    assert model.shares().sum() == pytest.approx(1.0)
    again = ImplicitLaw.from_dict(json.loads(json.dumps(model.to_dict())))
    assert np.allclose(again.predict(r), model.predict(r))


@pytest.mark.slow
def test_step_and_size_laws_extrapolate_known_curves():
    steps = np.array([1000, 1500, 2000, 3000, 4000, 6000, 8000])
    true = lambda s, e, b, beta: e + b / s**beta  # noqa: E731
    y = np.stack([true(steps, 2.0, 30.0, 0.5), true(steps, 2.5, 60.0, 0.5)], axis=1)
    law = fit_step_law(steps, y, draws=3)
    far = law.predict(40000)[0]
    assert far == pytest.approx([true(40000, 2.0, 30.0, 0.5), true(40000, 2.5, 60.0, 0.5)], abs=5e-3)
    assert law.alpha == pytest.approx(0.5, abs=0.05)
    sizes = np.array([2e6, 8e6, 3e7, 1e8])
    ys = true(sizes, 1.8, 400.0, 0.35)
    big = fit_size_law(sizes, ys, draws=3).predict(1e9)[0, 0]
    assert big == pytest.approx(true(1e9, 1.8, 400.0, 0.35), abs=5e-3)


# ------------------------------------------------------------------ grid and caps


def test_grid_levels_halve_from_the_floored_cap_and_the_last_source_takes_the_rest():
    grid = double_diminishing_grid([0.3, 1.0, 1.0])
    first = sorted(set(grid[:, 0]))
    assert first == [0.0, 0.0625, 0.125, 0.25]  # 0.3 floors to 0.25, then 0.125, 0.0625, below 1/16 -> 0
    assert np.allclose(grid.sum(1), 1)
    assert (grid[:, 2] <= 1).all() and (grid >= 0).all()


def test_grid_respects_caps_and_refuses_unfillable_caps():
    grid = double_diminishing_grid([0.5, 0.5, 0.2])
    assert (grid[:, 2] <= 0.2 + 1e-12).all() and (grid[:, 0] <= 0.5).all()
    with pytest.raises(ConfigError, match="cannot fill"):
        double_diminishing_grid([0.2, 0.2, 0.2])


def test_caps_from_tokens_and_samplers():
    caps = caps_from_tokens({"a": 5e9, "b": 50e9}, 10e9)
    assert caps == {"a": 0.5, "b": 1.0}
    g = sample_grid(5, [1, 1, 1], seed=4)
    assert len({tuple(x) for x in g}) == 5 and np.array_equal(g, sample_grid(5, [1, 1, 1], seed=4))
    d = sample_dirichlet(20, [0.6, 1, 1], seed=5)
    assert np.allclose(d.sum(1), 1) and (d[:, 0] <= 0.6).all()
    with pytest.raises(ConfigError, match="only"):
        sample_grid(10_000, [1, 1, 1])


# ------------------------------------------------------------------ optimiser


def _law() -> MixingLaw:
    return MixingLaw(["x", "y", "z"], dict(TRUE), valid_weights={"a": 0.5, "b": 0.3, "c": 0.2})


def test_optimize_finds_the_grid_argmin_under_caps_deterministically():
    law, caps = _law(), [0.5, 1.0, 0.4]
    best = optimize(law, caps)
    grid = double_diminishing_grid(caps)
    assert best.predicted == pytest.approx(law.predict(grid).min())
    assert (best.weights <= np.array(caps) + 1e-12).all() and best.weights.sum() == pytest.approx(1)
    assert np.array_equal(best.weights, optimize(law, caps).weights)


def test_simplex_refinement_is_no_worse_and_keeps_bounds():
    law, caps = _law(), [0.5, 1.0, 0.4]
    grid_best = optimize(law, caps)
    simplex = optimize(law, caps, method="simplex", floor=0.05)
    assert (simplex.weights >= 0.05 - 1e-9).all() and (simplex.weights <= np.array(caps) + 1e-9).all()
    assert simplex.weights.sum() == pytest.approx(1)
    unfloored = optimize(law, caps, method="simplex")
    assert unfloored.predicted <= grid_best.predicted + 1e-12
    with pytest.raises(ConfigError, match="floor"):
        optimize(law, caps, floor=0.45)


# ------------------------------------------------------------------ files, runs, CLI


def test_mixture_files_check_weights_and_resolve_paths(tmp_path):
    m = Mixture({"a": "pa", "b": "s3://bucket/b"}, {"a": 0.25, "b": 0.75})
    path = save_mixture(m, tmp_path / "m.yaml")
    back = load_mixture(path)
    assert back.sources == {"a": str(tmp_path / "pa"), "b": "s3://bucket/b"} and back.weights == m.weights
    with pytest.raises(ConfigError, match="sum to 1"):
        Mixture({"a": "x", "b": "y"}, {"a": 0.5, "b": 0.6})
    with pytest.raises(ConfigError, match="missing"):
        Mixture({"a": "x", "b": "y"}, {"a": 1.0})
    (tmp_path / "bad.yaml").write_text("kind: recipe\n")
    with pytest.raises(ConfigError, match="not a mixture"):
        load_mixture(tmp_path / "bad.yaml")


@pytest.mark.slow
def test_runs_table_and_nested_prediction(tmp_path):
    path = tmp_path / "runs.jsonl"
    steps = [1000, 2000, 4000, 8000]
    for i, w in enumerate([0.2, 0.5, 0.8]):
        for s in steps:
            loss = 2.0 + w + 20.0 / s**0.5
            append_run(path, Run(f"m{i}", {"x": w, "y": 1 - w}, {"v": loss}, s, 1e6))
    runs = load_runs(path)
    assert len(runs) == 12
    with pytest.raises(DataError, match="twice"):
        table(runs)
    at = table(predict_to(runs, target_step=64000, draws=2))
    assert at.losses["v"] == pytest.approx([2.0 + w + 20.0 / 64000**0.5 for w in (0.2, 0.5, 0.8)], abs=5e-3)
    (tmp_path / "bad.jsonl").write_text('{"mixture": "m"}\n')
    with pytest.raises(DataError, match="bad.jsonl:1"):
        load_runs(tmp_path / "bad.jsonl")


@pytest.mark.slow
def test_cli_fit_then_optimize_writes_a_mixture_tokenize_can_read(tmp_path, capsys):
    r, _, noisy = _synthetic(16, seed=6)
    runs = tmp_path / "runs.jsonl"
    for i, row in enumerate(r):
        append_run(runs, Run(f"m{i}", dict(zip("xyz", map(float, row))), {d: float(noisy[d][i]) for d in TRUE},
                             sources={"x": "/data/x", "y": "/data/y", "z": "/data/z"}))
    law_path = tmp_path / "law.json"
    args = ["mix", "fit", str(runs), "--draws", "1", "-o", str(law_path)]
    assert main(args) == 2  # no aggregation named
    assert main(args + ["--valid-weight", "a=1", "--valid-weight", "b=1", "--valid-weight", "c=2"]) == 0
    out = tmp_path / "best.yaml"
    assert main(["mix", "optimize", str(law_path), "--cap", "x=0.5", "-o", str(out)]) == 0
    best = load_mixture(out)
    assert best.sources == {"x": "/data/x", "y": "/data/y", "z": "/data/z"}
    assert best.weights["x"] <= 0.5
    law = MixingLaw.load(law_path)
    assert best.extra["predicted_loss"] == pytest.approx(float(law.predict(np.array([best.vector()]))[0]))
    assert law.valid_weights == pytest.approx({"a": 0.25, "b": 0.25, "c": 0.5})
    text = capsys.readouterr().out
    assert "t_ij" in text and "predicted loss" in text


def test_cli_propose_writes_distinct_mixtures_with_paths_from_their_folder(tmp_path, capsys):
    src = tmp_path / "data" / "web"
    src.mkdir(parents=True)
    out = tmp_path / "mixes"
    assert main(["mix", "propose", "--source", f"web={src}", "--source", "b=/abs/b", "--cap", "web=0.5",
                 "-n", "4", "-o", str(out)]) == 0
    files = sorted(out.glob("*.yaml"))
    mixes = [load_mixture(f) for f in files]
    assert len(files) == 4 and len({tuple(m.vector()) for m in mixes}) == 4
    assert all(m.sources["web"] == str(src) and m.weights["web"] <= 0.5 for m in mixes)
    assert main(["mix", "propose", "--source", "a=x", "-n", "2", "--cap", "zz=0.1", "-o", str(out)]) == 2
