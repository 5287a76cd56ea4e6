"""Corpus statistics: fixed bins that add up over shards, collected while
processing (before = what the first step sees, a score where a step adds it;
after = what the last step keeps), drawn in report.html; and the report's
other promises: quarantine/ always exists, the quality filter is scored."""

from __future__ import annotations

import json

from dcbench.baselines.recipe import parse_recipe
from dcbench.corpusstats import MEASURES, Histograms, before_after
from dcbench.pools.toy import build_toy_pool
from dcbench.pools.toy_labels import PlantedLabels
from dcbench.report import format_precision_recall, render_html
from dcbench.runner import run
from dcbench.shards import read_shard
from dcbench.stepstats import describe_targets, hits_target

WORDS, LANGUAGE, QUALITY = MEASURES


def test_bins_are_fixed_and_histograms_add():
    assert [WORDS.bin(w) for w in (0, 1, 9, 10, 100, 10**9)] == [0, 1, 5, 6, 11, len(WORDS.edges) - 1]
    assert [QUALITY.bin(v) for v in (0.0, 0.5, 0.999, 1.0)] == [0, 25, 49, 49]
    a, b = Histograms.empty(), Histograms.empty()
    a.add({"text": "one two three", "fasttext_hq_prob": 0.9})
    b.add({"text": "", "language_id_whole_page_fasttext": {"de": 0.99}})
    total = a + b
    assert total.documents("words") == 2 and total.documents("quality") == 1
    assert total.counts["language"][0] == 1  # another language first: English scores 0
    assert sum([a, b]).to_dict() == total.to_dict()


def test_before_after_takes_first_scores_and_the_last_stage():
    entering, leaving, scored = (Histograms.empty() for _ in range(3))
    for n in (5, 50, 500):
        entering.add({"text": "w " * n})
    scored.add({"fasttext_hq_prob": 0.2})
    leaving.add({"text": "w " * 500, "fasttext_hq_prob": 0.2})
    shard = {"entering": entering.to_dict(), "scored": Histograms.empty().to_dict(), "leaving": leaving.to_dict()}
    later = {**shard, "scored": scored.to_dict()}
    corpus = before_after([[shard], [later]])
    assert sum(corpus["before"]["words"]) == 3 and sum(corpus["before"]["quality"]) == 1
    assert sum(corpus["after"]["words"]) == 1
    assert before_after([[None]])["after"] == Histograms.empty().to_dict()  # stats from before this feature


def test_quality_filters_target_everything_but_the_reference_style():
    assert hits_target(("!hq_style",), []) and hits_target(("!hq_style",), ["bullets"])
    assert not hits_target(("!hq_style",), ["hq_style"]) and not hits_target(("bullets",), [])
    assert describe_targets(("!hq_style", "x")) == "all but hq_style, x"


def test_a_run_collects_corpus_stats_scores_its_quality_filter_and_keeps_quarantine(tmp_path, ray_session):
    build_toy_pool(str(tmp_path / "pool"), n_docs=300, n_shards=3, seed=2)
    recipe = parse_recipe({"name": "q", "steps": [
        {"func": "page_length_filter", "min_length": 50},
        {"func": "word_counter_enricher", "key": "fasttext_hq_prob"},  # any number stands in for a score
        {"func": "quality_filter", "key": "fasttext_hq_prob", "threshold": 200}]},
        source="t", text="", default_name="q")
    result = run(recipe, str(tmp_path / "pool"), str(tmp_path / "out"), workers=2, labels=PlantedLabels())
    assert (tmp_path / "out" / "quarantine").is_dir() and not list((tmp_path / "out" / "quarantine").iterdir())

    docs = [d for p in sorted((tmp_path / "pool").glob("*.jsonl*")) for d in read_shard(str(p))]
    kept = [d for p in sorted((tmp_path / "out" / "data").iterdir()) for d in read_shard(str(p))]
    corpus = json.loads((tmp_path / "out" / "stats.json").read_text())["corpus"]
    assert sum(corpus["before"]["words"]) == len(docs) and sum(corpus["after"]["words"]) == len(kept)
    after = Histograms.empty()
    for d in kept:
        after.add(d)
    assert corpus["after"] == after.to_dict()
    scored = result.stats["steps"][1]["in"]  # every page the enricher saw got a score (clamped to the top bin)
    assert sum(corpus["before"]["quality"]) == scored and corpus["before"]["quality"][-1] == scored

    # The quality filter is scored against the planted labels: its targets are all but hq_style.
    qf = result.stats["steps"][2]
    reached_hq = sum(1 for d in docs if d["planted"] == ["hq_style"] and len(d["text"].split()) >= 50)
    assert qf["target_in"] == qf["in"] - reached_hq
    removed_hq = sum(1 for d in docs if d["planted"] == ["hq_style"] and 50 <= len(d["text"].split()) < 200)
    assert qf["target_acted"] == qf["removed"] - removed_hq
    table = format_precision_recall(result.stats)
    assert "03 quality_filter" in table and "all but hq_style" in table

    page = render_html(result.stats, "t")
    assert "The corpus before and after" in page and 'data-target="corpus-words-plot"' in page
