"""Seeds as an axis, end to end on real toy models: two recipes' datasets, each trained with two
seeds by `dcbench train --seed`, evaluated on the toy suite; the seed is in the id chain, the
submission records it (and the per-item values), the leaderboard shows each dataset as one entry
with its interval and whether neighbours are separable, and `dcbench compare` compares the two
recipes over items and seeds."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from dcbench.cli import main
from dcbench.leaderboard.compare import compare_runs, load_side
from dcbench.leaderboard.html import render_leaderboard
from dcbench.leaderboard.rules import check
from dcbench.leaderboard.submission import build_submission
from dcbench.leaderboard.table import format_leaderboard
from dcbench.manifest import MANIFEST_NAME, Manifest

RECIPES = {"short": 20, "long": 400}  # page_length_filter min_length (characters)
SEEDS = (124, 7)  # the tier's own seed, and another
SMALL = ["--set", "seq_len=128", "--set", "global_batch=8", "--max-steps", "2", "--checkpoint-every", "1000"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(ray_session):
    """root/{short,long}/{dataset,tokens,model,seed-7/model}, each model evaluated on the toy suite."""
    from dcbench.baselines.recipe import recipe_from_dict
    from dcbench.eval.runner import run_suite
    from dcbench.flows.toy_suite import build_toy_suite
    from dcbench.pools.toy import build_toy_pool
    from dcbench.runner import run
    from dcbench.shards import read_shard
    from dcbench.training.tokenize import tokenize_dataset
    from dcbench.training.tokenizer import train_bpe

    root = Path(tempfile.mkdtemp(prefix="dcbseed"))  # Ray's socket paths must stay short
    build_toy_pool(str(root / "pool"), n_docs=200, n_shards=2)
    build_toy_suite(root / "toy_eval", seed=0, n_items=12)
    bpe = None
    for name, min_length in RECIPES.items():
        recipe = recipe_from_dict({"name": name, "steps": [{"func": "page_length_filter", "length_type": "char",
                                                            "min_length": min_length}]})
        ds = run(recipe, str(root / "pool"), str(root / name / "dataset"), workers=2)
        if bpe is None:
            texts = [d["text"] for uri in ds.manifest.shard_uris(str(root / name / "dataset"))
                     for d in read_shard(uri) if isinstance(d, dict)]
            bpe = train_bpe(texts[:150], 300, root / "bpe.json")
        tokenize_dataset(str(root / name / "dataset"), str(root / name / "tokens"), str(bpe), seq_len=128,
                         num_cells=2, shard_sequences=64)
        for seed in SEEDS:
            out = root / name / ("model" if seed == 124 else f"seed-{seed}/model")
            assert main(["train", "--tier", "toy-250k-1x", "--data", str(root / name / "tokens"), "--out", str(out),
                         "--seed", str(seed), *SMALL]) == 0
            run_suite(out, "toy", tasks_dir=root / "toy_eval", out_path=out / "eval_toy.json", progress=False,
                      tokenizer=str(bpe))
    return root


def _model_dirs(root: Path, name: str) -> list[Path]:
    return [root / name / ("model" if s == 124 else f"seed-{s}/model") for s in SEEDS]


def test_the_seed_is_in_the_id_chain_and_the_submission(runs):
    for name in RECIPES:
        mans = [Manifest.load(str(d / MANIFEST_NAME)) for d in _model_dirs(runs, name)]
        assert mans[0].inputs["tokens"] == mans[1].inputs["tokens"] and mans[0].id != mans[1].id
        assert "seed" not in mans[0].inputs["overrides"] and mans[1].inputs["overrides"]["seed"] == 7
        docs = [build_submission(model_dir=d, eval_json=d / "eval_toy.json") for d in _model_dirs(runs, name)]
        assert [d["model"]["seed"] for d in docs] == list(SEEDS)
        assert docs[0]["chain"]["dataset"] == docs[1]["chain"]["dataset"] and docs[0]["id"] != docs[1]["id"]
        assert all(d["chain"]["model"] == m.id for d, m in zip(docs, mans))
        # the seed is no rule's business (the small --set overrides and --max-steps are)
        hyper = [str(r) for r in check(docs[1]) if r.rule == "hyperparameters"]
        assert len(hyper) == 1 and "overrode ['global_batch', 'seq_len']" in hyper[0]
        items = docs[1]["eval"]["items"]
        assert set(items) == set(docs[1]["eval"]["tasks"]) and all(len(v["correct"]) == 12 for v in items.values())


def test_compare_two_recipes_over_items_and_seeds(runs, capsys):
    a, b = str(runs / "short"), str(runs / "long")
    assert main(["compare", a, b, "--json", "--samples", "500"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["seeds"] == {"A": 2, "B": 2} and out["aggregate"]["name"] == "TOY"
    assert out["aggregate"]["low"] <= out["aggregate"]["diff"] <= out["aggregate"]["high"]
    # the point estimate is the seeds' mean TOY computed from the items: check it by hand
    side_a, side_b = load_side(a), load_side(b)
    assert len(side_a) == len(side_b) == 2
    n_tasks = len(out["tasks"])
    by_hand = 0.0
    for task in out["tasks"]:
        acc = [sum(float(r.items[task["name"]]["correct"].mean()) for r in side) / 2 for side in (side_a, side_b)]
        b_pct = side_a[0].baselines[task["name"]] / 100
        by_hand += (acc[0] - acc[1]) / (1 - b_pct) / n_tasks
        assert task["items"] == 12
    assert out["aggregate"]["diff"] == pytest.approx(by_hand)
    assert main(["compare", a, b]) == 0
    text = capsys.readouterr().out
    assert "(2 runs)" in text and "verdict: " in text and "over items and seeds" in text
    same = compare_runs(side_a, load_side(a), samples=200)
    assert same.aggregate.diff == 0 and same.aggregate.verdict == "no detectable difference at this size"


def test_the_leaderboard_shows_each_dataset_once_with_its_interval(runs):
    rows = []
    for name in RECIPES:
        for d in _model_dirs(runs, name):
            doc = build_submission(model_dir=d, eval_json=d / "eval_toy.json")
            rows.append({"id": doc["id"], "name": name, "tier": doc["tier"], "track": doc["track"],
                         "source": "dcbench", "toy": doc["eval"]["aggregates"]["TOY"], "core": None,
                         "dataset_id": doc["chain"]["dataset"], "seed": doc["model"]["seed"], "submission": doc})
    text = format_leaderboard(rows)
    lines = [line for line in text.splitlines() if "(2 runs)" in line]
    assert len(lines) == 2 and {"short", "long"} == {line.split()[2] for line in lines}
    assert "seeds" in text and "95% interval" in text and "vs next" in text
    first, last = lines[0].split(), lines[1].split()
    assert first[-5] in (">", "~") and last[-5] == "-"  # the top entry is tested against the next; the last has none
    page = render_leaderboard(rows)
    assert "95% interval" in page and "vs next" in page and page.count('class="num interval"') == 2
