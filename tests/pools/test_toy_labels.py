"""The toy pool's label plug-in: handed to the shard work, every step of
DCLM's heuristics is counted per planted label, and the precision/recall
report reads as before; without it the spine counts no labels."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from dcbench.baselines.recipe import load_recipe
from dcbench.pools.toy import build_toy_pool
from dcbench.pools.toy_labels import PlantedLabels
from dcbench.report import format_precision_recall
from dcbench.shards import read_shard
from dcbench.shardwork import process_shard
from dcbench.stages import plan_stages
from dcbench.stepstats import StepStats

RECIPE = Path(__file__).resolve().parents[2] / "baselines" / "recipes" / "dclm_baseline.yaml"


def test_labels_are_the_planted_field():
    labels = PlantedLabels()
    assert labels.name == "planted"
    assert labels({"text": "x", "planted": ["bullets"]}) == ["bullets"]
    assert not labels({"text": "x", "planted": []}) and not labels({"text": "x"})  # clean, or another pool


@pytest.fixture(scope="module")
def heuristics(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    manifest = build_toy_pool(str(root / "pool"), n_docs=400, n_shards=2, seed=5)
    recipe = load_recipe(RECIPE).before_first_global()
    (stage,) = plan_stages([s.kind for s in recipe.steps])
    uris = manifest.shard_uris(str(root / "pool"))

    def run(labels, out):
        shards = [process_shard(u, str(root / out), recipe, "jsonl", stage, labels=labels) for u in uris]
        return [sum(col) for col in zip(*([StepStats.from_dict(s) for s in st["steps"]] for st in shards))]

    return uris, run(PlantedLabels(), "labelled"), run(None, "plain"), root


def test_every_step_is_counted_per_planted_label(heuristics):
    uris, steps, _, _ = heuristics
    planted = Counter(label for u in uris for d in read_shard(u) for label in d["planted"])
    assert steps[0].labels_in == planted
    for prev, cur in zip(steps, steps[1:]):
        assert prev.quarantined == 0
        assert cur.labels_in == prev.labels_in - prev.labels_removed, cur.name
    bullets = next(s for s in steps if s.name.endswith("bullet_count_filter"))
    assert bullets.target_in == planted["bullets"] and bullets.precision_recall()["recall"] == 1.0


def test_the_report_names_the_labels_and_needs_the_plug_in(heuristics):
    _, labelled, plain, root = heuristics
    text = format_precision_recall({"steps": [s.to_dict() for s in labelled], "labels": PlantedLabels.name})
    assert text.splitlines()[0].split()[:3] == ["step", "targets", "(planted)"]
    assert "bullet_count_filter" in text and "100.0%" in text
    assert format_precision_recall({"steps": [s.to_dict() for s in plain], "labels": None}) is None
    # Labels only count; what the steps keep is the same with or without them.
    assert sorted(p.read_bytes() for p in (root / "labelled" / "data").iterdir()) == \
        sorted(p.read_bytes() for p in (root / "plain" / "data").iterdir())
    stats = json.loads(next((root / "plain" / "stats").iterdir()).read_text())
    assert all(not s["labels_in"] for s in stats["steps"])
