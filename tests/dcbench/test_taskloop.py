"""The one Ray task loop: results in call order, a bound on tasks in flight,
and one retry policy (a failing task is retried, a task that keeps failing is
reported after its budget while the others finish), the same for a global
step's analysis."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from dcbench.errors import RunError
from dcbench.stages import GlobalContext
from dcbench.taskloop import run_tasks


def flaky(log_dir: str, name: str, failures: int, how: str = "raise") -> str:
    """Fails on its first `failures` attempts (raising, or killing its worker), then succeeds."""
    attempt = len([p for p in os.listdir(log_dir) if p.startswith(f"{name}.")]) + 1
    Path(log_dir, f"{name}.{uuid.uuid4().hex}").touch()
    if attempt <= failures:
        if how == "exit":
            os._exit(1)  # the worker process dies: Ray reports it lost
        raise ValueError(f"{name}: attempt {attempt} fails")
    return f"{name} ok"


def attempts(log_dir: Path, name: str) -> int:
    return len(list(log_dir.glob(f"{name}.*")))


def timed(log_dir: str, name: str) -> tuple[float, float]:
    start = time.monotonic()
    time.sleep(0.3)
    return start, time.monotonic()


def test_results_in_call_order_and_every_success_reported(tmp_path, ray_session):
    seen = []
    calls = [(str(tmp_path), f"t{i}", 0) for i in range(5)]
    outcome = run_tasks(flaky, calls, limit=2, on_result=lambda i, r: seen.append((i, r)))
    assert outcome.results == [f"t{i} ok" for i in range(5)] and outcome.failures == []
    assert sorted(seen) == [(i, f"t{i} ok") for i in range(5)]


def test_tasks_in_flight_never_exceed_the_limit(tmp_path, ray_session):
    spans = sorted(run_tasks(timed, [(str(tmp_path), f"t{i}") for i in range(3)], limit=1).results)
    assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:]))


def test_a_task_that_fails_once_is_retried(tmp_path, ray_session):
    outcome = run_tasks(flaky, [(str(tmp_path), "once", 1), (str(tmp_path), "fine", 0)], limit=2, max_retries=2)
    assert outcome.results == ["once ok", "fine ok"] and outcome.failures == []
    assert attempts(tmp_path, "once") == 2 and attempts(tmp_path, "fine") == 1


def test_a_lost_worker_is_retried_by_the_same_rule(tmp_path, ray_session):
    outcome = run_tasks(flaky, [(str(tmp_path), "crash", 1, "exit")], limit=1, max_retries=1)
    assert outcome.results == ["crash ok"] and attempts(tmp_path, "crash") == 2


def test_a_deterministic_failure_is_reported_after_the_budget(tmp_path, ray_session):
    calls = [(str(tmp_path), "a", 0), (str(tmp_path), "always", 99), (str(tmp_path), "c", 0)]
    outcome = run_tasks(flaky, calls, limit=2, max_retries=2, names=["a", "always", "c"])
    assert outcome.results == ["a ok", None, "c ok"]  # the others still finish
    (failure,) = outcome.failures
    assert (failure.what, failure.attempts) == ("always", 3) and attempts(tmp_path, "always") == 3
    assert isinstance(failure.error, ValueError)  # the task's own error, not Ray's wrapper
    assert failure.describe() == "always: ValueError: attempt 3 fails"
    with pytest.raises(RunError, match=r"(?s)1 of 3 things failed after 2 retries:\n  always: ValueError.*re-run"):
        outcome.raise_failures("things")


def test_a_global_steps_analysis_is_retried_too(tmp_path, ray_session):
    ctx = GlobalContext(workers=2, work_dir=str(tmp_path / "work"), max_retries=1, step="02 flaky_dedup")
    assert ctx.map_shards(flaky, [str(tmp_path)], "analysis", 1) == ["analysis ok"]
    with pytest.raises(RunError, match=r"1 of 1 shards failed after 1 retries in the analysis of 02 flaky_dedup"):
        ctx.map_shards(flaky, [str(tmp_path)], "never", 99)
    assert attempts(tmp_path, "never") == 2
