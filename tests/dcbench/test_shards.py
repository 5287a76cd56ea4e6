"""Shard I/O: every format round-trips, writes are atomic and deterministic,
and every kind of bad record comes back as `Bad` with a reason."""

from __future__ import annotations

import gzip
import json

import pytest

from dcbench.errors import DataError
from dcbench.shards import FORMATS, Bad, read_shard, sha256_of, shard_format, shard_stem, write_shard

DOCS = [{"text": f"document {i} — ünïcode ✓", "url": f"https://e.com/{i}", "metadata": {"n": i}} for i in range(500)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_and_same_bytes(tmp_path, fmt):
    a = write_shard(f"{tmp_path}/a.{fmt}", DOCS)
    b = write_shard(f"{tmp_path}/b.{fmt}", DOCS)
    assert list(read_shard(f"{tmp_path}/a.{fmt}")) == DOCS
    assert (a.documents, a.sha256) == (500, b.sha256)
    assert sha256_of(f"{tmp_path}/a.{fmt}") == (a.bytes, a.sha256)
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_file_uri_and_memory_filesystem(tmp_path):
    write_shard(f"file://{tmp_path}/x.jsonl.zst", DOCS[:3])
    assert list(read_shard(f"file://{tmp_path}/x.jsonl.zst")) == DOCS[:3]
    write_shard("memory://bucket/pool/y.jsonl.gz", DOCS[:4])
    assert list(read_shard("memory://bucket/pool/y.jsonl.gz")) == DOCS[:4]


def test_bad_records_each_have_a_reason(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"text":"ok"}\n{not json\n\xff\xfe{"text":"x"}\n{"text":5}\n{"url":"u"}\n[1]\n\n{"text":null}\n{"text":"end"}')
    recs = list(read_shard(str(path)))
    good = [r for r in recs if not isinstance(r, Bad)]
    bad = {r.index: r.reason for r in recs if isinstance(r, Bad)}
    assert good == [{"text": "ok"}, {"text": "end"}]
    assert bad[1].startswith("malformed JSON")
    assert bad[2] == "invalid UTF-8 at byte 0"
    assert bad[3] == "'text' is int, not a string"
    assert bad[4] == "missing 'text' field"
    assert bad[5] == "record is a JSON list, not an object"
    assert bad[6] == "'text' is NoneType, not a string"  # the blank line is skipped, not counted


@pytest.mark.parametrize("fmt", ["jsonl.gz", "jsonl.zst"])
def test_truncated_stream_keeps_what_precedes_the_damage(tmp_path, fmt):
    big = [{"text": f"{i} " + "word " * 200} for i in range(3000)]
    write_shard(f"{tmp_path}/s.{fmt}", big)
    data = (tmp_path / f"s.{fmt}").read_bytes()
    (tmp_path / f"t.{fmt}").write_bytes(data[: len(data) * 2 // 3])
    recs = list(read_shard(f"{tmp_path}/t.{fmt}"))
    assert isinstance(recs[-1], Bad) and "truncated or corrupt" in recs[-1].reason
    assert all(not isinstance(r, Bad) for r in recs[:-1])
    assert recs[:-1] == big[: len(recs) - 1]


def test_empty_files_hold_no_records(tmp_path):
    for fmt in ("jsonl", "jsonl.gz", "jsonl.zst"):
        (tmp_path / f"e.{fmt}").write_bytes(b"")
        assert list(read_shard(f"{tmp_path}/e.{fmt}")) == []


def test_gzip_header_has_no_timestamp(tmp_path):
    write_shard(f"{tmp_path}/a.jsonl.gz", DOCS[:1])
    header = (tmp_path / "a.jsonl.gz").read_bytes()[:10]
    assert header[4:8] == b"\0\0\0\0"  # MTIME = 0, so bytes never depend on when they were written
    assert json.loads(gzip.decompress((tmp_path / "a.jsonl.gz").read_bytes())) == DOCS[0]


def test_names():
    assert shard_format("s3://b/x/shard.JSONL.GZ") == "jsonl.gz"
    assert shard_stem("/a/b/part-1.jsonl.zst") == "part-1"
    with pytest.raises(DataError, match=r"\.jsonl, \.jsonl\.gz"):
        shard_format("x.csv")


def test_missing_shard_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        list(read_shard(f"{tmp_path}/nope.jsonl"))
