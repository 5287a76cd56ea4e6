"""DCLM evaluation suites: the 53-task table, CORE/EXTENDED/MMLU suites, random baselines.

The table lives in ``eval/data/tasks.json`` (our own format; facts from DCLM's
``eval_meta_data*.csv``, ``additional_aggregation.json`` and ``heavy.yaml``).
Task order is DCLM's ``eval_meta_data.csv`` row order and is significant: the
aggregation sums in that order and lists missing tasks in that order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

VERSIONS = ("v2", "v1")
CURRENT_VERSION = "v2"
TABLE_PATH = Path(__file__).resolve().parent / "data" / "tasks.json"


@dataclass(frozen=True)
class TaskSpec:
    """One row of the DCLM task table."""

    name: str
    category: str
    type: str  # icl_task_type: multiple_choice | schema | language_modeling | generation_task_with_answers
    num_fewshot: int
    baseline_v2: float  # random baseline in percent
    baseline_v1: float
    core: bool
    dataset_root: str  # "local_data" or "gpqa_data"
    dataset: str  # path relative to dataset_root, e.g. "commonsense_reasoning/copa.jsonl"
    dataset_available: bool
    num_examples: int
    prompt: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    notes: tuple[str, ...] = ()

    def baseline(self, version: str = CURRENT_VERSION) -> float:
        _check_version(version)
        return self.baseline_v2 if version == "v2" else self.baseline_v1

    @property
    def dataset_uri(self) -> str:
        """Path as DCLM's YAML writes it, e.g. ``local_data/commonsense_reasoning/copa.jsonl``."""
        return f"{self.dataset_root}/{self.dataset}"


@dataclass(frozen=True)
class Suite:
    name: str
    version: str
    tasks: tuple[TaskSpec, ...]

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self):
        return iter(self.tasks)

    def __contains__(self, name: object) -> bool:
        return any(t.name == name for t in self.tasks)


def _check_version(version: str) -> None:
    if version not in VERSIONS:
        raise ValueError(f"unknown DCLM eval version {version!r}; expected one of {VERSIONS}")


@lru_cache(maxsize=1)
def load_table() -> dict[str, Any]:
    """The raw table document (tasks plus aggregation lists, MMLU subjects, defaults)."""
    with open(TABLE_PATH, encoding="utf-8") as f:
        return json.load(f)


@lru_cache(maxsize=1)
def _specs() -> tuple[TaskSpec, ...]:
    defaults = load_table()["prompt_defaults"]
    specs = []
    for row in load_table()["tasks"]:
        specs.append(TaskSpec(
            name=row["name"], category=row["category"], type=row["type"], num_fewshot=row["num_fewshot"],
            baseline_v2=float(row["baseline"]["v2"]), baseline_v1=float(row["baseline"]["v1"]),
            core=row["core"], dataset_root=row["dataset_root"], dataset=row["dataset"],
            dataset_available=row["dataset_available"], num_examples=row["num_examples"],
            prompt={**defaults, **row["prompt"]}, notes=tuple(row.get("notes", ())),
        ))
    return tuple(specs)


def task_table() -> list[TaskSpec]:
    """All 53 DCLM tasks in DCLM's canonical order."""
    return list(_specs())


def task_names() -> list[str]:
    return [t.name for t in _specs()]


def get_task(name: str) -> TaskSpec:
    for t in _specs():
        if t.name == name:
            return t
    raise KeyError(f"unknown DCLM task {name!r}")


def random_baseline(task: str | TaskSpec, version: str = CURRENT_VERSION) -> float:
    """Random-guess accuracy of ``task`` in percent under baseline table ``version``."""
    spec = task if isinstance(task, TaskSpec) else get_task(task)
    return spec.baseline(version)


def aggregation_lists() -> dict[str, list[str]]:
    """DCLM's extra aggregations: low_variance_datasets (CORE), rw_small, 95%/99%_CI_above."""
    return {k: list(v) for k, v in load_table()["aggregations"].items()}


def mmlu_subjects() -> list[str]:
    """The 57 MMLU subjects (the ``category`` values of mmlu.jsonl), sorted."""
    return list(load_table()["mmlu_subjects"])


def core_task_names() -> list[str]:
    return [t.name for t in _specs() if t.core]


SUITE_NAMES = ("core", "extended", "mmlu", "core+mmlu")


def get_suite(name: str, version: str = CURRENT_VERSION) -> Suite:
    """``core`` (22 low-variance tasks), ``extended`` (all 53), ``mmlu`` (mmlu_fewshot),
    ``core+mmlu`` (DCLM's mmlu_and_lowvar.yaml: CORE plus mmlu_fewshot)."""
    _check_version(version)
    key = name.lower().replace("_", "+").replace(" ", "")
    specs = _specs()
    if key == "core":
        tasks = [t for t in specs if t.core]
    elif key in ("extended", "all", "heavy"):
        tasks = list(specs)
    elif key == "mmlu":
        tasks = [t for t in specs if t.name == "mmlu_fewshot"]
    elif key in ("core+mmlu", "mmlu+core", "mmlu+and+lowvar"):
        tasks = [t for t in specs if t.core or t.name == "mmlu_fewshot"]
    else:
        raise ValueError(f"unknown suite {name!r}; expected one of {SUITE_NAMES}")
    return Suite(name=name.lower(), version=version, tasks=tuple(tasks))
