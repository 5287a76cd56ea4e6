"""Seeds as an axis: the runs of one dataset at one tier are one leaderboard entry.

`group_rows(rows, key)` turns ranked rows (of one tier) into entries: the runs that share a
dataset id (different `dcbench train --seed`, or repeats) with their mean score, sample
standard deviation, Student-t 95% interval over seeds and the number of seeds; rows without
a dataset id (DCLM's reference results) stand alone. Entries are ranked by their mean.

`mark_separable(entries, key)` says, for each entry, whether it is statistically separable
from the next one down: the paired bootstrap of `dcbench compare` over evaluation items (and
seeds) when both carry per-item values (rows with their submission documents attached), else
Welch's t interval over seeds when both have two or more; None when neither can be made.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from dcbench.leaderboard.compare import separable, t_interval
from dcbench.leaderboard.rowfacts import num

SCORE_KEYS = ("core", "extended", "mmlu", "toy")
SEPARABLE_SAMPLES = 1000  # bootstrap samples per neighbour pair on the leaderboard


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _entry(members: list[Mapping[str, Any]], key: str) -> dict[str, Any]:
    scores = [num(r.get(key)) for r in members]
    interval = t_interval([s for s in scores if s is not None])
    first = members[0]
    entry = {k: _mean([num(r.get(k)) for r in members]) for k in SCORE_KEYS}
    entry.update(
        rows=members, n=len(members), name=first.get("name"), tier=first.get("tier"), source=first.get("source"),
        track=first.get("track"), dataset_id=first.get("dataset_id"),
        id=first.get("id") if len(members) == 1 else first.get("dataset_id"),
        epochs=_mean([num(r.get("epochs")) for r in members]),
        seeds=[r.get("seed") for r in members], scores=scores,
        sd=interval[1] if interval else None, low=interval[2] if interval else None,
        high=interval[3] if interval else None, separable_next=None, has_next=False)
    entry["score"] = entry[key]
    return entry


def group_rows(rows: Sequence[Mapping[str, Any]], key: str) -> list[dict[str, Any]]:
    """Entries (see the module docstring) of rows of one tier, best mean first, unscored last."""
    groups: dict[Any, list[Mapping[str, Any]]] = {}
    for r in rows:
        dataset = r.get("dataset_id") if r.get("source", "dcbench") == "dcbench" else None
        groups.setdefault(("dataset", dataset) if dataset else ("row", r.get("id"), id(r)), []).append(r)
    entries = [_entry(sorted(m, key=lambda r: (r.get("seed") is None, r.get("seed") or 0, str(r.get("id")))), key)
               for m in groups.values()]
    entries.sort(key=lambda e: (e["score"] is None, -(e["score"] or 0.0), str(e["name"]), str(e["id"])))
    return entries


def _docs(entry: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """The entry's submission documents, or stand-ins that carry only the ranked score."""
    return [r["submission"] if isinstance(r.get("submission"), Mapping) else
            {"eval": {"aggregates": {key.upper(): r.get(key)}}} for r in entry["rows"]]


def mark_separable(entries: list[dict[str, Any]], key: str, *, samples: int = SEPARABLE_SAMPLES) -> None:
    """Set each scored entry's `separable_next` (True / False / None) against the next scored one
    (`has_next` says there is one)."""
    scored = [e for e in entries if e["score"] is not None]
    for upper, lower in zip(scored, scored[1:]):
        upper["separable_next"] = separable(_docs(upper, key), _docs(lower, key), samples=samples)
        upper["has_next"] = True


def has_seeds(entries: Sequence[Mapping[str, Any]]) -> bool:
    return any(e["n"] > 1 for e in entries)


def has_separability(entries: Sequence[Mapping[str, Any]]) -> bool:
    return any(e["separable_next"] is not None for e in entries)
