"""The README's main job, as a user runs it: build the toy pool, then process
it with the RefinedWeb recipe through the `dcbench` command."""

from __future__ import annotations

import pytest

import json
import os
import subprocess
import tempfile
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def dcbench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # Ray's socket paths must stay under 107 bytes: a short private temp dir, not pytest's deep one.
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "DCBENCH_RAY_TMP": tempfile.mkdtemp(prefix="dcb")}
    return subprocess.run([sys.executable, "-m", "dcbench.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_toy_pool_then_refinedweb(tmp_path):
    made = dcbench("pool", "toy", "--out", "pool", "--docs", "800", "--shards", "4", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "800 documents in 4 shards" in made.stdout

    recipe = str(REPO / "baselines" / "recipes" / "refinedweb.yaml")
    done = dcbench("process", recipe, "--pool", "pool", "--out", "runs/rw", "--workers", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    # The per-step summary table, the precision/recall table, and the progress bar on stderr.
    assert "step" in out and "docs/s/core" in out and "10 language_filter" in out
    assert "precision" in out and "recall" in out
    assert "shard" in done.stderr
    run_dir = tmp_path / "runs" / "rw"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["kind"] == "dataset" and 0 < manifest["documents"] < 800
    report = (run_dir / "report.html").read_text()
    assert 'data-target="fates-plot"' in report and "Sample documents removed" in report  # per-step plot

    # Running it again resumes: every shard is skipped, the dataset id is the same.
    again = dcbench("process", recipe, "--pool", "pool", "--out", "runs/rw", cwd=tmp_path)
    assert again.returncode == 0 and "(4 shards already done)" in again.stdout
    assert json.loads((run_dir / "manifest.json").read_text())["id"] == manifest["id"]


def test_bad_recipe_fails_before_work_with_exit_code_2(tmp_path):
    (tmp_path / "bad.yaml").write_text("steps:\n  - func: page_length_filter\n    min_length: fifty\n")
    (tmp_path / "pool").mkdir()
    (tmp_path / "pool" / "s.jsonl").write_text('{"text": "x"}\n')
    res = dcbench("process", "bad.yaml", "--pool", "pool", "--out", "out", cwd=tmp_path)
    assert res.returncode == 2
    assert "page_length_filter" in res.stderr and "min_length" in res.stderr and "fifty" in res.stderr
    assert not (tmp_path / "out").exists()


def test_missing_pool_is_exit_code_3(tmp_path):
    recipe = str(REPO / "baselines" / "recipes" / "refinedweb.yaml")
    res = dcbench("process", recipe, "--pool", "nowhere", "--out", "out", cwd=tmp_path)
    assert res.returncode == 3 and "not found" in res.stderr


@pytest.mark.slow
def test_help_teaches():
    res = subprocess.run([sys.executable, "-m", "dcbench.cli", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "dcbench pool toy" in res.stdout and "Exit codes" in res.stdout
    res = subprocess.run([sys.executable, "-m", "dcbench.cli", "process", "--help"], capture_output=True, text=True)
    assert "resumes" in res.stdout and "--workers" in res.stdout
    # the flows' commands sit in the stages' groups, as users type them
    for group, commands in (("pool", ("toy", "toy-sources", "ingest")), ("eval", ("run", "download", "toy-suite")),
                            ("mix", ("propose", "run", "fit", "optimize"))):
        res = subprocess.run([sys.executable, "-m", "dcbench.cli", group, "--help"], capture_output=True, text=True)
        listed = {line.split()[0] for line in res.stdout.splitlines() if line.startswith("    ") and line.strip()}
        assert res.returncode == 0 and set(commands) <= listed, res.stdout


@pytest.mark.slow
def test_dclm_baseline_on_the_toy_pool_finds_the_planted_duplicates(tmp_path):
    made = dcbench("pool", "toy", "--out", "pool", "--docs", "800", "--shards", "4", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "pool" / "quality" / "fasttext_hq_vs_pool.bin").is_file()
    recipe = str(REPO / "baselines" / "recipes" / "dclm_baseline.yaml")
    done = dcbench("process", recipe, "--pool", "pool", "--out", "runs/dclm", "--workers", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    stats = json.loads((tmp_path / "runs" / "dclm" / "stats.json").read_text())
    names = [s["name"] for s in stats["steps"]]
    assert names[-3:] == ["27 bff_dedup", "28 classify_fasttext_hq_prob_enricher", "29 top_fraction_filter"]
    bff = stats["steps"][-3]
    assert bff["target_in"] > 0 and bff["target_acted"] == bff["target_in"]  # every planted copy found
    assert "27 bff_dedup" in done.stdout and "exact_duplicate,near_duplicate" in done.stdout
    kept_in = stats["steps"][-1]["in"]
    assert stats["totals"]["kept"] == round(0.1 * kept_in)  # top 10% of what reached the quality step

    # Then the fixed trainer's path: a small BPE, tokenize + shuffle on Ray, a short training run.
    tok = dcbench("tokenize", "runs/dclm", "--tier", "toy-250k-1x", "-o", "runs/tokens", "--workers", "2",
                  cwd=tmp_path)
    assert tok.returncode == 0, tok.stderr
    assert "sequences of 257 tokens" in tok.stdout
    tokens = json.loads((tmp_path / "runs" / "tokens" / "manifest.json").read_text())
    assert tokens["kind"] == "tokens" and tokens["inputs"]["dataset"] == stats["dataset"]
    trained = dcbench("train", "--tier", "toy-250k-1x", "--data", "runs/tokens", "--out", "runs/model",
                      "--max-steps", "12", "--checkpoint-every", "6", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    model = json.loads((tmp_path / "runs" / "model" / "manifest.json").read_text())
    assert model["kind"] == "model" and model["inputs"]["tokens"] == tokens["id"]
    log = [json.loads(line) for line in (tmp_path / "runs" / "model" / "train_log.jsonl").open()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert losses and losses[-1] < losses[0]

    # And the toy evaluation suite that `pool toy` wrote, scored with the id chain recorded.
    ev = dcbench("eval", "runs/model", "--suite", "toy", "--tasks-dir", "pool/eval", "--limit", "20",
                 "-o", "runs/eval.json", cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr
    results = json.loads((tmp_path / "runs" / "eval.json").read_text())
    assert len(results["tasks"]) == 6 and all(0.0 <= t["accuracy"] <= 1.0 for t in results["tasks"].values())
    chain = json.dumps(results["model"])
    assert stats["dataset"] in chain and tokens["id"] in chain and model["id"] in chain


def test_quality_train_command(tmp_path):
    pos = tmp_path / "hq.jsonl"
    neg = tmp_path / "pool.jsonl"
    pos.write_text("".join(json.dumps({"text": f"The theorem follows from lemma {i} by induction on n."}) + "\n"
                           for i in range(40)))
    neg.write_text("".join(json.dumps({"text": f"click here buy now cheap deals {i} free shipping"}) + "\n"
                           for i in range(40)))
    res = dcbench("quality", "train", str(pos), str(neg), "-o", "m.bin", "--bucket", "10000", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "80 examples" in res.stdout and (tmp_path / "m.bin").stat().st_size > 0


@pytest.mark.slow
def test_reproduce_baseline_runs_the_chain_and_refuses_to_rank_a_smoke_run(tmp_path):
    made = dcbench("pool", "toy", "--out", "pool", "--docs", "300", "--shards", "2", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    res = dcbench("reproduce", "baseline", "--pool", "pool", "--out", "r", "--max-steps", "2", cwd=tmp_path)
    assert res.returncode == 3, res.stderr  # nothing ranked is not success
    assert "3 of 3 runs not ranked" in res.stderr and "drop --max-steps" in res.stderr
    # Every recipe went pool -> dataset -> tokens -> model -> eval ...
    for recipe in ("dclm_baseline", "refinedweb", "unfiltered"):
        assert (tmp_path / "r" / recipe / "eval" / "toy.json").is_file()
    # ... but a 2-step model is not the tier's token budget, so the rules keep it off the board.
    assert res.stdout.count("not ranked") == 3 and "token_budget" in res.stdout
    board = dcbench("leaderboard", "--store", "r/leaderboard.sqlite", cwd=tmp_path)
    assert board.returncode == 0 and "dclm_baseline" not in board.stdout
