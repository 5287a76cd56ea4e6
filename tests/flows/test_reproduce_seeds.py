"""`reproduce(seeds=N)`: N training seeds of every recipe on one dataset and its tokens, laid out
so that `dcbench compare OUT/A OUT/B` finds them, reported with their spread, and resumed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dcbench.errors import ConfigError
from dcbench.flows.reproduce import reproduce, submit_all, training_seeds
from dcbench.flows.toy_suite import build_toy_suite
from dcbench.leaderboard.compare import compare_runs, load_side
from dcbench.pools.toy import build_toy_pool
from dcbench.training.scales import get_tier


def test_training_seeds_start_at_the_tiers_own():
    tier = get_tier("toy-250k-1x")
    assert training_seeds(tier, 3) == [tier.seed, tier.seed + 1, tier.seed + 2]
    with pytest.raises(ConfigError, match="--seeds 0"):
        training_seeds(tier, 0)


@pytest.mark.slow
def test_reproduce_trains_every_seed_then_resumes(ray_session, tmp_path):
    pool = tmp_path / "pool"
    build_toy_pool(str(pool), n_docs=200, n_shards=2, seed=5)
    build_toy_suite(pool / "eval", seed=5, n_items=10)
    short = tmp_path / "short.yaml"
    short.write_text("name: short\nsteps:\n  - func: page_length_filter\n    length_type: char\n    min_length: 300\n")
    out = tmp_path / "repro"
    lines: list[str] = []
    runs = reproduce(pool=str(pool), out=str(out), recipes=("unfiltered", str(short)), workers=2, max_steps=2,
                     seeds=2, progress=lines.append)

    assert [(r["recipe"], r["seed"]) for r in runs] == [("unfiltered", 124), ("unfiltered", 125),
                                                        ("short", 124), ("short", 125)]
    for first, second in (runs[:2], runs[2:]):
        assert first["ids"]["tokens"] == second["ids"]["tokens"] and first["ids"]["model"] != second["ids"]["model"]
        assert Path(second["dirs"]["model"]) == out / first["recipe"] / "seed-125" / "model"
        man = json.loads((Path(second["dirs"]["model"]) / "manifest.json").read_text())
        assert man["inputs"]["overrides"] == {"seed": 125}
        assert set(first["seconds"]) == {"process", "tokenize", "train", "eval"}
        assert set(second["seconds"]) == {"train", "eval"}  # the dataset and tokens are shared
    assert sum("over 2 seeds" in line for line in lines) == 2

    c = compare_runs(load_side(str(out / "unfiltered")), load_side(str(out / "short")), samples=200)
    assert c.seeds == (2, 2) and c.aggregate.items == 60

    store, not_ranked = submit_all(runs, str(tmp_path / "lb.sqlite"), "toy-250k-1x", say=lines.append)
    store.close()
    assert not_ranked == ["unfiltered seed 124", "unfiltered seed 125", "short seed 124", "short seed 125"]
    assert any(line.startswith("short seed 125: not ranked") for line in lines)  # --max-steps: never ranked

    again = reproduce(pool=str(pool), out=str(out), recipes=("unfiltered", str(short)), workers=2, max_steps=2,
                      seeds=2, progress=None)
    assert not any(r["trained"] or r["evaluated"] for r in again)
    assert [r["ids"] for r in again] == [r["ids"] for r in runs]
