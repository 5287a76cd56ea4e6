"""Planning a recipe into stages, and what a global step's analysis may use.

Local steps see one document at a time; a *global* step (dedup, a percentile
threshold) must see the whole dataset. A recipe is cut before each global
step into stages: a stage is an optional global step followed by the local
steps up to the next global one. Each stage reads the previous stage's
output shards, so a stage can be resumed on its own. A run plans its stages
once and hands each shard task its `Stage`.

A global step (`dcbench.contracts.GlobalStep`) runs in two phases:

* ``analyze(shards, ctx)`` reads every input shard (in the given, fixed
  order) and returns, per shard stem, a JSON-serialisable *decision*
  (for instance the indices of documents to drop). It may use
  ``ctx.map_shards`` to fan work out over Ray.
* ``apply(decision)`` returns a mapper that enacts the decision on that
  shard; it is called on the shard's readable documents in file order, as
  the first step of the stage's per-shard task.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dcbench.contracts import StepKind
from dcbench.taskloop import MAX_RETRIES, run_tasks


@dataclass(frozen=True)
class Stage:
    index: int
    global_step: int | None  # position in the recipe's step list, or None
    local_steps: tuple[int, ...]

    @property
    def steps(self) -> tuple[int, ...]:
        return ((self.global_step,) if self.global_step is not None else ()) + self.local_steps


def plan_stages(kinds: Sequence[StepKind]) -> list[Stage]:
    """Cut a recipe (given as its steps' kinds) before each global step."""
    stages: list[Stage] = []
    current: tuple[int | None, list[int]] = (None, [])
    for i, kind in enumerate(kinds):
        if kind == StepKind.GLOBAL:
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
    max_retries: int = MAX_RETRIES
    step: str = "global step"  # named in failure reports

    def map_shards(self, fn: Callable[..., Any], shards: list[str], *args: Any) -> list[Any]:
        """`[fn(uri, *args) for uri in shards]` as Ray tasks, at most `workers` at once, in order,
        retried as every task is (`dcbench.taskloop`)."""
        outcome = run_tasks(fn, [(uri, *args) for uri in shards], limit=self.workers, max_retries=self.max_retries)
        outcome.raise_failures("shards", where=f" in the analysis of {self.step}",
                               hint="earlier stages are kept; re-run the same command to redo the analysis")
        return outcome.results
