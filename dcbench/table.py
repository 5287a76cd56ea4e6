"""Plain-text tables for the command line: one look for every table dcbench
prints (steps, scales, pool tiers, the processing summary, evaluation
results, the leaderboard).

Columns are separated by two spaces and sized to their widest cell; a column
whose cells are all numbers (`1,234`, `0.25`, `80.0%`, `411.6M`, `1e-05`) is
right-aligned so digits line up, any other column left-aligned. Empty cells
and `-` (the placeholder for "unknown") do not decide a column's alignment.
A dashed rule sits under the header; an optional title above it. Control
characters (escape sequences, bidi overrides) are stripped from every cell,
since cells can come from submissions: use `printable()` for any other print.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

GAP = "  "
_NUMBER = re.compile(r"[-+]?(\d[\d,]*(\.\d*)?|\.\d+)(e[-+]?\d+)?[%KMBT]?|[-+]?inf|nan", re.IGNORECASE)
_PLACEHOLDERS = ("", "-")
# C0/C1 controls (ESC, BEL, CR, ...) and the bidi embeddings/overrides/isolates.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: Any) -> str:
    """`str(text)` without control characters, safe to print to a terminal."""
    return _CONTROL.sub("", str(text))


def is_number(cell: str) -> bool:
    """Whether a cell reads as one number (with thousands commas, a % or a K/M/B/T suffix)."""
    return _NUMBER.fullmatch(cell.strip()) is not None


def _numeric(column: list[str]) -> bool:
    values = [c for c in column if c.strip() not in _PLACEHOLDERS]
    return bool(values) and all(is_number(c) for c in values)


def format_table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None,
                 align: str | None = None) -> str:
    """Rows under a header, aligned; cells are shown with `str()`, None as `-`.

    `align` ("l"/"r" per column, e.g. "llrr") overrides the automatic choice.
    """
    head = [printable(h) for h in header]
    body = [["-" if c is None else printable(c) for c in row] for row in rows]
    for row in body:
        if len(row) != len(head):
            raise ValueError(f"a row has {len(row)} cells for {len(head)} columns: {row}")
    columns = [[row[i] for row in body] for i in range(len(head))]
    if align is None:
        align = "".join("r" if _numeric(col) else "l" for col in columns)
    elif len(align) != len(head) or set(align) - {"l", "r"}:
        raise ValueError(f"align {align!r}: give one 'l' or 'r' per column ({len(head)})")
    widths = [max([len(h), *map(len, col)]) for h, col in zip(head, columns)]

    def line(cells: Sequence[str]) -> str:
        return GAP.join(c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(cells, widths, align)).rstrip()

    lines = [printable(title)] if title else []
    lines += [line(head), line(["-" * w for w in widths]), *map(line, body)]
    return "\n".join(lines)
