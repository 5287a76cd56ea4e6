"""The toy evaluation suite: deterministic files in LLM-Foundry format, and an end-to-end run
of our checkpoint through `run_suite(suite="toy")` to a results JSON with the id chain."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest
import torch

from dcbench.cli import build_parser, expand_implied, main
from dcbench.eval.runner import run_suite
from dcbench.eval.tasks import load_examples
from dcbench.eval.toy import TOY_TASKS, load_toy_suite, toy_aggregate
from dcbench.flows.toy_suite import build_toy_suite, toy_items
from dcbench.manifest import MANIFEST_NAME, Manifest
from dcbench.pools.toy_grammar import Prose
from dcbench.training.model import OpenLM
from dcbench.training.scales import get_tier
from dcbench.training.tokenizer import file_sha256, train_bpe
from dcbench.training.trainer import _shard_entry, tier_record


def make_run(root: Path, vocab: int = 384) -> tuple[Path, Manifest, Manifest]:
    """A run dir laid out as `dcbench train` writes it, beside token shards holding their BPE."""
    tokens = root / "tokens"
    tokens.mkdir(parents=True)
    texts = [Prose(random.Random(i), hq=i % 4 == 0).document(100) for i in range(80)]
    train_bpe(texts, vocab, tokens / "tokenizer.json")
    tman = Manifest(kind="tokens", name="toy", shards=[],
                    inputs={"dataset": "dataset-0123456789abcdef", "tokenizer": file_sha256(tokens / "tokenizer.json"),
                            "seq_len": 128, "seed": 0},
                    extra={"vocab_size": vocab, "eot": 0, "pad": 1})
    tman.save(str(tokens / MANIFEST_NAME))
    tier = get_tier("toy-250k-1x")
    tier = dataclasses.replace(tier, model=dataclasses.replace(tier.model, vocab_size=vocab, seq_len=128))
    run = root / "run"
    (run / "model").mkdir(parents=True)
    torch.save(OpenLM(tier.model, seed=3).state_dict(), run / "model" / "model.pt")
    (run / "model" / "config.json").write_text(json.dumps(
        {"tier": tier_record(tier), "model": dataclasses.asdict(tier.model), "steps": 0}))
    man = Manifest(kind="model", name=tier.name, shards=[_shard_entry(run / "model" / "model.pt", run)],
                   inputs={"tokens": tman.id, "tier": tier.name, "overrides": {}})
    man.save(str(run / MANIFEST_NAME))
    return run, tman, man


def _bytes(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_build_is_deterministic_and_in_llm_foundry_format(tmp_path):
    a = build_toy_suite(tmp_path / "a", seed=0, n_items=30)
    build_toy_suite(tmp_path / "b", seed=0, n_items=30)
    c = build_toy_suite(tmp_path / "c", seed=1, n_items=30)
    assert _bytes(tmp_path / "a") == _bytes(tmp_path / "b")
    assert a["id"] != c["id"] and _bytes(tmp_path / "a") != _bytes(tmp_path / "c")
    assert load_toy_suite(tmp_path / "a") == a
    assert [s["label"] for s in a["tasks"]] == list(TOY_TASKS)
    for spec in a["tasks"]:
        rows = load_examples(tmp_path / "a" / spec["dataset_uri"], spec["icl_task_type"])
        assert len(rows) == 30 == spec["n"]
        if spec["icl_task_type"] == "multiple_choice":
            assert spec["random_baseline"] == 25.0
            assert all(len(r.choices) == 4 and len(set(r.choices)) == 4 for r in rows)
            golds = [r.gold for r in rows]
            assert len(set(golds)) > 1  # the gold position is shuffled
        else:
            assert spec["random_baseline"] == 0.0
            assert all(r.continuation.isalpha() and r.context for r in rows)
    assert not list((tmp_path / "a").rglob("*.tmp*"))


def test_the_toy_suite_command_writes_the_same_files(tmp_path, capsys):
    assert main(["eval", "toy-suite", "--out", str(tmp_path / "cli"), "--seed", "2"]) == 0
    assert "6 tasks" in capsys.readouterr().out
    build_toy_suite(tmp_path / "lib", seed=2)
    assert _bytes(tmp_path / "cli") == _bytes(tmp_path / "lib")


def test_eval_subcommands_and_the_model_shorthand(capsys):
    parser, groups = build_parser()
    assert set(groups["eval"].choices) == {"run", "download", "toy-suite"}
    short = parser.parse_args(expand_implied(["eval", "runs/m", "--suite", "toy"], groups))
    long = parser.parse_args(["eval", "run", "runs/m", "--suite", "toy"])
    assert vars(short) == vars(long) and short.model == "runs/m"
    assert expand_implied(["eval", "--suite", "toy", "runs/m"], groups)[:2] == ["eval", "run"]
    for command in (["eval", "download"], ["eval", "toy-suite"], ["eval"]):
        assert expand_implied(command, groups) == command  # a subcommand, or the group's own help
    for command, option in ((["eval", "download"], "--base-url"), (["eval", "toy-suite"], "--seed"),
                            (["eval", "run"], "--tasks-dir")):
        with pytest.raises(SystemExit):
            parser.parse_args([*command, "--help"])
        assert option in capsys.readouterr().out


def test_distractors_are_the_defects_and_gold_is_clean():
    salad = toy_items("toy_word_salad", 20, seed=5)
    for it in salad:
        gold = it["choices"][it["gold"]]
        bag = sorted(w.lower().strip(".,?") for w in gold.split())
        for j, ch in enumerate(it["choices"]):
            assert sorted(w.lower().strip(".,?") for w in ch.split()) == bag
            assert (ch == gold) == (j == it["gold"])
    foreign = toy_items("toy_non_english", 20, seed=5)
    for it in foreign:
        others = [c for j, c in enumerate(it["choices"]) if j != it["gold"]]
        assert not any(set(c.rstrip(".").split()) & {"the", "was"} for c in others)
    chrome = toy_items("toy_boilerplate", 20, seed=5)
    for it in chrome:
        gold = it["choices"][it["gold"]]
        assert gold.endswith((".", "?")) and len(gold.split()) >= 4 and gold[1:].lower() != gold[1:].upper()
        assert all(len(c.split()) <= 7 for j, c in enumerate(it["choices"]) if j != it["gold"])


def test_toy_aggregate_centers_and_marks_missing():
    accs = {name: (0.25 if kind == "multiple_choice" else 0.0) for name, (kind, _, _) in TOY_TASKS.items()}
    assert toy_aggregate(accs)["TOY"] == pytest.approx(0.0)
    accs["toy_spam"] = 1.0
    assert toy_aggregate(accs)["TOY"] == pytest.approx(1 / len(TOY_TASKS))
    del accs["toy_lm"]
    out = toy_aggregate(accs)
    assert out["missing"] == ["toy_lm"] and out["TOY"].startswith("N/A due to missing tasks")


def test_toy_suite_end_to_end_results_json(tmp_path):
    run, tman, man = make_run(tmp_path / "runs")
    tasks_dir = tmp_path / "toy_eval"
    build_toy_suite(tasks_dir, seed=0, n_items=12)
    out = tmp_path / "results" / "toy.json"
    res = run_suite(run, "toy", tasks_dir=tasks_dir, out_path=out, batch_size=8, progress=False)
    saved = json.loads(out.read_text())
    assert saved["id"] == res["id"] and saved["suite"] == "toy" and saved["complete"] is True
    assert saved["missing"] == []
    assert saved["model"]["id_chain"] == {"dataset": tman.inputs["dataset"], "tokens": tman.id, "model": man.id}
    assert set(saved["tasks"]) == set(TOY_TASKS)
    for t in saved["tasks"].values():
        assert t["n"] == 12 and 0.0 <= t["accuracy"] <= 1.0 and t["seconds"] >= 0
    assert isinstance(saved["aggregates"]["TOY"], float)
    assert saved["suite_id"] == load_toy_suite(tasks_dir)["id"]

    # a task file gone: recorded as missing, not an error; TOY becomes N/A
    (tasks_dir / "toy" / "toy_spam.jsonl").unlink()
    res2 = run_suite(run, "toy", tasks_dir=tasks_dir, out_path=out, limit=3, progress=False)
    assert res2["missing"] == ["toy_spam"] and res2["complete"] is False
    assert res2["aggregates"]["TOY"].startswith("N/A")
    assert all(t["n"] == 3 for t in res2["tasks"].values())
