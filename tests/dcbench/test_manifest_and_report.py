"""Manifests and content ids; the summary, precision/recall and HTML report."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest

from dcbench.errors import DataError
from dcbench.manifest import Manifest, ShardEntry, content_id
from dcbench.report import format_precision_recall, render_html
from dcbench.stepstats import new_step_stats, precision_recall


def test_content_id_is_canonical_and_sensitive():
    assert content_id("x", {"a": 1, "b": [2]}) == content_id("x", {"b": [2], "a": 1})
    assert content_id("x", {"a": 1}) != content_id("x", {"a": 2}) != content_id("y", {"a": 2})
    assert content_id("pool", {}).startswith("pool-") and len(content_id("pool", {})) == 5 + 16


def test_manifest_round_trip_and_id(tmp_path):
    shards = [ShardEntry("b.jsonl.gz", 10, "ff", 3), ShardEntry("a.jsonl.gz", 20, "ee", 4)]
    m = Manifest(kind="pool", name="p", shards=shards, inputs={"seed": 1})
    m.save(str(tmp_path / "manifest.json"))
    back = Manifest.load(str(tmp_path / "manifest.json"))
    assert back.id == m.id and back.documents == 7 and back.bytes == 30
    assert back.shard_uris(str(tmp_path))[1] == f"{tmp_path}/a.jsonl.gz"
    # The id follows content (shard hashes and inputs), not shard order.
    assert Manifest(kind="pool", name="p", shards=shards[::-1], inputs={"seed": 1}).id == m.id
    assert Manifest(kind="pool", name="p", shards=shards, inputs={"seed": 2}).id != m.id


def test_manifest_errors_say_what_is_wrong(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(DataError, match="not a JSON manifest"):
        Manifest.load(str(tmp_path / "x.json"))
    (tmp_path / "y.json").write_text(json.dumps({"kind": "pool", "name": "p", "shards": [], "schema_version": 99}))
    with pytest.raises(DataError, match="newer than this dcbench"):
        Manifest.load(str(tmp_path / "y.json"))


def step(kind="filter", targets=("bullets",), **counts):
    s = new_step_stats("13 bullet_count_filter", kind, targets)
    s.update(counts)
    return s


def test_precision_and_recall_from_planted_labels():
    s = step(removed=10, target_acted=8, target_in=16, labels_in=Counter(bullets=16, spam_url=3))
    pr = precision_recall(s)
    assert (pr["precision"], pr["recall"]) == (0.8, 0.5)
    assert precision_recall(step(targets=())) is None  # enrichers have no target
    none_removed = precision_recall(step(removed=0, target_in=4, labels_in=Counter(bullets=4)))
    assert math.isnan(none_removed["precision"]) and none_removed["recall"] == 0
    text = format_precision_recall({"steps": [s]})
    assert "80.0%" in text and "50.0%" in text


def test_html_report_escapes_documents():
    s = step(removed=1, samples=[{"url": "https://x/<script>", "planted": ["bullets"],
                                  "text": "<script>alert('x')</script>", "chars": 30}])
    stats = {"steps": [s], "dataset": "dataset-1", "pool": "pool-<b>", "shards": 1,
             "totals": {"records": 1, "kept": 0, "quarantined": 0, "unreadable": 0}}
    page = render_html(stats, "run <i>")
    assert "<script>" not in page and "&lt;script&gt;alert" in page and "pool-&lt;b&gt;" in page
