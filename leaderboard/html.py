"""Static, self-contained HTML leaderboard page.

`render_leaderboard(rows)` turns the ranked rows of `leaderboard.store.Store.list()` (plain
dicts) into one HTML document with no external resources and no JavaScript:

* a ranking table per tier (by CORE; toy tiers by TOY), MMLU and EXTENDED beside it, ranks
  restarting per track, our submissions (source ``"dcbench"``) and DCLM's reference results
  (source ``"dclm-reference"``) marked differently;
* an inline-SVG plot of CORE against training compute across tiers (x = 6 x params x tokens
  on a log scale), one labelled point per submission, references and ours in different marks;
* a per-task accuracy table per tier (tasks as rows, submissions as columns) shaded relative
  within each task;
* each submission's recipe, dataset statistics and hyperparameters in a ``<details>`` block.

Scores are taken as fractions (DCLM's JSON convention: CORE 0.42 means 42.0) and shown x100;
if any score on the page is above 1 in magnitude, all of them are assumed to be percentages
already.  Everything that comes from a submission is HTML-escaped, and the page carries a
Content-Security-Policy that forbids scripts and remote loads as a second line of defence.

`write_leaderboard(rows, path)` writes the page atomically (temporary file + rename).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from html import escape
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

__all__ = ["render_leaderboard", "write_leaderboard", "training_flops"]

REFERENCE_SOURCE = "dclm-reference"
OURS_COLOR = "#1565c0"
REF_COLOR = "#d84315"
_MISSING = "\u2014"  # em dash


def _e(value: Any) -> str:
    """HTML-escape anything (quotes included, so the result is safe in attributes too)."""
    return escape("" if value is None else str(value), quote=True)


def _num(value: Any) -> float | None:
    """A finite float, or None for missing / N/A strings / NaN / bools."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        v = float(value)
    elif isinstance(value, str):
        try:
            v = float(value)
        except ValueError:
            return None
    else:
        return None
    return v if math.isfinite(v) else None


def _get(mapping: Any, *keys: str) -> Any:
    cur = mapping
    for key in keys:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur


def _is_reference(row: Mapping[str, Any]) -> bool:
    return str(row.get("source", "")).lower() == REFERENCE_SOURCE


# --------------------------------------------------------------------------- compute

def _tier_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """params/tokens for a row: the submission's hyperparameters, then the row, then TIERS."""
    hp = _get(row, "submission", "hyperparameters")
    rec: dict[str, Any] = {}
    for source in (row, hp if isinstance(hp, Mapping) else None,
                   _get(hp, "tier") if isinstance(_get(hp, "tier"), Mapping) else None):
        if isinstance(source, Mapping):
            for key in ("params", "tokens"):
                if _num(source.get(key)) is not None:
                    rec[key] = _num(source[key])
    if "params" not in rec or "tokens" not in rec:
        try:  # fall back on the project's tier table when it is importable
            from dcbench.training.scales import TIERS  # noqa: PLC0415

            tier = TIERS.get(str(row.get("tier")))
            if tier is not None:
                rec.setdefault("params", float(tier.params))
                rec.setdefault("tokens", float(tier.tokens))
        except Exception:  # pragma: no cover - the page must render without training/
            pass
    return rec


def training_flops(row: Mapping[str, Any]) -> float | None:
    """Approximate training compute, 6 x params x tokens, or None when unknown."""
    rec = _tier_record(row)
    params, tokens = rec.get("params"), rec.get("tokens")
    if params is None or tokens is None or params <= 0 or tokens <= 0:
        return None
    flops = 6.0 * params * tokens
    return flops if math.isfinite(flops) else None


# --------------------------------------------------------------------------- formatting

_SUP = str.maketrans("0123456789-", "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079\u207b")


def _sci(value: float) -> str:
    """2.4x10^20 with Unicode superscripts (already safe HTML)."""
    exp = int(math.floor(math.log10(value)))
    mant = value / 10 ** exp
    if round(mant, 1) >= 10:
        mant, exp = mant / 10, exp + 1
    return f"{mant:.1f}\u00d710{str(exp).translate(_SUP)}"


