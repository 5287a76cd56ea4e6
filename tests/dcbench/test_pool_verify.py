"""A pool with a manifest is verified before work starts: a listed shard that is missing, has another
size, or another sha256 (changed after the manifest was written) is exit 3 naming it; a verified shard
is not hashed again until it changes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dcbench.errors import DataError
from dcbench.manifest import Manifest, ShardEntry
from dcbench.poolref import resolve_pool
from dcbench.shards import write_shard

DOCS = [{"text": f"page number {i} with some words in it", "url": f"http://a.example/{i}"} for i in range(20)]
RECIPE = Path(__file__).resolve().parents[2] / "baselines" / "recipes" / "refinedweb.yaml"


@pytest.fixture
def pool(tmp_path, monkeypatch):
    monkeypatch.setenv("DCBENCH_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "pool"
    folder.mkdir()
    entries = []
    for n in ("a", "b"):
        info = write_shard(str(folder / f"{n}.jsonl"), DOCS)
        entries.append(ShardEntry(f"{n}.jsonl", info.bytes, info.sha256, info.documents, info.records))
    Manifest("pool", "p", entries).save(str(folder / "manifest.json"))
    return folder


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[20] = ord("X") if data[20] != ord("X") else ord("Y")  # inside a text: same size, other content
    path.write_bytes(bytes(data))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def test_verified_once_then_cached(pool, capsys):
    ref = resolve_pool(str(pool))
    assert len(ref.uris) == 2 and "verifying 2 shard(s)" in capsys.readouterr().err
    assert resolve_pool(str(pool)) == ref
    assert "verifying" not in capsys.readouterr().err  # remembered: no second hash


def test_changed_content_is_refused(pool):
    resolve_pool(str(pool))  # verified and cached before the change
    _flip_one_byte(pool / "b.jsonl")
    with pytest.raises(DataError, match=r"b\.jsonl does not match its sha256") as info:
        resolve_pool(str(pool))
    assert info.value.exit_code == 3


def test_changed_size_and_missing_shard_are_refused(pool):
    with (pool / "a.jsonl").open("a") as f:
        f.write('{"text": "one more"}\n')
    with pytest.raises(DataError, match=r"a\.jsonl has \d+ bytes but .* lists"):
        resolve_pool(str(pool))
    (pool / "a.jsonl").unlink()
    with pytest.raises(DataError, match=r"a\.jsonl is listed in .* but missing"):
        resolve_pool(str(pool))


def test_process_cli_exit_3_up_front(pool, tmp_path):
    _flip_one_byte(pool / "a.jsonl")
    r = subprocess.run([sys.executable, "-m", "dcbench.cli", "process", str(RECIPE), "--pool", str(pool),
                        "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, r.stderr[-2000:]
    assert "a.jsonl does not match its sha256" in r.stderr
