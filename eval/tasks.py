"""Task settings and loaders for LLM-Foundry's four in-context-learning jsonl formats.

Formats (one JSON object per line):

* ``multiple_choice``: ``{query, choices[], gold[, category]}``
* ``schema``: ``{context_options[], continuation, gold[, category]}``
* ``language_modeling``: ``{context, continuation[, category]}``
* ``generation_task_with_answers``: ``{context, answer[, aliases[]][, chain_of_thought][, category]}``
  (LLM-Foundry reads ``aliases`` with a default of ``[]``; gsm8k and svamp have none)

Loaders keep the text as it is in the file; the whitespace stripping that
LLM-Foundry applies to string fields (``strip_data``) happens in
`eval.prompts`, so hand-built examples behave the same way.

`TaskConfig` carries one row of an LLM-Foundry ``icl_tasks`` YAML with
LLM-Foundry's defaults (``example_delimiter "\\n"``, ``continuation_delimiter
" "``, empty prompt string and prelimiter, few-shot seed 1234).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from dcbench.errors import ConfigError, DataError

MULTIPLE_CHOICE = "multiple_choice"
SCHEMA = "schema"
LANGUAGE_MODELING = "language_modeling"
GENERATION = "generation_task_with_answers"
TASK_TYPES = (MULTIPLE_CHOICE, SCHEMA, LANGUAGE_MODELING, GENERATION)
# LLM-Foundry's deprecated spelling of the generation type
_ALIASES = {"question_answering": GENERATION}


@dataclass(frozen=True)
class MCExample:
    query: str
    choices: tuple[str, ...]
    gold: int
    category: str | None = None


@dataclass(frozen=True)
class SchemaExample:
    context_options: tuple[str, ...]
    continuation: str
    gold: int
    category: str | None = None


@dataclass(frozen=True)
class LMExample:
    context: str
    continuation: str
    category: str | None = None


@dataclass(frozen=True)
class GenExample:
    context: str
    answer: str
    aliases: tuple[str, ...] = ()
    chain_of_thought: str | None = None  # None: the row has no such field
    category: str | None = None


Example = MCExample | SchemaExample | LMExample | GenExample


@dataclass(frozen=True)
class TaskConfig:
    """One evaluation task at one shot count (LLM-Foundry's defaults)."""

    label: str
    dataset_uri: str
    icl_task_type: str
    num_fewshot: int = 0
    continuation_delimiter: str = " "
    example_delimiter: str = "\n"
    prelimiter: str = ""  # LLM-Foundry's YAML key `question_prelimiter`
    prompt_string: str = ""
    cot_delimiter: str = ""
    early_stopping_criteria: tuple[str, ...] = ()
    do_normalization: bool = True
    has_categories: bool = False
    fewshot_random_seed: int = 1234
    max_seq_len: int = 2048
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self):
        kind = _ALIASES.get(self.icl_task_type, self.icl_task_type)
        if kind not in TASK_TYPES:
            raise ConfigError(f"task {self.label!r}: unknown icl_task_type {self.icl_task_type!r} "
                              f"(one of {', '.join(TASK_TYPES)})")
        object.__setattr__(self, "icl_task_type", kind)
        if isinstance(self.num_fewshot, bool) or not isinstance(self.num_fewshot, int) or self.num_fewshot < 0:
            raise ConfigError(f"task {self.label!r}: num_fewshot must be an integer >= 0, got {self.num_fewshot!r}")
        if not isinstance(self.max_seq_len, int) or self.max_seq_len < 1:
            raise ConfigError(f"task {self.label!r}: max_seq_len must be a positive integer")
        stops = self.early_stopping_criteria
        if stops is None:
            stops = ()
        if isinstance(stops, str):
            stops = (stops,)
        object.__setattr__(self, "early_stopping_criteria", tuple(stops))
        for name in ("continuation_delimiter", "example_delimiter", "prelimiter", "prompt_string", "cot_delimiter"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"task {self.label!r}: {name} must be a string")

    @property
    def stop_strings(self) -> tuple[str, ...]:
        return self.early_stopping_criteria

    @classmethod
    def from_yaml_entry(cls, entry: Mapping[str, Any], *, data_root: str | os.PathLike | None = None,
                        num_fewshot: int | None = None, max_seq_len: int = 2048) -> "TaskConfig":
        """Build from one ``icl_tasks`` item of an LLM-Foundry / DCLM YAML.

        ``num_fewshot`` there is a list; pick one with `num_fewshot` (default:
        the first). ``dataset_uri`` such as ``eval/local_data/x/y.jsonl`` is
        resolved under `data_root` (the folder that holds ``local_data``) by its
        part from ``local_data/`` on.
        """
        for key in ("label", "dataset_uri", "icl_task_type", "num_fewshot"):
            if key not in entry:
                raise ConfigError(f"icl task entry {dict(entry)!r} lacks {key!r}")
        shots = entry["num_fewshot"]
        shots_list = list(shots) if isinstance(shots, (list, tuple)) else [shots]
        if num_fewshot is None:
            num_fewshot = shots_list[0]
        uri = str(entry["dataset_uri"])
        if data_root is not None:
            marker = "local_data/"
            rel = uri[uri.index(marker):] if marker in uri else uri
            uri = str(Path(data_root) / rel)
        known = {"label", "dataset_uri", "icl_task_type", "num_fewshot", "continuation_delimiter",
                 "example_delimiter", "question_prelimiter", "prelimiter", "prompt_string", "cot_delimiter",
                 "early_stopping_criteria", "do_normalization", "has_categories", "fewshot_random_seed",
                 "max_seq_len"}
        return cls(
            label=str(entry["label"]),
            dataset_uri=uri,
            icl_task_type=str(entry["icl_task_type"]),
            num_fewshot=int(num_fewshot),
            continuation_delimiter=entry.get("continuation_delimiter", " "),
            example_delimiter=entry.get("example_delimiter", "\n"),
            prelimiter=entry.get("question_prelimiter", entry.get("prelimiter", "")),
            prompt_string=entry.get("prompt_string", ""),
            cot_delimiter=entry.get("cot_delimiter", ""),
            early_stopping_criteria=tuple(entry.get("early_stopping_criteria") or ()),
            do_normalization=bool(entry.get("do_normalization", True)),
            has_categories=bool(entry.get("has_categories", False)),
            fewshot_random_seed=int(entry.get("fewshot_random_seed", 1234)),
            max_seq_len=int(entry.get("max_seq_len", max_seq_len)),
            extra={k: v for k, v in entry.items() if k not in known},
        )


