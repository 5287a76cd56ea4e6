from pathlib import Path

import pytest

import dcbench.download as dl
from dcbench.errors import ConfigError, DataError, RunError
from dcbench.manifest import Manifest, ShardEntry
from dcbench.shards import sha256_of, write_shard
from dcbench.pools.download import download

NAMES = ["a.jsonl.gz", "b.jsonl.gz", "c.jsonl"]


def _docs(tag: str, n: int = 300) -> list[dict]:
    # varied text so gzip cannot shrink a shard to nothing
    return [{"text": f"{tag} document {i} " + "lorem ipsum " * (i % 17), "url": f"http://{tag}.example/{i}"}
            for i in range(n)]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A pool with relative shard paths and its manifest, in tmp/src."""
    src = tmp_path / "src"
    entries = []
    for name in NAMES:
        info = write_shard(str(src / name), _docs(name[0]))
        entries.append(ShardEntry(name, info.bytes, info.sha256, info.documents))
    Manifest("pool", "test-pool", entries, inputs={"seed": 1}).save(str(src / "manifest.json"))
    return src


def _same(a: Path, b: Path) -> bool:
    return a.read_bytes() == b.read_bytes()


def test_fresh_download(source, tmp_path):
    dest = tmp_path / "dest"
    report = download(f"file://{source}/manifest.json", str(dest), workers=2)
    assert (report.downloaded, report.skipped, report.resumed, report.failed) == (3, 0, 0, 0)
    assert report.bytes_fetched == sum((source / n).stat().st_size for n in NAMES)
    assert all(_same(source / n, dest / n) for n in NAMES)
    assert not list(dest.glob("*.part"))
    local, original = Manifest.load(str(dest / "manifest.json")), Manifest.load(str(source / "manifest.json"))
    assert local.id == original.id and [s.path for s in local.shards] == NAMES
    assert local.shard_uris(str(dest)) == [str(dest / n) for n in NAMES]
    assert "3 shards: 3 downloaded" in report.summary()


def test_rerun_skips(source, tmp_path):
    dest = tmp_path / "dest"
    download(str(source / "manifest.json"), str(dest))
    report = download(str(source / "manifest.json"), str(dest))
    assert (report.downloaded, report.skipped, report.bytes_fetched) == (0, 3, 0)


def test_resume_keeps_the_part(source, tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    whole = (source / "a.jsonl.gz").read_bytes()
    half = len(whole) // 2
    (dest / "a.jsonl.gz.part").write_bytes(whole[:half])
    report = download(str(source / "manifest.json"), str(dest))
    assert (report.downloaded, report.resumed) == (2, 1)
    # only the missing tail of a was read from the source
    others = sum((source / n).stat().st_size for n in NAMES[1:])
    assert report.bytes_fetched == others + len(whole) - half
    assert _same(source / "a.jsonl.gz", dest / "a.jsonl.gz")


def test_resume_really_uses_the_prefix(source, tmp_path):
    """A wrong prefix makes the resumed file fail its checksum: proof the prefix was kept, not refetched."""
    dest = tmp_path / "dest"
    dest.mkdir()
    part = dest / "a.jsonl.gz.part"
    part.write_bytes(b"\0" * 100)
    with pytest.raises(RunError) as err:
        download(str(source / "manifest.json"), str(dest))
    assert "a.jsonl.gz: checksum mismatch" in str(err.value)
    assert not part.exists()  # deleted, so the next run starts clean
    report = download(str(source / "manifest.json"), str(dest))
    assert (report.downloaded, report.skipped) == (1, 2)
    assert _same(source / "a.jsonl.gz", dest / "a.jsonl.gz")


def test_no_ranged_reads_restarts(source, tmp_path, monkeypatch):
    dest = tmp_path / "dest"
    dest.mkdir()
    whole = (source / "b.jsonl.gz").read_bytes()
    (dest / "b.jsonl.gz.part").write_bytes(whole[:50])
    monkeypatch.setattr(dl, "_seek", lambda src, offset: False)  # a source that cannot seek
    report = download(str(source / "manifest.json"), str(dest))
    assert (report.downloaded, report.resumed) == (3, 0)
    assert report.bytes_fetched == sum((source / n).stat().st_size for n in NAMES)
    assert _same(source / "b.jsonl.gz", dest / "b.jsonl.gz")


def test_corrupt_source_fails_that_shard_only(source, tmp_path):
    manifest = Manifest.load(str(source / "manifest.json"))
    raw = bytearray((source / "b.jsonl.gz").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (source / "b.jsonl.gz").write_bytes(bytes(raw))
    dest = tmp_path / "dest"
    with pytest.raises(RunError) as err:
        download(str(source / "manifest.json"), str(dest))
    report = err.value.report
    assert (report.downloaded, report.failed) == (2, 1)
    (message,) = report.errors
    expected = manifest.shards[1].sha256
    _, actual = sha256_of(str(source / "b.jsonl.gz"))
    assert message.startswith("b.jsonl.gz: checksum mismatch") and expected in message and actual in message
    assert _same(source / "a.jsonl.gz", dest / "a.jsonl.gz") and _same(source / "c.jsonl", dest / "c.jsonl")
    assert not (dest / "b.jsonl.gz").exists() and not (dest / "b.jsonl.gz.part").exists()
    assert not (dest / "manifest.json").exists()  # a local manifest would point at a missing shard
    assert "re-run" in str(err.value)


def test_missing_source(source, tmp_path):
    (source / "c.jsonl").unlink()
    dest = tmp_path / "dest"
    with pytest.raises(RunError) as err:
        download(str(source / "manifest.json"), str(dest))
    report = err.value.report
    assert (report.downloaded, report.failed) == (2, 1)
    assert "c.jsonl: source not found" in report.errors[0]


def test_stale_local_copy_is_replaced(source, tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "a.jsonl.gz").write_bytes(b"old version")
    report = download(str(source / "manifest.json"), str(dest))
    assert report.downloaded == 3 and _same(source / "a.jsonl.gz", dest / "a.jsonl.gz")


def test_absolute_uris(source, tmp_path):
    src = Manifest.load(str(source / "manifest.json"))
    shards = [ShardEntry(f"file://{source}/{s.path}", s.bytes, s.sha256, s.documents) for s in src.shards]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    Manifest("pool", "abs", shards).save(str(elsewhere / "manifest.json"))
    report = download(str(elsewhere / "manifest.json"), str(tmp_path / "dest"))
    assert report.downloaded == 3
    assert [s.path for s in Manifest.load(str(tmp_path / "dest" / "manifest.json")).shards] == NAMES


def test_unsafe_and_clashing_names(source, tmp_path):
    entry = Manifest.load(str(source / "manifest.json")).shards[0]
    for bad in ["../evil.jsonl.gz", "a/../../evil.jsonl"]:
        Manifest("pool", "p", [ShardEntry(bad, entry.bytes, entry.sha256, 1)]).save(str(tmp_path / "m.json"))
        with pytest.raises(DataError, match="cannot be a local file name"):
            download(str(tmp_path / "m.json"), str(tmp_path / "dest"))
    twins = [ShardEntry(f"file:///x/{d}/a.jsonl.gz", 1, "0" * 64, 1) for d in "pq"]
    Manifest("pool", "p", twins).save(str(tmp_path / "m.json"))
    with pytest.raises(DataError, match="would both be saved"):
        download(str(tmp_path / "m.json"), str(tmp_path / "dest"))


def test_bad_arguments(source, tmp_path):
    with pytest.raises(ConfigError):
        download(str(source / "manifest.json"), str(tmp_path / "dest"), workers=0)
    with pytest.raises(DataError, match="manifest not found"):
        download(str(tmp_path / "nope.json"), str(tmp_path / "dest"))
