"""What `pip install .` puts into site-packages: the dcbench namespace and its
dist-info, nothing generic (no top-level `eval`, `training`, `pools`, ...), with
every stage's data files inside it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> set[str]:
    out = tmp_path_factory.mktemp("wheel")
    # Build from a copy: setuptools writes build/ into the tree it builds, and stale files there would leak into later wheels.
    src = out / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__", "runs"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"could not build a wheel here (needs setuptools from the package index): {done.stderr[-300:]}")
    (wheel,) = out.glob("dcbench-*.whl")
    with zipfile.ZipFile(wheel) as z:
        return set(z.namelist())


@pytest.mark.slow
def test_only_dcbench_lands_in_site_packages(wheel_names):
    top = {name.split("/", 1)[0] for name in wheel_names}
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert len(dist_info) == 1 and next(iter(dist_info)).startswith("dcbench-")
    assert top - dist_info == {"dcbench"}


@pytest.mark.slow
def test_every_stage_and_its_data_is_inside_the_namespace(wheel_names):
    for stage in ("pools", "baselines", "training", "eval", "leaderboard"):
        assert f"dcbench/{stage}/__init__.py" in wheel_names, stage
    assert "dcbench/baselines/recipes/dclm_baseline.yaml" in wheel_names
    assert "dcbench/baselines/data/iana_tlds.txt" in wheel_names
    assert "dcbench/eval/data/tasks.json" in wheel_names
    assert "dcbench/templates/report.html.j2" in wheel_names
    assert "dcbench/leaderboard/templates/leaderboard.html.j2" in wheel_names
    packaged = {p for p in REPO.glob("*/**/*.py") if p.parts[len(REPO.parts)] in
                ("dcbench", "pools", "baselines", "training", "eval", "leaderboard")}
    missing = []
    for path in packaged:
        rel = path.relative_to(REPO)
        name = str(rel) if rel.parts[0] == "dcbench" else f"dcbench/{rel}"
        if name not in wheel_names:
            missing.append(name)
    assert not missing, f"modules left out of the wheel (add their package to pyproject.toml): {sorted(missing)}"
