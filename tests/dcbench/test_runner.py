"""The Ray runner: conservation on a messy pool, quarantine with reasons,
resume after a failed or killed shard, byte-identical output whatever the
number of workers, and the contracts it runs on (any recipe of the shape,
global steps checked, their analysis retried)."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from dcbench.baselines.recipe import load_recipe, parse_recipe
from dcbench.contracts import StepKind
from dcbench.errors import ConfigError, DataError, RunError
from dcbench.runner import run
from dcbench.manifest import Manifest, ShardEntry
from dcbench.shards import read_shard, sha256_of, shard_stem, write_shard
from dcbench.shardwork import built_steps, process_shard
from dcbench.stages import plan_stages

RECIPES = Path(__file__).resolve().parents[2] / "baselines" / "recipes"
SENTENCES = [
    "The committee met on Tuesday to discuss the budget for the coming year and the plans that it will support.",
    "Residents of the town have been asked to share their views on the proposal before the end of the month.",
    "A new study suggests that the birds return to the same nesting sites with remarkable consistency.",
    "Engineers working on the bridge said that the repairs would be finished well before the winter storms.",
    "Teachers at the school have introduced a reading program that has proved popular with the students.",
    "The museum is open every day except Monday, and entry to the permanent collection is free of charge.",
]


def page(i: int, url: str | None = None) -> dict:
    text = "\n\n".join(SENTENCES[(i + k) % len(SENTENCES)] + f" Item {i}-{k} was noted." for k in range(5))
    return {"text": text, "url": url or f"https://news.example.org/story/{i}",
            "metadata": {"WARC-Target-URI": url or f"https://news.example.org/story/{i}"}}


def make_messy_pool(root: Path) -> Path:
    pool = root / "pool"
    pool.mkdir()
    write_shard(str(pool / "a.jsonl"), [page(i) for i in range(20)] + [page(99, "https://porn-hub.example.com/x")])
    write_shard(str(pool / "b.jsonl.zst"), [page(i) for i in range(20, 40)])
    write_shard(str(pool / "c.parquet"), [page(i) for i in range(40, 50)])
    with open(pool / "d.jsonl", "wb") as f:  # one of each kind of bad record
        f.write(json.dumps(page(60)).encode() + b"\n")
        f.write(b'{"text": "unterminated\n')
        f.write(b'{"text": "bad \xff utf8"}\n')
        f.write(b'{"metadata": {"WARC-Target-URI": "https://no.text/"}}\n')
        f.write(b'{"text": 42, "metadata": {"WARC-Target-URI": "https://int.text/"}}\n')
        f.write(json.dumps({"text": "no metadata, so moving the URL fails"}).encode() + b"\n")
    (pool / "e.jsonl.gz").write_bytes(b"")
    write_shard(str(pool / "f.jsonl.gz"), [page(i) for i in range(100, 400)])
    data = (pool / "f.jsonl.gz").read_bytes()
    (pool / "f.jsonl.gz").write_bytes(data[: len(data) // 2])  # truncated gzip
    write_shard(str(pool / "g.jsonl.zst"), [page(i) for i in range(400, 700)])
    data = (pool / "g.jsonl.zst").read_bytes()
    (pool / "g.jsonl.zst").write_bytes(data[: len(data) // 2])  # truncated zstd
    return pool


@pytest.fixture(scope="module")
def recipe():
    return load_recipe(RECIPES / "refinedweb.yaml")


@pytest.fixture(scope="module")
def messy(tmp_path_factory, recipe, ray_session):
    root = tmp_path_factory.mktemp("messy")
    pool = make_messy_pool(root)
    result = run(recipe, str(pool), str(root / "out"), workers=2, max_quarantine=1.0)
    return root, pool, result


def data_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "data").iterdir())}


def test_every_step_conserves_documents(messy):
    _, _, result = messy
    stats = result.stats
    t = stats["totals"]
    steps = stats["steps"]
    assert steps[0]["in"] == t["records"] - t["unreadable"]
    for prev, cur in zip(steps, steps[1:]):
        assert cur["in"] == prev["out"], cur["name"]
    for s in steps:
        assert s["in"] == s["kept"] + s["removed"] + s["quarantined"], s["name"]
    removed = sum(s["removed"] for s in steps)
    assert t["records"] == t["kept"] + removed + t["quarantined"]
    assert t["kept"] == result.manifest.documents == steps[-1]["out"]


def test_each_bad_record_is_quarantined_with_its_reason(messy):
    root, _, result = messy
    entries = [json.loads(line) for f in sorted((root / "out" / "quarantine").glob("*.jsonl")) for line in f.open()]
    assert len(entries) == result.stats["totals"]["quarantined"]
    reasons = {(e["shard"], e["step"], e["reason"].split(":")[0]) for e in entries}
    assert ("d", "read", "malformed JSON") in reasons
    assert ("d", "read", "invalid UTF-8 at byte 14") in reasons  # the \xff after '{"text": "bad '

    # A record whose text is not a str is read, and quarantined before the first step that needs a str.
    no_str = {(e["step"], e["reason"].split(":")[0]) for e in entries if "needs a string" in e["reason"]}
    assert {r for _, r in no_str} == {"missing 'text' field", "'text' is int, not a string"}
    assert all(step != "read" for step, _ in no_str)
    assert ("d", "01 move_url_modifier", "KeyError") in reasons  # a step that raises loses the page, not the shard
    assert any(e["shard"] == "f" and "truncated or corrupt gzip" in e["reason"] for e in entries)
    assert any(e["shard"] == "g" and "truncated or corrupt zstd" in e["reason"] for e in entries)
    bad_utf8 = next(e for e in entries if e["reason"].startswith("invalid UTF-8"))
    assert "\\xff" in bad_utf8["record"]  # the raw record is kept, escaped


def test_spam_url_is_removed_and_counted(messy):
    _, _, result = messy
    hard = next(s for s in result.stats["steps"] if s["name"] == "05 url_substring_filter")
    assert hard["removed"] == 1  # "porn" is a whole word of the URL: the hard list
    assert hard["samples"][0]["url"] == "https://porn-hub.example.com/x"


def test_worker_count_does_not_change_the_output(messy, recipe, tmp_path):
    root, pool, result = messy
    one = run(recipe, str(pool), str(tmp_path / "one"), workers=1, max_quarantine=1.0)
    assert data_bytes(tmp_path / "one") == data_bytes(root / "out")
    assert one.manifest.id == result.manifest.id
    assert (tmp_path / "one" / "manifest.json").read_text() == (root / "out" / "manifest.json").read_text()


def test_resume_after_a_failed_and_a_killed_shard(messy, recipe, tmp_path):
    root, pool, result = messy
    pool2 = tmp_path / "pool"
    shutil.copytree(pool, pool2)
    entries = [ShardEntry(p.name, *sha256_of(str(p)), 0) for p in sorted(pool2.iterdir())]
    Manifest(kind="pool", name="messy", shards=entries).save(str(pool2 / "manifest.json"))
    out = tmp_path / "out"
    run(recipe, str(pool2), str(out), workers=2, max_quarantine=1.0)
    # A shard killed mid-write: a half-written temporary file and no stats.
    (out / "stats" / "c.json").unlink()
    (out / "data" / "c.jsonl.gz").write_bytes(b"partial")
    (out / "data" / "c.jsonl.gz.tmp-1-deadbeef").write_bytes(b"partial")
    resumed = run(recipe, str(pool2), str(out), workers=2, max_quarantine=1.0)
    assert resumed.skipped == 6
    assert data_bytes(out) == data_bytes(root / "out")  # the killed attempt's temporary file is gone too
    assert [s.sha256 for s in resumed.manifest.shards] == [s.sha256 for s in result.manifest.shards]


def test_an_output_directory_belongs_to_one_recipe(messy, tmp_path):
    root, pool, _ = messy
    other = parse_recipe({"steps": [{"func": "newline_removal_modifier"}]}, source="t", text="", default_name="t")
    with pytest.raises(ConfigError, match="use a new --out"):
        run(other, str(pool), str(root / "out"), workers=1)


def test_quarantine_over_budget_fails_loudly(messy, recipe, tmp_path):
    root, pool, _ = messy
    with pytest.raises(DataError, match=r"over the budget of 1\.0%.*quarantine/"):
        run(recipe, str(pool), str(tmp_path / "strict"), workers=2, max_quarantine=0.01)
    # The work is done and kept: raising the budget finishes without redoing shards.
    again = run(recipe, str(pool), str(tmp_path / "strict"), workers=2, max_quarantine=1.0)
    assert again.skipped == 7


# ------------------------------------------------ the recipe and global-step contracts
# The runner depends on `dcbench.contracts`, not on baselines: a recipe of any class runs.


class Step:
    def __init__(self, label: str, kind: StepKind):
        self.label, self.kind, self.targets = label, kind, ()


def count_docs_failing_once(uri: str, log_dir: str) -> int:
    """A global step's per-shard analysis that fails on its first attempt at each shard."""
    marker = Path(log_dir) / f"{shard_stem(uri)}.{uuid.uuid4().hex}"
    first = not list(Path(log_dir).glob(f"{shard_stem(uri)}.*"))
    marker.touch()
    if first:
        raise OSError(f"{uri}: storage hiccup")
    return sum(1 for _ in read_shard(uri))


