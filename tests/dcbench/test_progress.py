"""dcbench.progress: plain lines with counts, rate and ETA off a terminal; a tqdm bar on one;
nothing when disabled."""

from __future__ import annotations

import io
import re

from dcbench.progress import Progress, format_seconds


def test_format_seconds():
    assert [format_seconds(s) for s in (0, 42.4, 61, 662, 3900)] == ["0s", "42s", "1m01s", "11m02s", "1h05m"]


def test_lines_off_a_terminal_start_milestones_and_end():
    out = io.StringIO()
    with Progress(10, "eval core", "examples", stream=out, every=3600) as bar:
        bar.update(2, note="copa")  # within `every`: no line
        bar.update(3, note="piqa", line=True)  # a milestone: a line now
        bar.write("piqa: accuracy 50.00% on 5")
        bar.update(5)
    lines = out.getvalue().splitlines()
    assert lines[0] == "eval core: starting, 10 examples"
    assert re.fullmatch(r"eval core: 5/10 examples \(50%\), \d+s, [\d.,]+ examples/s, ETA \d+s \[piqa\]", lines[1])
    assert lines[2] == "piqa: accuracy 50.00% on 5"
    assert re.fullmatch(r"eval core: 10/10 examples \(100%\), \d+s, [\d.,]+ examples/s - done", lines[3])
    assert len(lines) == 4


def test_every_zero_prints_each_update_and_fractions_add_up():
    out = io.StringIO()
    bar = Progress(2, "eval", "items", stream=out, every=0)
    for _ in range(4):
        bar.update(0.5)
    bar.close()
    bar.close()  # closing twice says nothing more
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 + 4 + 1 and "2/2 items (100%)" in lines[-2] and lines[-1].endswith("- done")
    assert "1.5/2 items (75%)" in lines[3]


def test_stopped_early_and_unknown_total():
    out = io.StringIO()
    with Progress(None, "mix run", "mixtures", stream=out, every=3600) as bar:
        bar.update(1)
    assert out.getvalue().splitlines() == ["mix run: starting, mixtures", out.getvalue().splitlines()[1]]
    assert out.getvalue().splitlines()[1].startswith("mix run: 1 mixtures, ")
    out = io.StringIO()
    with Progress(4, "eval", "items", stream=out, every=3600) as bar:
        bar.update(1)
    assert out.getvalue().splitlines()[-1].endswith("- stopped")


def test_environment_sets_the_interval(monkeypatch):
    monkeypatch.setenv("DCBENCH_PROGRESS_EVERY", "5")
    assert Progress(1, "x", enabled=False).every == 5.0
    monkeypatch.setenv("DCBENCH_PROGRESS_EVERY", "soon")
    assert Progress(1, "x", enabled=False).every == 30.0


def test_terminal_draws_a_bar_and_disabled_prints_nothing():
    out = io.StringIO()
    with Progress(3, "eval", "items", stream=out, tty=True) as bar:
        assert bar.bar is not None
        bar.update(3, note="copa")
    assert "3/3" in out.getvalue() and "starting" not in out.getvalue()
    quiet = io.StringIO()
    with Progress(3, "eval", "items", stream=quiet, enabled=False) as bar:
        bar.update(3)
        bar.write("hidden")
    assert quiet.getvalue() == "" and bar.n == 3
