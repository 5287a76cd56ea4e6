"""Values the command line spells as text: NAME=VALUE pairs (`--source web=runs/web`, `--cap web=0.5`)
and `--set KEY=VALUE` overrides."""

from __future__ import annotations

from typing import Any, Callable

import yaml

from dcbench.errors import ConfigError


def parse_pairs(items: list[str], what: str, cast: Callable[[str], Any] = str) -> dict[str, Any]:
    """`["a=1", "b=2"]` -> {"a": cast("1"), "b": cast("2")}; a ConfigError names `what` and the bad item."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{what} {item!r}: write NAME=VALUE")
        try:
            out[key] = cast(value)
        except ValueError as e:
            raise ConfigError(f"{what} {item!r}: {e}") from e
    return out


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`--set KEY=VALUE` pairs as a dict of overrides, each VALUE read as YAML (`lr=1e-3` -> 0.001)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {pair!r}: write KEY=VALUE, e.g. --set lr=1e-3")
        out[key.strip()] = yaml.safe_load(value)
    return out