def _si(value: float | None) -> str:
    if value is None:
        return _MISSING
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:.3g}{suffix}"
    return f"{value:.3g}"


class _Scale:
    """Scores are fractions unless some score on the page exceeds 1 in magnitude."""

    def __init__(self, rows: Sequence[Mapping[str, Any]]):
        vals = [_num(r.get(k)) for r in rows for k in ("core", "extended", "mmlu", "toy")]
        self.factor = 1.0 if any(v is not None and abs(v) > 1.0 for v in vals) else 100.0

    def pct(self, value: Any) -> float | None:
        v = _num(value)
        return None if v is None else v * self.factor

    def cell(self, value: Any) -> str:
        v = self.pct(value)
        if v is not None:
            return f"{v:.1f}"
        if isinstance(value, str) and value:
            return f'<span class="na" title="{_e(value)}">n/a</span>'
        return _MISSING


# --------------------------------------------------------------------------- grouping

def _is_toy_tier(tier: str, rows: Sequence[Mapping[str, Any]]) -> bool:
    if tier.lower().startswith("toy"):
        return True
    return not any(_num(r.get("core")) is not None for r in rows) and any(
        _num(r.get("toy")) is not None for r in rows)


def _group_tiers(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    tiers: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        tiers.setdefault(str(row.get("tier") or "unknown"), []).append(row)

    def order(item: tuple[str, list[Mapping[str, Any]]]):
        name, members = item
        flops = [f for f in (training_flops(r) for r in members) if f is not None]
        return (_is_toy_tier(name, members), min(flops) if flops else math.inf, name)

    return sorted(tiers.items(), key=order)


def _ranked(rows: Sequence[Mapping[str, Any]], key: str) -> list[Mapping[str, Any]]:
    """Stable sort by score descending, rows without a score last (input order kept on ties)."""
    return sorted(rows, key=lambda r: (_num(r.get(key)) is None, -(_num(r.get(key)) or 0.0)))


# --------------------------------------------------------------------------- plot

def _nice_step(span: float, target: int = 6) -> float:
    raw = span / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= mult * mag:
            return mult * mag
    return 10 * mag  # pragma: no cover


def _find_spot(x, y, w, h, free, offsets):
    """First free label box right (then left) of the point at the given vertical offsets."""
    for dy in offsets:
        for side in (1, -1):
            tx = x + 9 if side == 1 else x - 9 - w
            b = (tx, y + dy - h / 2 - 1, tx + w, y + dy + h / 2 + 1)
            if free(b):
                return tx, y + dy, b
    return None


def _plot_svg(rows: Sequence[Mapping[str, Any]], scale: _Scale, anchors: Mapping[int, str]):
    """(svg, rows not plotted, rows labelled by their [number] because their corner was crowded)."""
    width, height = 900, 440
    left, right, top, bottom = 70, 30, 24, 56
    pw, ph = width - left - right, height - top - bottom

    points = []
    skipped = []
    crowded = []
    for row in rows:
        core, flops = scale.pct(row.get("core")), training_flops(row)
        if core is None or flops is None:
            skipped.append(row)
        else:
            points.append((row, math.log10(flops), core))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" role="img" '
             f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'aria-label="CORE against training compute">',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    if not points:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="empty">'
                     'no submission has both a CORE score and a known training compute</text></svg>')
        return "".join(parts), skipped, crowded

    lx = [p[1] for p in points]
    x0, x1 = math.floor(min(lx)), math.ceil(max(lx))
    if x1 - x0 < 1:
        x1 = x0 + 1
    ys = [p[2] for p in points]
    ylo, yhi = min(ys), max(ys)
    if yhi - ylo < 1e-9:
        ylo, yhi = ylo - 5, yhi + 5
    pad = 0.06 * (yhi - ylo)  # keep markers off the frame
    ylo, yhi = ylo - pad, yhi + pad
    step = _nice_step(yhi - ylo)
    y0 = math.floor(ylo / step) * step
    y1 = math.ceil(yhi / step) * step
    if y1 - y0 < 1e-9:  # pragma: no cover
        y1 = y0 + step

    def px(lf: float) -> float:
        return left + (lf - x0) / (x1 - x0) * pw

    def py(v: float) -> float:
        return top + (y1 - v) / (y1 - y0) * ph

    # grid, ticks and tick labels
    parts.append('<g class="axes" font-size="12" fill="#333">')
    decade = x0
    while decade <= x1:
        x = px(decade)
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + ph}" stroke="#e3e3e3"/>')
        parts.append(f'<line x1="{x:.1f}" y1="{top + ph}" x2="{x:.1f}" y2="{top + ph + 6}" stroke="#333"/>')
        parts.append(f'<text x="{x:.1f}" y="{top + ph + 20}" text-anchor="middle">10'
                     f'<tspan dy="-6" font-size="9">{decade}</tspan></text>')
        if decade < x1:  # minor ticks at 2..9 x 10^k
            for m in range(2, 10):
                xm = px(decade + math.log10(m))
                parts.append(f'<line x1="{xm:.1f}" y1="{top + ph}" x2="{xm:.1f}" y2="{top + ph + 3}" '
                             'stroke="#333"/>')
        decade += 1
    nticks = int(round((y1 - y0) / step))
    for i in range(nticks + 1):
        v = y0 + i * step
        y = py(v)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#e3e3e3"/>')
        parts.append(f'<line x1="{left - 6}" y1="{y:.1f}" x2="{left}" y2="{y:.1f}" stroke="#333"/>')
        label = f"{v:.1f}" if step < 1 else f"{v:g}"
        parts.append(f'<text x="{left - 9}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    parts.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    parts.append(f'<text x="{left + pw / 2}" y="{height - 12}" text-anchor="middle" font-size="13">'
                 'training compute (FLOPs \u2248 6 \u00d7 params \u00d7 tokens, log scale)</text>')
    parts.append(f'<text transform="translate(18 {top + ph / 2}) rotate(-90)" text-anchor="middle" '
                 'font-size="13">CORE (centered accuracy, %)</text>')
    parts.append('</g>')

    # label placement: greedy, avoiding markers, the legend and labels already placed
    char_w, label_h = 6.3, 12.0
    boxes: list[tuple[float, float, float, float]] = [(left + 6, top + 6, left + 190, top + 48)]  # legend
    placed = [(px(lf), py(c)) for _, lf, c in points]
    for x, y in placed:
        boxes.append((x - 6, y - 6, x + 6, y + 6))

    def free(b: tuple[float, float, float, float]) -> bool:
        if b[0] < left + 2 or b[2] > left + pw - 2 or b[1] < top + 2 or b[3] > top + ph - 2:
            return False
        return all(b[2] <= o[0] or b[0] >= o[2] or b[3] <= o[1] or b[1] >= o[3] for o in boxes)

    order = sorted(range(len(points)), key=lambda i: (-points[i][2], points[i][1]))
    parts.append('<g class="points" font-size="11">')
    for i in order:
        row, lf, core = points[i]
        x, y = placed[i]
        ref = _is_reference(row)
        name = str(row.get("name") or row.get("id") or "?")
        text = name if len(name) <= 34 else name[:33] + "\u2026"
        spot = _find_spot(x, y, len(text) * char_w, label_h, free, (0, -13, 13, -26, 26, -39, 39))
        flops = training_flops(row) or 0.0
        cls = "pt ref" if ref else "pt ours"
        tooltip = (f"{name} \u2014 {row.get('tier')} \u2014 CORE {core:.1f} \u2014 "
                   f"{flops:.2e} FLOPs \u2014 {'DCLM reference' if ref else 'dcbench'}")
        parts.append(f'<g class="{cls}" data-id="{_e(row.get("id"))}" transform="translate({x:.2f} {y:.2f})">'
                     f'<title>{_e(tooltip)}</title>')
        if ref:
            parts.append(f'<polygon points="0,-6 6,0 0,6 -6,0" fill="#fff" stroke="{REF_COLOR}" stroke-width="2"/>')
        else:
            parts.append(f'<circle cx="0" cy="0" r="5" fill="{OURS_COLOR}" stroke="#fff" stroke-width="1"/>')
        parts.append('</g>')
        if spot is None:  # crowded: a short [number] label, listed under the plot
            text = "[" + anchors.get(id(row), "?").removeprefix("sub-") + "]"
            crowded.append(row)
            spot = _find_spot(x, y, len(text) * char_w, label_h, free, tuple(range(-78, 79, 13)))
        if spot is None:  # no room at all: the key under the plot names it
            continue
        tx, ty, b = spot
        w = b[2] - b[0]
        boxes.append(b)
        if abs(ty - y) > 1:
            ax = tx if tx > x else tx + w
            parts.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{ax:.1f}" y2="{ty:.1f}" stroke="#999" '
                         'stroke-width="0.7"/>')
        color = REF_COLOR if ref else OURS_COLOR
        parts.append(f'<text class="label" x="{tx:.1f}" y="{ty + 4:.1f}" fill="{color}">{_e(text)}</text>')
    parts.append('</g>')

    # legend
    lx0, ly0 = left + 14, top + 18
    parts.append(f'<g class="legend" font-size="12"><rect x="{left + 6}" y="{top + 6}" width="184" height="42" '
                 'fill="#fff" stroke="#ccc"/>'
                 f'<circle cx="{lx0}" cy="{ly0}" r="5" fill="{OURS_COLOR}"/>'
                 f'<text x="{lx0 + 12}" y="{ly0 + 4}">dcbench submission</text>'
                 f'<polygon points="{lx0},{ly0 + 12} {lx0 + 6},{ly0 + 18} {lx0},{ly0 + 24} {lx0 - 6},{ly0 + 18}" '
                 f'fill="#fff" stroke="{REF_COLOR}" stroke-width="2"/>'
                 f'<text x="{lx0 + 12}" y="{ly0 + 22}">DCLM reference result</text></g>')
    parts.append('</svg>')
    return "".join(parts), skipped, crowded


