"""The leaderboard's Plotly figure: each entry's headline score against training compute (log x).

The headline score is CORE; a toy tier's entries, which have no CORE (their
suite is the toy suite), are plotted by TOY and say so in the hover, so every
ranked entry has a point.

One trace per (tier, source), so the page's tier filter can show one tier by
toggling traces; references are open orange diamonds, our submissions blue
circles (two legend-only traces name the marks). Every point has hover details
(name, tier, recipe, CORE, MMLU, compute, epochs over the data, whether it is a DCLM reference) and
carries [its recipe block's anchor, its id], so a click opens the recipe. Text that comes from
submissions goes through `plot_text` (escaped for Plotly's pseudo-HTML).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from dcbench.leaderboard.rowfacts import (
    Scale, dig, is_reference, num, row_name, sci, split_name, training_flops)
from dcbench.pages import PLOT_CONFIG, PLOT_FONT, plot_text

OURS_COLOR = "#1565c0"
REF_COLOR = "#d84315"
MARKS = {  # is_reference -> legend name and marker
    False: ("dcbench submission", {"symbol": "circle", "size": 10, "color": OURS_COLOR,
                                   "line": {"color": "#ffffff", "width": 1}}),
    True: ("DCLM reference result", {"symbol": "diamond-open", "size": 10, "color": REF_COLOR,
                                     "line": {"width": 2}}),
}
HOVER_WIDTH = 72  # characters per hover line


def recipe_summary(row: Mapping[str, Any]) -> str:
    """One line on what produced the data: the recipe's name and steps, or the reference's model."""
    recipe = dig(row, "submission", "recipe")
    steps = recipe.get("steps") if isinstance(recipe, Mapping) else recipe
    if isinstance(steps, (list, tuple)) and steps:
        names = [next((str(s[k]) for k in ("func", "name", "step", "type", "op") if isinstance(s, Mapping)
                       and isinstance(s.get(k), str)), "step") for s in steps]
        label = dig(recipe, "name") if isinstance(recipe, Mapping) else None
        return f"{label + ': ' if label else ''}{len(steps)} steps ({', '.join(names)})"
    if is_reference(row):
        model = dig(row, "submission", "model", "name")
        return f"not recorded (DCLM model {model})" if model else "not recorded"
    return "not recorded"


def hover_text(row: Mapping[str, Any], scale: Scale, flops: float) -> str:
    data, config = split_name(row_name(row))
    lines = [f"<b>{plot_text(data, HOVER_WIDTH)}</b>"]
    if config:
        lines.append(plot_text(config, HOVER_WIDTH))
    source = "DCLM reference result" if is_reference(row) else "dcbench submission"
    lines += [f"tier {plot_text(row.get('tier'))} \u00b7 {source}",
              f"CORE {scale.text(row.get('core'))} \u00b7 MMLU {scale.text(row.get('mmlu'))}"
              f" \u00b7 EXTENDED {scale.text(row.get('extended'))}" + _toy_text(row, scale),
              f"compute \u2248 {sci(flops)} FLOPs" + _epochs_text(row),
              "recipe: " + plot_text(recipe_summary(row), HOVER_WIDTH)]
    return "<br>".join(lines)


def _toy_text(row: Mapping[str, Any], scale: Scale) -> str:
    return "" if num(row.get("toy")) is None else f" \u00b7 TOY {scale.text(row.get('toy'))} (plotted)"


def headline(row: Mapping[str, Any], scale: Scale) -> float | None:
    """CORE in percent, or TOY for an entry with no CORE (a toy tier's)."""
    core = scale.pct(row.get("core"))
    return scale.pct(row.get("toy")) if core is None else core


def _epochs_text(row: Mapping[str, Any]) -> str:
    """` · 14.4 epochs over its data` where the submission recorded it."""
    value = num(row.get("epochs"))
    value = num(dig(row, "submission", "model", "epochs")) if value is None else value
    return "" if value is None else f" \u00b7 {value:.1f} epochs over its data"


def _trace(tier: str, ref: bool, points: list[tuple[Mapping[str, Any], float, float, str]],
           scale: Scale) -> dict[str, Any]:
    name, marker = MARKS[ref]
    return {"type": "scatter", "mode": "markers", "name": f"{tier} \u00b7 {name}", "meta": tier,
            "legendgroup": name, "showlegend": False, "marker": {**marker, "opacity": 0.85},
            "x": [p[1] for p in points], "y": [p[2] for p in points],
            "customdata": [[p[3], str(p[0].get("id"))] for p in points],
            "hovertext": [hover_text(p[0], scale, p[1]) for p in points], "hoverinfo": "text"}


def _legend_trace(ref: bool) -> dict[str, Any]:
    name, marker = MARKS[ref]
    return {"type": "scatter", "mode": "markers", "name": name, "legendgroup": name, "x": [None], "y": [None],
            "marker": marker, "hoverinfo": "skip", "showlegend": True}


def core_vs_compute(rows: Sequence[Mapping[str, Any]], scale: Scale, anchors: Mapping[int, str],
                    tier_order: Sequence[str]) -> tuple[dict[str, Any], list[Mapping[str, Any]]]:
    """(figure as {data, layout, config}, rows not plotted: no CORE or TOY score, or unknown compute)."""
    groups: dict[tuple[str, bool], list] = {}
    skipped = []
    for row in rows:
        core, flops = headline(row, scale), training_flops(row)
        if core is None or flops is None:
            skipped.append(row)
            continue
        key = (str(row.get("tier") or "unknown"), is_reference(row))
        groups.setdefault(key, []).append((row, flops, core, anchors[id(row)]))
    order = {t: i for i, t in enumerate(tier_order)}
    data = [_trace(tier, ref, pts, scale) for (tier, ref), pts
            in sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], len(order)), kv[0][0], kv[0][1]))]
    data += [_legend_trace(False), _legend_trace(True)]
    return {"data": data, "layout": _layout(bool(groups)), "config": PLOT_CONFIG}, skipped


def _layout(has_points: bool) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "height": 520, "margin": {"l": 70, "r": 24, "t": 40, "b": 64},
        "font": PLOT_FONT,
        "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff", "hovermode": "closest",
        "hoverlabel": {"align": "left", "bgcolor": "#ffffff", "font": {"size": 12}},
        "xaxis": {"type": "log", "exponentformat": "power", "gridcolor": "#e3e3e3", "linecolor": "#333",
                  "mirror": True, "ticks": "outside",
                  "title": {"text": "training compute (FLOPs \u2248 6 \u00d7 params \u00d7 tokens, log scale)"}},
        "yaxis": {"gridcolor": "#e3e3e3", "linecolor": "#333", "mirror": True, "ticks": "outside",
                  "zeroline": False,
                  "title": {"text": "CORE (centered accuracy, %); toy tiers: TOY"}},
        "legend": {"orientation": "h", "x": 0, "y": 1.01, "yanchor": "bottom", "itemclick": False,
                   "itemdoubleclick": False},
    }
    if not has_points:
        layout["annotations"] = [{"text": "no submission has both a CORE (or TOY) score and a known training compute",
                                  "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5, "showarrow": False}]
    return layout