# ---------------------------------------------------------------- validation


def _where(path, line: int) -> str:
    return f"{path}:{line}"


def _need(row: Mapping, key: str, kind, where: str, task_type: str):
    if key not in row:
        raise DataError(f"{where}: {task_type} row lacks {key!r} (has {sorted(row)})")
    value = row[key]
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise DataError(f"{where}: {key!r} must be an integer, got {type(value).__name__}")
    elif not isinstance(value, kind):
        raise DataError(f"{where}: {key!r} must be {kind.__name__}, got {type(value).__name__}")
    return value


def _str_list(row: Mapping, key: str, where: str, task_type: str, *, required: bool = True,
              nonempty: bool = True) -> tuple[str, ...]:
    if key not in row and not required:
        return ()
    value = _need(row, key, list, where, task_type)
    if nonempty and not value:
        raise DataError(f"{where}: {key!r} is empty")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise DataError(f"{where}: {key}[{i}] must be a string, got {type(item).__name__}")
    return tuple(value)


def _category(row: Mapping, where: str) -> str | None:
    if "category" not in row or row["category"] is None:
        return None
    value = row["category"]
    if not isinstance(value, str):
        raise DataError(f"{where}: 'category' must be a string, got {type(value).__name__}")
    return value


def _gold(row: Mapping, n: int, key: str, where: str, task_type: str) -> int:
    gold = _need(row, "gold", int, where, task_type)
    if not 0 <= gold < n:
        raise DataError(f"{where}: gold {gold} is out of range for {n} {key}")
    return gold


