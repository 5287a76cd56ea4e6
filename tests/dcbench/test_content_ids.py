"""Dataset ids hash decompressed records, not compressed bytes: a codec upgrade
(zlib, zstandard, pyarrow) that re-encodes the same records must not change an id."""

from __future__ import annotations

import gzip

from dcbench.manifest import Manifest, ShardEntry
from dcbench.shards import records_sha256, write_shard

DOCS = [{"text": "first page", "url": "http://a.example/"}, {"text": "zweite Seite: ü", "url": "http://b.example/"}]


def entry(info, name: str) -> ShardEntry:
    return ShardEntry(name, info.bytes, info.sha256, info.documents, info.records)


def test_every_jsonl_codec_gives_the_same_records_digest(tmp_path):
    infos = [write_shard(str(tmp_path / f"s.{fmt}"), DOCS) for fmt in ("jsonl", "jsonl.gz", "jsonl.zst")]
    assert len({i.sha256 for i in infos}) == 3  # the files differ
    assert len({i.records for i in infos}) == 1  # the records do not
    for i in infos:
        assert records_sha256(i.uri) == i.records


def test_recompressing_a_shard_keeps_the_dataset_id(tmp_path):
    info = write_shard(str(tmp_path / "a" / "s.jsonl.gz"), DOCS)
    # What another zlib would write: the same records, other bytes.
    other = tmp_path / "b" / "s.jsonl.gz"
    other.parent.mkdir()
    other.write_bytes(gzip.compress(gzip.decompress((tmp_path / "a" / "s.jsonl.gz").read_bytes()), compresslevel=1))
    assert other.read_bytes() != (tmp_path / "a" / "s.jsonl.gz").read_bytes()
    assert records_sha256(str(other)) == info.records

    first = Manifest("dataset", "d", [entry(info, "data/s.jsonl.gz")], inputs={"recipe": "r"})
    size = other.stat().st_size
    second = Manifest("dataset", "d", [ShardEntry("data/s.jsonl.gz", size, "0" * 64, 2, records_sha256(str(other)))],
                      inputs={"recipe": "r"})
    assert first.id == second.id


def test_a_changed_record_changes_the_id(tmp_path):
    a = write_shard(str(tmp_path / "a.jsonl.gz"), DOCS)
    b = write_shard(str(tmp_path / "b.jsonl.gz"), [DOCS[0], {**DOCS[1], "text": "zweite Seite: u"}])
    ma = Manifest("dataset", "d", [entry(a, "data/s.jsonl.gz")])
    mb = Manifest("dataset", "d", [entry(b, "data/s.jsonl.gz")])
    assert ma.id != mb.id


def test_manifests_without_record_digests_keep_hashing_file_bytes():
    """Pools fetched by an older manifest carry only file sha256s; their ids stay as they were."""
    old = Manifest("pool", "p", [ShardEntry("s.jsonl.gz", 10, "ab" * 32, 1)])
    changed = Manifest("pool", "p", [ShardEntry("s.jsonl.gz", 10, "cd" * 32, 1)])
    assert old.id != changed.id