# --------------------------------------------------------------------------- tables

def _tasks(row: Mapping[str, Any]) -> dict[str, float]:
    tasks = _get(row, "submission", "eval", "tasks")
    out: dict[str, float] = {}
    if isinstance(tasks, Mapping):
        for task, value in tasks.items():
            acc = _num(value.get("accuracy")) if isinstance(value, Mapping) else _num(value)
            if acc is not None:
                out[str(task)] = acc
    return out


def _source_badge(row: Mapping[str, Any]) -> str:
    if _is_reference(row):
        return '<span class="badge ref" title="DCLM reference result">\u25c7 DCLM ref</span>'
    return '<span class="badge ours" title="dcbench submission">\u25cf ours</span>'


def _ranking_table(tier: str, rows: Sequence[Mapping[str, Any]], toy: bool, scale: _Scale,
                   anchors: Mapping[int, str]) -> str:
    primary = "toy" if toy else "core"
    others = [k for k in ("core", "mmlu", "extended", "toy") if k != primary]
    others = [k for k in others if k in ("mmlu", "extended") and not toy
              or any(_num(r.get(k)) is not None for r in rows)]
    cols = [primary] + others
    head = "".join(f'<th class="num{" primary" if k == primary else ""}">{k.upper()}</th>' for k in cols)
    out = [f'<table class="rank" data-tier="{_e(tier)}"><thead><tr><th>#</th><th>submission</th>'
           f'<th>source</th><th>track</th>{head}<th>created</th></tr></thead>']
    tracks: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        tracks.setdefault(str(row.get("track") or ""), []).append(row)
    for track, members in tracks.items():
        out.append(f'<tbody data-track="{_e(track)}">')
        if len(tracks) > 1:
            out.append(f'<tr class="trackhead"><th colspan="{5 + len(cols)}">track: {_e(track or "unspecified")}'
                       '</th></tr>')
        for rank, row in enumerate(_ranked(members, primary), 1):
            cls = "ref" if _is_reference(row) else "ours"
            created = str(row.get("created") or "")
            cells = "".join(f'<td class="num{" primary" if k == primary else ""}">{scale.cell(row.get(k))}</td>'
                            for k in cols)
            out.append(f'<tr class="{cls}" data-id="{_e(row.get("id"))}"><td class="num">{rank}</td>'
                       f'<td><a href="#{anchors[id(row)]}">{_e(row.get("name") or row.get("id"))}</a></td>'
                       f'<td>{_source_badge(row)}</td><td>{_e(track)}</td>{cells}'
                       f'<td class="date" title="{_e(created)}">{_e(created[:10])}</td></tr>')
        out.append('</tbody>')
    out.append('</table>')
    return "".join(out)


