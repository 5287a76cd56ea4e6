"""How a tier's token budget meets the tokens at hand: epochs, and the warnings users need.

DCLM trains each tier on fresh data, about one pass. A small curated dataset meets a budget
that repeats it: the DCLM-Baseline recipe keeps ~331k tokens of the toy pool and toy-250k-1x
trains 5.2M, about 16 passes. Nothing forbids that, but nobody should find it out by chance:
`dcbench tokenize` and `dcbench train` say it, and the model records it (`epochs` in its
manifest), so the leaderboard shows it. The trainer reads a context of seq_len + 1 tokens per
sequence, so epochs = sequences trained / sequences available = tokens needed / tokens at hand.
"""

from __future__ import annotations

REPEAT_TOLERANCE = 1.0 + 1e-9  # one pass is not a repeat


def epochs(tier, sequences: int, steps: int | None = None) -> float | None:
    """Passes over `sequences` that `steps` (default: the tier's budget) of the tier take; None if empty."""
    if sequences <= 0:
        return None
    return (tier.steps if steps is None else steps) * tier.global_batch / sequences


def repetition_warning(tier, sequences: int, steps: int | None = None) -> str | None:
    """A warning when the budget repeats the data, saying by how much; None otherwise."""
    passes = epochs(tier, sequences, steps)
    if passes is None or passes <= REPEAT_TOLERANCE:
        return None
    steps = tier.steps if steps is None else steps
    width = tier.model.seq_len + 1
    need, have = steps * tier.global_batch * width, sequences * width
    return (f"warning: {steps:,} steps of tier {tier.name} need {need:,} tokens but the data holds {have:,}: "
            f"training repeats it {passes:.1f} times ({passes:.1f} epochs). DCLM trains on about one pass; "
            f"curate more data (a larger pool or a less strict recipe) for a like-for-like comparison")


def warmup_warning(tier, steps: int) -> str | None:
    """A warning when the run ends before the learning-rate warmup does; None otherwise."""
    if steps >= tier.warmup:
        return None
    return (f"warning: the learning rate warms up over {tier.warmup:,} steps but this run stops after {steps:,}: "
            f"it never reaches the tier's peak lr {tier.lr:g} (a smoke run; drop --max-steps for a real one)")
