"""The bad pool: every kind of malformed record a pool can hold, run through
the DCLM-Baseline recipe by the `dcbench process` command. The run completes,
the good documents come out exactly as a clean run of them alone gives, every
bad record is in quarantine with its reason, and documents are conserved per
shard and per step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from dcbench.shards import Bad, read_shard, write_shard

REPO = Path(__file__).resolve().parents[2]
RECIPE = str(REPO / "baselines" / "recipes" / "dclm_baseline.yaml")

# One of each: (what is wrong, the line as bytes, a word its quarantine reason holds).
BAD_LINES = [
    ("malformed JSON", b'{"text": "unterminated', "malformed JSON"),
    ("invalid UTF-8", b'{"text": "bad \xff byte"}', "invalid UTF-8"),
    # (with the URL where move_url_modifier, which also takes pages without a string text, finds it)
    ("missing text", b'{"metadata": {"WARC-Target-URI": "https://no.text.example/"}}', "missing 'text' field"),
    ("non-string text", b'{"text": 42, "metadata": {"WARC-Target-URI": "https://int.example/"}}',
     "'text' is int, not a string"),
    ("not an object", b'["text", "in a list"]', "not an object"),
    ("deep JSON", b'{"text": "deep", "m": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "recursion limit"),
    ("huge integer", b'{"text": "big", "n": ' + b"9" * 5000 + b"}", "4300 digits"),
    ("lone surrogate", b'{"text": "half a pair \\ud800 here"}', "lone UTF-16 surrogate"),
]
# Records that are read (their text may yet be made a string by a step such as key_name_modifier) and are
# quarantined before the first step that needs a string text; the others are quarantined as they are read.
NOT_A_STRING = {"missing text", "non-string text"}


def is_bad_record(entry: dict) -> bool:
    """A quarantine entry for a bad record (not a page a step raised on)."""
    return entry["step"] == "read" or "needs a string" in entry["reason"]


def dcbench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # Ray's socket paths must stay under 107 bytes: a short private temp dir, not pytest's deep one.
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "DCBENCH_RAY_TMP": tempfile.mkdtemp(prefix="dcb")}
    return subprocess.run([sys.executable, "-m", "dcbench.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def good_records(path: Path) -> list[dict]:
    return [r for r in read_shard(str(path)) if not isinstance(r, Bad)]


def truncated(path: Path, docs: list[dict]) -> list[dict]:
    """Write `docs` to `path`, cut the compressed stream in half; return the documents it still holds."""
    write_shard(str(path), docs)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return good_records(path)


def make_pools(root: Path, docs: list[dict], model: Path) -> dict[str, int]:
    """`bad/` and `clean/` pools with the same good documents; returns the bad records per shard."""
    bad, clean = root / "bad", root / "clean"
    for pool in (bad, clean):
        (pool / "quality").mkdir(parents=True)
        (pool / "quality" / model.name).symlink_to(model)
    lines = [json.dumps(d, ensure_ascii=False).encode() for d in docs[:100]]
    mixed = [lines[0]]  # a good document first, behind the BOM
    for (_, bad_line, _), good_line in zip(BAD_LINES, lines[1:]):
        mixed += [bad_line, good_line]
    mixed += lines[len(BAD_LINES) + 1:]
    (bad / "a.jsonl").write_bytes(b"\xef\xbb\xbf" + b"\n".join(mixed) + b"\n")  # a BOM opens the shard
    write_shard(str(clean / "a.jsonl"), docs[:100])
    write_shard(str(clean / "b.jsonl.gz"), truncated(bad / "b.jsonl.gz", docs[100:200]))
    write_shard(str(clean / "c.jsonl.zst"), truncated(bad / "c.jsonl.zst", docs[200:]))
    assert good_records(bad / "a.jsonl") == docs[:100]
    return {"a": len(BAD_LINES), "b": 1, "c": 1}


def stage_dirs(out: Path) -> list[Path]:
    return sorted((out / "stages").iterdir()) + [out] if (out / "stages").is_dir() else [out]


def quarantined(out: Path) -> list[dict]:
    return [json.loads(line) for d in stage_dirs(out) for f in sorted((d / "quarantine").glob("*.jsonl"))
            for line in f.open(encoding="utf-8")]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("badpool")
    toy = dcbench("pool", "toy", "--out", "toy", "--docs", "300", "--shards", "2", cwd=root)
    assert toy.returncode == 0, toy.stderr
    docs = [d for p in sorted((root / "toy").glob("shard_*.jsonl.gz")) for d in good_records(p)]
    bad_per_shard = make_pools(root, docs, root / "toy" / "quality" / "fasttext_hq_vs_pool.bin")
    done = {}
    for name in ("bad", "clean"):
        done[name] = dcbench("process", RECIPE, "--pool", name, "--out", f"runs/{name}", "--workers", "2",
                             "--max-quarantine", "1", "--quiet", cwd=root)
    return root, bad_per_shard, done


@pytest.mark.slow
def test_the_run_completes_and_keeps_every_good_document_as_a_clean_run_does(runs):
    root, _, done = runs
    assert done["bad"].returncode == 0, done["bad"].stderr
    assert done["clean"].returncode == 0, done["clean"].stderr
    bad, clean = root / "runs" / "bad", root / "runs" / "clean"
    data = {p.name: p.read_bytes() for p in sorted((bad / "data").iterdir())}
    assert sorted(data) == ["a.jsonl.gz", "b.jsonl.gz", "c.jsonl.gz"]
    assert data == {p.name: p.read_bytes() for p in sorted((clean / "data").iterdir())}
    assert json.loads((bad / "stats.json").read_text())["totals"]["kept"] > 0
    assert not [p for d in stage_dirs(bad) for p in d.rglob("*") if ".tmp-" in p.name]


@pytest.mark.slow
def test_every_bad_record_is_in_quarantine_with_its_reason(runs):
    root, bad_per_shard, _ = runs
    entries = quarantined(root / "runs" / "bad")
    read = [e for e in entries if is_bad_record(e)]
    assert {s: sum(e["shard"] == s for e in read) for s in bad_per_shard} == bad_per_shard
    a_reasons = [e["reason"] for e in read if e["shard"] == "a"]
    for (what, _, reason), got in zip(BAD_LINES, a_reasons):
        assert reason in got, what
    assert all(e["reason"] and e["record"] for e in read if e["shard"] == "a")
    assert any("truncated or corrupt gzip" in e["reason"] for e in read if e["shard"] == "b")
    assert any("truncated or corrupt zstd" in e["reason"] for e in read if e["shard"] == "c")
    # What the steps quarantined is the same as in the clean run: bad records touched nothing else.
    steps = [e for e in entries if not is_bad_record(e)]
    assert steps == [e for e in quarantined(root / "runs" / "clean") if not is_bad_record(e)]


@pytest.mark.slow
def test_in_equals_kept_plus_removed_plus_quarantined_per_shard_and_per_step(runs):
    root, bad_per_shard, _ = runs
    out = root / "runs" / "bad"
    per_shard = {s: {"records": 0, "removed": 0, "quarantined": 0} for s in bad_per_shard}
    for i, d in enumerate(stage_dirs(out)):
        for f in sorted((d / "stats").glob("*.json")):
            st = json.loads(f.read_text())
            for step in st["steps"]:
                assert step["in"] == step["kept"] + step["removed"] + step["quarantined"], (f, step["name"])
                per_shard[st["shard"]]["removed"] += step["removed"]
            per_shard[st["shard"]]["quarantined"] += st["quarantined"]
            if i == 0:
                per_shard[st["shard"]]["records"] = st["records"]
                assert st["steps"][0]["in"] == st["records"] - st["unreadable"]
    for shard, n in per_shard.items():
        kept = json.loads((out / "stats" / f"{shard}.json").read_text())["kept"]
        assert n["records"] == kept + n["removed"] + n["quarantined"], shard
    stats = json.loads((out / "stats.json").read_text())
    for step in stats["steps"]:
        assert step["in"] == step["kept"] + step["removed"] + step["quarantined"], step["name"]
    t = stats["totals"]
    assert t["unreadable"] == sum(bad_per_shard.values()) - len(NOT_A_STRING)
    assert t["records"] == t["kept"] + sum(s["removed"] for s in stats["steps"]) + t["quarantined"]


def test_out_inside_the_pool_is_refused_before_work(tmp_path):
    pool = tmp_path / "pool"
    write_shard(str(pool / "a.jsonl"), [{"text": "a document"}])
    res = dcbench("process", RECIPE, "--pool", "pool", "--out", "pool/runs/x", cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert "--out pool/runs/x is inside the pool (--pool pool)" in res.stderr
    assert sorted(p.name for p in pool.rglob("*")) == ["a.jsonl"]
