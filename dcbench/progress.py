"""One progress display for long commands: a tqdm bar on a terminal, timed lines elsewhere.

`Progress(total, desc, unit)` draws a tqdm bar when stderr is a terminal. When
it is not (a log file, CI, `nohup`, a pipe) a bar would print nothing useful,
so it writes plain lines to stderr instead: one when it starts, one at most
every `every` seconds while work advances (default 30 s; the environment
variable DCBENCH_PROGRESS_EVERY overrides it), one when a caller marks a
milestone (`update(..., line=True)`, e.g. a task finished), and one at the end:

    eval core: 9,812/20,345 examples (48%), 11m02s, 14.8 examples/s, ETA 11m52s [hellaswag]

The ETA assumes the remaining units go at the average rate so far. `n` and
`total` may be floats (a unit of work split over several updates).
`enabled=False` shows nothing at all. Not thread-safe: one thread updates it.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

from tqdm import tqdm

EVERY_ENV = "DCBENCH_PROGRESS_EVERY"
DEFAULT_EVERY = 30.0


def format_seconds(seconds: float) -> str:
    """`42s`, `11m02s`, `1h05m`: short and unambiguous in a log line."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def _every_default() -> float:
    raw = os.environ.get(EVERY_ENV)
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_EVERY
    except ValueError:
        return DEFAULT_EVERY


def _num(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


class Progress:
    """A progress display; see the module doc. Use it as a context manager or call `close()`."""

    def __init__(self, total: float | None, desc: str, unit: str = "item", *, enabled: bool = True,
                 every: float | None = None, stream: TextIO | None = None, tty: bool | None = None):
        self.total, self.desc, self.unit = total, desc, unit
        self.enabled = enabled
        self.every = _every_default() if every is None else every
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)()) if tty is None else tty
        self.n: float = 0
        self.note = ""
        self.start = self.last_line = time.monotonic()
        self.bar = None
        self.closed = False
        if not enabled:
            return
        if self.tty:
            self.bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream, dynamic_ncols=True)
        else:
            self._line(started=True)

    # ------------------------------------------------------------ updates

    def update(self, n: float = 1, *, note: str | None = None, line: bool = False) -> None:
        """Count `n` more units done; `note` names what is under way; `line` forces a log line."""
        if self.closed:
            return
        self.n += n
        if note is not None:
            self.set_note(note)
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.monotonic()
        if line or now - self.last_line >= self.every:
            self._line()

    def set_note(self, note: str) -> None:
        """What is under way now (shown after the counts)."""
        self.note = note
        if self.bar is not None:
            self.bar.set_postfix_str(note, refresh=False)

    def write(self, message: str) -> None:
        """Print a message to the progress stream without breaking a bar."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            self._line(final=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------ lines

    def status(self, *, final: bool = False) -> str:
        """The log line for the current state (what non-terminal output shows)."""
        elapsed = time.monotonic() - self.start
        count = _num(self.n) + (f"/{_num(self.total)}" if self.total else "")
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        parts = [f"{self.desc}: {count} {self.unit}{pct}", format_seconds(elapsed)]
        if self.n > 0 and elapsed > 0:
            rate = self.n / elapsed
            parts.append(f"{rate:,.2f} {self.unit}/s" if rate < 10 else f"{rate:,.0f} {self.unit}/s")
            if not final and self.total and self.n < self.total:
                parts.append(f"ETA {format_seconds((self.total - self.n) / rate)}")
        text = ", ".join(parts)
        if final:
            text += " - done" if not self.total or self.n >= self.total else " - stopped"
        elif self.note:
            text += f" [{self.note}]"
        return text

    def _line(self, *, started: bool = False, final: bool = False) -> None:
        if started:
            what = f"{_num(self.total)} {self.unit}" if self.total else self.unit
            text = f"{self.desc}: starting, {what}"
        else:
            text = self.status(final=final)
        print(text, file=self.stream, flush=True)
        self.last_line = time.monotonic()
