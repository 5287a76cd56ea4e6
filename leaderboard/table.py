"""Plain-text leaderboard: one table per tier, ranked by CORE (toy tiers by TOY)."""

from __future__ import annotations

from typing import Any, Iterable

from dcbench.leaderboard.store import _rank_key, _tier_order

MARKS = {"dcbench": "*", "dclm-reference": "R"}
LEGEND = ("* = dcbench submission, R = DCLM published reference; CORE, EXTENDED and TOY are centered "
          "accuracy x 100, MMLU accuracy x 100")


def _pct(v: Any) -> str:
    return f"{100 * v:.1f}" if isinstance(v, (int, float)) else "-"


def _cut(s: str, n: int) -> str:
    """Shorten in the middle: DCLM names differ at both ends (data ... hyperparameters)."""
    if len(s) <= n:
        return s
    head = (n - 3) // 2
    return s[:head] + "..." + s[len(s) - (n - 3 - head):]


def format_leaderboard(rows: Iterable[dict[str, Any]], tier: str | None = None, *, name_width: int = 72) -> str:
    """Rows as `Store.list` returns them (or any dicts with tier, name, source, core, extended, mmlu, toy)."""
    rows = [r for r in rows if tier is None or str(r.get("tier", "")).lower() == tier.lower()]
    if not rows:
        return f"no submissions{f' for tier {tier}' if tier else ''}"
    by_tier: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_tier.setdefault(r["tier"], []).append(r)
    blocks = []
    for t in sorted(by_tier, key=_tier_order):
        key = _rank_key(t)
        group = sorted(by_tier[t], key=lambda r: (not isinstance(r.get(key), (int, float)),
                                                  -(r.get(key) or 0.0), str(r.get("name"))))
        if key == "toy":
            head = ("#", "", "name", "TOY", "id")
        else:
            head = ("#", "", "name", "CORE", "MMLU", "EXTENDED", "id")
        table = [head]
        rank = 0
        for r in group:
            scored = isinstance(r.get(key), (int, float))
            rank += scored
            mark = MARKS.get(r.get("source", "dcbench"), "?")
            name = _cut(str(r.get("name", "")), name_width)
            if key == "toy":
                table.append((str(rank) if scored else "-", mark, name, _pct(r.get("toy")), str(r.get("id", ""))))
            else:
                table.append((str(rank) if scored else "-", mark, name, _pct(r.get("core")), _pct(r.get("mmlu")),
                              _pct(r.get("extended")), str(r.get("id", ""))))
        widths = [max(len(row[i]) for row in table) for i in range(len(head))]
        numeric = {i for i, h in enumerate(head) if h in ("#", "CORE", "MMLU", "EXTENDED", "TOY")}
        lines = [f"== {t} (ranked by {key.upper()}) =="]
        for row in table:
            cells = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
            lines.append("  ".join(cells).rstrip())
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n\n" + LEGEND
