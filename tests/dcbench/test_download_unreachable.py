"""dcbench.download: a host that cannot be reached at all fails at once, without retries."""

from __future__ import annotations

import socket
import time

import pytest

from dcbench.download import FetchError, Unreachable, fetch


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    monkeypatch.setenv("no_proxy", "*")  # a proxy in the environment would answer for the host


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: connecting is refused


def test_connection_refused_is_unreachable_at_once(tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(Unreachable, match="cannot reach 127.0.0.1") as err:
        fetch(f"http://127.0.0.1:{_closed_port()}/f.jsonl", tmp_path / "f.jsonl", attempts=3)
    assert time.perf_counter() - t0 < 1.0  # retries would sleep 1 s + 2 s
    assert isinstance(err.value, FetchError) and not (tmp_path / "f.jsonl").exists()


def test_unknown_host_is_unreachable(tmp_path):
    with pytest.raises(Unreachable, match="cannot reach no-such-host.invalid"):
        fetch("http://no-such-host.invalid/f.jsonl", tmp_path / "f.jsonl")
