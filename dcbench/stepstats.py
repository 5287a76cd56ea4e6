"""Per-step accounting for one shard, and how shards' stats add up.

The invariant every step keeps: pages in = kept + removed + quarantined.
(`out` can exceed `kept` when a step splits a page.) Documents carrying a
`planted` label list (the toy pool's ground truth) are also counted by label,
which is what precision and recall of each filter are computed from.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

SAMPLES_PER_STEP = 3
SAMPLE_CHARS = 600


def new_step_stats(name: str, kind: str, targets: tuple[str, ...]) -> dict[str, Any]:
    return {"name": name, "kind": kind, "targets": list(targets), "in": 0, "kept": 0, "removed": 0,
            "quarantined": 0, "out": 0, "modified": 0, "secs": 0.0, "target_in": 0, "target_acted": 0,
            "labels_in": Counter(), "labels_removed": Counter(), "labels_modified": Counter(), "samples": []}


def sample(page: dict[str, Any]) -> dict[str, Any]:
    text = page.get("text", "")
    return {"url": page.get("url") or page.get("metadata", {}).get("WARC-Target-URI"),
            "planted": page.get("planted"), "text": text[:SAMPLE_CHARS], "chars": len(text)}


def merge(total: list[dict[str, Any]] | None, shard: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add one shard's step stats into the running total (shards merged in sorted order)."""
    if total is None:
        return [{**s, **{k: Counter(s[k]) for k in ("labels_in", "labels_removed", "labels_modified")},
                 "samples": list(s["samples"])} for s in shard]
    for t, s in zip(total, shard):
        for k in ("in", "kept", "removed", "quarantined", "out", "modified", "secs", "target_in", "target_acted"):
            t[k] += s[k]
        for k in ("labels_in", "labels_removed", "labels_modified"):
            t[k].update(s[k])
        t["samples"].extend(s["samples"][: SAMPLES_PER_STEP - len(t["samples"])])
    return total


def precision_recall(step: dict[str, Any]) -> dict[str, float | int] | None:
    """Against planted labels: of the documents the step removed (a modifier:
    modified; a global step such as dedup: either), the share that carried a defect it targets (precision); of the
    documents with a targeted defect that reached it, the share it acted on
    (recall). None when the step has no targets or saw no labelled documents."""
    if not step["targets"] or not step["labels_in"]:
        return None
    acted = {"modifier": step["modified"], "global": step["removed"] + step["modified"]}.get(step["kind"], step["removed"])
    return {
        "acted": acted,
        "true": step["target_acted"],
        "reached": step["target_in"],
        "precision": step["target_acted"] / acted if acted else float("nan"),
        "recall": step["target_acted"] / step["target_in"] if step["target_in"] else float("nan"),
    }
