"""`flows.reproduce`: every recipe through process -> tokenize -> train -> eval on one
small pool, with one shared tokenizer, and a second call that redoes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dcbench.baselines.quality.fasttext_quality import train as train_classifier
from dcbench.errors import ConfigError
from dcbench.flows.reproduce import RECIPES_DIR, not_ranked_error, reproduce, submit_all
from dcbench.flows.toy_setup import TOY_CLASSIFIER
from dcbench.flows.toy_suite import build_toy_suite
from dcbench.pools.toy import build_toy_pool
from dcbench.tiers import TOKENIZER_SHA256
from dcbench.training.scales import get_tier
from dcbench.training.tokenizer import file_sha256

RECIPES = ("dclm_baseline", "unfiltered")


@pytest.fixture(scope="module")
def small_pool(tmp_path_factory) -> Path:
    pool = tmp_path_factory.mktemp("pool")
    manifest = build_toy_pool(str(pool), n_docs=400, n_shards=2, seed=3)
    train_classifier([f"{pool}/reference/hq.jsonl"], manifest.shard_uris(str(pool)), str(pool / TOY_CLASSIFIER),
                     bucket=20_000, seed=45)
    build_toy_suite(pool / "eval", seed=3, n_items=20)
    return pool


def _log_lines(run_dir: str) -> int:
    return sum(1 for _ in (Path(run_dir) / "train_log.jsonl").open())


@pytest.mark.slow
def test_reproduce_runs_every_stage_then_resumes(ray_session, small_pool, tmp_path, capsys):
    out = tmp_path / "repro"
    lines: list[str] = []
    first = reproduce(pool=str(small_pool), out=str(out), recipes=RECIPES, workers=2, max_steps=3,
                      progress=lines.append)

    assert [s["recipe"] for s in first] == list(RECIPES)
    shas = set()
    for s in first:
        dirs = {k: Path(v) for k, v in s["dirs"].items()}
        assert set(dirs) == {"dataset", "tokens", "model", "eval"} and all(d.is_dir() for d in dirs.values())
        dataset = json.loads((dirs["dataset"] / "manifest.json").read_text())
        tokens = json.loads((dirs["tokens"] / "manifest.json").read_text())
        model = json.loads((dirs["model"] / "manifest.json").read_text())
        assert dataset["kind"] == "dataset" and tokens["kind"] == "tokens" and model["kind"] == "model"
        assert (dirs["model"] / "model" / "model.pt").is_file() and model["extra"]["steps"] == 3
        # the id chain: dataset -> tokens -> model -> eval
        assert tokens["inputs"]["dataset"] == dataset["id"] == s["ids"]["dataset"]
        assert model["inputs"]["tokens"] == tokens["id"] == s["ids"]["tokens"]
        assert model["id"] == s["ids"]["model"]
        results = json.loads(Path(s["eval_path"]).read_text())
        assert results["suite"] == "toy" and results["complete"] and results["id"] == s["ids"]["eval"]
        assert isinstance(results["aggregates"]["TOY"], float) and results["aggregates"]["TOY"] == s["score"]
        assert len(results["tasks"]) == 6 and set(s["accuracy"]) == set(results["tasks"])
        chain = json.dumps(results["model"])
        assert dataset["id"] in chain and tokens["id"] in chain and model["id"] in chain
        # one tokenizer for every recipe: the same bytes, recorded in the token manifest
        assert tokens["inputs"]["tokenizer"] == file_sha256(s["tokenizer"]) == s["tokenizer_sha256"]
        shas.add(s["tokenizer_sha256"])
        assert s["trained"] and s["evaluated"] and set(s["seconds"]) == {"process", "tokenize", "train", "eval"}
    assert len(shas) == 1 and file_sha256(out / "tokenizer" / "tokenizer.json") in shas
    assert shas == {TOKENIZER_SHA256["bpe-1024"]}  # the tier's shipped BPE, not one trained on this pool
    dclm, raw = first
    assert dclm["documents_kept"] < raw["documents_kept"] == 400  # the filter filtered; unfiltered kept all
    assert dclm["ids"]["dataset"] != raw["ids"]["dataset"]
    assert any("dclm_baseline: train" in line for line in lines) and any("TOY" in line for line in lines)

    logs = [_log_lines(s["dirs"]["model"]) for s in first]
    mtimes = [Path(s["dirs"]["model"], "model", "model.pt").stat().st_mtime_ns for s in first]
    second = reproduce(pool=str(small_pool), out=str(out), recipes=RECIPES, workers=2, max_steps=3,
                       progress=None)
    for a, b, n, t in zip(first, second, logs, mtimes):
        assert not b["trained"] and not b["evaluated"]
        assert b["ids"] == a["ids"] and b["score"] == a["score"]
        assert _log_lines(b["dirs"]["model"]) == n
        assert Path(b["dirs"]["model"], "model", "model.pt").stat().st_mtime_ns == t
        assert b["seconds"]["train"] < 1.0 and b["seconds"]["eval"] < 1.0

    # 3 steps are a smoke run: nothing is ranked, and the command says why with exit code 3
    said: list[str] = []
    store, not_ranked = submit_all(second, str(out / "lb.sqlite"), "toy-250k-1x", say=said.append)
    assert not_ranked == list(RECIPES) and len(store) == 0
    assert all("[token_budget]" in line and "[tokenizer]" not in line for line in said), said
    from dcbench.cli import main

    capsys.readouterr()
    assert main(["reproduce", "baseline", "--pool", str(small_pool), "--out", str(out), "--max-steps", "3",
                 "--workers", "2"]) == 3
    captured = capsys.readouterr()
    assert "no submissions for tier toy-250k-1x" in captured.out
    assert "3 of 3 runs not ranked" in captured.err and "--max-steps 3 trains 3 of tier toy-250k-1x's 640" in captured.err


def test_not_ranked_says_why():
    tier = get_tier("toy-250k-1x")
    smoke = str(not_ranked_error(["dclm_baseline"], 3, 40, tier))
    assert "1 of 3 runs not ranked (dclm_baseline)" in smoke and "drop --max-steps" in smoke
    assert not_ranked_error(["x"], 1, 40, tier).exit_code == 3
    assert "See the rejections above" in str(not_ranked_error(["x"], 1, None, tier))


def test_unknown_recipe_fails_before_any_work(tmp_path, small_pool):
    with pytest.raises(ConfigError, match="no_such_recipe"):
        reproduce(pool=str(small_pool), out=str(tmp_path / "r"), recipes=("unfiltered", "no_such_recipe"),
                  progress=None)
    assert not (tmp_path / "r" / "unfiltered").exists()


def test_shipped_recipes_are_found_in_the_installed_package():
    assert {"dclm_baseline", "refinedweb"} <= {p.stem for p in RECIPES_DIR.glob("*.yaml")}