class KeepEvenPositions:
    """A global step: the analysis counts each shard's documents; applying keeps the even positions."""

    def __init__(self, log_dir: str):
        self.log_dir = log_dir

    def analyze(self, shards, ctx):
        counts = ctx.map_shards(count_docs_failing_once, shards, self.log_dir)
        return {shard_stem(u): n for u, n in zip(shards, counts)}

    def apply(self, decision):
        position = iter(range(decision))
        return lambda page: [page] if next(position) % 2 == 0 else []


class TinyRecipe:
    name = "tiny"

    def __init__(self, log_dir: str, global_step=None):
        self.id = f"recipe-tiny-{uuid.uuid4().hex[:8]}"  # workers cache built steps by id
        self.steps = (Step("01 keep_even", StepKind.GLOBAL), Step("02 upper", StepKind.MODIFIER))
        self.global_step = global_step or KeepEvenPositions(log_dir)

    def to_dict(self):
        return {"name": self.name, "steps": [{"func": s.label} for s in self.steps]}

    def build(self):
        return [(self.steps[0], self.global_step), (self.steps[1], lambda p: [{**p, "text": p["text"].upper()}])]


@pytest.fixture
def small_pool(tmp_path):
    pool = tmp_path / "small"
    pool.mkdir()
    write_shard(str(pool / "a.jsonl"), [page(i) for i in range(5)])
    write_shard(str(pool / "b.jsonl"), [page(i) for i in range(5, 9)])
    return pool


