"""The step registry: every recipe step is a registered factory.

A *factory* is a plain function whose keyword-only parameters (with type
annotations and defaults) are the step's recipe parameters. It is called once
per worker with the validated parameters and returns a *mapper*, DCLM's
contract: ``mapper(page) -> list[page]`` where ``[]`` removes the page,
``[page]`` keeps it (possibly modified) and two or more split it.

The signature is the schema: recipe values are checked against the
annotations before any work starts, so a typo or a wrong type fails with a
message that names the step, the parameter and what is accepted.
"""

from __future__ import annotations

import inspect
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from dcbench.contracts import Mapper, Page, StepKind
from dcbench.errors import ConfigError

__all__ = ["KINDS", "Mapper", "Page", "Param", "StepSpec", "all_steps", "check_value", "get", "step", "type_name"]

KINDS = tuple(k.value for k in StepKind)


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


def step(kind: StepKind | str, *, name: str | None = None, targets: tuple[str, ...] = ()) -> Callable:
    """Register a factory as a recipe step named after the function (or `name`)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    kind = StepKind(kind)

    def register(factory: Callable[..., Mapper]) -> Callable[..., Mapper]:
        step_name = name or factory.__name__
        if step_name in _REGISTRY:
            raise ValueError(f"step {step_name!r} registered twice")
        hints = typing.get_type_hints(factory)
        params = {}
        for p in inspect.signature(factory).parameters.values():
            if p.kind is not inspect.Parameter.KEYWORD_ONLY:
                raise TypeError(f"step {step_name}: parameter {p.name} must be keyword-only")
            params[p.name] = Param(p.name, hints.get(p.name, Any), p.default)
        summary = (inspect.getdoc(factory) or "").split("\n\n")[0].replace("\n", " ")
        _REGISTRY[step_name] = StepSpec(step_name, kind, factory, params, summary, tuple(targets))
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


def load_builtin_steps() -> None:
    """Import the modules that register the built-in steps (idempotent)."""
    # deferred: the step modules import this registry to register themselves, so importing them
    # at this module's top would be a cycle; registration happens on their import.
    import dcbench.baselines.steps  # noqa: F401


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
