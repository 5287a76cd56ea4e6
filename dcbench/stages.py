"""Planning a recipe into stages, and the contract of a global step.

Local steps see one document at a time; a *global* step (dedup, a percentile
threshold) must see the whole dataset. A recipe is cut before each global
step into stages: a stage is an optional global step followed by the local
steps up to the next global one. Each stage reads the previous stage's
output shards, so a stage can be resumed on its own.

A global step runs in two phases:

* ``analyze(shards, ctx)`` reads every input shard (in the given, fixed
  order) and returns, per shard stem, a JSON-serialisable *decision*
  (for instance the indices of documents to drop). It may use
  ``ctx.map_shards`` to fan work out over Ray.
* ``apply(decision)`` returns a mapper that enacts the decision on that
  shard; it is called on the shard's readable documents in file order, as
  the first step of the stage's per-shard task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol


class GlobalStep(Protocol):
    def analyze(self, shards: list[str], ctx: "GlobalContext") -> dict[str, Any]: ...

    def apply(self, decision: Any) -> Callable[[dict[str, Any]], list[dict[str, Any]]]: ...


@dataclass(frozen=True)
class Stage:
    index: int
    global_step: int | None  # position in the recipe's step list, or None
    local_steps: tuple[int, ...]

    @property
    def steps(self) -> tuple[int, ...]:
        return ((self.global_step,) if self.global_step is not None else ()) + self.local_steps


def plan_stages(kinds: list[str]) -> list[Stage]:
    """Cut a recipe (given as its steps' kinds) before each global step."""
    stages: list[Stage] = []
    current: tuple[int | None, list[int]] = (None, [])
    for i, kind in enumerate(kinds):
        if kind == "global":
            if current[0] is not None or current[1]:
                stages.append(Stage(len(stages), current[0], tuple(current[1])))
            current = (i, [])
        else:
            current[1].append(i)
    stages.append(Stage(len(stages), current[0], tuple(current[1])))
    return stages


@dataclass
class GlobalContext:
    """What a global step's analysis may use: Ray fan-out and a scratch directory."""

    workers: int
    work_dir: str

    def map_shards(self, fn: Callable[..., Any], shards: list[str], *args: Any) -> list[Any]:
        """`[fn(uri, *args) for uri in shards]`, run as Ray tasks, at most `workers` at once, in order."""
        import ray

        task = ray.remote(num_cpus=1, max_retries=2)(fn)
        results: dict[int, Any] = {}
        pending: dict[Any, int] = {}
        queue = list(enumerate(shards))
        while queue or pending:
            while queue and len(pending) < self.workers:
                i, uri = queue.pop(0)
                pending[task.remote(uri, *args)] = i
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                results[pending.pop(ref)] = ray.get(ref)
        return [results[i] for i in range(len(shards))]
