"""Ray requests that cannot be scheduled fail fast with dcbench's own message (Ray itself would
wait forever, saying so only in its log): Bloom partition actors, and tasks' CPUs."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from dcbench.baselines.dedup.bff import make_ray_partitions
from dcbench.baselines.dedup.bloom import BloomFilter
from dcbench.errors import ConfigError
from dcbench.shards import write_shard
from dcbench.taskloop import check_resources, strip_ansi


def _ngrams_for(ray, share: float, partitions: int) -> int:
    """Expected n-grams that make each of `partitions` actors need `share` of the node's Ray memory."""
    memory = ray.cluster_resources()["memory"]
    per_million = BloomFilter.required_bytes(1_000_000, 0.01)
    return int(share * memory / per_million * 1_000_000) * partitions


def test_four_partitions_that_cannot_all_fit_fail_fast(ray_session):
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=r"4 Bloom filter partition actor\(s\).*4 x .* GiB of Ray resources "
                                          r"needed, but its 1 node\(s\) .* hold 2; Ray would wait") as info:
        make_ray_partitions(4, _ngrams_for(ray_session, 0.4, 4), 0.01)
    assert "add machines" in str(info.value) and time.perf_counter() - t0 < 10


def test_one_partition_larger_than_any_node_fails_fast(ray_session):
    with pytest.raises(ConfigError, match=r"hold 0"):
        make_ray_partitions(1, _ngrams_for(ray_session, 1.5, 1), 0.01)


def test_tasks_needing_more_cpus_than_a_node_has(ray_session):
    with pytest.raises(ConfigError, match=r"a task: 1 x 3 CPU of Ray resources needed, but its 1 node\(s\) "
                                          r"\(2 CPU / .*\) hold 0"):
        check_resources("a task", 1, cpus=3)
    check_resources("a task", 1, cpus=1)  # fits: no error


def test_ray_colours_are_stripped():
    assert strip_ansi("\x1b[36mray::process_shard()\x1b[39m (pid=1) \x1b]0;title\x07failed") == \
        "ray::process_shard() (pid=1) failed"


@pytest.mark.slow
def test_process_cli_says_why_instead_of_hanging(tmp_path):
    """The issue's hang: `partitions: 4` whose actors no node can hold, through `dcbench process`."""
    pool = tmp_path / "pool"
    pool.mkdir()
    for n in "ab":
        write_shard(str(pool / f"{n}.jsonl"), [{"text": f"hello world number {i} " * 5} for i in range(30)])
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: big\nsteps:\n  - func: bff_dedup\n    partitions: 4\n"
                      "    expected_ngram_count: 10000000000000\n")
    r = subprocess.run([sys.executable, "-m", "dcbench.cli", "process", str(recipe), "--pool", str(pool),
                        "--out", str(tmp_path / "out"), "--workers", "1"], capture_output=True, text=True, timeout=240)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "4 Bloom filter partition actor(s)" in r.stderr and "Ray would wait for them forever" in r.stderr
    assert "\x1b[" not in r.stderr.split("dcbench: error:")[-1]
