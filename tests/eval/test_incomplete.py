"""An evaluation says what it did: items too long for the model are skipped and counted, an
incomplete suite exits 4 and says why, --limit scores are marked PARTIAL, headlines print once,
progress lines reach a log file, and the threads used are recorded."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dcbench.eval.runner import run_suite
from dcbench.flows.toy_suite import build_toy_suite

from tests.eval.test_toy_suite import make_run

LONG_TASK = "toy_spam"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("incomplete")
    run, _, _ = make_run(root / "runs")
    tasks_dir = root / "toy_eval"
    build_toy_suite(tasks_dir, seed=0, n_items=6)
    return run, tasks_dir


def _add_overlong_item(tasks_dir: Path) -> None:
    """One question whose wrong choice alone is longer than the model's 128 tokens."""
    path = tasks_dir / "toy" / f"{LONG_TASK}.jsonl"
    long_choice = " ".join(f"word{k}" for k in range(300))
    item = {"query": "The river ran past the mill and", "choices": ["it was quiet.", long_choice], "gold": 0}
    path.write_text(path.read_text() + json.dumps(item) + "\n")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DCBENCH_PROGRESS_EVERY": "0"}  # a progress line at every update: visible in a short run
    return subprocess.run([sys.executable, "-m", "dcbench.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_limit_is_partial_exit_0_headline_once_and_progress_lines(setup, tmp_path):
    run, tasks_dir = setup
    res = _cli("eval", str(run), "--suite", "toy", "--tasks-dir", str(tasks_dir), "--limit", "3", "--threads", "1",
               "-o", "limited.json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    saved = json.loads((tmp_path / "limited.json").read_text())
    assert saved["partial"] is True and saved["complete"] is False and saved["incomplete_reasons"] == []
    assert saved["partial_reasons"] == ["--limit 3 scored 18 of 36 examples"]
    assert saved["threads"]["threads"] == 1 and saved["threads"]["source"] == "--threads"
    assert res.stdout.count("TOY:") == 1 and "PARTIAL, not a real score" in res.stdout
    assert "EXTENDED" not in res.stdout and "Core" not in res.stdout
    # stderr is a pipe here, not a terminal: plain progress lines with counts, and a line per task
    assert "eval toy: starting, 18 examples" in res.stderr
    assert "eval toy: 18/18 examples (100%)" in res.stderr and "- done" in res.stderr
    assert "toy_lm: accuracy" in res.stderr and "PARTIAL scores" in res.stderr


@pytest.mark.slow
def test_skipped_items_are_counted_and_the_suite_exits_4(setup, tmp_path):
    run, clean = setup
    tasks_dir = tmp_path / "toy_eval"
    shutil.copytree(clean, tasks_dir)
    _add_overlong_item(tasks_dir)
    results = run_suite(run, "toy", tasks_dir=tasks_dir, progress=False)
    task = results["tasks"][LONG_TASK]
    assert task["skipped"] == 1 and task["n"] == 6 and task["total"] == 7
    assert results["skipped"] == {LONG_TASK: 1}
    assert results["complete"] is False and results["partial"] is True
    assert any("1 of 7" in r and "max_seq_len 128" in r for r in results["incomplete_reasons"])
    assert all(t["skipped"] == 0 for name, t in results["tasks"].items() if name != LONG_TASK)

    res = _cli("eval", str(run), "--suite", "toy", "--tasks-dir", str(tasks_dir), "-o", "full.json", cwd=tmp_path)
    assert res.returncode == 4, res.stderr
    assert "INCOMPLETE" in res.stderr and f"{LONG_TASK} 1 of 7" in res.stderr
    assert f"{LONG_TASK}: accuracy" in res.stderr and "1 skipped" in res.stderr
    assert json.loads((tmp_path / "full.json").read_text())["skipped"] == {LONG_TASK: 1}


@pytest.mark.slow
def test_a_missing_task_exits_4_and_names_it(setup, tmp_path):
    run, tasks_dir = setup
    partial_dir = tmp_path / "toy_eval"
    build_toy_suite(partial_dir, seed=0, n_items=4)
    (partial_dir / "toy" / "toy_lm.jsonl").unlink()
    res = _cli("eval", str(run), "--suite", "toy", "--tasks-dir", str(partial_dir), "-o", "r.json", cwd=tmp_path)
    assert res.returncode == 4
    assert "1 task(s) missing: toy_lm" in res.stderr and "dcbench eval download" in res.stderr
    assert res.stdout.count("TOY: N/A (missing: toy_lm)") == 1
