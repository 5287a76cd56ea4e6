"""The atomic writer: unique temporary names under concurrent writers, nothing
left behind after an error, whole files only for readers, and object stores
(memory://) written with one upload."""

from __future__ import annotations

import multiprocessing as mp
import threading

import fsspec
import pytest

from dcbench.atomic import TEMP_MARK, atomic_path, open_atomic, write_atomic

PAYLOAD = 1 << 20  # big enough that a write takes several system calls


def _leftovers(folder) -> list[str]:
    return [p.name for p in folder.iterdir() if TEMP_MARK in p.name]


def _hammer(target: str, tag: int, rounds: int) -> None:
    for i in range(rounds):
        with open_atomic(target) as f:
            for _ in range(16):  # many small writes: a shared temporary would interleave
                f.write(bytes([tag]) * (PAYLOAD // 16))


def test_concurrent_processes_never_share_a_temporary(tmp_path):
    target = str(tmp_path / "out.bin")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_hammer, args=(target, tag, 15)) for tag in range(1, 5)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]  # with one fixed ".tmp" name a rename would fail
    data = (tmp_path / "out.bin").read_bytes()
    assert len(data) == PAYLOAD and len(set(data)) == 1  # one writer's file, whole
    assert _leftovers(tmp_path) == []


def test_temporary_names_are_unique_per_call(tmp_path):
    seen, lock, gate = [], threading.Lock(), threading.Barrier(8)

    def write() -> None:
        with atomic_path(tmp_path / "t.txt") as tmp:
            with lock:
                seen.append(tmp)
            gate.wait()  # all eight temporaries exist at once
            tmp.write_text("x")

    threads = [threading.Thread(target=write) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == 8 and all(p.parent == tmp_path and TEMP_MARK in p.name for p in seen)
    assert (tmp_path / "t.txt").read_text() == "x" and _leftovers(tmp_path) == []


def test_error_leaves_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "sub" / "keep.json"
    write_atomic(target, '{"old": true}')
    with pytest.raises(RuntimeError, match="midway"):
        with open_atomic(target, "w") as f:
            f.write('{"new": ')
            raise RuntimeError("midway")
    assert target.read_text() == '{"old": true}'
    assert _leftovers(target.parent) == []
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "never.bin") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError
    assert not (tmp_path / "never.bin").exists() and _leftovers(tmp_path) == []


def _rewrite_forever(target: str, stop) -> None:
    tag = 0
    while not stop.is_set():
        tag = tag % 250 + 1
        with open_atomic(target) as f:
            for _ in range(16):
                f.write(bytes([tag]) * (PAYLOAD // 16))


@pytest.mark.slow
def test_a_reader_never_sees_a_partial_file(tmp_path):
    target = tmp_path / "live.bin"
    write_atomic(target, b"\0" * PAYLOAD)
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    writer = ctx.Process(target=_rewrite_forever, args=(str(target), stop))
    writer.start()
    reads, contents = 0, set()
    try:
        while reads < 300:
            data = target.read_bytes()
            assert len(data) == PAYLOAD and len(set(data)) == 1, "saw a half-written file"
            contents.add(data[0])
            reads += 1
    finally:
        stop.set()
        writer.join(30)
    assert writer.exitcode == 0
    assert len(contents) > 1  # the reader really ran while the file was being replaced


def test_text_and_bytes_in_one_call(tmp_path):
    assert write_atomic(tmp_path / "a" / "b.txt", "ünïcode ✓\n") == tmp_path / "a" / "b.txt"
    assert (tmp_path / "a" / "b.txt").read_bytes() == "ünïcode ✓\n".encode()
    write_atomic(f"file://{tmp_path}/c.bin", b"\x00\xff")
    assert (tmp_path / "c.bin").read_bytes() == b"\x00\xff" and _leftovers(tmp_path) == []
    with pytest.raises(ValueError, match="mode"):
        with open_atomic(tmp_path / "d", "ab"):
            pass


def test_memory_filesystem_round_trip_and_failure():
    url = "memory://bucket/atomic/obj.json"
    assert write_atomic(url, '{"a": 1}') == url
    with fsspec.open(url, "r") as f:
        assert f.read() == '{"a": 1}'
    with open_atomic("memory://bucket/atomic/stream.txt", "w") as f:
        f.writelines(f"line {i}\n" for i in range(3))
    fs = fsspec.filesystem("memory")
    assert fs.cat_file("/bucket/atomic/stream.txt") == b"line 0\nline 1\nline 2\n"
    with pytest.raises(RuntimeError):
        with open_atomic("memory://bucket/atomic/failed.bin") as f:
            f.write(b"partial")
            raise RuntimeError
    assert not fs.exists("/bucket/atomic/failed.bin")  # nothing uploaded
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.ls("/bucket/atomic", detail=False)) == ["obj.json", "stream.txt"]
