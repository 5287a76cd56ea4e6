"""Epochs of a tier's budget over the tokens at hand, and the warnings that say so."""

from __future__ import annotations

import pytest

from dcbench.training.budget import epochs, repetition_warning, warmup_warning
from dcbench.training.scales import get_tier


def test_epochs_are_sequences_needed_over_sequences_available():
    tier = get_tier("toy-250k-1x")  # 640 steps x 32 sequences of 257 tokens
    assert epochs(tier, 640 * 32) == pytest.approx(1.0)
    assert epochs(tier, 1289) == pytest.approx(640 * 32 / 1289)  # ~15.9: DCLM-Baseline on the toy pool
    assert epochs(tier, 1289, steps=40) == pytest.approx(40 * 32 / 1289)
    assert epochs(tier, 0) is None


def test_repetition_is_warned_only_past_one_pass():
    tier = get_tier("toy-250k-1x")
    assert repetition_warning(tier, 640 * 32) is None and repetition_warning(tier, 10**6) is None
    text = repetition_warning(tier, 1289)
    assert "15.9 epochs" in text and f"{640 * 32 * 257:,}" in text and f"{1289 * 257:,}" in text
    assert "toy-250k-1x" in text


def test_warmup_longer_than_the_run_is_warned():
    tier = get_tier("toy-250k-1x")  # warmup 50
    assert warmup_warning(tier, 50) is None and warmup_warning(tier, 640) is None
    assert "warms up over 50 steps but this run stops after 40" in warmup_warning(tier, 40)
