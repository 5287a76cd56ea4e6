"""Plain-text leaderboard: one table per tier, ranked by CORE (toy tiers by TOY)."""

from __future__ import annotations

from typing import Any, Iterable

from dcbench.leaderboard.store import rank_key, tier_order
from dcbench.table import format_table

MARKS = {"dcbench": "*", "dclm-reference": "R"}
LEGEND = ("* = dcbench submission, R = DCLM published reference; CORE, EXTENDED and TOY are centered "
          "accuracy x 100, MMLU accuracy x 100; epochs = passes over the training data (above 1: the data "
          "was repeated)")


def _pct(v: Any) -> str:
    return f"{100 * v:.1f}" if isinstance(v, (int, float)) else "-"


def _cut(s: str, n: int) -> str:
    """Shorten in the middle: DCLM names differ at both ends (data ... hyperparameters)."""
    if len(s) <= n:
        return s
    head = (n - 3) // 2
    return s[:head] + "..." + s[len(s) - (n - 3 - head):]


def _epochs(v: Any) -> str:
    return f"{v:.1f}" if isinstance(v, (int, float)) else "-"


def _row(rank: str, r: dict[str, Any], key: str, name_width: int) -> list[str]:
    mark = MARKS.get(r.get("source", "dcbench"), "?")
    scores = [r.get("toy")] if key == "toy" else [r.get("core"), r.get("mmlu"), r.get("extended")]
    return [rank, mark, _cut(str(r.get("name", "")), name_width), *map(_pct, scores), _epochs(r.get("epochs")),
            str(r.get("id", ""))]


def format_leaderboard(rows: Iterable[dict[str, Any]], tier: str | None = None, *, name_width: int = 72) -> str:
    """Rows as `Store.list` returns them (or any dicts with tier, name, source, core, extended, mmlu, toy,
    epochs)."""
    rows = [r for r in rows if tier is None or str(r.get("tier", "")).lower() == tier.lower()]
    if not rows:
        return f"no submissions{f' for tier {tier}' if tier else ''}"
    by_tier: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_tier.setdefault(r["tier"], []).append(r)
    blocks = []
    for t in sorted(by_tier, key=tier_order):
        key = rank_key(t)
        group = sorted(by_tier[t], key=lambda r: (not isinstance(r.get(key), (int, float)),
                                                  -(r.get(key) or 0.0), str(r.get("name"))))
        scores = ["TOY"] if key == "toy" else ["CORE", "MMLU", "EXTENDED"]
        head = ["#", "", "name", *scores, "epochs", "id"]
        body, rank = [], 0
        for r in group:
            scored = isinstance(r.get(key), (int, float))
            rank += scored
            body.append(_row(str(rank) if scored else "-", r, key, name_width))
        blocks.append(format_table(head, body, title=f"== {t} (ranked by {key.upper()}) ==",
                                   align="rll" + "r" * (len(scores) + 1) + "l"))  # scores right even when all unknown
    return "\n\n".join(blocks) + "\n\n" + LEGEND
