"""Recipes: an ordered list of registered steps with parameters, in YAML.

Two layouts are read:

* ours: ``{name, description, steps: [{func: NAME, PARAM: VALUE, ...}, ...]}``
* DCLM's: ``[{source: NAME, steps: [...]}, ...]`` (pick a block with
  ``source_name``; the bare ``commit`` markers and ``_``-prefixed keys such as
  ``_aggregate`` are accepted and ignored, as DCLM's processor does).

YAML is read with the safe loader and nothing outside the registry ever runs.
Every step and parameter is validated here, before any work starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from dcbench.baselines.registry import StepSpec, get
from dcbench.contracts import GlobalStep, Mapper, StepKind
from dcbench.errors import ConfigError
from dcbench.manifest import content_id

_RECIPE_KEYS = {"name", "description", "steps"}


@dataclass(frozen=True)
class StepConfig:
    index: int  # 1-based position in the recipe
    func: str
    params: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.index:02d} {self.func}"

    @property
    def spec(self) -> StepSpec:
        return get(self.func)

    @property
    def kind(self) -> StepKind:
        return self.spec.kind

    @property
    def targets(self) -> tuple[str, ...]:
        return self.spec.targets


@dataclass(frozen=True)
class Recipe:
    """A recipe as YAML gives it; what the runner needs of it is `dcbench.contracts.Recipe`."""

    name: str
    steps: tuple[StepConfig, ...]
    description: str = ""
    source: str = ""  # where it was read from
    text: str = field(default="", compare=False)

    @property
    def id(self) -> str:
        """Content id of what the recipe does (not of its file's comments or layout)."""
        return content_id("recipe", [[s.func, s.params] for s in self.steps])

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description,
                "steps": [{"func": s.func, **s.params} for s in self.steps]}

    def before_first_global(self) -> "Recipe":
        """The local steps before the first global one (DCLM-Baseline: its 26 heuristics)."""
        steps = []
        for s in self.steps:
            if s.kind is StepKind.GLOBAL:
                break
            steps.append(s)
        return replace(self, steps=tuple(steps))

    def build(self) -> list[tuple[StepConfig, Mapper | GlobalStep]]:
        """Instantiate every step (loads models and word lists)."""
        return [(s, s.spec.build(s.params, where=f"{self.source}: step {s.label}")) for s in self.steps]


def load_recipe(path: str | Path, source_name: str | None = None, variables: dict[str, str] | None = None) -> Recipe:
    """Read and validate a recipe. `variables` fill `{name}` in string parameters
    (`dcbench process` passes `pool`, the pool's directory)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"recipe not found: {path}") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    return parse_recipe(data, source=str(path), text=text, default_name=path.stem, source_name=source_name,
                        variables=variables)


def recipe_from_dict(data: dict[str, Any]) -> Recipe:
    """Rebuild a recipe from `Recipe.to_dict()` (how workers receive it)."""
    return parse_recipe(data, source=data.get("name", "recipe"), text="", default_name="recipe")


def parse_recipe(data: Any, *, source: str, text: str, default_name: str, source_name: str | None = None,
                 variables: dict[str, str] | None = None) -> Recipe:
    if isinstance(data, list):
        data = _pick_dclm_source(data, source, source_name)
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        raise ConfigError(f"{source}: a recipe is a mapping with a 'steps' list (or DCLM's list of {{source, steps}})")
    unknown = set(data) - _RECIPE_KEYS - {"source"}
    if unknown:
        raise ConfigError(f"{source}: unknown recipe keys {sorted(unknown)}; accepted: {sorted(_RECIPE_KEYS)}")
    steps = []
    for raw in data["steps"]:
        cfg = _parse_step(raw, len(steps) + 1, source, variables or {})
        if cfg is not None:
            steps.append(cfg)
    if not steps:
        raise ConfigError(f"{source}: the recipe has no steps")
    name = str(data.get("name") or data.get("source") or default_name)
    return Recipe(name, tuple(steps), str(data.get("description", "")), source, text)


def _pick_dclm_source(blocks: list[Any], source: str, source_name: str | None) -> dict[str, Any]:
    names = [b.get("source") for b in blocks if isinstance(b, dict)]
    if source_name is None:
        if len(blocks) != 1:
            raise ConfigError(f"{source}: the recipe has sources {names}; choose one with --source-name")
        return blocks[0]
    for block in blocks:
        if isinstance(block, dict) and block.get("source") == source_name:
            return block
    raise ConfigError(f"{source}: no source named {source_name!r}; the recipe has {names}")


def _expand(value: Any, variables: dict[str, str]) -> Any:
    if isinstance(value, str):
        for name, sub in variables.items():
            value = value.replace("{" + name + "}", sub)
        return value
    if isinstance(value, list):
        return [_expand(v, variables) for v in value]
    return value


def _parse_step(raw: Any, index: int, source: str, variables: dict[str, str]) -> StepConfig | None:
    where = f"{source}: step {index}"
    if raw == "commit":
        return None  # DCLM's flush marker: our runner writes once per shard anyway
    if isinstance(raw, str):
        raw = {"func": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("func"), str):
        raise ConfigError(f"{where}: a step is a mapping with a 'func' naming a registered step, got {raw!r}")
    params = {k: _expand(v, variables) for k, v in raw.items() if k != "func" and not str(k).startswith("_")}
    spec = get(raw["func"], where)
    params = spec.validate(params, where)
    json.dumps(params)  # parameters must be plain data: they are hashed into the recipe id
    return StepConfig(index, raw["func"], params)