def test_any_recipe_of_the_contract_runs_and_its_analysis_is_retried(small_pool, tmp_path, ray_session):
    log = tmp_path / "log"
    log.mkdir()
    result = run(TinyRecipe(str(log)), str(small_pool), str(tmp_path / "out"), workers=2)
    assert sorted(p.name.split(".")[0] for p in log.iterdir()) == ["a", "a", "b", "b"]  # one retry per shard
    kept = [d for f in sorted((tmp_path / "out" / "data").iterdir()) for d in read_shard(str(f))]
    assert [d["url"] for d in kept] == [page(i)["url"] for i in (0, 2, 4, 5, 7)]
    assert all(d["text"].isupper() for d in kept)
    keep_even, upper = result.stats["steps"]
    assert (keep_even["kind"], keep_even["removed"], upper["modified"]) == ("global", 4, 5)
    assert keep_even["analyze_secs"] > 0 and result.stats["labels"] is None


def test_a_global_step_must_build_the_global_step_contract(small_pool, tmp_path):
    not_global = TinyRecipe(str(tmp_path), global_step=lambda p: [p])
    with pytest.raises(TypeError, match="01 keep_even is registered as global but built a function"):
        run(not_global, str(small_pool), str(tmp_path / "out"), workers=1)


# ------------------------------------------------ shards that fail, and what a run keeps


def test_a_shard_that_fails_every_time_does_not_cost_the_others(small_pool, tmp_path, ray_session):
    """--format parquet refuses a key whose type changes; that shard fails the same way on every
    attempt, the others finish and are kept, and the run says so without a manifest."""
    bad, fixed = (b"\n".join(json.dumps({**page(20 + i), "score": v}).encode() for i, v in enumerate(values))
                  for values in ((1, "hi"), (1, 1234)))
    (small_pool / "c.jsonl").write_bytes(bad)
    recipe = parse_recipe({"steps": [{"func": "newline_removal_modifier"}]}, source="t", text="", default_name="t")
    out = tmp_path / "out"
    with pytest.raises(RunError) as raised:
        run(recipe, str(small_pool), str(out), workers=2, fmt="parquet", max_retries=1)
    message = str(raised.value)
    assert raised.value.exit_code == 4
    assert "1 of 3 shards failed after all retries" in message and "c.jsonl (2 attempts): DataError" in message
    assert "key 'score'" in message and "--format jsonl.gz" in message
    assert "shards finished and kept under" in message and ": 2 of 3;" in message
    assert sorted(p.name for p in (out / "data").iterdir()) == ["a.parquet", "b.parquet"]
    assert not (out / "manifest.json").exists()
    (failure,) = json.loads((out / "failures.json").read_text())["failed"]
    assert (failure["shard"], failure["attempts"], failure["same_every_time"]) == ("c", 2, True)
    assert "will fail again until the cause is fixed" in message and "--format needs a new --out" in message
    # Restored (the same size, so the same pool), the same command redoes only that shard and the record goes.
    (small_pool / "c.jsonl").write_bytes(fixed)
    done = run(recipe, str(small_pool), str(out), workers=2, fmt="parquet")
    assert done.skipped == 2 and done.manifest.documents == 11 and not (out / "failures.json").exists()


