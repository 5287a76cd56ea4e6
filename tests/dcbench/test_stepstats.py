"""Per-step stats: they add with `+` (and `sum`), keep the on-disk JSON form,
and a document's labels are counted only when the run has a label plug-in."""

from __future__ import annotations

from collections import Counter

import pytest

from dcbench.contracts import StepKind
from dcbench.shardwork import run_chain
from dcbench.stepstats import SAMPLES_PER_STEP, StepStats

# The keys of a step in stats/<shard>.json and stats.json, in order, as earlier runs wrote them.
ON_DISK_KEYS = ["name", "kind", "targets", "in", "kept", "removed", "quarantined", "out", "modified", "secs",
                "target_in", "target_acted", "labels_in", "labels_removed", "labels_modified", "samples"]


def shard(removed: int, labels: dict[str, int], samples: int) -> StepStats:
    return StepStats("03 bullet_count_filter", StepKind.FILTER, ("bullets",), pages_in=10, kept=10 - removed,
                     removed=removed, pages_out=10 - removed, secs=0.5, target_in=2, target_acted=1,
                     labels_in=Counter(labels), labels_removed=Counter(labels),
                     samples=[{"url": f"u{removed}-{i}"} for i in range(samples)])


def test_stats_add_like_numbers():
    a, b = shard(2, {"bullets": 1, "spam": 1}, 2), shard(3, {"clean": 2, "bullets": 4}, 2)
    total = a + b
    assert (total.pages_in, total.kept, total.removed, total.pages_out) == (20, 15, 5, 15)
    assert (total.secs, total.target_in, total.target_acted) == (1.0, 4, 2)
    assert total.labels_in == Counter(bullets=5, spam=1, clean=2)
    assert list(total.labels_in) == ["bullets", "spam", "clean"]  # first-seen order, as files list them
    assert [s["url"] for s in total.samples] == ["u2-0", "u2-1", "u3-0"] and SAMPLES_PER_STEP == 3
    assert (a.pages_in, a.labels_in) == (10, Counter(bullets=1, spam=1))  # operands are left alone
    assert sum([a, b, shard(1, {}, 0)]).removed == 6


def test_only_the_same_step_adds():
    other = StepStats("04 word_count_filter", StepKind.FILTER)
    with pytest.raises(ValueError, match="04 word_count_filter"):
        shard(1, {}, 0) + other


def test_the_json_form_keeps_the_stats_files_keys():
    s = shard(2, {"bullets": 1}, 1)
    d = s.to_dict()
    assert list(d) == ON_DISK_KEYS and d["kind"] == "filter" and (d["in"], d["out"]) == (10, 8)
    assert StepStats.from_dict(d) == s
    s.add_analysis(2.5)
    d = s.to_dict()
    assert list(d) == ON_DISK_KEYS + ["analyze_secs"] and d["secs"] == 3.0
    assert StepStats.from_dict(d) == s


class Flags:
    """A label plug-in over a field of its own: the spine knows no scheme."""

    name = "flags"

    def __call__(self, page):
        return page.get("flags") or ()


class Step:
    def __init__(self, label, kind, targets=()):
        self.label, self.kind, self.targets = label, kind, targets


def test_labels_are_counted_only_with_a_plug_in():
    chain = [(Step("01 short", StepKind.FILTER, ("short",)), lambda p: [p] if len(p["text"]) > 3 else []),
             (Step("02 upper", StepKind.MODIFIER), lambda p: [{**p, "text": p["text"].upper()}])]
    docs = [{"text": "ok", "flags": ["short"]}, {"text": "a long one", "flags": ["loud"]}, {"text": "plain"}]

    def through(labels):
        steps = [StepStats.of(info) for info, _ in chain]
        kept = [p for d in docs for p in run_chain(d, chain, steps, [], "s", labels)]
        return steps, kept

    plain, kept_plain = through(None)
    labelled, kept_labelled = through(Flags())
    assert kept_plain == kept_labelled and len(kept_plain) == 2  # labels never change what a step does
    assert all(not s.labels_in and not s.target_in for s in plain) and plain[0].precision_recall() is None
    assert plain[0].samples[0]["labels"] is None
    short, upper = labelled
    assert (short.labels_in, short.labels_removed) == (Counter(short=1, loud=1), Counter(short=1))
    assert (short.target_in, short.target_acted) == (1, 1) and short.samples[0]["labels"] == ["short"]
    assert short.precision_recall() == {"acted": 1, "true": 1, "reached": 1, "precision": 1.0, "recall": 1.0}
    assert upper.labels_modified == Counter(loud=1) and upper.modified == 2
