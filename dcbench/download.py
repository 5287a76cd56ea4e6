"""One downloader for every stage: pools, evaluation task files, tokenizers.

`fetch(url, dest)` streams a file into `<dest>.part` and renames it to `dest`
only once it is whole and verified (size, sha256 when known, and an optional
check of the content), so a file under its final name is always complete.

* Resume: a `.part` left by an interrupted run is continued from its size:
  HTTP(S) with a Range request, other fsspec sources (`file://`, `s3://`,
  `hf://`, ...) by seeking. A source that cannot do either is read again
  from the start.
* Retries: transport errors (a dropped connection, a short read) are retried
  `attempts` times, each resuming from the `.part`; a missing source or a
  checksum mismatch is not (retrying cannot fix either), and neither is a
  host that cannot be reached at all (its name does not resolve, it refuses
  the connection, no route): that is `Unreachable`, raised at once, so a
  machine without internet hears so in a second instead of after minutes.
* Errors say what to do: `SourceMissing` when the source has no such file,
  `ChecksumMismatch` (the `.part` is deleted, so the next run starts clean),
  `FetchError` after the last retry (the `.part` is kept for a resume).

HTTP goes through the standard library (fsspec's HTTP needs aiohttp, which
dcbench does not require); everything else through fsspec.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import io
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable

import fsspec
from tqdm import tqdm

from dcbench.errors import ConfigError, DataError

CHUNK = 4 << 20  # big enough to keep object stores busy, small enough for steady progress
ATTEMPTS = 3
TIMEOUT = 60  # seconds an HTTP connection may stay silent
PART = ".part"


class FetchError(DataError):
    """A download that failed; `fetched` counts the bytes read from the source before it did."""

    def __init__(self, message: str, fetched: int = 0):
        super().__init__(message)
        self.fetched = fetched


class SourceMissing(FetchError):
    """The source has no such file."""


class ChecksumMismatch(FetchError):
    """The file arrived whole but is not the expected one."""


class Unreachable(FetchError):
    """The host cannot be reached at all (no name resolution, connection refused, no route)."""


_UNREACHABLE = (socket.gaierror, ConnectionRefusedError)
_NO_ROUTE = {errno.ENETUNREACH, errno.EHOSTUNREACH}


@dataclass(frozen=True)
class Fetched:
    path: Path
    bytes: int
    sha256: str
    outcome: str  # "downloaded", "resumed" (completed a .part) or "skipped" (already there, verified)
    fetched: int  # bytes read from the source in this call


class Progress:
    """A byte counter on a tqdm bar that several threads may add to (hidden when not on a terminal)."""

    def __init__(self, total: int | None, desc: str = "download"):
        self.bar = tqdm(total=total, unit="B", unit_scale=True, desc=desc, disable=None)
        self.lock = threading.Lock()

    def add(self, n: int) -> None:
        with self.lock:
            self.bar.update(n)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.close()


def fetch(url: str, dest: str | os.PathLike, *, size: int | None = None, sha256: str | None = None,
          check: Callable[[Path], None] | None = None, resume: bool = True, attempts: int = ATTEMPTS,
          progress: Progress | None = None) -> Fetched:
    """Download `url` to `dest`, verified (see the module doc).

    `size` and `sha256` are what the file must be, where known; with `sha256`, a
    `dest` already there and matching is kept ("skipped"), a stale one fetched
    again. `check(part)` may raise to reject the content before it is published.
    `resume=False` discards a `.part` instead of continuing it.
    """
    if attempts < 1:
        raise ConfigError(f"attempts must be at least 1, got {attempts}")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if sha256 and dest.exists():
        n, digest = file_digest(dest)
        if digest == sha256 and size in (None, n):
            if progress:
                progress.add(n)
            return Fetched(dest, n, digest, "skipped", 0)
        dest.unlink()  # stale or damaged: fetch it again
    part = dest.with_name(dest.name + PART)
    if not resume:
        part.unlink(missing_ok=True)
    fetched, at = 0, _position(progress)
    for attempt in range(attempts):
        try:
            n, digest, resumed, got = _transfer(url, part, size, at)
            fetched += got
            break
        except _Retriable as e:
            fetched += e.fetched
            if attempt == attempts - 1:
                raise FetchError(f"{e} (after {attempts} attempts; the partial file {part.name} is kept: "
                                 "re-run to resume)", fetched) from e
            time.sleep(0 if _is_local(url) else min(2 ** attempt, 5))
    _verify(url, part, n, digest, size, sha256, check, fetched)
    os.replace(part, dest)
    return Fetched(dest, n, digest, "resumed" if resumed else "downloaded", fetched)


def source_size(url: str) -> int | None:
    """The size the source reports, or None when it does not say (or cannot be reached)."""
    try:
        src, _, total = _open(url, 0)
    except (FetchError, OSError, http.client.HTTPException, ConfigError):
        return None
    src.close()
    return total


def file_digest(path: str | os.PathLike) -> tuple[int, str]:
    """(bytes, sha256 hex) of a local file."""
    sha, n = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            sha.update(block)
            n += len(block)
    return n, sha.hexdigest()


# ------------------------------------------------------------------ transfer


class _Retriable(Exception):
    def __init__(self, message: str, fetched: int):
        super().__init__(message)
        self.fetched = fetched


def _is_local(url: str) -> bool:
    return "://" not in url or url.startswith(("file://", "memory://"))


def _position(progress: Progress | None) -> Callable[[int], None]:
    """`at(pos)`: move this file's share of the bar to `pos` bytes (back too, when a retry restarts)."""
    shown = 0

    def at(pos: int) -> None:
        nonlocal shown
        if progress:
            progress.add(pos - shown)
        shown = pos

    return at


