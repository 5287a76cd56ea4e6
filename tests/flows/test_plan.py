"""`dcbench plan`: a real sample of a toy pool through a recipe, projected for the pool; its
projection against a real run; refusal (exit 2, with the setting to change) of a run whose
Bloom filter cannot fit; `partitions: auto`; and `dcbench process`'s check before its first shard."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dcbench.baselines.dedup.bff import auto_partitions
from dcbench.baselines.dedup.bloom import BloomFilter
from dcbench.baselines.recipe import load_recipe
from dcbench.cli import main
from dcbench.flows.plan import parse_size
from dcbench.manifest import Manifest
from dcbench.pools.toy import build_toy_pool
from dcbench.runner import SUMMARY_KEYS, run, shard_task
from dcbench.stages import plan_stages

# Three stages: local heuristics; BFF dedup (which says its memory need); a top fraction (measured).
RECIPE = """\
name: plan_test
steps:
  - func: page_length_filter
    length_type: word
    min_length: 50
  - func: massive_web_repetition_filters
  - func: word_counter_enricher
    key: words
  - func: bff_dedup
    fp_rate: 0.01{bff}
  - func: top_fraction_filter
    key: words
    fraction: 0.5
"""


def write_recipe(tmp_path: Path, bff: str = "") -> str:
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE.format(bff="".join(f"\n    {line}" for line in bff.splitlines())))
    return str(path)


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plan_pool")
    build_toy_pool(str(out), n_docs=800, n_shards=4, seed=5)
    return out


def stage_rows(out: str) -> dict[str, list[str]]:
    """The stage table's rows (the first table), by stage number, split into cells."""
    table = out.split("\n\n")[0].splitlines()[3:]
    return {line.split()[0]: line.split() for line in table}


