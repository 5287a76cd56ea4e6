"""Values the command line spells as text: NAME=VALUE pairs (`--source web=runs/web`, `--cap web=0.5`),
`--set KEY=VALUE` overrides, and the argparse `type=` functions every CLI uses for its numbers
(`positive_int`, `non_negative_int`, `positive_float`, `fraction`): a count of -1 or a budget of
NaN is refused by argparse (exit 2) naming the option, instead of meaning "forever" or "off"."""

from __future__ import annotations

import argparse
import math
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


def _number(text: str, cast: Callable[[str], Any], what: str) -> Any:
    try:
        value = cast(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (workers, steps, a batch size)."""
    value = _number(text, int, "an integer >= 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0 (retries, a seed)."""
    value = _number(text, int, "an integer >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (a learning rate, FLOP/s)."""
    value = _number(text, float, "a finite number > 0")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1] (a share of records); NaN and infinities are refused."""
    value = _number(text, float, "a number in [0, 1]")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value
