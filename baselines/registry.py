"""The step registry: every recipe step is a registered factory.

A *factory* is a plain function whose keyword-only parameters (with type
annotations and defaults) are the step's recipe parameters. It is called once
per worker with the validated parameters and returns a *mapper*, DCLM's
contract: ``mapper(page) -> list[page]`` where ``[]`` removes the page,
``[page]`` keeps it (possibly modified) and two or more split it.

The signature is the schema: recipe values are checked against the
annotations before any work starts, so a typo or a wrong type fails with a
message that names the step, the parameter and what is accepted. Numeric
parameters also declare accepted ranges (`ranges=`, NaN is never accepted)
and steps declare cross-parameter rules (`rules=`, such as min <= max or "the
Bloom filter fits in memory"); both are checked with the types, before the
first shard is read, and `dcbench steps NAME` shows them.

Parameters that name files (a model, a word list) are declared with
`files=`: a recipe's id hashes the content of the file they name, never the
path (`dcbench.baselines.recipe`). Steps come from dcbench itself, from
installed packages that declare an entry point in the `dcbench.steps` group,
and from modules or files given with `dcbench process --plugin`
(`dcbench.baselines.plugins`); all go through `step` and its checks.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from dcbench.contracts import Mapper, Page, StepKind
from dcbench.errors import ConfigError

__all__ = ["AT_LEAST_ONE", "ENTRY_POINT_GROUP", "FRACTION", "KINDS", "Mapper", "NON_NEGATIVE", "Page", "Param", "Range",
           "Rule", "StepSpec", "all_steps", "check_value", "forget_module", "get", "load_entry_points", "ordered", "step",
           "type_name"]

KINDS = tuple(k.value for k in StepKind)
ENTRY_POINT_GROUP = "dcbench.steps"
BUILTIN_PREFIX = "dcbench."  # the module of every built-in step starts with it

# Where a file parameter's value leads: the file (or directory) the step will read, or None for none.
Resolver = Callable[[Any], "str | Path | None"]


def as_path(value: Any) -> str | None:
    """The default resolver: the value is the path (null: no file)."""
    return None if value is None else str(value)


@dataclass(frozen=True)
class Range:
    """Accepted numbers: `low`..`high` (None: unbounded), each end inclusive unless `*_open`."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            return f"{'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return "any number"


@dataclass(frozen=True)
class Rule:
    """A condition on several parameters, shown as `text`. `check(values)` gets every parameter
    (defaults filled in) and returns True when they are acceptable; it may instead raise a
    ConfigError with a fuller message (a memory need and the memory available)."""

    text: str
    check: Callable[[dict[str, Any]], bool]


FRACTION = Range(0, 1)
NON_NEGATIVE = Range(0, None)
AT_LEAST_ONE = Range(1, None)


def ordered(low: str, high: str) -> Rule:
    """The rule `low <= high` between two numeric parameters (either may be null: no bound)."""
    return Rule(f"{low} <= {high}", lambda v: v[low] is None or v[high] is None or v[low] <= v[high])


@dataclass(frozen=True)
class Param:
    name: str
    annotation: Any
    default: Any  # inspect.Parameter.empty when required
    range: Range | None = None

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    def describe(self) -> str:
        text = f"{self.name}: {type_name(self.annotation)}"
        text = text if self.required else f"{text} = {self.default!r}"
        return text if self.range is None else f"{text}  (accepted: {self.range.describe()})"

    def check_range(self, value: Any, where: str) -> None:
        """Raise ConfigError when a number in `value` (a number or a list of them) is outside the range."""
        if self.range is None:
            return
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v not in self.range:
                accepted = self.range.describe()
                raise ConfigError(f"{where} must be {'in ' if accepted[0] in '[(' else ''}{accepted}, got {v!r}")


@dataclass(frozen=True)
class StepSpec:
    name: str
    kind: StepKind
    factory: Callable[..., Mapper]
    params: dict[str, Param]
    summary: str
    # Document labels (a pool's ground truth, such as the toy pool's defects) this step
    # is meant to catch; used to report precision and recall of each step.
    targets: tuple[str, ...] = field(default=())
    module: str = ""  # where the factory is defined (a plugin's module for plugin steps)
    files: Mapping[str, Resolver] = field(default_factory=dict)  # parameters naming files read
    state: tuple[str, ...] = ()  # parameters naming a directory the step keeps state in (read and written)
    rules: tuple[Rule, ...] = ()  # cross-parameter conditions, checked after each parameter's type and range
    # The step handles pages whose text is not a str (a list of lines between DCLM's split_lines_modifier
    # and join_lines_modifier, or absent before key_name_modifier); the runner quarantines such a page
    # before any step without it.
    any_text: bool = False

    @property
    def builtin(self) -> bool:
        return self.module.startswith(BUILTIN_PREFIX)

    def with_defaults(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """`values` plus every parameter's default where it is not given."""
        return {**{p.name: p.default for p in self.params.values() if not p.required}, **values}

    def validate(self, values: dict[str, Any], where: str) -> dict[str, Any]:
        """Return `values` checked against the signature, or raise ConfigError."""
        unknown = sorted(set(values) - set(self.params))
        if unknown:
            accepted = ", ".join(self.params) or "none"
            raise ConfigError(
                f"{where}: step '{self.name}' has no parameter {', '.join(map(repr, unknown))}; "
                f"accepted parameters: {accepted}"
            )
        for p in self.params.values():
            if p.name not in values:
                if p.required:
                    raise ConfigError(
                        f"{where}: step '{self.name}' needs parameter '{p.name}' ({type_name(p.annotation)})"
                    )
                continue
            what = f"{where}: step '{self.name}' parameter '{p.name}'"
            values[p.name] = check_value(values[p.name], p.annotation, what)
            p.check_range(values[p.name], what)
        full = self.with_defaults(values)
        for rule in self.rules:
            try:
                ok = rule.check(full)
            except ConfigError as e:
                raise ConfigError(f"{where}: step '{self.name}': {e}") from e
            if not ok:
                shown = ", ".join(f"{n}={full[n]!r}" for n in self.params if re.search(rf"\b{n}\b", rule.text))
                raise ConfigError(f"{where}: step '{self.name}' needs {rule.text}, got {shown}")
        return values

    def build(self, values: dict[str, Any], where: str = "recipe") -> Mapper:
        """Validate and call the factory; errors loading resources become ConfigErrors."""
        values = self.validate(dict(values), where)
        try:
            return self.factory(**values)
        except ConfigError:
            raise
        except (OSError, ValueError) as e:
            raise ConfigError(f"{where}: step '{self.name}' could not start: {e}") from e


_REGISTRY: dict[str, StepSpec] = {}


def step(kind: StepKind | str, *, name: str | None = None, targets: tuple[str, ...] = (),
         files: Iterable[str] | Mapping[str, Resolver] = (), state: tuple[str, ...] = (),
         ranges: Mapping[str, Range | tuple[float | None, float | None]] | None = None,
         rules: Iterable[Rule] = (), any_text: bool = False) -> Callable:
    """Register a factory as a recipe step named after the function (or `name`).

    `targets`: document labels the step is meant to catch ("!label": every
    labelled document but those with `label`, for steps that keep a kind).
    `files`: parameters whose value names a file or directory the step reads,
    optionally mapped to how the step resolves the value (default: the value
    is the path). `state`: parameters naming a directory the step reads and
    writes (its path and content stay out of the recipe id). `ranges`: the
    numbers each numeric parameter accepts (a `Range`, or `(low, high)`
    inclusive with None for unbounded). `rules`: `Rule`s over several parameters.
    `any_text`: the step handles pages whose `text` is not a str (a list of lines, or absent);
    without it the runner quarantines such a page before the step.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    kind = StepKind(kind)
    resolvers = dict(files) if isinstance(files, Mapping) else {f: as_path for f in files}
    bounds = {n: r if isinstance(r, Range) else Range(*r) for n, r in (ranges or {}).items()}

    def register(factory: Callable[..., Mapper]) -> Callable[..., Mapper]:
        step_name = name or factory.__name__
        if step_name in _REGISTRY:
            raise ValueError(f"step {step_name!r} registered twice (by {_REGISTRY[step_name].module} and "
                             f"{factory.__module__})")
        hints = typing.get_type_hints(factory)
        params = {}
        for p in inspect.signature(factory).parameters.values():
            if p.kind is not inspect.Parameter.KEYWORD_ONLY:
                raise TypeError(f"step {step_name}: parameter {p.name} must be keyword-only")
            params[p.name] = Param(p.name, hints.get(p.name, Any), p.default, bounds.get(p.name))
        undeclared = sorted((set(resolvers) | set(state) | set(bounds)) - set(params))
        if undeclared:
            raise TypeError(f"step {step_name}: files/state/ranges name no parameter: {', '.join(undeclared)}")
        summary = (inspect.getdoc(factory) or "").split("\n\n")[0].replace("\n", " ")
        _REGISTRY[step_name] = StepSpec(step_name, kind, factory, params, summary, tuple(targets),
                                        factory.__module__, {k: v or as_path for k, v in resolvers.items()},
                                        tuple(state), tuple(rules), any_text)
        return factory

    return register


def get(name: str, where: str = "recipe") -> StepSpec:
    load_builtin_steps()
    if name not in _REGISTRY:
        close = [n for n in _REGISTRY if name.split("_")[0] in n][:5]
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ConfigError(f"{where}: unknown step '{name}'.{hint} Run `dcbench steps` to list them.")
    return _REGISTRY[name]


def all_steps() -> dict[str, StepSpec]:
    load_builtin_steps()
    return dict(sorted(_REGISTRY.items()))


def forget_module(module: str) -> list[str]:
    """Unregister the steps defined in `module` (before a changed plugin file registers them again)."""
    names = [n for n, s in _REGISTRY.items() if s.module == module]
    for n in names:
        del _REGISTRY[n]
    return names


_ENTRY_POINTS: set[str] = set()  # entry points loaded, by value
_SCANNED: list[bool] = []


def load_builtin_steps() -> None:
    """Import the modules that register the built-in steps, then (once per process) the
    installed plugins' (`load_entry_points`); idempotent."""
    # deferred: the step modules import this registry to register themselves, so importing them
    # at this module's top would be a cycle; registration happens on their import.
    import dcbench.baselines.steps  # noqa: F401

    if not _SCANNED:
        _SCANNED.append(True)
        load_entry_points()


def load_entry_points() -> list[str]:
    """Load the step plugins installed packages declare in the `dcbench.steps` entry point
    group (those not loaded yet); returns the modules loaded."""
    loaded = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.value not in _ENTRY_POINTS:
            _load_entry_point(ep)
            _ENTRY_POINTS.add(ep.value)
            loaded.append(ep.value)
    return loaded


def _load_entry_point(ep: importlib.metadata.EntryPoint) -> None:
    dist = ep.dist.name if ep.dist is not None else "an installed package"
    try:
        ep.load()  # importing the module registers its steps
    except Exception as e:  # a broken plugin names itself instead of breaking every command obscurely
        raise ConfigError(f"the step plugin {ep.name!r} ({ep.value}, entry point group {ENTRY_POINT_GROUP!r} of "
                          f"{dist}) failed to load: {type(e).__name__}: {e}; fix or uninstall it") from e


# ---------------------------------------------------------------- type checks


def type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(annotation))
    if origin in (list, tuple):
        args = typing.get_args(annotation)
        return f"list of {type_name(args[0])}" if args else "list"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def check_value(value: Any, annotation: Any, where: str) -> Any:
    """Return `value` (ints widened to float where a float is asked) or raise ConfigError."""
    ok, converted = _conforms(value, annotation)
    if not ok:
        raise ConfigError(f"{where} must be {type_name(annotation)}, got {value!r}")
    return converted


def _conforms(value: Any, annotation: Any) -> tuple[bool, Any]:
    if annotation is Any:
        return True, value
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return value in typing.get_args(annotation), value
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(annotation):
            ok, converted = _conforms(value, option)
            if ok:
                return True, converted
        return False, value
    if origin in (list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            return False, value
        (inner,) = typing.get_args(annotation)[:1] or (Any,)
        items = [_conforms(v, inner) for v in value]
        return all(ok for ok, _ in items), [v for _, v in items]
    if annotation is type(None):
        return value is None, value
    if annotation is float:  # NaN is never a meaningful parameter (every comparison with it is false)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)
        return ok, float(value) if ok else value
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    return isinstance(value, annotation), value
