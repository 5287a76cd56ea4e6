"""README's main job, run exactly as README writes it: recipe -> dataset -> tokens -> model ->
eval -> submit -> leaderboard page, each join found through the id chain."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from dcbench.tiers import TOKENIZER_SHA256

REPO = Path(__file__).resolve().parents[2]


def readme_main_job() -> list[list[str]]:
    """The commands of README's "The main job" block, comments dropped."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"^## The main job\n+```bash\n(.*?)^```", text, re.S | re.M)
    assert block, "README has no '## The main job' bash block"
    return [shlex.split(line, comments=True) for line in block.group(1).splitlines() if line.strip()]


def dcbench(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    # Ray's socket paths must stay under 107 bytes: a short private temp dir, not pytest's deep one.
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "DCBENCH_RAY_TMP": tempfile.mkdtemp(prefix="dcb")}
    assert args[0] == "dcbench", f"README's main job runs only dcbench commands, not {args[0]!r}"
    return subprocess.run([sys.executable, "-m", "dcbench.cli", *args[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=1200)


def test_readme_main_job_reaches_the_leaderboard_page_in_order():
    names = [c[1] for c in readme_main_job()]
    assert names == ["pool", "process", "process", "tokenize", "train", "eval", "submit", "leaderboard"]


@pytest.mark.slow
def test_readme_main_job_then_the_page_shows_recipe_tasks_and_point(tmp_path):
    (tmp_path / "baselines").symlink_to(REPO / "baselines")  # README's recipe paths are relative to a checkout
    out = {}
    for args in readme_main_job():
        res = dcbench(args, tmp_path)
        assert res.returncode == 0, f"{shlex.join(args)}\n{res.stdout[-2000:]}{res.stderr[-4000:]}"
        out.setdefault(args[1], res)

    assert "repeats it" in out["tokenize"].stderr and "epochs" in out["tokenize"].stderr  # 10% of the pool
    tokens = json.loads((tmp_path / "runs" / "tokens" / "manifest.json").read_text())
    assert tokens["inputs"]["tokenizer"] == TOKENIZER_SHA256["bpe-1024"]
    model = json.loads((tmp_path / "runs" / "model" / "manifest.json").read_text())
    assert model["extra"]["epochs"] > 1 and model["inputs"]["tokenizer"] == TOKENIZER_SHA256["bpe-1024"]
    assert "submitted dclm_baseline (toy-250k-1x): TOY" in out["submit"].stdout

    again = dcbench(["dcbench", "submit", "runs/model"], tmp_path)
    assert again.returncode == 3 and "[duplicate]" in again.stderr
    board = dcbench(["dcbench", "leaderboard"], tmp_path).stdout
    assert "dclm_baseline" in board and "epochs" in board

    page = (tmp_path / "board.html").read_text().replace("<wbr>", "")  # long names may break at underscores
    assert "No recipe recorded" not in page  # the recipe, step by step
    assert "bff_dedup" in page and "classify_fasttext_hq_prob_enricher" in page
    assert "Per-task accuracy" in page and "No per-task results" not in page
    results = json.loads((tmp_path / "runs" / "model" / "eval_toy.json").read_text())
    for task in results["tasks"]:
        assert task in page
    figure = json.loads(re.search(r'<script type="application/json" class="plot-data" data-target="core-plot">'
                                  r'(.*?)</script>', page, re.S).group(1))
    points = [(y, hover) for trace in figure["data"] for y, hover in zip(trace["y"], trace.get("hovertext", []))
              if y is not None]
    assert len(points) == 1 and "dclm_baseline" in points[0][1] and "TOY" in points[0][1]
    assert points[0][0] == pytest.approx(100 * results["aggregates"]["TOY"], abs=0.05)
    assert ">epochs<" in page
