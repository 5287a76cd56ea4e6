"""The static, self-contained HTML leaderboard page.

`render_leaderboard(rows)` turns the ranked rows of `Store.list()` (plain dicts, with the
submission documents attached by `with_documents` for per-task results and recipes) into one
page, from `templates/leaderboard.html.j2`:

* a Plotly plot of CORE against training compute (x = 6 x params x tokens, log scale), one
  point per result with hover details; a click on a point opens its recipe;
* a tier filter (buttons) that shows one tier in the plot and the sections below;
* per tier: a ranking table (by CORE; toy tiers by TOY; ranks restart per track), MMLU and
  EXTENDED beside it, and the epochs each model trained over its data; the runs of one dataset
  (seeds) are one entry with its mean, the number of seeds and the 95% interval over them
  (`leaderboard.groups`), and a column says whether each entry is statistically separable
  from the next one down (paired bootstrap over items and seeds: `leaderboard.compare`);
  a per-task table (a row per submission, a column per task, shaded
  relative within each task); both sort when a header is clicked;
* each submission's recipe, dataset statistics and hyperparameters in a `<details>` block;
* where a submission carries a contamination report (`dcbench contamination`), its per-task share
  of contaminated items beside the task's accuracy and in full in the `<details>` block.

DCLM's run names are long (up to ~230 characters); the page shows the data part first and the
training configuration under it, smaller. Our submissions (source "dcbench") and DCLM's
reference results ("dclm-reference") are marked differently everywhere.

The template autoescapes; the page's CSP (`dcbench.pages`) lets only its own inline scripts run.
`write_leaderboard(rows, path)` writes the page atomically.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from dcbench.atomic import write_atomic
from dcbench.leaderboard.figure import core_vs_compute
from dcbench.leaderboard.groups import group_rows, has_separability, has_seeds, mark_separable
from dcbench.leaderboard.rowfacts import (
    MISSING, REFERENCE_SOURCE, Scale, dig, is_reference, num, row_name, sci, si, split_name, task_accuracies,
    tier_size, training_flops)
from dcbench.pages import render

__all__ = ["render_leaderboard", "write_leaderboard", "with_documents", "training_flops", "REFERENCE_SOURCE"]

PACKAGE = "dcbench.leaderboard"
SCRIPTS = ("plots.js", "sortable.js", "tier_filter.js")
VALUE_LIMIT = 400  # characters of a recipe parameter shown before it is cut
_NAME_KEYS = ("func", "name", "step", "type", "op", "id")


def with_documents(store: Any, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """`Store.list()` rows with their whole submission document under "submission"."""
    return [{**row, "submission": store.get(row["id"])} for row in rows]


# --------------------------------------------------------------------------- grouping

def _is_toy_tier(tier: str, rows: Sequence[Mapping[str, Any]]) -> bool:
    if tier.lower().startswith("toy"):
        return True
    return (not any(num(r.get("core")) is not None for r in rows)
            and any(num(r.get("toy")) is not None for r in rows))


def _group_tiers(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """Tiers by compute (toy tiers last), rows in input order."""
    tiers: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        tiers.setdefault(str(row.get("tier") or "unknown"), []).append(row)

    def order(item: tuple[str, list[Mapping[str, Any]]]) -> tuple:
        name, members = item
        flops = [f for f in map(training_flops, members) if f is not None]
        return (_is_toy_tier(name, members), min(flops) if flops else math.inf, name)

    return sorted(tiers.items(), key=order)


def _ranked(rows: Sequence[Mapping[str, Any]], key: str) -> list[Mapping[str, Any]]:
    """Stable sort by score descending, rows without a score last (input order kept on ties)."""
    return sorted(rows, key=lambda r: (num(r.get(key)) is None, -(num(r.get(key)) or 0.0)))


# --------------------------------------------------------------------------- views

def _name(row: Mapping[str, Any], anchor: str) -> dict[str, str]:
    data, config = split_name(row_name(row))
    return {"full": row_name(row), "data": data, "config": config, "anchor": anchor}


def _score_cell(scale: Scale, value: Any) -> dict[str, Any]:
    pct = scale.pct(value)
    if pct is not None:
        return {"text": f"{pct:.1f}", "v": f"{pct:.4f}", "na": None}
    na = value if isinstance(value, str) and value else None
    return {"text": "n/a" if na else MISSING, "v": "", "na": na}


def _rank_table(rows: Sequence[Mapping[str, Any]], toy: bool, scale: Scale,
                anchors: Mapping[int, str]) -> dict[str, Any]:
    primary = "toy" if toy else "core"
    others = [k for k in ("core", "mmlu", "extended", "toy") if k != primary and (
        k in ("mmlu", "extended") and not toy or any(num(r.get(k)) is not None for r in rows))]
    tracks: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        tracks.setdefault(str(row.get("track") or ""), []).append(row)
    entries = {}
    for track, members in tracks.items():
        entries[track] = group_rows(members, primary)
        mark_separable(entries[track], primary)
    every = [e for es in entries.values() for e in es]
    seeds, sep = has_seeds(every), has_separability(every)
    groups = [{"track": track, "rows": [_entry_view(e, rank, track, [primary, *others], scale, anchors)
                                        for rank, e in enumerate(es, 1)]} for track, es in entries.items()]
    return {"primary": primary, "columns": [primary, *others], "groups": groups, "track_heads": len(tracks) > 1,
            "seeds": seeds, "separable": sep, "width": 6 + len(others) + 1 + 2 * seeds + sep}


SEPARABLE_TEXT = {True: ("separable", "statistically separable from the entry below (95%)"),
                  False: ("not separable", "no detectable difference from the entry below at this size"),
                  None: ("?", "no test possible: no per-item values and fewer than 2 seeds on a side")}


def _entry_view(e: Mapping[str, Any], rank: int, track: str, columns: list[str], scale: Scale,
                anchors: Mapping[int, str]) -> dict[str, Any]:
    first = e["rows"][0]
    interval = None
    if e["low"] is not None:
        interval = {"text": f"{scale.text(e['low'])} \u2013 {scale.text(e['high'])}",
                    "title": f"sd {scale.text(e['sd'])}; seeds: " + ", ".join(
                        f"{s if s is not None else '?'}: {scale.text(v)}" for s, v in zip(e["seeds"], e["scores"])),
                    "v": f"{scale.pct(e['low']):.4f}"}
    sep = SEPARABLE_TEXT[e["separable_next"]] if e["has_next"] else (MISSING, "no entry below")
    return {"id": e["id"], "ref": is_reference(first), "rank": rank, "name": _name(first, anchors[id(first)]),
            "track": track, "cells": [_score_cell(scale, e.get(k)) for k in columns],
            "epochs": _epochs_cell(first if e["n"] == 1 else e), "created": str(first.get("created") or ""),
            "n": e["n"], "interval": interval, "separable": {"text": sep[0], "title": sep[1],
                                                             "cls": {True: "sep", False: "nosep"}.get(
                                                                 e["separable_next"], "")}}


def _epochs_cell(row: Mapping[str, Any]) -> dict[str, Any]:
    """Passes over the training data (the store's column, else the submission's record)."""
    value = num(row.get("epochs"))
    if value is None:
        value = num(dig(row, "submission", "model", "epochs"))
    return {"text": MISSING, "v": "", "na": None} if value is None else \
        {"text": f"{value:.1f}", "v": f"{value:.4f}", "na": None}


def _task_table(rows: Sequence[Mapping[str, Any]], toy: bool, scale: Scale,
                anchors: Mapping[int, str]) -> dict[str, Any] | None:
    accs = [task_accuracies(r) for r in rows]
    tasks = sorted({t for a in accs for t in a})
    if not tasks:
        return None
    spans = {t: _span([a[t] for a in accs if t in a]) for t in tasks}
    primary = "toy" if toy else "core"
    contam = [_contamination(r) for r in rows]
    return {"primary": primary, "tasks": [{"name": t, "parts": t.split("_")} for t in tasks],
            "contaminated": any(c for c in contam), "rows": [
        {"id": row.get("id"), "ref": is_reference(row), "name": _name(row, anchors[id(row)]),
         "score": _score_cell(scale, row.get(primary)),
         "cells": [{**_task_cell(a.get(t), spans[t]), "contam": _contam_mark(c.get(t))} for t in tasks]}
        for row, a, c in zip(rows, accs, contam)]}


def _contamination(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """task -> {items, contaminated, share} from the submission's contamination report ({} without one)."""
    tasks = dig(row, "submission", "contamination", "tasks")
    return tasks if isinstance(tasks, Mapping) else {}


