"""Submission documents built from a real (tiny) run: the id chain links up and is verified;
editing any artefact afterwards is caught; the smoke run is rejected with what to change."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from dcbench.manifest import MANIFEST_NAME, Manifest
from dcbench.leaderboard.rules import check
from dcbench.leaderboard.submission import build_submission, load_submission, save_submission, validate_document

OVERRIDES = {"seq_len": 128, "global_batch": 8}


@pytest.fixture(scope="module")
def pipeline(ray_session):
    """pool -> dataset -> tokens -> model -> eval on the toy pool, in seconds."""
    from dcbench.baselines.recipe import recipe_from_dict
    from dcbench.runner import run
    from dcbench.eval.runner import run_suite
    from dcbench.flows.toy_suite import build_toy_suite
    from dcbench.pools.toy import build_toy_pool
    from dcbench.training.tokenize import tokenize_dataset
    from dcbench.training.tokenizer import train_bpe
    from dcbench.training.trainer import train

    # Ray's socket paths must stay short: a private temp dir, not pytest's deep one
    root = Path(tempfile.mkdtemp(prefix="dcblb"))
    build_toy_pool(str(root / "pool"), n_docs=200, n_shards=2)
    recipe = recipe_from_dict({"name": "tiny", "steps": [{"func": "page_length_filter", "min_length": 20}]})
    ds = run(recipe, str(root / "pool"), str(root / "run" / "dataset"), workers=2)
    texts = []
    for uri in ds.manifest.shard_uris(str(root / "run" / "dataset")):
        from dcbench.shards import read_shard

        texts.extend(d["text"] for d in read_shard(uri) if isinstance(d, dict))
    bpe = train_bpe(texts[:150], 300, root / "bpe.json")
    tokenize_dataset(str(root / "run" / "dataset"), str(root / "run" / "tokens"), str(bpe), seq_len=128,
                     num_cells=2, shard_sequences=64)
    train("toy-250k-1x", root / "run" / "tokens", root / "run" / "model", max_steps=2, overrides=OVERRIDES,
          checkpoint_every=1000, log=lambda *_: None)
    build_toy_suite(root / "toy_eval", seed=0, n_items=6)
    run_suite(root / "run" / "model", "toy", tasks_dir=root / "toy_eval", out_path=root / "run" / "eval.json",
              limit=3, progress=False, tokenizer=str(bpe))
    return root / "run"


def test_chain_links_up_and_is_verified(pipeline):
    sub = build_submission(pipeline, name="tiny-recipe")
    dataset = Manifest.load(str(pipeline / "dataset" / MANIFEST_NAME))
    tokens = Manifest.load(str(pipeline / "tokens" / MANIFEST_NAME))
    model = Manifest.load(str(pipeline / "model" / MANIFEST_NAME))
    results = json.loads((pipeline / "eval.json").read_text())
    assert sub["chain"] == {"pool": dataset.inputs["pool"], "dataset": dataset.id, "tokens": tokens.id,
                            "model": model.id, "eval": results["id"]}
    assert sub["verified"] == {"dataset": True, "tokens": True, "model": True, "eval": True}
    assert sub["verify_errors"] == []
    assert sub["links"]["tokens.dataset"] == dataset.id and sub["links"]["model.tokens"] == tokens.id
    assert sub["links"]["eval.model"] == model.id
    assert sub["schema_version"] == 1 and sub["track"] == "filtering" and sub["tier"] == "toy-250k-1x"
    assert sub["name"] == "tiny-recipe" and sub["id"].startswith("submission-")
    assert sub["recipe"]["steps"] == [{"func": "page_length_filter", "min_length": 20}]
    assert sub["dataset"]["documents_in"] == 200 and 0 < sub["dataset"]["documents_kept"] <= 200
    assert sub["dataset"]["steps"][0]["in"] == 200
    assert sub["model"]["overrides"] == OVERRIDES and sub["model"]["off_leaderboard"] is True
    assert sub["model"]["steps"] == 2 and sub["model"]["tokens_trained"] == 2 * 8 * 128
    assert sub["eval"]["suite"] == "toy" and sub["eval"]["complete"] is False and sub["eval"]["limit"] == 3
    assert set(sub["eval"]["tasks"]) and "TOY" in sub["eval"]["aggregates"]
    # the explicit paths give the same document (the tokens dir found from the model's config)
    again = build_submission(dataset_dir=pipeline / "dataset", model_dir=pipeline / "model",
                             eval_json=pipeline / "eval.json", name="tiny-recipe")
    assert again["chain"] == sub["chain"] and again["id"] == sub["id"]
    # no rule is broken by the chain itself; the smoke run is refused for what it is
    rejected: dict[str, str] = {}
    for r in check(sub):
        rejected[r.rule] = rejected.get(r.rule, "") + r.message
    assert "ids" not in rejected and "duplicate" not in rejected
    assert "train the full budget" in rejected["token_budget"]
    assert "seq_len" in rejected["hyperparameters"] and "global_batch" in rejected["hyperparameters"]
    assert "--limit" in rejected["suite"]


def test_save_and_load_round_trip(pipeline, tmp_path):
    sub = build_submission(pipeline)
    save_submission(sub, tmp_path / "sub.json")
    assert load_submission(tmp_path / "sub.json") == sub
    with pytest.raises(Exception, match="newer"):
        validate_document({**sub, "schema_version": 99})


def test_edited_artefacts_break_the_chain(pipeline, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(pipeline, copy)
    # an eval result edited by hand: its id no longer matches its contents
    results = json.loads((copy / "eval.json").read_text())
    first = next(iter(results["tasks"]))
    results["tasks"][first]["accuracy"] = 1.0
    (copy / "eval.json").write_text(json.dumps(results))
    # a token manifest rewritten to claim another dataset
    tok = json.loads((copy / "tokens" / MANIFEST_NAME).read_text())
    tok["inputs"]["dataset"] = "dataset-0000000000000000"
    (copy / "tokens" / MANIFEST_NAME).write_text(json.dumps(tok))
    sub = build_submission(copy, tokens_dir=copy / "tokens")
    assert sub["verified"]["eval"] is False and sub["verified"]["tokens"] is False
    ids = [r.message for r in check(sub) if r.rule == "ids"]
    assert any("the tokens was made from dataset dataset-0000000000000000" in m for m in ids), ids
    assert any("eval id does not match its contents" in m for m in ids), ids


def _train_dir_with_default_eval(pipeline, tmp_path) -> Path:
    """A `dcbench train --out` directory on its own, evaluated where `dcbench eval` writes by default."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(pipeline / "model", model)
    shutil.copy(pipeline / "eval.json", model / "eval_toy.json")
    return model


