"""What the leaderboard page reads off a row: scores as percentages, training
compute, the source, per-task accuracies, and a name split so people can read it.

Rows are the plain dicts of `Store.list()`, optionally with the whole submission
document under "submission" (`html.with_documents`). Scores are fractions
(DCLM's JSON convention: CORE 0.42 means 42.0) and shown x100; if any score on
the page is above 1 in magnitude, all of them are taken as percentages already.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping, Sequence

from dcbench.tiers import TIERS

REFERENCE_SOURCE = "dclm-reference"
SCORES = ("core", "extended", "mmlu", "toy")
MISSING = "\u2014"  # em dash

# DCLM run names are "<data>-<model and training config>", e.g.
# "c4_original-open_lm_1b-warm=5000-lr=0p003-...": the config starts at the model name or the first key=value.
_CONFIG_START = re.compile(r"-(?=open_lm|d=\d|[A-Za-z_]+=)")
_SUP = str.maketrans("0123456789-", "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079\u207b")


def num(value: Any) -> float | None:
    """A finite float, or None for missing / N/A strings / NaN / bools."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float, str)):
        try:
            v = float(value)
        except ValueError:
            return None
        return v if math.isfinite(v) else None
    return None


def dig(mapping: Any, *keys: str) -> Any:
    """mapping[k1][k2]..., or None where a level is missing or not a mapping."""
    for key in keys:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def is_reference(row: Mapping[str, Any]) -> bool:
    return str(row.get("source", "")).lower() == REFERENCE_SOURCE


def row_name(row: Mapping[str, Any]) -> str:
    return str(row.get("name") or row.get("id") or "?")


def split_name(name: str) -> tuple[str, str]:
    """(data part, training-config part) of a DCLM-style run name; ("name", "") for others."""
    m = _CONFIG_START.search(name)
    return (name[:m.start()], name[m.start() + 1:]) if m and m.start() > 0 else (name, "")


def tier_size(row: Mapping[str, Any]) -> dict[str, float]:
    """params/tokens for a row: the row, then the submission's hyperparameters, then the tier table."""
    hp = dig(row, "submission", "hyperparameters")
    found: dict[str, float] = {}
    for source in (row, hp, dig(hp, "tier")):
        if isinstance(source, Mapping):
            for key in ("params", "tokens"):
                if num(source.get(key)) is not None:
                    found[key] = num(source[key])
    tier = TIERS.get(str(row.get("tier")))
    if tier is not None:
        found.setdefault("params", float(tier.params))
        found.setdefault("tokens", float(tier.tokens))
    return found


def training_flops(row: Mapping[str, Any]) -> float | None:
    """Approximate training compute, 6 x params x tokens, or None when unknown."""
    size = tier_size(row)
    params, tokens = size.get("params"), size.get("tokens")
    if params is None or tokens is None or params <= 0 or tokens <= 0:
        return None
    flops = 6.0 * params * tokens
    return flops if math.isfinite(flops) else None


def sci(value: float) -> str:
    """2.4x10^20 with Unicode superscripts."""
    exp = int(math.floor(math.log10(value)))
    mant = value / 10 ** exp
    if round(mant, 1) >= 10:
        mant, exp = mant / 10, exp + 1
    return f"{mant:.1f}\u00d710{str(exp).translate(_SUP)}"


def si(value: float | None) -> str:
    if value is None:
        return MISSING
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:.3g}{suffix}"
    return f"{value:.3g}"


def task_accuracies(row: Mapping[str, Any]) -> dict[str, float]:
    """task -> accuracy (fraction) from the submission's eval; {"accuracy": x} or bare numbers."""
    tasks = dig(row, "submission", "eval", "tasks")
    out: dict[str, float] = {}
    if isinstance(tasks, Mapping):
        for task, value in tasks.items():
            acc = num(value.get("accuracy")) if isinstance(value, Mapping) else num(value)
            if acc is not None:
                out[str(task)] = acc
    return out


class Scale:
    """Scores are fractions unless some score on the page exceeds 1 in magnitude."""

    def __init__(self, rows: Sequence[Mapping[str, Any]]):
        vals = [num(r.get(k)) for r in rows for k in SCORES]
        self.factor = 1.0 if any(v is not None and abs(v) > 1.0 for v in vals) else 100.0

    def pct(self, value: Any) -> float | None:
        v = num(value)
        return None if v is None else v * self.factor

    def text(self, value: Any) -> str:
        v = self.pct(value)
        return MISSING if v is None else f"{v:.1f}"