def _task_table(tier: str, rows: Sequence[Mapping[str, Any]], scale: _Scale) -> str:
    per_row = [_tasks(r) for r in rows]
    names = sorted({t for tasks in per_row for t in tasks})
    if not names:
        return '<p class="note">No per-task results for this tier.</p>'
    head = "".join(f'<th class="sub {"ref" if _is_reference(r) else "ours"}" title="{_e(r.get("name"))}">'
                   f'{_e(_short(r.get("name") or r.get("id"), 22))}</th>' for r in rows)
    out = [f'<div class="scroll"><table class="tasks" data-tier="{_e(tier)}"><thead><tr><th>task</th>{head}'
           '</tr></thead><tbody>']
    for task in names:
        vals = [tasks.get(task) for tasks in per_row]
        present = [v for v in vals if v is not None]
        lo, hi = (min(present), max(present)) if present else (0.0, 0.0)
        cells = []
        for v in vals:
            if v is None:
                cells.append(f'<td class="num missing">{_MISSING}</td>')
                continue
            rel = (v - lo) / (hi - lo) if hi > lo else 0.5
            alpha = 0.06 + 0.5 * rel
            cells.append(f'<td class="num" style="background:rgba(46,125,50,{alpha:.2f})">'
                         f'{v * 100:.1f}</td>')
        out.append(f'<tr><th class="task">{_e(task)}</th>{"".join(cells)}</tr>')
    out.append('</tbody></table></div>')
    return "".join(out)


