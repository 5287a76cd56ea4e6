"""The definitions behind benchmarks/decisions.py's tables, on cases worked out by hand.

The benchmark itself trains nine models (tens of minutes) and is not run here; what its
figures mean is: decision accuracy over (seed of A, seed of B) pairs with a tie counting
half, the same over same-seed pairs, the share of one-seed-per-recipe picks that rank all
recipes as the means do, and the first seed count from which compare's verdict holds.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "decisions.py"


@pytest.fixture(scope="module")
def decisions():
    spec = importlib.util.spec_from_file_location("decisions_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pair_accuracy_counts_seed_pairs_that_order_as_the_means(decisions):
    assert decisions.pair_accuracy([3.0, 2.0, 1.0], [0.0, 0.0, 0.0]) == 1.0
    # means 0.6 > 0.5; of the 4 seed pairs, the two with A's 0.2 order B first
    assert decisions.pair_accuracy([1.0, 0.2], [0.5, 0.5]) == 0.5
    # a tied pair counts half: (1 + 1 + 0.5 + 0.5) / 4
    assert decisions.pair_accuracy([1.0, 0.5], [0.5, 0.5]) == 0.75


def test_same_seed_accuracy_pairs_seed_s_with_seed_s(decisions):
    assert decisions.same_seed_accuracy([1.0, 0.2], [0.5, 0.5]) == 0.5
    assert decisions.same_seed_accuracy([1.0, 0.2], [0.5, 0.1]) == 1.0


def test_full_ranking_share_over_all_picks_and_same_seed_picks(decisions):
    scores = {"a": [3.0, 2.5], "b": [2.0, 2.6], "c": [0.0, 0.0]}  # means rank a > b > c
    # picks: (3, 2) (3, 2.6) (2.5, 2) rank a first, (2.5, 2.6) does not; c never matters
    assert decisions.full_ranking_share(scores, higher=True) == (0.75, 0.5)
    # tied means give no reference ranking: no pick can match it
    assert decisions.full_ranking_share({"a": [1.0, 3.0], "b": [2.0, 2.0]}, higher=True) == (0.0, 0.0)


def test_lower_is_better_for_bits_per_byte(decisions):
    assert not decisions.higher_is_better("bpb")
    assert decisions.higher_is_better("TOY")
    assert decisions.ranking({"a": 1.9, "b": 2.1}, higher=False) == ("a", "b")


def test_seeds_needed_is_where_the_verdict_is_decided_and_stays(decisions):
    none = decisions.UNDECIDED
    assert decisions.seeds_needed(["A better", "A better", "A better"]) == 1
    assert decisions.seeds_needed([none, "A better", "A better"]) == 2
    assert decisions.seeds_needed(["A better", none, "A better"]) == 3
    assert decisions.seeds_needed(["A better", "B better"]) == 2
    assert decisions.seeds_needed([none, none, none]) is None