def test_out_equal_to_or_inside_the_pool_is_refused_before_work(small_pool, tmp_path):
    recipe = parse_recipe({"steps": [{"func": "newline_removal_modifier"}]}, source="t", text="", default_name="t")
    for out, pool in ((small_pool, small_pool), (small_pool / "runs" / "x", small_pool),
                      (small_pool / "o", small_pool / "*.jsonl"), (small_pool / "o", small_pool / "manifest.json")):
        if pool.name == "manifest.json":
            entries = [ShardEntry(n, *sha256_of(str(small_pool / n)), 0) for n in ("a.jsonl", "b.jsonl")]
            Manifest(kind="pool", name="small", shards=entries).save(str(pool))
        with pytest.raises(ConfigError, match=r"--out .* (is the pool|is inside the pool).*choose an --out outside"):
            run(recipe, str(pool), str(out), workers=1)
    with pytest.raises(ConfigError, match="inside the pool"):
        run(recipe, f"{small_pool}/../small/", f"{small_pool}/sub", workers=1)
    assert sorted(p.name for p in small_pool.rglob("*")) == ["a.jsonl", "b.jsonl", "manifest.json"]  # untouched


def test_quarantine_streams_to_disk_instead_of_memory(tmp_path):
    """A shard of 20 MB of bad records: the worker's memory stays small (the old list held them all)."""
    import tracemalloc

    pool = tmp_path / "bad.jsonl"
    line = b'{"text": "' + b"x" * 10_000 + b"\n"  # unterminated: malformed JSON, 10 kB each
    pool.write_bytes(line * 2000)
    recipe = parse_recipe({"steps": [{"func": "newline_removal_modifier"}]}, source="t", text="", default_name="t")
    stage = plan_stages([s.kind for s in recipe.steps])[0]
    built_steps(recipe)
    tracemalloc.start()
    stats = process_shard(str(pool), str(tmp_path / "out"), recipe, "jsonl.gz", stage)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert stats["quarantined"] == 2000
    assert sum(1 for _ in (tmp_path / "out" / "quarantine" / "bad.jsonl").open()) == 2000
    assert peak < 4 * 1024**2, f"peak {peak / 1024**2:.1f} MB"


def test_a_shards_stale_temporaries_are_removed_on_its_next_run(small_pool, tmp_path):
    recipe = parse_recipe({"steps": [{"func": "newline_removal_modifier"}]}, source="t", text="", default_name="t")
    stage = plan_stages([s.kind for s in recipe.steps])[0]
    out = tmp_path / "out"
    stale = [out / "data" / "a.jsonl.gz.tmp-1-deadbeef", out / "quarantine" / "a.jsonl.tmp-2-deadbeef",
             out / "stats" / "a.json.tmp-3-deadbeef"]
    others = [out / "data" / "b.jsonl.gz.tmp-4-deadbeef", out / "data" / "a.x.jsonl.gz.tmp-5-deadbeef"]
    for p in stale + others:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"partial")
    process_shard(str(small_pool / "a.jsonl"), str(out), recipe, "jsonl.gz", stage)
    assert [p.exists() for p in stale + others] == [False, False, False, True, True]  # only shard a's


def test_a_failed_shard_before_a_global_step_holds_the_global_stage_back(small_pool, tmp_path, ray_session):
    """Stage 1 finishes every shard it can; the global stage, which needs every shard, waits."""
    (small_pool / "c.jsonl").write_bytes(b"\n".join(json.dumps({**page(20 + i), "score": v}).encode()
                                                    for i, v in enumerate((1, "hi"))))
    recipe = parse_recipe({"steps": [{"func": "newline_removal_modifier"}, {"func": "exact_dedup"}]},
                          source="t", text="", default_name="t")
    out = tmp_path / "out"
    with pytest.raises(RunError, match=r"(?s)1 of 3 shards failed.*c\.jsonl \(stage 1 of 2, 1 attempts\).*"
                                       r"stage 1: 2 of 3, stage 2: 0 of 3; a global step needs every shard"):
        run(recipe, str(small_pool), str(out), workers=2, fmt="parquet", max_retries=0)
    assert sorted(p.name for p in (out / "stages" / "00" / "data").iterdir()) == ["a.parquet", "b.parquet"]
    assert not (out / "decisions").exists() and not (out / "manifest.json").exists()
