"""The step registry: every recipe step is a registered factory.

A *factory* is a plain function whose keyword-only parameters (with type
annotations and defaults) are the step's recipe parameters. It is called once
per worker with the validated parameters and returns a *mapper*, DCLM's
contract: ``mapper(page) -> list[page]`` where ``[]`` removes the page,
``[page]`` keeps it (possibly modified) and two or more split it.

The signature is the schema: recipe values are checked against the
annotations before any work starts, so a typo or a wrong type fails with a
message that names the step, the parameter and what is accepted.

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
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from dcbench.contracts import Mapper, Page, StepKind
from dcbench.errors import ConfigError

__all__ = ["ENTRY_POINT_GROUP", "KINDS", "Mapper", "Page", "Param", "StepSpec", "all_steps", "check_value",
           "forget_module", "get", "load_entry_points", "step", "type_name"]

KINDS = tuple(k.value for k in StepKind)
ENTRY_POINT_GROUP = "dcbench.steps"
BUILTIN_PREFIX = "dcbench."  # the module of every built-in step starts with it

# Where a file parameter's value leads: the file (or directory) the step will read, or None for none.
Resolver = Callable[[Any], "str | Path | None"]


def as_path(value: Any) -> str | None:
    """The default resolver: the value is the path (null: no file)."""
    return None if value is None else str(value)


@dataclass(frozen=True)
class Param:
    name: str
    annotation: Any
    default: Any  # inspect.Parameter.empty when required

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    def describe(self) -> str:
        text = f"{self.name}: {type_name(self.annotation)}"
        return text if self.required else f"{text} = {self.default!r}"


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
            values[p.name] = check_value(values[p.name], p.annotation, f"{where}: step '{self.name}' parameter '{p.name}'")
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
         files: Iterable[str] | Mapping[str, Resolver] = (), state: tuple[str, ...] = ()) -> Callable:
    """Register a factory as a recipe step named after the function (or `name`).

    `targets`: document labels the step is meant to catch ("!label": every
    labelled document but those with `label`, for steps that keep a kind).
    `files`: parameters whose value names a file or directory the step reads,
    optionally mapped to how the step resolves the value (default: the value
    is the path). `state`: parameters naming a directory the step reads and
    writes (its path and content stay out of the recipe id).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    kind = StepKind(kind)
    resolvers = dict(files) if isinstance(files, Mapping) else {f: as_path for f in files}

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
            params[p.name] = Param(p.name, hints.get(p.name, Any), p.default)
        undeclared = sorted((set(resolvers) | set(state)) - set(params))
        if undeclared:
            raise TypeError(f"step {step_name}: files/state name no parameter: {', '.join(undeclared)}")
        summary = (inspect.getdoc(factory) or "").split("\n\n")[0].replace("\n", " ")
        _REGISTRY[step_name] = StepSpec(step_name, kind, factory, params, summary, tuple(targets),
                                        factory.__module__, {k: v or as_path for k, v in resolvers.items()},
                                        tuple(state))
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
    if annotation is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    return isinstance(value, annotation), value
