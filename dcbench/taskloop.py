"""The one Ray task loop: bounded tasks in flight, one retry policy, a progress hook.

Every stage that fans work out over Ray goes through `run_tasks`: the
runner's per-shard tasks, a global step's analysis (`GlobalContext.map_shards`)
and tokenize's two stages. Tasks are submitted in the order given, at most
`limit` at once; results come back in that order however the tasks finish.

The retry policy: a task that fails, by raising or by losing its worker, is
submitted again at once, up to `max_retries` times. A task that fails
`max_retries + 1` times is recorded with its last error while the other
tasks run to the end, so everything that can finish is finished (and, where
the task writes its output, kept for a re-run). Retries are the loop's, not
Ray's (tasks go to Ray with `max_retries=0`): one rule for exceptions and lost
workers alike, and the number of attempts is known.

Never hang: Ray waits forever (saying so only in its own log) for a task or
actor whose resources no node has. `check_resources` compares a request with
the cluster before anything is submitted and refuses it with the figures;
`run_tasks` checks its one CPU per task, the Bloom dedup its actors' memory.
Ray's error texts reach the user without ANSI colour codes.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dcbench.errors import ConfigError, RunError

MAX_RETRIES = 2
_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")


def strip_ansi(text: str) -> str:
    """Text without ANSI escape sequences (Ray colours its tracebacks and names)."""
    return _ANSI.sub("", text)


@dataclass(frozen=True)
class TaskFailure:
    what: str  # the task, as the caller names it: a shard URI, a cell
    attempts: int
    error: BaseException  # the task's own exception, unwrapped from Ray's
    same_every_time: bool = False  # every attempt failed with this error: a re-run will fail the same way

    def describe(self) -> str:
        return f"{self.what}: {self.error_line()}"

    def error_line(self) -> str:
        return _error_line(self.error, self.what)


def _error_line(error: BaseException, what: str = "") -> str:
    """An error as one line: its type and the first line of its message."""
    first_line = (strip_ansi(str(error)).splitlines() or [""])[0].removeprefix(f"{what}: ")
    return f"{type(error).__name__}: {first_line}"


@dataclass(frozen=True)
class TaskOutcome:
    results: list[Any]  # in call order; None where the task failed
    failures: list[TaskFailure]  # in call order
    max_retries: int

    def raise_failures(self, noun: str, *, total: int | None = None, where: str = "", hint: str = "") -> None:
        """Raise a RunError listing every failed task, if any failed (`total`: of how many, if not of these)."""
        if not self.failures:
            return
        hint = hint or self.hint(noun)
        of = len(self.results) if total is None else total
        raise RunError(f"{len(self.failures)} of {of} {noun} failed after {self.max_retries} retries"
                       f"{where}:\n  " + "\n  ".join(f.describe() for f in self.failures) + f"\n{hint}")

    def hint(self, noun: str) -> str:
        """What a user can do about the failures: re-run when that can help, fix when it cannot."""
        if all(f.same_every_time for f in self.failures):
            return (f"each failed the same way on every attempt, so re-running as it is cannot help: fix the input "
                    f"or the recipe first; finished {noun} are kept and a re-run redoes only the failed ones")
        return f"finished {noun} are kept; re-run the same command to redo only the failed ones"

def run_tasks(fn: Callable[..., Any], calls: Sequence[tuple], *, limit: int, max_retries: int = MAX_RETRIES,
              names: Sequence[str] | None = None,
              on_result: Callable[[int, Any], None] | None = None) -> TaskOutcome:
    """`fn(*call)` for every call as Ray tasks of one CPU, under the retry policy above.

    `names` say what each task is in failure reports (default: its first
    argument); `on_result(index, result)` is called as each task succeeds.
    """
    import ray  # deferred: ray costs ~0.33 s to import (measured); `dcbench --help` must not pay it

    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    names = [str(n) for n in names] if names is not None else [str(c[0]) if c else str(i) for i, c in enumerate(calls)]
    check_resources("a task", 1, cpus=1, advice="start Ray workers with CPUs (`ray start --num-cpus N`)")
    task = ray.remote(num_cpus=1, max_retries=0)(fn)
    results: list[Any] = [None] * len(calls)
    attempts = [0] * len(calls)
    seen: list[set[str]] = [set() for _ in calls]  # each task's distinct errors, to tell a deterministic failure
    failures: dict[int, TaskFailure] = {}
    pending: dict[Any, int] = {}
    queue = deque(range(len(calls)))

    def submit(i: int) -> None:
        attempts[i] += 1
        pending[task.remote(*calls[i])] = i

    while queue or pending:
        while queue and len(pending) < limit:
            submit(queue.popleft())
        (ref,), _ = ray.wait(list(pending), num_returns=1)
        i = pending.pop(ref)
        try:
            results[i] = ray.get(ref)
        except Exception as e:  # the task raised (RayTaskError carries its cause) or its worker was lost
            error = getattr(e, "cause", None) or e
            seen[i].add(_error_line(error))
            if attempts[i] <= max_retries:
                submit(i)
            else:
                failures[i] = TaskFailure(names[i], attempts[i], error, same_every_time=len(seen[i]) == 1)
            continue
        if on_result is not None:
            on_result(i, results[i])
    return TaskOutcome(results, [failures[i] for i in sorted(failures)], max_retries)


def ray_init(workers: int | None, address: str | None) -> bool:
    """Start a private local Ray (or join `address`); True if we started it."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray  # deferred: see run_tasks

    if ray.is_initialized():
        return False
    common = dict(include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    if address:
        ray.init(address=address, **common)
    else:
        temp = os.environ.get("DCBENCH_RAY_TMP") or os.path.join(tempfile.gettempdir(), f"dcbench-ray-{os.getuid()}")
        ray.init(num_cpus=workers or os.cpu_count(), object_store_memory=256 * 1024**2, _temp_dir=temp, **common)
    return True


@contextmanager
def ray_session(workers: int | None, address: str | None) -> Iterator[None]:
    """Ray for the length of a block: a session started here is shut down at its end."""
    ours = ray_init(workers, address)
    try:
        yield
    finally:
        if ours:
            import ray  # deferred: see run_tasks

            ray.shutdown()


def task_limit(workers: int | None) -> int:
    """Tasks in flight: `workers`, or one per CPU of the Ray cluster."""
    import ray  # deferred: see run_tasks

    return workers or max(1, int(ray.cluster_resources().get("CPU", 1)))


def check_resources(what: str, count: int, *, cpus: float = 0, memory: int = 0, advice: str = "",
                    now: bool = False) -> None:
    """Refuse (ConfigError) `count` Ray tasks/actors needing `cpus` and `memory` bytes each when the
    cluster's nodes cannot hold them all (Ray would wait forever); with `now`, also when what is free
    now cannot (for actors, which hold their resources until the run ends)."""
    import ray  # deferred: see run_tasks

    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    fit = sum(_fits(node, cpus, memory) for node in nodes)
    free = ray.available_resources()
    free_fit = min(_quota(free.get("CPU", 0), cpus), _quota(free.get("memory", 0), memory)) if now else math.inf
    if fit >= count and free_fit >= count:
        return
    per_node = ", ".join(f"{n.get('CPU', 0):g} CPU / {_gib(n.get('memory', 0))}" for n in nodes) or "no nodes"
    need = " and ".join(x for x in (f"{cpus:g} CPU" if cpus else "", _gib(memory) if memory else "") if x)
    where = (f"its {len(nodes)} node(s) ({per_node}) hold {fit}" if fit < count else
             f"only {free_fit} fit in what is free now ({free.get('CPU', 0):g} CPU, {_gib(free.get('memory', 0))})")
    raise ConfigError(f"{what}: {count} x {need} of Ray resources needed, but {where}; Ray would wait for them "
                      f"forever" + (f"; {advice}" if advice else ""))


def _fits(node: dict[str, float], cpus: float, memory: int) -> int:
    """How many requests of (cpus, memory) one node can hold."""
    return int(min(_quota(node.get("CPU", 0), cpus), _quota(node.get("memory", 0), memory)))


def _quota(have: float, each: float) -> float:
    return math.inf if each <= 0 else math.floor(have / each + 1e-9)


def _gib(n: float) -> str:
    return f"{n / 1024**3:,.1f} GiB"