def _short(value: Any, n: int) -> str:
    s = str(value if value is not None else "")
    return s if len(s) <= n else s[: n - 1] + "\u2026"


def _value(value: Any, limit: int = 400) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, int) and not isinstance(value, bool):
        text = f"{value:,}"
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    if len(text) > limit:
        return f'<span title="{len(text):,} characters">{_e(text[:limit])}\u2026</span>'
    return _e(text)


_NAME_KEYS = ("func", "name", "step", "type", "op", "id")


def _steps_html(steps: Iterable[Any]) -> str:
    out = ['<ol class="steps">']
    for step in steps:
        if isinstance(step, Mapping):
            key = next((k for k in _NAME_KEYS if isinstance(step.get(k), str)), None)
            title = step[key] if key else "step"
            params = step.get("params", step.get("args"))
            if not isinstance(params, Mapping):
                params = {k: v for k, v in step.items() if k != key}
            body = "".join(f'<tr><th>{_e(k)}</th><td>{_value(v)}</td></tr>' for k, v in params.items())
            out.append(f'<li><code class="step">{_e(title)}</code>'
                       + (f'<table class="params">{body}</table>' if body else '') + '</li>')
        else:
            out.append(f'<li><code class="step">{_value(step)}</code></li>')
    out.append('</ol>')
    return "".join(out)


