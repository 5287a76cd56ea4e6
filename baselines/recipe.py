"""Recipes: an ordered list of registered steps with parameters, in YAML.

Two layouts are read:

* ours: ``{name, description, steps: [{func: NAME, PARAM: VALUE, ...}, ...]}``
* DCLM's: ``[{source: NAME, steps: [...]}, ...]`` (pick a block with
  ``source_name``; the bare ``commit`` markers and DCLM's ``_aggregate`` key
  are accepted and ignored, as DCLM's processor does; any other
  ``_``-prefixed key is an error).

YAML is read with the safe loader and nothing outside the registry ever runs;
a duplicate key is an error, and a recipe's size and its expansion through YAML
aliases are bounded (`MAX_RECIPE_BYTES`, `MAX_RECIPE_NODES`). Every step and
parameter (type, range, cross-parameter rules) is validated here, before any
work starts, and so is the order of steps that depend on one another (a
`language_filter` needs a language-id enricher before it). A recipe
may name installed step plugins by module (`plugins: [my_steps]`); a plugin
*file* is only ever given on the command line (`--plugin FILE.py`), so that
reading a recipe never runs code from a path it names.

A recipe's id hashes what it does, never where its files live: the step
names, the parameters with every file parameter (a quality model, a word
list; see the registry's `files=`) replaced by the sha256 of the file it
names, the source digests of the plugins its steps come from, and the code
version. The same pool and recipe in two directories give the same id.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import fsspec
import yaml

from dcbench import __version__
from dcbench.baselines.plugins import Plugin, ensure_loaded, load_plugin, plugin_of
from dcbench.baselines.registry import StepSpec, get
from dcbench.contracts import GlobalStep, Mapper, StepKind
from dcbench.errors import ConfigError
from dcbench.manifest import content_id

_RECIPE_KEYS = {"name", "description", "steps", "plugins"}
_DCLM_STEP_KEYS = {"_aggregate"}  # DCLM's per-step statistics settings: accepted and ignored
MAX_RECIPE_BYTES = 1 << 20  # DCLM's largest recipes are a few kB
MAX_RECIPE_NODES = 100_000  # values in the recipe once every YAML alias is expanded
STATE_DIR = "<state directory>"  # what a recipe id holds for a step's state directory (see registry `state=`)


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

    @property
    def any_text(self) -> bool:
        return self.spec.any_text


@dataclass(frozen=True)
class Recipe:
    """A recipe as YAML gives it; what the runner needs of it is `dcbench.contracts.Recipe`."""

    name: str
    steps: tuple[StepConfig, ...]
    description: str = ""
    source: str = ""  # where it was read from
    text: str = field(default="", compare=False)
    plugins: tuple[Plugin, ...] = ()  # where its non-built-in steps come from (shipped to workers)

    @cached_property
    def id(self) -> str:
        """Content id of what the recipe does: not of its file's layout, nor of where its files live.
        Computed once (file digests) and carried to the workers with the recipe."""
        steps = [[s.func, content_params(s.spec, s.params)] for s in self.steps]
        plugins = sorted([p.module, p.digest] for p in self.plugins)
        return content_id("recipe", {"steps": steps, "plugins": plugins, "code": __version__})

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A worker receiving a recipe first loads its plugins, so that its steps can be looked up.
        ensure_loaded(state.get("plugins", ()))
        self.__dict__.update(state)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "description": self.description,
                             "steps": [{"func": s.func, **s.params} for s in self.steps]}
        if self.plugins:
            d["plugins"] = [p.record() for p in self.plugins]
        return d

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
        ensure_loaded(self.plugins)
        return [(s, s.spec.build(s.params, where=f"{self.source}: step {s.label}")) for s in self.steps]


def load_recipe(path: str | Path, source_name: str | None = None, variables: dict[str, str] | None = None,
                plugins: tuple[str, ...] = ()) -> Recipe:
    """Read and validate a recipe. `variables` fill `{name}` in string parameters
    (`dcbench process` passes `pool`, the pool's directory); `plugins` (module names
    or .py files, from `--plugin`) are loaded first."""
    for spec in plugins:
        load_plugin(spec)
    path = Path(path)
    try:
        if path.stat().st_size > MAX_RECIPE_BYTES:
            raise ConfigError(f"{path}: a recipe is at most {MAX_RECIPE_BYTES:,} bytes; this one has "
                              f"{path.stat().st_size:,}")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"recipe not found: {path}") from e
    data = read_yaml(text, str(path))
    return parse_recipe(data, source=str(path), text=text, default_name=path.stem, source_name=source_name,
                        variables=variables)


class _RecipeLoader(yaml.SafeLoader):
    """The safe loader, refusing a mapping that gives one key twice (YAML would keep the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` merges are overridden by explicit keys, as YAML intends
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                continue  # an unhashable key: the safe loader reports it itself
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def read_yaml(text: str, source: str) -> Any:
    """Parse a recipe's YAML safely: duplicate keys refused, alias expansion bounded."""
    try:
        data = yaml.load(text, Loader=_RecipeLoader)  # noqa: S506  (a SafeLoader subclass)
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML: {e}") from e
    if _expanded_size(data, MAX_RECIPE_NODES) > MAX_RECIPE_NODES:
        raise ConfigError(f"{source}: the recipe expands to more than {MAX_RECIPE_NODES:,} values once its YAML "
                          f"aliases (*name) are expanded; write it without nested aliases")
    return data


def _expanded_size(data: Any, limit: int) -> int:
    """How many values `data` holds with shared (aliased) parts counted each time they appear;
    stops counting past `limit` (so a self-referencing or exponential alias costs at most `limit` steps)."""
    count, stack = 0, [data]
    while stack and count <= limit:
        value = stack.pop()
        count += 1
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
    return count


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
    _load_recipe_plugins(data.get("plugins"), source)
    steps = []
    for raw in data["steps"]:
        cfg = _parse_step(raw, len(steps) + 1, source, variables or {})
        if cfg is not None:
            steps.append(cfg)
    if not steps:
        raise ConfigError(f"{source}: the recipe has no steps")
    _check_language_ids(steps, source)
    name = str(data.get("name") or data.get("source") or default_name)
    used = {p.module: p for p in (plugin_of(s.spec) for s in steps) if p is not None}
    return Recipe(name, tuple(steps), str(data.get("description", "")), source, text,
                  tuple(used[m] for m in sorted(used)))


def _check_language_ids(steps: list[StepConfig], source: str) -> None:
    """Each `language_filter` reads a key that a `detect_lang_whole_page_enricher` before it writes
    (`KEY_PREFIX_MODEL`, fasttext or langdetect). A paragraph enricher's key does not count: its values
    are not probabilities, so DCLM's filter would fail on every page."""
    written: set[str] = set()
    paragraph: set[str] = set()
    for s in steps:
        values = s.spec.with_defaults(s.params)
        if s.func == "detect_lang_whole_page_enricher":
            written.add(f"{values['key_prefix']}_{values['model']}")
        elif s.func == "detect_lang_paragraph_enricher":
            paragraph.add(f"{values['key_prefix']}_{values['model']}")
        elif s.func == "language_filter" and values["key"] not in written:
            why = (" (a detect_lang_paragraph_enricher writes it, but its values are per-sentence averages, "
                   "not probabilities)" if values["key"] in paragraph else "")
            raise ConfigError(
                f"{source}: step {s.label} reads the language id {values['key']!r}, but no "
                f"detect_lang_whole_page_enricher before it writes that key{why} (it writes KEY_PREFIX_MODEL, "
                f"e.g. language_id_whole_page_langdetect); add one before it, or set language_filter's 'key' to match")


def _load_recipe_plugins(entries: Any, source: str) -> None:
    """A recipe's `plugins:` are importable module names (a record from `to_dict` names its module)."""
    if entries is None:
        return
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: 'plugins' is a list of module names")
    for entry in entries:
        module = entry.get("module") if isinstance(entry, dict) else entry
        if not isinstance(module, str):
            raise ConfigError(f"{source}: 'plugins' is a list of module names, got {entry!r}")
        if module.endswith(".py") or "/" in module:
            raise ConfigError(f"{source}: a recipe names plugins by module only, not by file ({module}); "
                              f"give a plugin file on the command line: dcbench process --plugin {module} ...")
        if module in sys.modules and isinstance(entry, dict):
            continue  # a recorded plugin file already executed here
        load_plugin(module, flag=f"{source}: plugins:")


def content_params(spec: StepSpec, params: dict[str, Any]) -> dict[str, Any]:
    """`params` as a recipe id hashes them: each file parameter (given or defaulted) replaced by the
    digest of the file it leads to, each state directory by a marker."""
    out = dict(params)
    full = spec.with_defaults(params)
    for name, resolve in spec.files.items():
        try:
            path = resolve(full.get(name))
        except (ConfigError, OSError):
            path = ""  # the step reports the missing file itself when it is built
        if path is not None:
            out[name] = {"sha256": path_digest(str(path)) if path else "absent"}
    for name in spec.state:
        if params.get(name) is not None:
            out[name] = STATE_DIR
    return out


_DIGESTS: dict[tuple[str, int, int], str] = {}


def path_digest(path: str) -> str:
    """sha256 of a file, or of a directory (its files' relative paths and digests); "absent" if neither.
    Local or any fsspec URI; remembered per process by path, size and mtime."""
    fs, p = fsspec.core.url_to_fs(path)
    try:
        info = fs.info(p)
    except (FileNotFoundError, OSError):
        return "absent"
    if info.get("type") == "directory":
        h = hashlib.sha256()
        for f in sorted(fs.find(p)):
            h.update(f"{f[len(p.rstrip('/')) + 1:]}\0{path_digest(fs.unstrip_protocol(f))}\n".encode())
        return h.hexdigest()
    key = (fs.unstrip_protocol(p), int(info.get("size") or 0), int((info.get("mtime") or 0) * 1e9))
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with fs.open(p, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


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
    private = sorted(str(k) for k in raw if str(k).startswith("_") and k not in _DCLM_STEP_KEYS)
    if private:
        raise ConfigError(f"{where}: unknown keys {private}; of the keys starting with '_' only DCLM's "
                          f"{sorted(_DCLM_STEP_KEYS)} are accepted (and ignored)")
    params = {k: _expand(v, variables) for k, v in raw.items() if k != "func" and k not in _DCLM_STEP_KEYS}
    spec = get(raw["func"], where)
    params = spec.validate(params, where)
    json.dumps(params)  # parameters must be plain data: they are hashed into the recipe id
    return StepConfig(index, raw["func"], params)
