"""Shard I/O: every format round-trips, writes are atomic and deterministic,
and every kind of bad record comes back as `Bad` with a reason."""

from __future__ import annotations

import gzip
import json

import pytest
import zstandard

from dcbench.errors import DataError
from dcbench.shards import (FORMATS, Bad, read_shard, records_sha256, sha256_of, shard_format, shard_stem,
                            write_shard)

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


# ------------------------------------------------ records that used to sink a whole shard


def test_records_python_cannot_parse_are_bad_not_fatal(tmp_path):
    deep = b'{"text": "deep", "m": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    huge_int = b'{"text": "big", "n": ' + b"7" * 5000 + b"}"
    path = tmp_path / "s.jsonl"
    path.write_bytes(b'{"text":"a"}\n' + deep + b"\n" + huge_int + b'\n{"text":"b"}\n')
    recs = list(read_shard(str(path)))
    assert [r for r in recs if not isinstance(r, Bad)] == [{"text": "a"}, {"text": "b"}]
    bad = {r.index: r for r in recs if isinstance(r, Bad)}
    assert "nested deeper than the reader's recursion limit" in bad[1].reason
    assert bad[1].raw.startswith('{"text": "deep"')
    assert "4300 digits" in bad[2].reason and "sys." not in bad[2].reason  # no Python advice for a user
    assert bad[2].raw.endswith("7}")


def test_a_lone_surrogate_is_bad_before_any_write_and_a_pair_is_a_character(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_bytes(b'{"text":"lone \\ud800 here"}\n{"text":"pair \\ud83d\\ude00"}\n{"text":"low \\uDC00"}\n')
    recs = list(read_shard(str(path)))
    assert recs[1] == {"text": "pair \U0001F600"}
    assert [isinstance(r, Bad) and "lone UTF-16 surrogate" in r.reason for r in recs] == [True, False, True]
    write_shard(f"{tmp_path}/out.jsonl.gz", [r for r in recs if not isinstance(r, Bad)])  # writes cleanly


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "jsonl.zst"])
def test_a_utf8_bom_opens_the_first_record(tmp_path, fmt):
    write_shard(f"{tmp_path}/plain.{fmt}", DOCS[:3])
    raw = (b"\xef\xbb\xbf" + "".join(json.dumps(d) + "\n" for d in DOCS[:3]).encode())
    if fmt == "jsonl.gz":
        raw = gzip.compress(raw)
    elif fmt == "jsonl.zst":
        raw = zstandard.ZstdCompressor().compress(raw)
    (tmp_path / f"bom.{fmt}").write_bytes(raw)
    assert list(read_shard(f"{tmp_path}/bom.{fmt}")) == DOCS[:3]


def test_parquet_keeps_every_top_level_key_of_every_document(tmp_path):
    docs = [{"text": "a"}, {"text": "b", "late": {"x": 1}}, {"text": "c", "n": 3}]
    info = write_shard(f"{tmp_path}/p.parquet", docs)
    back = list(read_shard(f"{tmp_path}/p.parquet"))
    assert [{k: v for k, v in d.items() if v is not None} for d in back] == docs
    assert records_sha256(f"{tmp_path}/p.parquet") == info.records  # the id hashes what a reader gets back


def test_parquet_refuses_a_key_with_mixed_types_naming_it(tmp_path):
    with pytest.raises(DataError, match=r"--format parquet: key 'score' holds values of different types"):
        write_shard(f"{tmp_path}/p.parquet", [{"text": "a", "score": 1}, {"text": "b", "score": "high"}])
    assert not list(tmp_path.iterdir())  # nothing half-written
