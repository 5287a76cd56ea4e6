"""The spine's downloader against a real local HTTP server (Range requests,
dropped connections, 404) and file:// sources: resume from `.part`, sha256
verification, retries, and nothing published under the final name unless whole."""

from __future__ import annotations

import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dcbench.download import ChecksumMismatch, FetchError, Progress, SourceMissing, fetch, source_size

BODY = bytes(range(256)) * 4000  # 1 MB, every offset distinguishable
SHA = hashlib.sha256(BODY).hexdigest()


class _Counted(Progress):
    """A progress bar that only counts."""

    def __init__(self):
        super().__init__(None)
        self.count = 0

    def add(self, n):
        self.count += n


class _Handler(BaseHTTPRequestHandler):
    """Serves BODY at /file; honours Range unless `ranges` is off; drops the
    connection half-way for the first `drops` requests."""

    ranges, drops, seen = True, 0, []

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        type(self).seen.append(self.headers.get("Range"))
        if self.path != "/file":
            self.send_error(404)
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and self.ranges:
            start = int(match.group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(BODY) - 1}/{len(BODY)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(BODY) - start))
        self.end_headers()
        body = BODY[start:]
        if type(self).drops > 0:
            type(self).drops -= 1
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.close()  # the client sees a short read
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    handler = type("Handler", (_Handler,), {"ranges": True, "drops": 0, "seen": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_http_download_verified(server, tmp_path):
    handler, base = server
    got = fetch(f"{base}/file", tmp_path / "out.bin", size=len(BODY), sha256=SHA)
    assert (got.outcome, got.bytes, got.sha256, got.fetched) == ("downloaded", len(BODY), SHA, len(BODY))
    assert (tmp_path / "out.bin").read_bytes() == BODY and [p.name for p in tmp_path.iterdir()] == ["out.bin"]
    again = fetch(f"{base}/file", tmp_path / "out.bin", size=len(BODY), sha256=SHA)
    assert (again.outcome, again.fetched, len(handler.seen)) == ("skipped", 0, 1)  # verified on disk, not fetched
    assert source_size(f"{base}/file") == len(BODY)


def test_http_resume_reads_only_the_tail(server, tmp_path):
    handler, base = server
    (tmp_path / "out.bin.part").write_bytes(BODY[:300_000])
    got = fetch(f"{base}/file", tmp_path / "out.bin", sha256=SHA)
    assert (got.outcome, got.fetched) == ("resumed", len(BODY) - 300_000)
    assert handler.seen == ["bytes=300000-"] and (tmp_path / "out.bin").read_bytes() == BODY


def test_server_without_ranges_restarts(server, tmp_path):
    handler, base = server
    handler.ranges = False
    (tmp_path / "out.bin.part").write_bytes(b"\0" * 1000)  # would fail the checksum if it were kept
    bar = _Counted()
    got = fetch(f"{base}/file", tmp_path / "out.bin", sha256=SHA, progress=bar)
    assert bar.count == len(BODY)
    assert (got.outcome, got.fetched) == ("downloaded", len(BODY))
    assert (tmp_path / "out.bin").read_bytes() == BODY


@pytest.mark.slow
def test_dropped_connection_is_retried_and_resumed(server, tmp_path):
    handler, base = server
    handler.drops = 1
    bar = _Counted()
    got = fetch(f"{base}/file", tmp_path / "out.bin", sha256=SHA, attempts=2, progress=bar)
    assert bar.count == len(BODY)  # the resumed prefix is not counted twice
    assert got.outcome == "resumed" and (tmp_path / "out.bin").read_bytes() == BODY
    assert handler.seen[0] is None and handler.seen[1] == f"bytes={len(BODY) // 2}-"
    assert got.fetched == len(BODY)  # half, then the other half


def test_retries_run_out_and_keep_the_part(server, tmp_path, monkeypatch):
    handler, base = server
    handler.drops = 5
    monkeypatch.setattr("dcbench.download.time.sleep", lambda s: None)
    with pytest.raises(FetchError, match="short read.*after 2 attempts.*re-run to resume") as err:
        fetch(f"{base}/file", tmp_path / "out.bin", attempts=2)
    assert not (tmp_path / "out.bin").exists()
    assert (tmp_path / "out.bin.part").stat().st_size == 3 * len(BODY) // 4  # half, then half the rest
    assert err.value.fetched == 3 * len(BODY) // 4


def test_missing_and_mismatch(server, tmp_path):
    _, base = server
    with pytest.raises(SourceMissing, match="source not found"):
        fetch(f"{base}/nothing", tmp_path / "x.bin")
    with pytest.raises(ChecksumMismatch, match=f"expected sha256 {'0' * 64}.*got sha256 {SHA}"):
        fetch(f"{base}/file", tmp_path / "y.bin", sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []  # the bad .part is gone, so the next run starts clean


def test_check_rejects_before_publishing(tmp_path):
    src = tmp_path / "src.json"
    src.write_text("{not json")

    def must_be_json(part):
        raise ValueError(f"{part.name} is not JSON")

    with pytest.raises(ValueError, match="dest.json.part is not JSON"):
        fetch(f"file://{src}", tmp_path / "dest.json", check=must_be_json)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.json"]


def test_file_source_resumes_by_seeking(tmp_path):
    (tmp_path / "src.bin").write_bytes(BODY)
    (tmp_path / "dest.bin.part").write_bytes(BODY[:1234])
    got = fetch(f"file://{tmp_path}/src.bin", tmp_path / "dest.bin", size=len(BODY), sha256=SHA)
    assert (got.outcome, got.fetched) == ("resumed", len(BODY) - 1234)
    stale = tmp_path / "dest.bin"
    stale.write_bytes(b"old")  # a damaged copy under the final name is fetched again
    assert fetch(str(tmp_path / "src.bin"), stale, sha256=SHA).outcome == "downloaded"
    with pytest.raises(SourceMissing):
        fetch(f"file://{tmp_path}/absent.bin", tmp_path / "z.bin")
