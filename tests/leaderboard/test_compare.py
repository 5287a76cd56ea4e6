"""`dcbench compare`'s statistics on hand-written results files with known answers: identical files
differ by nothing, a shifted copy by the shift, a clear gap is called, seeds widen the interval,
reruns print the same, and what cannot be paired is refused with exit code 3."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from dcbench.cli import main
from dcbench.errors import DataError
from dcbench.leaderboard.compare import (
    Z_80, Z_95, compare_runs, items_needed, load_side, run_from_results, t_interval)

NONE = "no detectable difference at this size"


def results(seed: int = 0, n: int = 200, p_right: float = 0.6, model: str | None = None) -> dict:
    """A toy-suite results dict with per-item values (the schema `dcbench eval` writes)."""
    rng = np.random.default_rng(seed)
    tasks, items = {}, {}
    for task, baseline in (("alpha", 25.0), ("beta", 50.0)):
        correct = (rng.random(n) < p_right).astype(int)
        p_correct = np.clip(0.5 * correct + 0.5 * rng.random(n), 0, 1)
        items[task] = {"correct": correct.tolist(), "p_correct": p_correct.round(6).tolist(),
                       "bpb": (2.0 + rng.random(n)).round(6).tolist(), "margin": (p_correct - 0.5).round(6).tolist()}
        tasks[task] = {"accuracy": float(correct.mean()), "n": n, "random_baseline": baseline}
    items["lm"] = {"correct": [1] * n, "p_correct": None, "bpb": (1.0 + rng.random(n)).round(6).tolist(),
                   "margin": None}
    tasks["lm"] = {"accuracy": 1.0, "n": n, "random_baseline": 0.0}
    model = model or f"model-{seed:016x}"
    return {"suite": "toy", "tasks": tasks, "items": items, "id": f"eval-{seed:016x}",
            "model": {"id_chain": {"model": model, "dataset": "dataset-0"}}, "aggregates": {"TOY": 0.1}}


def write(path: Path, data: dict) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return str(path)


def test_identical_files_differ_by_nothing(tmp_path, capsys):
    a = write(tmp_path / "a.json", results(1))
    b = write(tmp_path / "b.json", results(1))
    c = compare_runs(load_side(a), load_side(b))
    for d in [c.aggregate, *c.tasks]:
        assert d.diff == 0 and d.low == 0 == d.high and d.p_a_better == 0.5 and d.verdict == NONE
        assert d.items_needed is None  # no difference observed: no item count would separate them
    assert c.aggregate.name == "TOY" and c.aggregate.items == 600
    assert main(["compare", a, b]) == 0
    out = capsys.readouterr().out
    assert "verdict: no detectable difference at this size (no difference observed over 600 items)" in out


@pytest.mark.parametrize("metric,shift", [("bpb", 0.1), ("p_correct", -0.05)])
def test_a_shifted_copy_differs_by_the_shift(tmp_path, metric, shift):
    base = results(2)
    shifted = json.loads(json.dumps(base))
    for task in shifted["items"].values():
        if task[metric] is not None:
            task[metric] = [v + shift for v in task[metric]]
    c = compare_runs(load_side(write(tmp_path / "a.json", base)), load_side(write(tmp_path / "b.json", shifted)),
                     metric=metric)
    for d in [c.aggregate, *c.tasks]:
        assert d.diff == pytest.approx(-shift, abs=1e-9)
        assert d.low == pytest.approx(-shift, abs=1e-9) and d.high == pytest.approx(-shift, abs=1e-9)
    # bpb: lower is better, so B (shifted up) is worse; p_correct: B shifted down is worse too
    assert c.aggregate.verdict == "A better" and c.aggregate.p_a_better == 1.0
    assert [t.name for t in c.tasks] == (["alpha", "beta", "lm"] if metric == "bpb" else ["alpha", "beta"])


def test_a_clear_gap_is_called_and_the_aggregate_is_centered(tmp_path):
    strong, weak = results(3, p_right=0.9), results(4, p_right=0.4)
    c = compare_runs([run_from_results(strong, "A")], [run_from_results(weak, "B")])
    assert c.aggregate.verdict == "A better" and c.aggregate.p_a_better > 0.99 and c.aggregate.low > 0
    acc = {s: {t: np.mean(r["items"][t]["correct"]) for t in ("alpha", "beta", "lm")} for s, r in
           (("a", strong), ("b", weak))}
    toy = {s: np.mean([(acc[s]["alpha"] - .25) / .75, (acc[s]["beta"] - .5) / .5, acc[s]["lm"]]) for s in acc}
    assert c.aggregate.a == pytest.approx(toy["a"]) and c.aggregate.b == pytest.approx(toy["b"])
    assert c.aggregate.diff == pytest.approx(toy["a"] - toy["b"])
    swapped = compare_runs([run_from_results(weak, "A")], [run_from_results(strong, "B")])
    assert swapped.aggregate.verdict == "B better" and swapped.aggregate.p_a_better < 0.01


def test_a_small_gap_reports_the_items_needed_by_the_formula(tmp_path):
    c = compare_runs([run_from_results(results(5, p_right=0.6), "A")],
                     [run_from_results(results(6, p_right=0.58), "B")], samples=500)
    agg = c.aggregate
    if agg.verdict == NONE:
        assert agg.items_needed == math.ceil(agg.items * ((Z_95 + Z_80) * agg.se / abs(agg.diff)) ** 2)
        assert agg.items_needed > agg.items
    assert items_needed(100, 0.05, 0.1) == math.ceil(100 * ((Z_95 + Z_80) * 0.5) ** 2)
    assert items_needed(100, 0.05, 0.0) is None


def test_reruns_print_the_same_and_the_seed_changes_the_draws(tmp_path, capsys):
    a = write(tmp_path / "a.json", results(7))
    b = write(tmp_path / "b.json", results(8))
    outs = []
    for seed in ("0", "0", "1"):
        assert main(["compare", a, b, "--json", "--seed", seed, "--samples", "300"]) == 0
        outs.append(json.loads(capsys.readouterr().out))
    assert outs[0] == outs[1] and outs[0]["aggregate"]["low"] != outs[2]["aggregate"]["low"]
    assert outs[0]["aggregate"]["diff"] == outs[2]["aggregate"]["diff"]  # the point estimate draws nothing
    assert outs[0]["items_needed_formula"] == "n x ((1.96 + 0.84) x se / |d|)^2"


def test_seeds_in_a_directory_form_one_side_and_widen_the_interval(tmp_path):
    for s in range(3):  # three seeds of one recipe, as `dcbench reproduce --seeds 3` lays them out
        write(tmp_path / "a" / f"seed-{s}" / "eval" / "toy.json", results(10 + s, model=f"model-a{s}"))
    write(tmp_path / "b" / "eval" / "toy.json", results(20, model="model-b"))
    side_a = load_side(str(tmp_path / "a"))
    assert len(side_a) == 3
    with_seeds = compare_runs(side_a, load_side(str(tmp_path / "b")), samples=400)
    one_seed = compare_runs(side_a[:1], load_side(str(tmp_path / "b")), samples=400)
    assert with_seeds.seeds == (3, 1)
    # averaging three seeds' items shrinks the item noise; the seed draw is part of the interval either way
    assert with_seeds.aggregate.low <= with_seeds.aggregate.diff <= with_seeds.aggregate.high
    assert one_seed.aggregate.low <= one_seed.aggregate.diff <= one_seed.aggregate.high


def test_what_cannot_be_paired_is_refused(tmp_path, capsys):
    a = write(tmp_path / "a.json", results(1))
    short = results(2, n=150)
    assert main(["compare", a, write(tmp_path / "short.json", short)]) == 3
    assert "different numbers of items" in capsys.readouterr().err
    old = results(3)
    del old["items"]
    assert main(["compare", a, write(tmp_path / "old.json", old)]) == 3
    assert "re-run `dcbench eval`" in capsys.readouterr().err
    other = results(4)
    other["suite"] = "core"
    assert main(["compare", a, write(tmp_path / "core.json", other)]) == 3
    assert main(["compare", a, str(tmp_path / "nothere.json"), "--store", str(tmp_path / "none.sqlite")]) == 3
    assert "leaderboard id" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["compare", a, a, "--metric", "loss"])
    assert e.value.code == 2
    assert main(["compare", a, a, "--samples", "10"]) == 2
    with pytest.raises(DataError):
        load_side(str(tmp_path / "empty"))  # does not exist


def test_t_interval_over_seeds():
    mean, sd, low, high = t_interval([1.0, 2.0, 3.0])
    assert (mean, sd) == (2.0, 1.0)
    assert high - mean == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)  # t(0.975, df=2) = 4.3027
    assert t_interval([0.4]) is None


def test_a_side_is_one_datasets_seeds(tmp_path, capsys):
    for i, dataset in enumerate(("dataset-1", "dataset-2")):
        r = results(30 + i, model=f"model-{i}")
        r["model"]["id_chain"]["dataset"] = dataset
        write(tmp_path / "mixed" / f"r{i}" / "eval.json", r)
    b = write(tmp_path / "b.json", results(40))
    assert main(["compare", str(tmp_path / "mixed"), b]) == 3
    assert "A holds runs of 2 datasets" in capsys.readouterr().err
