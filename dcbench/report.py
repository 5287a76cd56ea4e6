"""What a run shows its user: the per-step summary table, precision and
recall against the pool's document labels (when the run counted them), and
a self-contained HTML report (`dcbench.pages`: a Jinja2 template with
autoescape; Plotly bar charts of what became of the documents reaching each
step and of the seconds each step took; the step table; the corpus before
and after the recipe (words per document, language-id and quality scores,
from `dcbench.corpusstats`); sample documents each step removed).
"""

from __future__ import annotations

import math
from typing import Any

from dcbench.pages import PLOT_CONFIG, PLOT_FONT, SPINE, plot_text, render
from dcbench.stepstats import StepStats, describe_targets
from dcbench.table import format_table


def _rate(n: int, secs: float) -> str:
    return f"{n / secs:,.0f}" if secs > 0 else "-"


def format_summary(stats: dict[str, Any]) -> str:
    rows = []
    for s in stats["steps"]:
        rows.append([s["name"], s["kind"], f"{s['in']:,}", f"{s['kept']:,}", f"{s['removed']:,}",
                     f"{s['quarantined']:,}", f"{s['modified']:,}", f"{s['secs']:.2f}", _rate(s["in"], s["secs"])])
    table = format_table(["step", "kind", "in", "kept", "removed", "quarant.", "modified", "secs", "docs/s/core"],
                         rows)
    t = stats["totals"]
    mb = t["text_bytes"] / 1e6
    lines = [
        table,
        "",
        f"records {t['records']:,}: kept {t['kept']:,}, quarantined {t['quarantined']:,} "
        f"({t['unreadable']:,} unreadable), removed {t['records'] - t['kept'] - t['quarantined']:,}",
        f"{mb:,.1f} MB of text in {t['secs']:.1f} core-seconds: {mb / t['secs'] if t['secs'] else 0:.2f} MB/s per core, "
        f"{_rate(t['records'], t['secs'])} docs/s per core; wall {stats['wall_secs']:.1f} s"
        + (f" ({stats['skipped_shards']} shards already done)" if stats.get("skipped_shards") else ""),
    ]
    return "\n".join(lines)


def _pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.1%}"


def precision_recall(step: dict[str, Any]) -> dict[str, float | int] | None:
    """Precision and recall of one step as a stats file holds it (see `StepStats.precision_recall`)."""
    return StepStats.from_dict(step).precision_recall()


def format_precision_recall(stats: dict[str, Any]) -> str | None:
    rows = []
    for s in stats["steps"]:
        pr = precision_recall(s)
        if pr is None:
            continue
        rows.append([s["name"], describe_targets(s["targets"], ","), f"{pr['reached']:,}", f"{pr['acted']:,}",
                     f"{pr['true']:,}", _pct(pr["precision"]), _pct(pr["recall"])])
    if not rows:
        return None
    targets = f"targets ({stats.get('labels') or 'labels'})"  # named after the run's label plug-in
    head = ["step", targets, "reached", "acted", "on target", "precision", "recall"]
    note = ("precision: share of the documents a step removed (modifiers: modified) that carry a defect it targets;\n"
            "recall: share of the documents with a targeted defect reaching the step that it acted on.")
    return format_table(head, rows) + "\n" + note


# ------------------------------------------------------------------ HTML

# Stacked bars: what became of the pages that reached each step (kept + removed + quarantined = in).
_FATES = (("kept, unchanged", "#9ccc65"), ("kept, modified", "#26a69a"), ("removed", "#2b6cb0"),
          ("quarantined", "#e53935"))


def _as_dict(step: Any) -> dict[str, Any]:
    """A step's stats in their JSON form (a `StepStats` or the dict a stats file holds)."""
    return step.to_dict() if hasattr(step, "to_dict") else step


def _step_labels(steps: list[dict[str, Any]]) -> list[str]:
    """Axis labels for Plotly: escaped, and unique (a category axis merges equal names)."""
    names = [s["name"] for s in steps]
    unique = len(set(names)) == len(names)
    return [plot_text(n if unique else f"{i + 1}. {n}") for i, n in enumerate(names)]


def _bar_layout(labels: list[str], x_title: str, **extra: Any) -> dict[str, Any]:
    return {"height": 110 + 30 * len(labels), "margin": {"l": 10, "r": 24, "t": 36, "b": 48},
            "font": PLOT_FONT,
            "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff", "hoverlabel": {"align": "left"},
            "xaxis": {"title": {"text": x_title}, "gridcolor": "#e3e3e3", "rangemode": "tozero"},
            "yaxis": {"automargin": True, "autorange": "reversed", "type": "category"}, **extra}


