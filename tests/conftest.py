"""Shared fixtures: the shared reference data and one Ray session for all tests."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """`../shared/data` beside the repository, or $DCBENCH_SHARED_DATA."""
    env = os.environ.get("DCBENCH_SHARED_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("../shared/data is absent (set DCBENCH_SHARED_DATA to run tests on the reference data)")
    return path


@pytest.fixture(scope="session")
def web_docs(shared_data: Path) -> Path:
    path = shared_data / "web" / "web_docs_combined.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def ray_session():
    """One private local Ray for the whole test session (start-up costs ~5 s)."""
    os.environ["RAY_AUTH_MODE"] = "disabled"
    import ray

    temp = tempfile.mkdtemp(prefix="dcbray")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 * 1024**2, _temp_dir=temp,
             logging_level="ERROR", log_to_driver=False)
    yield ray
    ray.shutdown()