def _contam_text(entry: Any) -> str | None:
    share = num(entry.get("share")) if isinstance(entry, Mapping) else None
    if share is None:
        return None
    return f"{entry.get('contaminated')} of {entry.get('items')} items ({100 * share:.1f}%)"


def _contam_mark(entry: Any) -> dict[str, str] | None:
    """A contaminated task's mark in the per-task table (None when the report found it clean or is absent)."""
    text = _contam_text(entry)
    if text is None or not num(entry.get("share")):
        return None
    return {"text": f"\u26a0{100 * num(entry['share']):.1f}%",
            "title": f"{text} share an n-gram with this submission's dataset (dcbench contamination)"}


def _span(values: list[float]) -> tuple[float, float]:
    return (min(values), max(values)) if values else (0.0, 0.0)


def _task_cell(acc: float | None, span: tuple[float, float]) -> dict[str, Any]:
    if acc is None:
        return {"text": MISSING, "v": "", "alpha": None}
    lo, hi = span
    rel = (acc - lo) / (hi - lo) if hi > lo else 0.5
    return {"text": f"{acc * 100:.1f}", "v": f"{acc * 100:.4f}", "alpha": f"{0.06 + 0.5 * rel:.2f}"}


def _value(value: Any) -> dict[str, Any]:
    """A parameter value as text, cut at VALUE_LIMIT characters (`full` = the full length then)."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, int) and not isinstance(value, bool):
        text = f"{value:,}"
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    if len(text) > VALUE_LIMIT:
        return {"text": text[:VALUE_LIMIT] + "\u2026", "full": f"{len(text):,}"}
    return {"text": text, "full": None}


def _pairs(mapping: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(str(k), _value(v)) for k, v in mapping.items()]


def _step(step: Any) -> dict[str, Any]:
    if not isinstance(step, Mapping):
        return {"title": _value(step)["text"], "params": []}
    key = next((k for k in _NAME_KEYS if isinstance(step.get(k), str)), None)
    params = step.get("params", step.get("args"))
    if not isinstance(params, Mapping):
        params = {k: v for k, v in step.items() if k != key}
    return {"title": step[key] if key else "step", "params": _pairs(params)}


def _recipe(row: Mapping[str, Any], anchor: str) -> dict[str, Any]:
    sub = row.get("submission") if isinstance(row.get("submission"), Mapping) else {}
    recipe = sub.get("recipe")
    steps = recipe.get("steps") if isinstance(recipe, Mapping) else recipe
    meta = {k: v for k, v in recipe.items() if k != "steps"} if isinstance(recipe, Mapping) else {}
    flops = training_flops(row)
    return {"anchor": anchor, "id": row.get("id"), "ref": is_reference(row), "name": _name(row, anchor),
            "tier": row.get("tier"), "track": row.get("track"), "meta": _pairs(meta),
            "steps": [_step(s) for s in steps] if isinstance(steps, (list, tuple)) else [],
            "no_recipe": recipe is None,
            "dataset": _pairs(sub.get("dataset") or {}) if isinstance(sub.get("dataset"), Mapping) else [],
            "hyperparameters": (_pairs(sub.get("hyperparameters") or {})
                                if isinstance(sub.get("hyperparameters"), Mapping) else []),
            "model": dig(sub, "model", "name") if is_reference(row) else None,
            "contamination": [(t, {"text": _contam_text(e) or MISSING, "full": None})
                              for t, e in _contamination(row).items()],
            "ngram": dig(sub, "contamination", "ngram"),
            "flops": sci(flops) if flops is not None else None}


def _tier_facts(members: Sequence[Mapping[str, Any]], toy: bool) -> list[str]:
    size = tier_size(members[0])
    flops = next((f for f in map(training_flops, members) if f is not None), None)
    facts = [f"{si(size['params'])} parameters"] if "params" in size else []
    facts += [f"{si(size['tokens'])} tokens"] if "tokens" in size else []
    facts += [f"\u2248 {sci(flops)} FLOPs"] if flops is not None else []
    return facts + [f"ranked by {'TOY' if toy else 'CORE'}"]


def _tier_view(tier: str, members: Sequence[Mapping[str, Any]], scale: Scale,
               anchors: Mapping[int, str]) -> dict[str, Any]:
    toy = _is_toy_tier(tier, members)
    ranked = _ranked(members, "toy" if toy else "core")
    return {"name": tier, "facts": _tier_facts(members, toy), "count": len(members),
            "ranking": _rank_table(ranked, toy, scale, anchors), "tasks": _task_table(ranked, toy, scale, anchors),
            "recipes": [_recipe(r, anchors[id(r)]) for r in ranked]}


# --------------------------------------------------------------------------- page

def render_leaderboard(rows: Iterable[Mapping[str, Any]], *, title: str = "dcbench leaderboard") -> str:
    """One static, self-contained HTML page for the given leaderboard rows (plain dicts)."""
    rows = [r for r in rows if isinstance(r, Mapping)]
    scale = Scale(rows)
    anchors = {id(r): f"sub-{i + 1}" for i, r in enumerate(rows)}
    tiers = _group_tiers(rows)
    figure, skipped = core_vs_compute(rows, scale, anchors, [t for t, _ in tiers])
    ours = sum(not is_reference(r) for r in rows)
    return render(PACKAGE, "leaderboard.html.j2", scripts=SCRIPTS, title=title, figure=figure,
                  total=len(rows), ours=ours, references=len(rows) - ours,
                  skipped=[_name(r, anchors[id(r)]) for r in skipped],
                  tiers=[_tier_view(t, members, scale, anchors) for t, members in tiers])


def write_leaderboard(rows: Iterable[Mapping[str, Any]], path: str | os.PathLike[str], **kwargs: Any) -> Path | str:
    """Render and write the page atomically."""
    return write_atomic(path, render_leaderboard(rows, **kwargs))
