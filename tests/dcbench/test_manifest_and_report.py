"""Manifests and content ids; the summary, precision/recall and HTML report."""

from __future__ import annotations

import json
import math
import re
from collections import Counter

import plotly.graph_objects as go
import pytest

from dcbench.contracts import StepKind
from dcbench.errors import DataError
from dcbench.manifest import Manifest, ShardEntry, content_id
from dcbench.report import format_precision_recall, precision_recall, render_html
from dcbench.stepstats import StepStats


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


def step(kind=StepKind.FILTER, targets=("bullets",), **counts) -> StepStats:
    return StepStats("13 bullet_count_filter", kind, targets, **counts)


def test_precision_and_recall_from_document_labels():
    s = step(removed=10, target_acted=8, target_in=16, labels_in=Counter(bullets=16, spam_url=3))
    pr = s.precision_recall()
    assert (pr["precision"], pr["recall"]) == (0.8, 0.5)
    assert step(targets=()).precision_recall() is None  # enrichers have no target
    assert step(removed=3, target_in=2).precision_recall() is None  # no labels were counted
    none_removed = step(removed=0, target_in=4, labels_in=Counter(bullets=4)).precision_recall()
    assert math.isnan(none_removed["precision"]) and none_removed["recall"] == 0
    text = format_precision_recall({"steps": [s.to_dict()], "labels": "planted"})
    assert "80.0%" in text and "50.0%" in text and "targets (planted)" in text
    assert precision_recall(s.to_dict()) == pr  # what reports compute from stats.json


def test_what_a_step_acted_on_depends_on_its_kind():
    counts = dict(removed=4, modified=6, target_acted=5, target_in=10, labels_in=Counter(x=10))
    acted = {kind: step(kind, ("x",), **counts).precision_recall()["acted"] for kind in StepKind}
    assert acted == {StepKind.FILTER: 4, StepKind.ENRICHER: 4, StepKind.MODIFIER: 6, StepKind.GLOBAL: 10}


def test_html_report_escapes_documents():
    s = step(removed=1, samples=[{"url": "https://x/<script>", "labels": ["bullets"],
                                  "text": "<script>alert('x')</script>", "chars": 30}])
    stats = {"steps": [s.to_dict()], "labels": "planted", "dataset": "dataset-1", "pool": "pool-<b>", "shards": 1,
             "totals": {"records": 1, "kept": 0, "quarantined": 0, "unreadable": 0}}
    page = render_html(stats, "run <i>")
    assert "<script>" not in page and "&lt;script&gt;alert" in page and "pool-&lt;b&gt;" in page


def report_stats():
    steps = [StepStats("1 url_filter", StepKind.FILTER, pages_in=100, kept=80, removed=15, quarantined=5,
                       pages_out=80, secs=0.5),
             StepStats("2 </script><b>normalise", StepKind.MODIFIER, pages_in=80, kept=80, modified=30,
                       pages_out=80, secs=1.25),
             StepStats("3 dedup", StepKind.GLOBAL, pages_in=80, kept=60, removed=20, pages_out=60, secs=2.0,
                       samples=[{"url": "javascript:alert(1)", "labels": None, "text": "dup </pre><script>x</script>",
                                 "chars": 27}])]
    return {"steps": [s.to_dict() for s in steps], "dataset": "dataset-1", "pool": "pool-1", "shards": 2,
            "totals": {"records": 100, "kept": 60, "quarantined": 5, "unreadable": 1}}


def report_figures(page: str) -> dict[str, dict]:
    blocks = re.findall(r'<script type="application/json" class="plot-data" data-target="([^"]+)">(.*?)</script>',
                        page, re.S)
    return {target: json.loads(text) for target, text in blocks}


def test_html_report_plots_steps_with_plotly():
    stats = report_stats()
    page = render_html(stats, "run")
    figures = report_figures(page)
    assert set(figures) == {"fates-plot", "seconds-plot"}
    for fig in figures.values():
        go.Figure(fig["data"], fig["layout"])  # Plotly's schema check
    fates = {t["name"]: t["x"] for t in figures["fates-plot"]["data"]}
    # per step: kept unchanged + kept modified + removed + quarantined = documents in
    assert fates == {"kept, unchanged": [80, 50, 60], "kept, modified": [0, 30, 0], "removed": [15, 0, 20],
                     "quarantined": [5, 0, 0]}
    labels = figures["fates-plot"]["data"][0]["y"]
    assert labels == ["1 url_filter", "2 &lt;/script&gt;&lt;b&gt;normalise", "3 dedup"]  # shown literally by Plotly
    assert figures["seconds-plot"]["data"][0]["x"] == [0.5, 1.25, 2.0]
    rows = re.findall(r"<tr><td class=\"name\">(.*?)</td><td>(\w+)</td><td class=\"num\" data-v=\"(\d+)\"", page)
    assert rows == [("1 url_filter", "filter", "100"), ("2 &lt;/script&gt;&lt;b&gt;normalise", "modifier", "80"),
                    ("3 dedup", "global", "80")]
    assert "dup &lt;/pre&gt;&lt;script&gt;x&lt;/script&gt;" in page and "javascript:alert(1) (27 chars)</p>" in page
    markup = re.sub(r"<script data-name=[^>]*>.*?</script>", "", page, flags=re.S)  # less the inlined code
    assert "<a " not in markup and "<script>" not in markup  # the sample's URL is text, not a link
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page).group(1)
    assert "script-src &#39;sha256-" in policy and "unsafe-inline&#39; " not in policy.split("script-src")[1]


@pytest.mark.slow
def test_html_report_draws_in_chromium_without_overlaps(chromium, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_html(report_stats(), "run <i>"), encoding="utf-8")
    result = chromium.measure(page, width=1400)
    assert result["violations"] == [] and result["plots"] == 2, result
    assert result["overlapCount"] == 0, result["overlaps"]
    assert result["svgTexts"] >= 10  # axis ticks, step names, legend
