"""Download a pool by its manifest: fetch every shard (several at once) with
the spine's downloader, verified against the manifest's size and sha256,
and write a local manifest of the same pool.

A shard lands under its final name only once it matches the manifest; an
interrupted transfer resumes from its `.part` (see `dcbench.download`).
Shard names come from the manifest, so none may climb out of the folder.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from dcbench.download import ChecksumMismatch, FetchError, Progress, fetch
from dcbench.errors import ConfigError, DataError, RunError
from dcbench.manifest import MANIFEST_NAME, Manifest, ShardEntry


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
    with Progress(manifest.bytes) as progress, ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(lambda job: _run(job, progress), jobs))
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


def _run(job: _Job, progress: Progress) -> tuple[str, int, str | None]:
    """(outcome, bytes fetched, error message or None) for one shard; never raises."""
    entry = job.entry
    try:
        got = fetch(job.source, job.dest, size=entry.bytes, sha256=entry.sha256, progress=progress)
        return got.outcome, got.fetched, None
    except ChecksumMismatch as e:
        return "failed", e.fetched, f"{entry.path}: {e} or fix the manifest"
    except FetchError as e:
        return "failed", e.fetched, f"{entry.path}: {e}"
    except Exception as e:  # filesystem errors: report, keep the .part for a resume
        return "failed", 0, f"{entry.path}: {type(e).__name__}: {e}"


def _write_local_manifest(manifest: Manifest, source_uri: str, jobs: list[_Job], dest: Path) -> str:
    """The same pool (same id) with shard paths pointing at the local copies."""
    shards = [replace(j.entry, path=j.dest.relative_to(dest).as_posix()) for j in jobs]
    extra = {**manifest.extra, "downloaded_from": source_uri}
    local = Manifest(manifest.kind, manifest.name, shards, inputs=manifest.inputs, extra=extra, id=manifest.id)
    path = dest / MANIFEST_NAME
    local.save(str(path))
    return str(path)