def test_submit_finds_evals_default_output_and_the_recipe_through_the_id_chain(pipeline, tmp_path):
    model = _train_dir_with_default_eval(pipeline, tmp_path)
    sub = build_submission(model)  # model -> tokens (recorded by train) -> dataset (recorded by tokenize)
    dataset = Manifest.load(str(pipeline / "dataset" / MANIFEST_NAME))
    tokens = Manifest.load(str(pipeline / "tokens" / MANIFEST_NAME))
    assert sub["chain"]["dataset"] == dataset.id and sub["verified"]["dataset"] is True
    assert sub["recipe"]["steps"] == [{"func": "page_length_filter", "min_length": 20}]
    assert sub["name"] == "tiny"  # named after the recipe, not the tier
    assert sub["tokenizer"]["sha256"] == tokens.inputs["tokenizer"]
    assert sub["model"]["epochs"] == pytest.approx(2 * 8 / tokens.extra["sequences"])
    # --eval given: the recipe is still found through the chain
    again = build_submission(model, eval_json=pipeline / "eval.json")
    assert again["recipe"] == sub["recipe"] and again["chain"] == sub["chain"]


def test_a_foreign_tokenizer_is_rejected_naming_the_tiers(pipeline):
    rejected = [r.message for r in check(build_submission(pipeline)) if r.rule == "tokenizer"]
    assert len(rejected) == 1 and "requires its own bpe-1024" in rejected[0], rejected
    assert "without --tokenizer" in rejected[0]


def test_submit_cli_exit_codes_and_messages_name_commands(pipeline, tmp_path, capsys):
    from dcbench.cli import main

    model = _train_dir_with_default_eval(pipeline, tmp_path)
    store = str(tmp_path / "lb.sqlite")
    assert main(["submit", str(model), "--store", store]) == 3  # the smoke run is rejected
    err = capsys.readouterr().err
    assert "[token_budget]" in err and "[tokenizer]" in err and "[suite]" in err
    (model / "eval_toy.json").unlink()
    assert main(["submit", str(model), "--store", store]) == 3
    err = capsys.readouterr().err
    assert f"`dcbench eval {model} --suite toy`" in err and "--eval RESULTS.json" in err and "eval_json" not in err
    assert main(["submit", str(tmp_path / "nowhere"), "--store", store]) == 3
    assert "`dcbench train --out` directory" in capsys.readouterr().err


def test_a_dataset_that_cannot_be_found_is_asked_for(pipeline, tmp_path):
    import shutil

    from dcbench.errors import DataError

    tokens = tmp_path / "tokens"
    shutil.copytree(pipeline / "tokens", tokens)
    man = json.loads((tokens / MANIFEST_NAME).read_text())
    man["extra"].pop("dataset_dir")  # tokens made by an older dcbench: no record of their dataset
    (tokens / MANIFEST_NAME).write_text(json.dumps(man))
    with pytest.raises(DataError, match="pass --dataset DIR"):
        build_submission(model_dir=pipeline / "model", tokens_dir=tokens, eval_json=pipeline / "eval.json")
    sub = build_submission(model_dir=pipeline / "model", tokens_dir=tokens, dataset_dir=pipeline / "dataset",
                           eval_json=pipeline / "eval.json")
    assert sub["recipe"]["name"] == "tiny"
