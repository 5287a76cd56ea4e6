"""Why was this page removed: filters explain themselves (the measured value against the threshold,
printed as the rule compares them), `dcbench process` records every removal, and `dcbench diff`
shows exactly the pages one recipe's extra filter removed, grouped by it, with its why strings."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from markupsafe import escape

from dcbench.baselines.diff import diff_runs
from dcbench.baselines.recipe import load_recipe
from dcbench.baselines.steps.content import (alphabetic_word_ratio_filter, bullet_count_filter, stop_word_filter,
                                             word_removal_ratio_filter)
from dcbench.baselines.steps.langid import language_filter
from dcbench.baselines.steps.quality import quality_filter
from dcbench.baselines.steps.repetition import massive_web_repetition_filters, repetition_filter
from dcbench.baselines.steps.urls import url_substring_filter
from dcbench.cli import main
from dcbench.contracts import why_removed
from dcbench.pools.toy import build_toy_pool
from dcbench.report import render_html
from dcbench.runner import run
from dcbench.shards import read_shard

RECIPES = Path(__file__).resolve().parents[2] / "baselines" / "recipes"
DROPPED = "stop_word_filter"


# ------------------------------------------------------------------ explain strings

def explain(mapper, page):
    assert mapper(dict(page)) == [], "the page must be removed for its explanation to be asked"
    return why_removed(mapper, page)


def test_alphabetic_word_ratio_prints_the_share_against_max_ratio():
    # 3 of 5 words have no letter: 0.6 > 0.2
    assert explain(alphabetic_word_ratio_filter(max_ratio=0.2), {"text": "12 34 -- a b"}) == \
        "share of words without a letter 0.6 > 0.2"


def test_language_filter_prints_the_model_language_and_threshold():
    page = {"language_id_whole_page_fasttext": {"en": 0.42}}
    assert explain(language_filter(key="language_id_whole_page_fasttext", threshold=0.65), page) == \
        "fastText en 0.42 <= 0.65"
    other = {"language_id_whole_page_fasttext": {"de": 0.93}}
    assert explain(language_filter(key="language_id_whole_page_fasttext", threshold=0.65), other) == \
        "fastText: no en (top: de 0.93)"


def test_repetition_names_the_first_failing_check_and_its_fraction():
    # 3 of 4 lines are duplicates: DCLM's first check, count fraction 0.75 > 0.30
    assert explain(massive_web_repetition_filters(), {"text": "a b\na b\na b\nc d"}) == \
        "duplicate line fraction 0.75 > 0.3"
    assert explain(repetition_filter(granularity="line", max_fraction=0.5, count_characters=False),
                   {"text": "x\nx\ny"}) == "duplicate line count fraction 0.6667 > 0.5"


def test_counts_against_a_share_of_lines_print_both_sides():
    assert explain(bullet_count_filter(max_bullet_start_ratio=0.9), {"text": "- a\n- b\n* c"}) == \
        "lines starting with a bullet 3 > 0.9 × 3 lines"
    assert explain(stop_word_filter(min_stop_word=2), {"text": "The cat sat on a mat"}) == "stop words 1 < 2"


def test_thresholds_print_exactly_and_values_never_look_equal_to_them():
    assert explain(quality_filter(threshold=0.018112), {"fasttext_hq_prob": 0.0102}) == \
        "fasttext_hq_prob 0.0102 < 0.018112"
    assert explain(quality_filter(threshold=0.3), {"fasttext_hq_prob": 0.29999}) == \
        "fasttext_hq_prob 0.29999 < 0.3"


def test_word_removal_ratio_prints_the_counts_and_the_share_lost():
    page = {"text": "one two", "word_count": 10}
    assert explain(word_removal_ratio_filter(max_removed_ratio=0.05), page) == \
        "share of words removed (10 -> 2) 0.8 > 0.05"


def test_url_filters_name_what_they_found():
    f = url_substring_filter(banlist=["casino", "poker", "loan"], num_banned_substrs=2)
    assert explain(f, {"url": "http://casino-poker.example/x"}) == \
        "banned strings in the URL ('casino', 'poker') 2 >= 2"


def test_a_step_without_explain_says_nothing_and_a_failing_explain_costs_nothing():
    assert why_removed(lambda page: [], {"text": "x"}) == ""

    def mapper(page):
        return []

    mapper.explain = lambda page: 1 / 0
    assert why_removed(mapper, {"text": "x"}).startswith("(no explanation: ZeroDivisionError")


# ------------------------------------------------------------------ two real runs and their diff

@pytest.fixture(scope="module")
def runs(tmp_path_factory, ray_session):
    root = tmp_path_factory.mktemp("diff")
    build_toy_pool(str(root / "pool"), n_docs=300, n_shards=2, seed=3)
    text = (RECIPES / "refinedweb.yaml").read_text(encoding="utf-8")
    without = re.sub(rf"  - func: {DROPPED}\n(    .*\n)*", "", text)
    without = without.replace("\nname: refinedweb\n", "\nname: rw_minus\n")
    assert DROPPED not in without
    (root / "rw_minus.yaml").write_text(without, encoding="utf-8")
    for name, path in (("rw", RECIPES / "refinedweb.yaml"), ("minus", root / "rw_minus.yaml")):
        run(load_recipe(path), str(root / "pool"), str(root / name), workers=2, max_quarantine=1.0)
    return root


def kept_urls(out: Path) -> set[str]:
    return {d["url"] for f in sorted((out / "data").glob("*.jsonl.gz")) for d in read_shard(str(f))}


@pytest.mark.slow
def test_every_removal_is_recorded_with_its_place_in_the_pool(runs):
    stats = json.loads((runs / "rw" / "stats.json").read_text())
    records = [json.loads(line) for f in sorted((runs / "rw" / "removed").glob("*.jsonl")) for line in f.open()]
    assert len(records) == sum(s["removed"] for s in stats["steps"])
    pool = {(Path(f).name.split(".")[0], i): d for f in sorted((runs / "pool").glob("*.jsonl*"))
            for i, d in enumerate(read_shard(str(f)))}
    for r in records:
        assert pool[(r["shard"], r["position"])]["metadata"]["WARC-Target-URI"] == r["url"]
    by_step = {s["name"]: s["removed"] for s in stats["steps"]}
    assert {r["step"] for r in records} == {k for k, v in by_step.items() if v}


@pytest.mark.slow
def test_removals_after_a_global_step_name_the_page_as_it_entered_the_recipe(runs, tmp_path):
    """Stage 2 reads stage 1's output, whose positions differ from the pool's: origins/ maps them back."""
    recipe = tmp_path / "two_stages.yaml"
    recipe.write_text("name: two_stages\nsteps:\n  - func: stop_word_filter\n  - func: exact_dedup\n"
                      "  - func: alphabetic_word_ratio_filter\n    max_ratio: 0.05\n", encoding="utf-8")
    run(load_recipe(recipe), str(runs / "pool"), str(tmp_path / "out"), workers=2, max_quarantine=1.0)
    pool = {(Path(f).name.split(".")[0], i): d for f in sorted((runs / "pool").glob("*.jsonl*"))
            for i, d in enumerate(read_shard(str(f)))}
    later = [json.loads(line) for f in sorted((tmp_path / "out" / "removed").glob("*.jsonl")) for line in f.open()]
    assert later and all(r["step"].endswith(("exact_dedup", "alphabetic_word_ratio_filter")) for r in later)
    assert any(r["position"] != i for i, r in enumerate(later))  # not simply stage-2 indices
    for r in later:
        assert pool[(r["shard"], r["position"])]["text"].startswith(r["text"][:50]), r


@pytest.mark.slow
def test_diff_shows_exactly_the_pages_the_dropped_filter_removed(runs):
    d = diff_runs(str(runs / "rw"), str(runs / "minus"), samples=10_000)
    truth = kept_urls(runs / "minus") - kept_urls(runs / "rw")
    assert truth, "the toy pool plants pages without stop words"
    assert kept_urls(runs / "rw") <= kept_urls(runs / "minus")
    assert list(d.only_a.counts) == [s for s in d.only_a.counts if s.endswith(DROPPED)] and len(d.only_a.counts) == 1
    assert d.only_a.total == len(truth) and d.only_b.total == 0
    records = next(iter(d.only_a.samples.values()))
    assert {r["url"] for r in records} == truth
    assert all(re.fullmatch(r"stop words [01] < 2", r["why"]) for r in records)


@pytest.mark.slow
def test_diff_cli_text_and_html(runs, capsys):
    page = runs / "diff.html"
    assert main(["diff", str(runs / "rw"), str(runs / "minus"), "--html", str(page)]) == 0
    out = capsys.readouterr().out
    assert "kept by B, removed by A" in out and DROPPED in out and "stop words" in out
    assert "kept by A, removed by B" in out
    html = page.read_text(encoding="utf-8")
    assert DROPPED in html and "stop words" in html and "<script" not in html


@pytest.mark.slow
def test_diff_refuses_runs_of_different_pools(runs, tmp_path, capsys):
    build_toy_pool(str(tmp_path / "pool"), n_docs=60, n_shards=2, seed=4)
    run(load_recipe(RECIPES / "refinedweb.yaml"), str(tmp_path / "pool"), str(tmp_path / "rw"), workers=2,
        max_quarantine=1.0)
    assert main(["diff", str(runs / "rw"), str(tmp_path / "rw")]) == 2
    assert "different pools" in capsys.readouterr().err


def test_diff_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["diff", str(tmp_path), str(tmp_path)]) == 3
    assert "finished `dcbench process` run" in capsys.readouterr().err


@pytest.mark.slow
def test_the_report_shows_why_and_the_whole_text_of_each_sample(runs):
    stats = json.loads((runs / "rw" / "stats.json").read_text())
    samples = [d for s in stats["steps"] for d in s["samples"]]
    assert all(d["full_text"] == d["full_text"][:d["chars"]] and len(d["full_text"]) == d["chars"] for d in samples)
    stop = next(s for s in stats["steps"] if s["name"].endswith("stop_word_filter"))["samples"][0]
    assert re.fullmatch(r"stop words [01] < 2", stop["why"])
    page = render_html(stats, "t")
    assert f"why: {escape(stop['why'])}" in page
    long = [d for d in samples if d["chars"] > len(d["text"])]
    assert long, "some removed page is longer than its sample's start"
    for d in long:
        assert f"<pre>{escape(d['full_text'])}</pre></details>" in page