def _kv_table(mapping: Mapping[str, Any], cls: str) -> str:
    body = "".join(f'<tr><th>{_e(k)}</th><td>{_value(v)}</td></tr>' for k, v in mapping.items())
    return f'<table class="{cls}">{body}</table>'


def _recipe_block(row: Mapping[str, Any], anchor: str, scale: _Scale) -> str:
    sub = row.get("submission") if isinstance(row.get("submission"), Mapping) else {}
    recipe = sub.get("recipe")
    parts = [f'<details class="recipe {"ref" if _is_reference(row) else "ours"}" id="{anchor}" '
             f'data-id="{_e(row.get("id"))}"><summary>{_source_badge(row)} <b>{_e(row.get("name") or row.get("id"))}</b>'
             f' <span class="muted">{_e(row.get("tier"))} \u00b7 {_e(row.get("track"))} \u00b7 '
             f'id {_e(row.get("id"))}</span></summary><div class="body">']
    steps: Any = None
    if isinstance(recipe, Mapping):
        steps = recipe.get("steps")
        meta = {k: v for k, v in recipe.items() if k != "steps"}
        if meta:
            parts.append('<h4>recipe</h4>' + _kv_table(meta, "params"))
    elif isinstance(recipe, (list, tuple)):
        steps = recipe
    if isinstance(steps, (list, tuple)) and steps:
        parts.append(f'<h4>steps ({len(steps)})</h4>' + _steps_html(steps))
    elif recipe is None:
        parts.append('<p class="note">No recipe recorded.</p>')
    dataset = sub.get("dataset")
    if isinstance(dataset, Mapping) and dataset:
        parts.append('<h4>dataset</h4>' + _kv_table(dataset, "params"))
    hp = sub.get("hyperparameters")
    if isinstance(hp, Mapping) and hp:
        parts.append('<h4>hyperparameters</h4>' + _kv_table(hp, "params"))
    flops = training_flops(row)
    if flops is not None:
        parts.append(f'<p class="note">training compute \u2248 {_sci(flops)} FLOPs</p>')
    parts.append('</div></details>')
    return "".join(parts)


