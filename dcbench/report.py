"""What a run shows its user: the per-step summary table, precision and
recall against planted labels, and a self-contained HTML report (tables, an
SVG chart of removals per step, sample documents each step removed).

Everything taken from documents is HTML-escaped.
"""

from __future__ import annotations

import html
import math
from typing import Any

from dcbench.stepstats import precision_recall


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def _rate(n: int, secs: float) -> str:
    return f"{n / secs:,.0f}" if secs > 0 else "-"


def format_summary(stats: dict[str, Any]) -> str:
    rows = []
    for s in stats["steps"]:
        rows.append([s["name"], s["kind"], f"{s['in']:,}", f"{s['kept']:,}", f"{s['removed']:,}",
                     f"{s['quarantined']:,}", f"{s['modified']:,}", f"{s['secs']:.2f}", _rate(s["in"], s["secs"])])
    table = _table(["step", "kind", "in", "kept", "removed", "quarant.", "modified", "secs", "docs/s/core"],
                   rows, right={2, 3, 4, 5, 6, 7, 8})
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


def format_precision_recall(stats: dict[str, Any]) -> str | None:
    rows = []
    for s in stats["steps"]:
        pr = precision_recall(s)
        if pr is None:
            continue
        rows.append([s["name"], ",".join(s["targets"]), f"{pr['reached']:,}", f"{pr['acted']:,}",
                     f"{pr['true']:,}", _pct(pr["precision"]), _pct(pr["recall"])])
    if not rows:
        return None
    head = ["step", "targets (planted)", "reached", "acted", "on target", "precision", "recall"]
    note = ("precision: share of the documents a step removed (modifiers: modified) that carry a defect it targets;\n"
            "recall: share of the documents with a targeted defect reaching the step that it acted on.")
    return _table(head, rows, right={2, 3, 4, 5, 6}) + "\n" + note


# ------------------------------------------------------------------ HTML

_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{padding:3px 9px;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child,td.l,th.l{text-align:left}pre{white-space:pre-wrap;background:#f6f6f6;padding:8px;
max-height:14em;overflow:auto;font-size:12px}h2{margin-top:1.6em}.muted{color:#777}"""


def _svg_removals(steps: list[dict[str, Any]]) -> str:
    """Horizontal bars: documents removed (dark) and modified (light) per step."""
    peak = max([max(s["removed"], s["modified"]) for s in steps] + [1])
    bar_h, label_w, width = 18, 300, 520
    parts = []
    for i, s in enumerate(steps):
        y = i * (bar_h + 4)
        rw = width * s["removed"] / peak
        mw = width * s["modified"] / peak
        parts.append(f'<text x="0" y="{y + 13}" font-size="12">{html.escape(s["name"])}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{mw:.1f}" height="{bar_h}" fill="#b9d3ee"/>'
                     f'<rect x="{label_w}" y="{y + 4}" width="{rw:.1f}" height="{bar_h - 8}" fill="#2b6cb0"/>'
                     f'<text x="{label_w + max(rw, mw) + 4:.1f}" y="{y + 13}" font-size="11">'
                     f'{s["removed"]:,} removed, {s["modified"]:,} modified</text>')
    h = len(steps) * (bar_h + 4)
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + width + 200}" height="{h}">{"".join(parts)}</svg>'


def render_html(stats: dict[str, Any], title: str) -> str:
    e = html.escape
    steps = stats["steps"]
    rows = "".join(
        f"<tr><td>{e(s['name'])}</td><td class=l>{e(s['kind'])}</td><td>{s['in']:,}</td><td>{s['kept']:,}</td>"
        f"<td>{s['removed']:,}</td><td>{s['quarantined']:,}</td><td>{s['modified']:,}</td><td>{s['secs']:.2f}</td></tr>"
        for s in steps)
    pr_rows = ""
    for s in steps:
        pr = precision_recall(s)
        if pr:
            pr_rows += (f"<tr><td>{e(s['name'])}</td><td class=l>{e(', '.join(s['targets']))}</td><td>{pr['reached']:,}</td>"
                        f"<td>{pr['acted']:,}</td><td>{_pct(pr['precision'])}</td><td>{_pct(pr['recall'])}</td></tr>")
    samples = ""
    for s in steps:
        if not s["samples"]:
            continue
        samples += f"<h3>{e(s['name'])}</h3>"
        for d in s["samples"]:
            planted = f" planted: {e(', '.join(d['planted']))}" if d.get("planted") else ""
            samples += (f"<p class=muted>{e(str(d.get('url')))} ({d['chars']:,} chars){planted}</p>"
                        f"<pre>{e(d['text'])}</pre>")
    t = stats["totals"]
    pr_block = (f"<h2>Precision and recall against planted defects</h2><table><tr><th>step</th><th class=l>targets"
                f"</th><th>reached</th><th>acted</th><th>precision</th><th>recall</th></tr>{pr_rows}</table>") if pr_rows else ""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{e(title)}</title><style>{_CSS}</style></head>
<body><h1>{e(title)}</h1>
<p>dataset <code>{e(stats['dataset'])}</code> from pool <code>{e(stats['pool'])}</code>: {t['records']:,} records,
{t['kept']:,} kept, {t['quarantined']:,} quarantined ({t['unreadable']:,} unreadable), in {stats['shards']} shards.</p>
<h2>Removals per step</h2>{_svg_removals(steps)}
<h2>Steps</h2><table><tr><th>step</th><th class=l>kind</th><th>in</th><th>kept</th><th>removed</th><th>quarantined</th>
<th>modified</th><th>secs</th></tr>{rows}</table>
{pr_block}
<h2>Sample documents removed by each step</h2>{samples or '<p>none</p>'}
</body></html>"""