def plan(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(["plan", *args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_plan_projects_every_stage_and_says_it_fits(pool, tmp_path, capsys):
    rc, out, err = plan(capsys, write_recipe(tmp_path), "--pool", str(pool), "--workers", "2", "--sample-docs", "200")
    assert rc == 0, err
    assert "plan: plan_test" in out
    rows = stage_rows(out)
    assert list(rows) == ["1", "2", "3"] and "bff_dedup" in rows["2"] and "top_fraction_filter" in rows["3"]
    docs_in = [int(row[-7].replace(",", "")) for row in rows.values()]
    assert docs_in[0] == 800  # the pool's size, from its manifest
    assert docs_in[0] > docs_in[1] > 0 and docs_in[2] <= docs_in[1]
    assert "the Bloom filter for" in out and "driver" in out
    assert "800 documents (from its manifest) in 4 shards" in out
    assert "verdict: fits" in out


def test_a_bloom_filter_that_cannot_fit_is_refused_with_the_setting_to_change(pool, tmp_path, capsys):
    # 2e9 n-grams at 1%: a 2.2 GiB filter, in the driver of a planned 2 GiB machine.
    recipe = write_recipe(tmp_path, "expected_ngram_count: 2000000000")
    rc, out, err = plan(capsys, recipe, "--pool", str(pool), "--nodes", "1", "--node-memory", "2GiB",
                        "--sample-docs", "100")
    assert rc == 2
    assert "would not fit in memory" in err and "the Bloom filter for 2,000,000,000 n-grams" in err
    assert "partitions: auto" in err  # the setting to change
    assert "verdict" not in out

    # Split over Ray actors it fits a cluster of such nodes; `partitions: auto` picks how many.
    recipe = write_recipe(tmp_path, "expected_ngram_count: 2000000000\npartitions: auto")
    rc, out, err = plan(capsys, recipe, "--pool", str(pool), "--nodes", "4", "--node-memory", "2GiB",
                        "--sample-docs", "100")
    assert rc == 0, err
    actors = [line for line in out.splitlines() if "Bloom filter partition actor(s)" in line]
    assert len(actors) == 1 and actors[0].split()[-3] == "2"  # two actors of ~1.1 GiB


def test_actors_that_no_cluster_holds_are_refused(pool, tmp_path, capsys):
    recipe = write_recipe(tmp_path, "expected_ngram_count: 1000000000000\npartitions: 4")
    rc, _, err = plan(capsys, recipe, "--pool", str(pool), "--nodes", "2", "--node-memory", "64GiB",
                      "--sample-docs", "100")
    assert rc == 2
    assert "4 Bloom filter partition actor(s)" in err and "Ray would wait for them forever" in err
    assert "change partitions (more of them" in err


def test_auto_partitions_uses_the_driver_when_it_can():
    need = BloomFilter.required_bytes(10**8)  # ~114 MiB
    assert auto_partitions(10**8, 0.01, driver_free=4 * need, node_memory=[need]) == 1
    parts = auto_partitions(10**8, 0.01, driver_free=need, node_memory=[need // 3, need // 3])
    assert parts >= 4  # each partition within 80% of a node
    assert auto_partitions(10**8, 0.01, driver_free=0, node_memory=[]) > 1


def test_sizes_on_the_command_line():
    assert parse_size("64GiB") == 64 * 2**30 and parse_size("500MB") == 500 * 10**6 and parse_size("2G") == 2 * 2**30
    for bad in ("lots", "-1G", "0GB", "3 parsecs"):
        with pytest.raises(Exception, match="--node-memory"):
            parse_size(bad)
    assert main(["plan", "r.yaml", "--pool", "p", "--nodes", "2"]) == 2  # --nodes needs --node-memory


def test_a_shard_task_sends_back_only_its_summary(pool, tmp_path):
    """The task loop keeps every result of a stage in the driver: a shard's full stats stay on disk."""
    recipe = load_recipe(write_recipe(tmp_path))
    stage = plan_stages([s.kind for s in recipe.steps])[0]
    shard = Manifest.load(str(pool / "manifest.json")).shard_uris(str(pool))[0]
    summary = shard_task(shard, str(tmp_path / "out"), recipe, "jsonl", stage)
    assert set(summary) == set(SUMMARY_KEYS)
    full = json.loads((tmp_path / "out" / "stats" / f"{summary['shard']}.json").read_text())
    assert full["records"] == summary["records"] and full["steps"]


@pytest.mark.slow
def test_the_projection_is_within_a_sane_factor_of_a_real_run(ray_session, tmp_path, capsys):
    """A plan from a 300-document sample of a 3,200-document pool against the real run on it."""
    big = tmp_path / "pool"
    build_toy_pool(str(big), n_docs=3200, n_shards=8, seed=6)
    recipe = write_recipe(tmp_path)
    rc, out, err = plan(capsys, recipe, "--pool", str(big), "--workers", "2", "--sample-docs", "300")
    assert rc == 0, err
    rows = stage_rows(out)
    real = run(load_recipe(recipe), str(big), str(tmp_path / "out"), workers=2).stats
    real_in = {s["name"]: s["in"] for s in real["steps"]}
    projected_bff_in = int(rows["2"][-7].replace(",", ""))
    assert 0.8 < projected_bff_in / real_in["04 bff_dedup"] < 1.25
    core = float(re.search(r"total: ([\d.e-]+) core-hours", out).group(1)) * 3600
    wall = re.search(r"wall ([\d.,]+) (s|min)", out)
    wall_s = float(wall.group(1).replace(",", "")) * (60 if wall.group(2) == "min" else 1)
    assert 1 / 3 < core / real["totals"]["secs"] < 3
    assert 1 / 3 < wall_s / real["wall_secs"] < 3


@pytest.mark.slow
def test_process_checks_memory_before_its_first_shard(ray_session, pool, tmp_path, capsys):
    recipe = write_recipe(tmp_path, "expected_ngram_count: 1000000000000\npartitions: 4")
    out = tmp_path / "run"
    rc = main(["process", recipe, "--pool", str(pool), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "dcbench process: the run would not fit in memory" in err and "4 Bloom filter partition actor(s)" in err
    assert not list(out.glob("stages/*/stats/*.json"))  # refused before the first shard