def _transfer(url: str, part: Path, size: int | None, at: Callable[[int], None]) -> tuple[int, str, bool, int]:
    """Append the source to `part` from where it ends; (size, sha256, resumed, bytes read)."""
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset > size:
        offset = 0  # longer than the file: not a prefix of it
    try:
        src, offset, total = _open(url, offset)
    except (OSError, http.client.HTTPException) as e:
        raise _Retriable(f"cannot open {url}: {type(e).__name__}: {e}", 0) from e
    sha, n = _hash_prefix(part, offset)
    at(offset)
    got, too_long = 0, False
    try:
        with src, open(part, "r+b" if offset else "wb") as out:
            out.seek(offset)
            out.truncate()
            while not too_long and (block := src.read(CHUNK)):
                out.write(block)
                sha.update(block)
                n += len(block)
                got += len(block)
                too_long = size is not None and n > size  # stop early: the check fails it
                at(n)
    except (OSError, http.client.HTTPException) as e:
        raise _Retriable(f"{url}: {type(e).__name__}: {e}", got) from e
    if not too_long and total is not None and n < total:
        raise _Retriable(f"{url}: short read, {n:,} of {total:,} bytes", got)
    return n, sha.hexdigest(), offset > 0, got


def _verify(url: str, part: Path, n: int, digest: str, size: int | None, sha256: str | None,
            check: Callable[[Path], None] | None, fetched: int) -> None:
    """Reject a whole file that is not the expected one; its `.part` is deleted."""
    if (size is not None and n != size) or (sha256 and digest != sha256):
        part.unlink(missing_ok=True)
        want = " ".join(w for w in (f"sha256 {sha256}" if sha256 else "",
                                    f"({size:,} bytes)" if size is not None else "") if w)
        raise ChecksumMismatch(f"checksum mismatch: expected {want}, got sha256 {digest} ({n:,} bytes) from {url}; "
                               "the partial file was deleted, re-run to fetch it again", fetched)
    if check is not None:
        try:
            check(part)
        except BaseException:
            part.unlink(missing_ok=True)
            raise


def _hash_prefix(part: Path, offset: int) -> tuple[Any, int]:
    sha = hashlib.sha256()
    if offset:
        with open(part, "rb") as f:
            remaining = offset
            while remaining and (block := f.read(min(CHUNK, remaining))):
                sha.update(block)
                remaining -= len(block)
    return sha, offset


# ------------------------------------------------------------------ sources


def _open(url: str, offset: int) -> tuple[BinaryIO, int, int | None]:
    """(stream positioned at the returned offset, that offset, the file's full size or None).

    The offset falls back to 0 when the source cannot start mid-file.
    """
    if url.startswith(("http://", "https://")):
        return _open_http(url, offset)
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError as e:  # a protocol whose package is not installed, e.g. s3fs
        raise ConfigError(f"cannot read {url}: {e}") from e
    try:
        total = fs.size(path)
    except FileNotFoundError as e:
        raise SourceMissing(f"source not found: {url}") from e
    except Exception:  # some filesystems cannot tell a size; the checksum still guards the content
        total = None
    try:
        src = fs.open(path, "rb")
    except FileNotFoundError as e:
        raise SourceMissing(f"source not found: {url}") from e
    if offset and not _seek(src, offset):
        offset = 0
    return src, offset, total


def _seek(src: BinaryIO, offset: int) -> bool:
    """Whether the source could move to `offset` (ranged reads); streams cannot."""
    try:
        return src.seek(offset) == offset
    except (ValueError, OSError, io.UnsupportedOperation, NotImplementedError):
        return False


def _open_http(url: str, offset: int) -> tuple[BinaryIO, int, int | None]:
    headers = {"User-Agent": "dcbench", **({"Range": f"bytes={offset}-"} if offset else {})}
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT)
    except urllib.error.HTTPError as e:
        if e.code == 404:
            raise SourceMissing(f"source not found: {url} (HTTP 404)") from e
        if e.code == 416 and offset:  # the .part is not a prefix the server can continue: start again
            return _open_http(url, 0)
        raise OSError(f"HTTP {e.code} {e.reason}") from e
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, _UNREACHABLE) or getattr(reason, "errno", None) in _NO_ROUTE:
            host = urllib.parse.urlsplit(url).hostname
            raise Unreachable(f"cannot reach {host}: {reason} (no internet, or a proxy or firewall in the "
                              f"way?)") from e
        raise
    if offset and resp.status != 206:
        offset = 0  # the server ignored the Range header and sends the whole file
    match = re.search(r"/(\d+)$", resp.headers.get("Content-Range", ""))
    length = resp.headers.get("Content-Length")
    total = int(match.group(1)) if match else (offset + int(length) if length and length.isdigit() else None)
    return resp, offset, total
