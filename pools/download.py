"""Download a pool by its manifest: fetch every shard through fsspec, verify
sha256 and size, resume interrupted transfers, and write a local manifest.

A shard is streamed into `<name>.part` and renamed only once its size and
sha256 match the manifest, so a file under its final name is always whole.
A `.part` left by an interrupted run is continued from its size when the
source can seek (local files, S3, HF, HTTP with range requests), otherwise
fetched again from the start.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import fsspec
from tqdm import tqdm

from dcbench.errors import ConfigError, DataError, RunError
from dcbench.manifest import MANIFEST_NAME, Manifest, ShardEntry

CHUNK = 4 << 20  # big enough to keep object stores busy, small enough for steady progress


@dataclass
class DownloadReport:
    total: int = 0
    downloaded: int = 0  # fetched from the start
    resumed: int = 0  # completed from a .part
    skipped: int = 0  # already present with the right sha256
    failed: int = 0
    bytes_fetched: int = 0  # bytes read from the source in this run
    errors: list[str] = field(default_factory=list)  # one message per failed shard
    manifest: str | None = None  # the local manifest, once every shard is in place

    def summary(self) -> str:
        lines = [f"{self.total} shards: {self.downloaded} downloaded, {self.resumed} resumed, "
                 f"{self.skipped} already present, {self.failed} failed ({self.bytes_fetched:,} bytes fetched)"]
        lines += [f"  FAILED {e}" for e in self.errors]
        if self.manifest:
            lines.append(f"local manifest: {self.manifest}")
        elif self.failed:
            lines.append("no local manifest written; re-run the same command to retry the failed shards")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Job:
    entry: ShardEntry
    source: str  # absolute URI
    dest: Path  # final local path


class _Progress:
    """A byte counter shared by the worker threads."""

    def __init__(self, total: int):
        self.bar = tqdm(total=total, unit="B", unit_scale=True, desc="download", disable=None)
        self.lock = threading.Lock()

    def add(self, n: int) -> None:
        with self.lock:
            self.bar.update(n)


def download(manifest_uri: str, dest_dir: str, workers: int = 4) -> DownloadReport:
    """Fetch every shard of the pool manifest at `manifest_uri` into `dest_dir`.

    Raises RunError (carrying the report as `.report`) when any shard failed,
    after every other shard has been tried; a re-run fetches only what is missing.
    """
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    manifest = Manifest.load(manifest_uri)
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    jobs = _plan(manifest, _base_of(manifest_uri), dest)
    report = DownloadReport(total=len(jobs))
    progress = _Progress(manifest.bytes)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            outcomes = list(pool.map(lambda job: _run(job, progress), jobs))
    finally:
        progress.bar.close()
    for outcome, fetched, error in outcomes:
        report.bytes_fetched += fetched
        if error:
            report.failed += 1
            report.errors.append(error)
        else:
            setattr(report, outcome, getattr(report, outcome) + 1)
    if report.failed:
        err = RunError(report.summary())
        err.report = report  # type: ignore[attr-defined]
        raise err
    report.manifest = _write_local_manifest(manifest, manifest_uri, jobs, dest)
    return report


def _base_of(manifest_uri: str) -> str:
    """The directory relative shard paths are resolved against."""
    return manifest_uri.rsplit("/", 1)[0] if "/" in manifest_uri else "."


def _local_name(path: str) -> str:
    """Where a shard lands under dest_dir: relative paths keep their folders, URIs keep their file name.
    Names come from a manifest someone handed us, so nothing may climb out of dest_dir."""
    rel = PurePosixPath(urlsplit(path).path).name if "://" in path or path.startswith("/") else path
    parts = PurePosixPath(rel).parts
    if not parts or any(p in ("..", ".", "") for p in parts) or "\\" in rel or rel.startswith("/"):
        raise DataError(f"shard path {path!r} cannot be a local file name; fix the manifest")
    return rel


def _plan(manifest: Manifest, base: str, dest: Path) -> list[_Job]:
    jobs, seen = [], {}
    for entry, uri in zip(manifest.shards, manifest.shard_uris(base)):
        name = _local_name(entry.path)
        if name in seen:
            raise DataError(f"shards {seen[name]!r} and {entry.path!r} would both be saved as {name!r}; "
                            "give them distinct file names in the manifest")
        seen[name] = entry.path
        jobs.append(_Job(entry, uri, dest / name))
    return jobs


def _run(job: _Job, progress: _Progress) -> tuple[str, int, str | None]:
    """(outcome, bytes fetched, error message or None) for one shard; never raises."""
    fetched = [0]
    try:
        outcome = _fetch(job, progress, fetched)
        return outcome, fetched[0], None
    except DataError as e:
        return "failed", fetched[0], str(e)
    except Exception as e:  # network and filesystem errors: report, keep the .part for a resume
        return "failed", fetched[0], f"{job.entry.path}: {type(e).__name__}: {e}"


def _fetch(job: _Job, progress: _Progress, fetched: list[int]) -> str:
    entry, final = job.entry, job.dest
    part = final.with_name(final.name + ".part")
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        if _local_digest(final) == (entry.bytes, entry.sha256):
            progress.add(entry.bytes)
            return "skipped"
        final.unlink()  # stale or damaged copy: fetch it again
    offset = part.stat().st_size if part.exists() else 0
    if offset > entry.bytes:
        offset = 0  # longer than the shard: not a prefix of it
    size, sha, resumed = _stream(job, part, offset, progress, fetched)
    if (size, sha) != (entry.bytes, entry.sha256):
        part.unlink(missing_ok=True)
        raise DataError(f"{entry.path}: checksum mismatch: expected sha256 {entry.sha256} ({entry.bytes:,} bytes), "
                        f"got {sha} ({size:,} bytes) from {job.source}; the partial file was deleted, "
                        "re-run to fetch it again or fix the manifest")
    os.replace(part, final)
    return "resumed" if resumed else "downloaded"


def _stream(job: _Job, part: Path, offset: int, progress: _Progress, fetched: list[int]) -> tuple[int, str, bool]:
    """Append the source from `offset` to `part`; return (size, sha256, resumed)."""
    expected = job.entry.bytes
    try:
        src_ctx = fsspec.open(job.source, "rb")
        src = src_ctx.open()
    except FileNotFoundError as e:
        raise DataError(f"{job.entry.path}: source not found: {job.source}") from e
    try:
        offset = offset if offset and _seek(src, offset) else 0
        sha, size = _hash_prefix(part, offset)
        progress.add(offset)
        with open(part, "r+b" if offset else "wb") as out:
            out.seek(offset)
            out.truncate()
            while block := src.read(CHUNK):
                out.write(block)
                sha.update(block)
                size += len(block)
                fetched[0] += len(block)
                progress.add(len(block))
                if size > expected:
                    break  # larger than the manifest says: stop early, the check below fails it
        return size, sha.hexdigest(), offset > 0
    finally:
        src.close()


def _seek(src: BinaryIO, offset: int) -> bool:
    """Whether the source could move to `offset` (ranged reads); streams cannot."""
    try:
        return src.seek(offset) == offset
    except (ValueError, OSError, io.UnsupportedOperation, NotImplementedError):
        return False


def _hash_prefix(part: Path, offset: int) -> tuple[Any, int]:
    sha = hashlib.sha256()
    if offset:
        with open(part, "rb") as f:
            remaining = offset
            while remaining and (block := f.read(min(CHUNK, remaining))):
                sha.update(block)
                remaining -= len(block)
    return sha, offset


def _local_digest(path: Path) -> tuple[int, str]:
    sha, n = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            sha.update(block)
            n += len(block)
    return n, sha.hexdigest()


def _write_local_manifest(manifest: Manifest, source_uri: str, jobs: list[_Job], dest: Path) -> str:
    """The same pool (same id) with shard paths pointing at the local copies."""
    shards = [ShardEntry(j.dest.relative_to(dest).as_posix(), j.entry.bytes, j.entry.sha256, j.entry.documents)
              for j in jobs]
    extra = {**manifest.extra, "downloaded_from": source_uri}
    local = Manifest(manifest.kind, manifest.name, shards, inputs=manifest.inputs, extra=extra, id=manifest.id)
    path = dest / MANIFEST_NAME
    local.save(str(path))
    return str(path)