def parse_row(row: Any, task_type: str, where: str = "<row>") -> Example:
    """Validate one decoded JSON object as `task_type`; errors name `where`."""
    task_type = _ALIASES.get(task_type, task_type)
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    if task_type == MULTIPLE_CHOICE:
        query = _need(row, "query", str, where, task_type)
        choices = _str_list(row, "choices", where, task_type)
        return MCExample(query, choices, _gold(row, len(choices), "choices", where, task_type), _category(row, where))
    if task_type == SCHEMA:
        options = _str_list(row, "context_options", where, task_type)
        continuation = _need(row, "continuation", str, where, task_type)
        gold = _gold(row, len(options), "context_options", where, task_type)
        return SchemaExample(options, continuation, gold, _category(row, where))
    if task_type == LANGUAGE_MODELING:
        context = _need(row, "context", str, where, task_type)
        continuation = _need(row, "continuation", str, where, task_type)
        return LMExample(context, continuation, _category(row, where))
    if task_type == GENERATION:
        context = _need(row, "context", str, where, task_type)
        answer = _need(row, "answer", str, where, task_type)
        aliases = _str_list(row, "aliases", where, task_type, required=False, nonempty=False)
        cot = row.get("chain_of_thought")
        if cot is not None and not isinstance(cot, str):
            raise DataError(f"{where}: 'chain_of_thought' must be a string, got {type(cot).__name__}")
        return GenExample(context, answer, aliases, cot, _category(row, where))
    raise ConfigError(f"unknown icl_task_type {task_type!r} (one of {', '.join(TASK_TYPES)})")


def load_examples(path: str | os.PathLike, task_type: str, *, limit: int | None = None) -> list[Example]:
    """Read and validate a task jsonl; a DataError names the file and line.

    Blank lines are skipped. `limit` keeps the first `limit` rows only (note
    that few-shot pools then shrink too; `eval.scoring.evaluate_task` has its
    own `limit` that keeps the full pool).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: task file not found")
    task_type = _ALIASES.get(task_type, task_type)
    if task_type not in TASK_TYPES:
        raise ConfigError(f"unknown icl_task_type {task_type!r} (one of {', '.join(TASK_TYPES)})")
    out: list[Example] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = _where(path, lineno)
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{where}: invalid JSON ({e.msg} at column {e.colno})") from e
            out.append(parse_row(row, task_type, where))
            if limit is not None and len(out) >= limit:
                break
    if not out:
        raise DataError(f"{path}: no examples")
    return out


def load_multiple_choice(path, *, limit=None) -> list[MCExample]:
    return load_examples(path, MULTIPLE_CHOICE, limit=limit)  # type: ignore[return-value]


def load_schema(path, *, limit=None) -> list[SchemaExample]:
    return load_examples(path, SCHEMA, limit=limit)  # type: ignore[return-value]


def load_language_modeling(path, *, limit=None) -> list[LMExample]:
    return load_examples(path, LANGUAGE_MODELING, limit=limit)  # type: ignore[return-value]


def load_generation(path, *, limit=None) -> list[GenExample]:
    return load_examples(path, GENERATION, limit=limit)  # type: ignore[return-value]


def load_task(cfg: TaskConfig, *, limit: int | None = None) -> list[Example]:
    """The examples of `cfg.dataset_uri` (a local path); checks categories when needed."""
    examples = load_examples(cfg.dataset_uri, cfg.icl_task_type, limit=limit)
    if cfg.has_categories:
        missing = [i for i, ex in enumerate(examples) if ex.category is None]
        if missing:
            raise DataError(f"{cfg.dataset_uri}: task {cfg.label!r} has has_categories but "
                            f"{len(missing)} rows lack 'category' (first: row {missing[0] + 1})")
    return examples
