"""Plain-text leaderboard: one table per tier, ranked by CORE (toy tiers by TOY).

The runs of one dataset (seeds) are one entry (`leaderboard.groups`): with seeds, the table
shows their number, the standard deviation and the 95% interval over seeds; where the rows
carry their submission documents (per-item values), or entries have seeds, a column says
whether each entry is statistically separable from the next one down.
"""

from __future__ import annotations

from typing import Any, Iterable

from dcbench.leaderboard.groups import group_rows, has_separability, has_seeds, mark_separable
from dcbench.leaderboard.store import rank_key, tier_order
from dcbench.table import format_table

MARKS = {"dcbench": "*", "dclm-reference": "R"}
LEGEND = ("* = dcbench submission, R = DCLM published reference; CORE, EXTENDED and TOY are centered "
          "accuracy x 100, MMLU accuracy x 100; epochs = passes over the training data (above 1: the data "
          "was repeated)")
SEED_LEGEND = ("seeds = runs of one dataset (`dcbench train --seed`) shown as one entry: their mean, sample "
               "standard deviation (sd) and Student-t 95% interval over seeds")
SEPARABLE_LEGEND = ("vs next: > separable from the entry below (95%: paired bootstrap over evaluation items and "
                    "seeds, else a t interval over seeds), ~ not separable, ? no test possible; `dcbench compare "
                    "ID_A ID_B` for details")
SEPARABLE_MARK = {True: ">", False: "~", None: "?"}


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


def _row(rank: str, e: dict[str, Any], key: str, name_width: int, seeds: bool, sep: bool) -> list[str]:
    mark = MARKS.get(e.get("source") or "dcbench", "?")
    scores = [e.get("toy")] if key == "toy" else [e.get("core"), e.get("mmlu"), e.get("extended")]
    cells = [rank, mark, _cut(str(e.get("name", "")), name_width), *map(_pct, scores)]
    if seeds:
        low, high = e.get("low"), e.get("high")
        cells += [str(e["n"]), _pct(e.get("sd")),
                  f"[{100 * low:.1f}, {100 * high:.1f}]" if low is not None else "-"]
    if sep:
        cells.append(SEPARABLE_MARK[e.get("separable_next")] if e.get("has_next") else "-")
    return cells + [_epochs(e.get("epochs")), str(e.get("id", "")) + (f" ({e['n']} runs)" if e["n"] > 1 else "")]


def _tier_block(t: str, rows: list[dict[str, Any]], name_width: int) -> tuple[str, bool, bool]:
    key = rank_key(t)
    entries = group_rows(rows, key)
    mark_separable(entries, key)
    seeds, sep = has_seeds(entries), has_separability(entries)
    scores = ["TOY"] if key == "toy" else ["CORE", "MMLU", "EXTENDED"]
    head = ["#", "", "name", *scores, *(["seeds", "sd", "95% interval"] if seeds else []),
            *(["vs next"] if sep else []), "epochs", "id"]
    body, rank = [], 0
    for e in entries:
        scored = e["score"] is not None
        rank += scored
        body.append(_row(str(rank) if scored else "-", e, key, name_width, seeds, sep))
    align = "rll" + "r" * len(scores) + ("rrr" if seeds else "") + ("l" if sep else "") + "rl"
    # scores right even when all unknown
    return format_table(head, body, title=f"== {t} (ranked by {key.upper()}) ==", align=align), seeds, sep


def format_leaderboard(rows: Iterable[dict[str, Any]], tier: str | None = None, *, name_width: int = 72) -> str:
    """Rows as `Store.list` returns them (or any dicts with tier, name, source, core, extended, mmlu, toy,
    epochs, dataset_id, seed; with the submission document under "submission" for separability tests
    over items: `html.with_documents`)."""
    rows = [r for r in rows if tier is None or str(r.get("tier", "")).lower() == tier.lower()]
    if not rows:
        return f"no submissions{f' for tier {tier}' if tier else ''}"
    by_tier: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_tier.setdefault(r["tier"], []).append(r)
    blocks, any_seeds, any_sep = [], False, False
    for t in sorted(by_tier, key=tier_order):
        block, seeds, sep = _tier_block(t, by_tier[t], name_width)
        blocks.append(block)
        any_seeds, any_sep = any_seeds or seeds, any_sep or sep
    legend = [LEGEND, *([SEED_LEGEND] if any_seeds else []), *([SEPARABLE_LEGEND] if any_sep else [])]
    return "\n\n".join(blocks) + "\n\n" + "\n".join(legend)
