"""A ProX program cannot grow a page without bound: its output is at most 2x its input + 1 kB, and a
page whose program would exceed that is quarantined by the step, with the reason."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dcbench.baselines.prox.program import OUTPUT_SLACK, OutputTooLarge, run_chunk_program
from dcbench.baselines.recipe import load_recipe
from dcbench.shardwork import run_chain
from dcbench.stepstats import StepStats

PAGE = ("the engine keeps every sentence here.\n" * 108)[:4000]  # a 4 kB page, full of 'e'
RECIPE = Path(__file__).resolve().parents[2] / "baselines" / "recipes" / "prox.yaml"
BOMB = "\n".join(["normalize('e', 'ee')"] * 19)  # 398 bytes; unbounded, 245M characters


def test_bomb_refused_before_it_grows():
    t0 = time.perf_counter()
    with pytest.raises(OutputTooLarge, match="over the bound of 2x the input"):
        run_chunk_program(PAGE, BOMB)
    assert time.perf_counter() - t0 < 1.0


def test_growth_within_the_bound_is_kept():
    text, errors = run_chunk_program("abc " * 10, "normalize('abc', 'abcabc')")  # 40 -> 70 characters
    assert text == "abcabc " * 10 and errors == []
    small = "x"
    grown, _ = run_chunk_program(small, f"normalize('x', '{'y' * (OUTPUT_SLACK // 2)}')")
    assert len(grown) == OUTPUT_SLACK // 2  # the slack lets a tiny page grow
    assert run_chunk_program("aaaa", "normalize('a', '')")[0] == ""  # shrinking is never bounded


def test_step_quarantines_the_page():
    chain = load_recipe(RECIPE).build()  # prox_doc, prox_chunk
    steps = [StepStats.of(info) for info, _ in chain]
    quarantine: list = []
    page = {"text": PAGE, "prox_doc_program": "keep_doc()", "prox_chunk_program": BOMB}
    out = run_chain(page, chain, steps, quarantine, "s0")
    assert out == [] and steps[1].quarantined == 1
    (q,) = quarantine
    assert q["reason"].startswith("OutputTooLarge: ProX program output too large")
    assert len(q["record"]) < 20_000

