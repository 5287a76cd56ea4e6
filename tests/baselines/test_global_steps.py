"""Global steps on the Ray runner: dedup finds the toy pool's planted
duplicates (and only those), the per-shard BFF scope misses cross-shard ones
as DCLM's did, top-fraction keeps exactly what it is asked, and outputs do
not depend on the number of workers or on interruption."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dcbench.baselines.recipe import parse_recipe
from dcbench.runner import run
from dcbench.pools.toy import build_toy_pool
from dcbench.pools.toy_labels import PlantedLabels

LABELS = PlantedLabels()  # the toy pool's ground truth, counted per step


def recipe(*steps: dict):
    return parse_recipe({"name": "t", "steps": list(steps)}, source="test", text="", default_name="t")


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy")
    m = build_toy_pool(str(out), n_docs=800, n_shards=4, seed=3)
    return out, m


def planted(toy, label: str) -> int:
    return toy[1].extra["label_counts"].get(label, 0)


def outputs(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "data").glob("*"))}


def removed_labels(result, step_index: int = 0) -> dict[str, int]:
    return result.stats["steps"][step_index]["labels_removed"]


def test_exact_dedup_removes_exactly_the_planted_copies(toy, tmp_path, ray_session):
    result = run(recipe({"func": "exact_dedup"}), str(toy[0]), str(tmp_path / "o"), workers=2, labels=LABELS)
    step = result.stats["steps"][0]
    assert step["removed"] == planted(toy, "exact_duplicate") > 0
    assert removed_labels(result) == {"exact_duplicate": step["removed"]}


def test_minhash_finds_exact_and_near_copies(toy, tmp_path, ray_session):
    result = run(recipe({"func": "minhash_dedup"}), str(toy[0]), str(tmp_path / "o"), workers=2, labels=LABELS)
    got = removed_labels(result)
    assert got.get("exact_duplicate") == planted(toy, "exact_duplicate")
    assert got.get("near_duplicate", 0) >= 0.9 * planted(toy, "near_duplicate")
    assert set(got) <= {"exact_duplicate", "near_duplicate"}  # nothing unrelated merged


@pytest.mark.slow
def test_bff_global_catches_every_planted_copy_and_is_worker_independent(toy, tmp_path, ray_session):
    r = recipe({"func": "bff_dedup"})
    one = run(r, str(toy[0]), str(tmp_path / "one"), workers=1, labels=LABELS)
    run(r, str(toy[0]), str(tmp_path / "two"), workers=2)
    assert outputs(tmp_path / "one") == outputs(tmp_path / "two")
    step = one.stats["steps"][0]
    dups = planted(toy, "exact_duplicate") + planted(toy, "near_duplicate")
    assert step["target_in"] == dups and step["target_acted"] == dups  # recall 100%
    # On a raw pool BFF also cuts paragraphs a document repeats from itself; nothing else is touched.
    touched = set(step["labels_removed"]) | set(step["labels_modified"])
    assert touched <= {"exact_duplicate", "near_duplicate", "repeated_lines", "repeated_paragraphs", "repeated_ngrams"}
    kept = [json.loads(line) for f in sorted((tmp_path / "one" / "data").glob("*")) for line in _lines(f)]
    assert all("bff_contained_ngram_count_before_dedupe" in d for d in kept)


def test_bff_per_shard_scope_misses_cross_shard_copies(toy, tmp_path, ray_session):
    # The toy pool puts every copy in a later shard than its original: DCLM's
    # per-shard dedup cannot see them.
    result = run(recipe({"func": "bff_dedup", "scope": "shard"}), str(toy[0]), str(tmp_path / "o"), workers=2,
                 labels=LABELS)
    step = result.stats["steps"][0]
    # Only two copies of one original that happen to share a shard can meet.
    assert step["target_acted"] < 0.25 * step["target_in"]


@pytest.mark.slow
def test_bff_partitioned_over_ray_actors_equals_one_filter(toy, tmp_path, ray_session):
    one = run(recipe({"func": "bff_dedup", "fp_rate": 1e-6}), str(toy[0]), str(tmp_path / "a"), workers=2)
    four = run(recipe({"func": "bff_dedup", "fp_rate": 1e-6, "partitions": 4}), str(toy[0]), str(tmp_path / "b"),
               workers=2)
    assert outputs(tmp_path / "a") == outputs(tmp_path / "b")
    assert one.manifest.documents == four.manifest.documents


@pytest.mark.slow
def test_bloom_filter_saved_and_continued_over_an_increment(toy, tmp_path, ray_session):
    filters = tmp_path / "bloom"
    run(recipe({"func": "bff_dedup", "bloom_filter_dir": str(filters)}), str(toy[0]), str(tmp_path / "first"), workers=2)
    assert list(filters.iterdir())
    # The same pool again, as a "later increment" against the saved filter: every n-gram is seen,
    # so only documents with no paragraph long enough to hash (under 13 tokens) survive.
    run(recipe({"func": "bff_dedup", "bloom_filter_dir": str(filters)}), str(toy[0]), str(tmp_path / "second"),
                workers=2)
    kept = [json.loads(line) for f in sorted((tmp_path / "second" / "data").glob("*")) for line in _lines(f)]
    assert len(kept) < 5 and all(d["bff_contained_ngram_count_before_dedupe"] == 0 for d in kept)


@pytest.mark.slow
def test_top_fraction_keeps_exactly_the_fraction(toy, tmp_path, ray_session):
    from dcbench.baselines.quality.fasttext_quality import train

    model = tmp_path / "q.bin"
    train([str(toy[0] / "reference" / "hq.jsonl")], [str(p) for p in sorted(toy[0].glob("shard_*"))], str(model),
          bucket=20_000, dim=16)
    r = recipe({"func": "classify_fasttext_hq_prob_enricher", "model_filename": str(model), "key": "q"},
               {"func": "top_fraction_filter", "key": "q", "fraction": 0.1})
    result = run(r, str(toy[0]), str(tmp_path / "o"), workers=2)
    assert result.manifest.documents == round(0.1 * 800)
    kept = [json.loads(line) for f in sorted((tmp_path / "o" / "data").glob("*")) for line in _lines(f)]
    worst_kept = min(d["q"] for d in kept)
    scores = [json.loads(line)["q"] for f in sorted((tmp_path / "o" / "stages" / "00" / "data").glob("*"))
              for line in _lines(f)]
    assert sum(s > worst_kept for s in scores) < 80 <= sum(s >= worst_kept for s in scores)
    # The classifier learned the reference set's style: its planted pages outscore ordinary clean ones.
    scored = [json.loads(line) for f in sorted((tmp_path / "o" / "stages" / "00" / "data").glob("*"))
              for line in _lines(f)]
    hq = [d["q"] for d in scored if d["planted"] == ["hq_style"]]
    plain = [d["q"] for d in scored if d["planted"] == []]
    assert sum(hq) / len(hq) > sum(plain) / len(plain)


def test_resume_mid_recipe_gives_the_same_bytes(toy, tmp_path, ray_session):
    r = recipe({"func": "page_length_filter", "min_length": 50}, {"func": "exact_dedup"},
               {"func": "newline_removal_modifier"})
    full = run(r, str(toy[0]), str(tmp_path / "full"), workers=2)
    part = tmp_path / "part"
    run(r, str(toy[0]), str(part), workers=2)
    # Lose the final stage of two shards and the decisions of the global step, as if killed mid-way.
    for stem in ("shard_00001", "shard_00003"):
        (part / "stats" / f"{stem}.json").unlink()
    for f in (part / "stages" / "01" / "decisions").glob("*"):
        f.unlink()
    for f in (part / "stats").glob("*"):
        f.unlink()
    resumed = run(r, str(toy[0]), str(part), workers=2)
    assert outputs(part) == outputs(tmp_path / "full")
    assert resumed.manifest.id == full.manifest.id
    assert resumed.skipped == 4  # stage 1 (4 shards) was done; stage 2 redone after re-analysis


def _lines(path: Path):
    import gzip

    with gzip.open(path, "rt", encoding="utf-8") as f:
        yield from f