# --------------------------------------------------------------------------- page

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px auto;
max-width:1180px;padding:0 16px;color:#1d1d1d;background:#fafafa}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:30px 0 8px;border-bottom:2px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}h4{margin:10px 0 4px;font-size:13px}
.muted,.note{color:#666}.note{font-size:12.5px}
table{border-collapse:collapse;background:#fff;margin:4px 0 10px}
th,td{padding:4px 9px;border-bottom:1px solid #e6e6e6;text-align:left;vertical-align:top}
thead th{background:#f0f0f0;border-bottom:2px solid #ccc;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.primary{font-weight:700}th.primary{background:#e4ecf7}
tr.ref td{background:#fff6f2;font-style:italic}tr.ours td{background:#fff}
tr.trackhead th{background:#f7f7f7;font-weight:600;color:#444}
.badge{display:inline-block;padding:0 6px;border-radius:9px;font-size:11.5px;font-style:normal;white-space:nowrap}
.badge.ours{background:#e3eefb;color:#1565c0}.badge.ref{background:#fde7df;color:#bf360c}
table.rank{min-width:760px}a{color:#1558a8;text-decoration:none}
.scroll{overflow-x:auto}table.tasks th.sub{font-size:12px;max-width:130px}
table.tasks th.sub.ref{color:#bf360c}table.tasks th.task{font-weight:500;font-family:ui-monospace,monospace;font-size:12.5px}
table.tasks td{min-width:54px}td.missing{color:#aaa}
svg.plot{background:#fff;border:1px solid #ddd;max-width:100%;height:auto;font-family:inherit}
details.recipe{background:#fff;border:1px solid #ddd;border-radius:6px;margin:6px 0;padding:4px 10px}
details.recipe.ref{border-color:#f3c6b6}summary{cursor:pointer}details .body{padding:4px 0 6px 8px}
ol.steps{padding-left:22px;margin:4px 0}code.step{font-weight:600;background:#f1f1f1;padding:0 4px;border-radius:3px}
table.params{font-size:12.5px;margin:2px 0 6px}table.params th{font-weight:500;color:#555;font-family:ui-monospace,monospace}
table.params td{font-family:ui-monospace,monospace;word-break:break-word;max-width:820px}
ul.key{columns:3;font-size:12.5px}
"""


def render_leaderboard(rows: Iterable[Mapping[str, Any]], *, title: str = "dcbench leaderboard") -> str:
    """One static, self-contained HTML page for the given leaderboard rows (plain dicts)."""
    rows = [r for r in rows if isinstance(r, Mapping)]
    scale = _Scale(rows)
    tiers = _group_tiers(rows)
    anchors = {id(r): f"sub-{i + 1}" for i, r in enumerate(rows)}
    ours = sum(not _is_reference(r) for r in rows)

    body: list[str] = [f'<h1>{_e(title)}</h1>',
                       f'<p class="muted">{len(rows)} results in {len(tiers)} tier(s): {ours} dcbench '
                       f'submission(s) {_source_badge({})} and {len(rows) - ours} DCLM reference result(s) '
                       f'{_source_badge({"source": REFERENCE_SOURCE})}. Scores are percentages; CORE and EXTENDED '
                       'are centered accuracies (0 = random guessing). Tiers are ranked by CORE, toy tiers by '
                       'TOY, separately per track.</p>']

    svg, skipped, crowded = _plot_svg(rows, scale, anchors)
    body.append('<section id="plot"><h2>CORE against training compute</h2>' + svg)
    if crowded:
        body.append('<p class="note">Crowded points, numbered in the plot where there was room:</p>'
                    '<ul class="key">' + "".join(f'<li>[{anchors[id(r)].removeprefix("sub-")}] {_e(r.get("name"))}</li>'
                                                 for r in crowded) + '</ul>')
    if skipped:
        body.append('<p class="note">Not plotted (no CORE score or unknown compute): '
                     + ", ".join(_e(r.get("name") or r.get("id")) for r in skipped) + '.</p>')
    body.append('</section>')

    if not rows:
        body.append('<p class="note">No submissions yet.</p>')
    for tier, members in tiers:
        toy = _is_toy_tier(tier, members)
        flops = next((f for f in (training_flops(r) for r in members) if f is not None), None)
        rec = _tier_record(members[0])
        facts = []
        if rec.get("params") is not None:
            facts.append(f'{_si(rec["params"])} parameters')
        if rec.get("tokens") is not None:
            facts.append(f'{_si(rec["tokens"])} tokens')
        if flops is not None:
            facts.append(f'\u2248 {_sci(flops)} FLOPs')
        facts.append(f'ranked by {"TOY" if toy else "CORE"}')
        ranked = _ranked(members, "toy" if toy else "core")
        sep = " \u00b7 "
        body.append(f'<section class="tier" data-tier="{_e(tier)}"><h2>{_e(tier)} '
                    f'<span class="muted" style="font-size:13px;font-weight:400">{sep.join(facts)}</span></h2>')
        body.append(_ranking_table(tier, ranked, toy, scale, anchors))
        body.append('<h3>Per-task accuracy (%)</h3><p class="note">Shading is relative within each task: '
                    'darker green = better among these submissions.</p>')
        body.append(_task_table(tier, ranked, scale))
        body.append('<h3>Recipes</h3>')
        body.extend(_recipe_block(r, anchors[id(r)], scale) for r in ranked)
        body.append('</section>')

    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{_e(title)}</title><style>{_CSS}</style></head><body>\n'
            + "\n".join(body) + '\n</body></html>\n')


def write_leaderboard(rows: Iterable[Mapping[str, Any]], path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """Render and write the page atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page = render_leaderboard(rows, **kwargs)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path