def _fates_figure(steps: list[dict[str, Any]], labels: list[str]) -> dict[str, Any]:
    counts = {"kept, unchanged": [max(s["kept"] - s["modified"], 0) for s in steps],
              "kept, modified": [min(s["modified"], s["kept"]) for s in steps],
              "removed": [s["removed"] for s in steps], "quarantined": [s["quarantined"] for s in steps]}
    data = [{"type": "bar", "orientation": "h", "name": fate, "y": labels, "x": counts[fate],
             "marker": {"color": color}, "hovertemplate": f"%{{y}}<br>{fate}: %{{x:,}} documents<extra></extra>"}
            for fate, color in _FATES]
    layout = _bar_layout(labels, "documents reaching the step", barmode="stack",
                         legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom", "traceorder": "normal"})
    return {"data": data, "layout": layout, "config": PLOT_CONFIG}


def _seconds_figure(steps: list[dict[str, Any]], labels: list[str]) -> dict[str, Any]:
    data = [{"type": "bar", "orientation": "h", "name": "core-seconds", "y": labels, "x": [s["secs"] for s in steps],
             "marker": {"color": "#5c6bc0"}, "customdata": [_rate(s["in"], s["secs"]) for s in steps],
             "hovertemplate": "%{y}<br>%{x:.2f} core-seconds, %{customdata} docs/s per core<extra></extra>"}]
    return {"data": data, "layout": _bar_layout(labels, "core-seconds (all shards)", showlegend=False),
            "config": PLOT_CONFIG}



def _pr_rows(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for s in steps:
        pr = precision_recall(s)
        if pr:
            rows.append({"name": s["name"], "targets": describe_targets(s["targets"]), "reached": pr["reached"],
                         "acted": pr["acted"], "precision": _pct(pr["precision"]), "recall": _pct(pr["recall"])})
    return rows


_CORPUS_TRACES = (("before", "before the recipe", "#9e9e9e"), ("after", "after the recipe", "#2b6cb0"))


def _corpus_figures(corpus: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One step-line figure per measure with documents in it: counts per bin, before and after."""
    if not corpus:
        return []
    figures = []
    for name, measure in corpus["measures"].items():
        if not sum(corpus["before"][name]) and not sum(corpus["after"][name]):
            continue
        edges, words = measure["edges"], name == "words"
        # Bin i spans edges[i]..edges[i+1]; words' first bin holds empty documents, off a log axis.
        lows = edges[1:] if words else edges[:-1]
        highs = [*edges[2:], edges[-1] * 10 ** 0.2] if words else edges[1:]
        counts = {key: corpus[key][name][1 if words else 0:] for key, _, _ in _CORPUS_TRACES}
        lo, hi = (_occupied(list(counts.values())) if words else (0, len(lows)))  # words: only the bins in use
        data = [_corpus_trace(counts[key][lo:hi], lows[lo:hi], highs[lo:hi], label, color, sum(corpus[key][name]))
                for key, label, color in _CORPUS_TRACES]
        title = plot_text(measure["title"])
        layout = {"height": 260, "margin": {"l": 56, "r": 24, "t": 30, "b": 48}, "font": PLOT_FONT,
                  "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff",
                  "xaxis": {"title": {"text": title}, "type": "log" if words else "linear", "gridcolor": "#e3e3e3"},
                  "yaxis": {"title": {"text": "documents"}, "gridcolor": "#e3e3e3", "rangemode": "tozero"},
                  "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.0, "yanchor": "bottom"}}
        figures.append({"id": f"corpus-{name}-plot", "figure": {"data": data, "layout": layout, "config": PLOT_CONFIG}})
    return figures


def _occupied(rows: list[list[int]]) -> tuple[int, int]:
    """The slice of bins from the first to the last that any row fills (all bins if none)."""
    used = [i for i in range(len(rows[0])) if any(row[i] for row in rows)]
    return (used[0], used[-1] + 1) if used else (0, len(rows[0]))


def _corpus_trace(counts: list[int], lows: list[float], highs: list[float], label: str, color: str,
                  total: int) -> dict[str, Any]:
    """A histogram as a step line (a log axis cannot hold bars' widths well); the last bin is closed."""
    return {"type": "scatter", "mode": "lines", "name": f"{label} ({total:,} documents)",
            "x": [*lows, highs[-1]], "y": [*counts, counts[-1]],
            "line": {"shape": "hv", "color": color, "width": 2},
            "customdata": [[lo, hi] for lo, hi in zip(lows, highs)] + [[highs[-1], highs[-1]]],
            "hovertemplate": f"{label}<br>%{{customdata[0]:,.3~g}} to %{{customdata[1]:,.3~g}}: "
                             "%{y:,} documents<extra></extra>"}


def render_html(stats: dict[str, Any], title: str) -> str:
    """The run's report page (`templates/report.html.j2`): summary, per-step plots and table,
    precision and recall against the pool's labels, the corpus before and after, and sample
    documents each step removed."""
    steps = [_as_dict(s) for s in stats["steps"]]
    labels = _step_labels(steps)
    return render(SPINE, "report.html.j2", scripts=("plots.js", "sortable.js"), title=title, stats=stats,
                  totals=stats["totals"], steps=steps, rates=[_rate(s["in"], s["secs"]) for s in steps],
                  labels=stats.get("labels") or "labels", pr_rows=_pr_rows(steps),
                  corpus_figures=_corpus_figures(stats.get("corpus")),
                  figures={"fates": _fates_figure(steps, labels), "seconds": _seconds_figure(steps, labels)})
