"""Fetch the evaluation task files (LLM-Foundry's `scripts/eval/local_data` layout).

`download_tasks(dest)` fetches the jsonl file of every task of the DCLM task
table (paths from `eval/data/tasks.json`, relative to `local_data/`) from
`base_url` (`https://`, `file://`, `s3://`, ...), or only those of the named
tasks or suites, with the spine's downloader (`dcbench.download`): a file
under its final name is whole, an interrupted one resumes from its `.part`,
transport errors are retried. A re-run skips
the files already fetched: those recorded in `dest/.dcbench-download.json`
with the same size on disk, and files present but unrecorded whose size
equals the source's (when the source tells it).

The default source is LLM-Foundry's `scripts/eval/local_data` at tag v0.9.0,
the release DCLM pins (its local_data is byte-identical to the later commit
the shared reference copy came from). It holds every local_data task,
squad, coqa, bbq and bigbench_elementary_math_qa included: those four are
only absent from the shared reference copy (too large to mirror), so where
there is internet this command fetches them.

A task file the source lacks is reported, not raised. GPQA (gpqa_main,
gpqa_diamond) is built by DCLM from a password-protected zip, which this tool
does not fetch. A source that cannot be reached at all (no name resolution,
connection refused: a machine without internet) stops the run at the first
file with a message saying what to do instead, rather than retrying every file.

Progress: a bar on a terminal, otherwise a line every 30 s (`dcbench.progress`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from dcbench.atomic import write_atomic
from dcbench.download import FetchError, SourceMissing, Unreachable, fetch, source_size
from dcbench.errors import ConfigError, DataError
from dcbench.progress import Progress
from dcbench.eval.suites import SUITE_NAMES, get_suite, task_table

DEFAULT_BASE_URL = "https://raw.githubusercontent.com/mosaicml/llm-foundry/v0.9.0/scripts/eval/local_data"
RECORD = ".dcbench-download.json"
ATTEMPTS = 3
GPQA_NOTE = ("GPQA is not in LLM-Foundry's local_data: DCLM builds gpqa_data/ from the password-protected "
             "gpqa/dataset.zip of the GPQA authors; not downloadable here (put gpqa_main.jsonl and "
             "gpqa_diamond.jsonl in a gpqa_data/ folder beside local_data yourself)")


@dataclass
class DownloadReport:
    dest: str
    base_url: str
    downloaded: list[str] = field(default_factory=list)  # dataset paths fetched in this run
    skipped: list[str] = field(default_factory=list)  # already present
    missing: dict[str, str] = field(default_factory=dict)  # task -> why it is not there
    failed: dict[str, str] = field(default_factory=dict)  # dataset path -> error
    bytes_fetched: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        lines = [f"{len(self.downloaded)} downloaded, {len(self.skipped)} already present, "
                 f"{len(self.missing)} tasks unavailable, {len(self.failed)} failed "
                 f"({self.bytes_fetched:,} bytes in {self.seconds:.1f} s) -> {self.dest}"]
        lines += [f"  MISSING {task}: {why}" for task, why in self.missing.items()]
        lines += [f"  FAILED {path}: {err}" for path, err in self.failed.items()]
        if self.failed:
            lines.append("re-run the same command to retry the failed files")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"dest": self.dest, "base_url": self.base_url, "downloaded": self.downloaded,
                "skipped": self.skipped, "missing": self.missing, "failed": self.failed,
                "bytes_fetched": self.bytes_fetched, "seconds": self.seconds}


# ------------------------------------------------------------------ which files


def _select(tasks: Iterable[str] | None) -> list:
    """TaskSpecs for `tasks` (task or suite names; None = every task), in table order."""
    table = task_table()
    if tasks is None:
        return table
    if isinstance(tasks, str):
        tasks = [tasks]
    by_name = {t.name: t for t in table}
    chosen: dict[str, Any] = {}
    unknown = []
    for name in tasks:
        if name in by_name:
            chosen[name] = by_name[name]
        elif name.lower() in SUITE_NAMES or name.lower() in ("all", "heavy"):
            for t in get_suite(name):
                chosen[t.name] = t
        else:
            unknown.append(name)
    if unknown:
        raise ConfigError(f"unknown task or suite {unknown}; suites: {', '.join(SUITE_NAMES)}; "
                          f"tasks: see eval/data/tasks.json")
    return [t for t in table if t.name in chosen]


# ------------------------------------------------------------------ transfer


def _load_record(dest: Path) -> dict[str, Any]:
    try:
        data = json.loads((dest / RECORD).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, json.JSONDecodeError):
        return {}


def _save_record(dest: Path, record: dict[str, Any]) -> None:
    write_atomic(dest / RECORD, json.dumps(record, indent=1, sort_keys=True) + "\n")


def download_tasks(dest, *, base_url: str = DEFAULT_BASE_URL, tasks: Iterable[str] | None = None,
                   force: bool = False, progress: bool = True) -> DownloadReport:
    """Fetch the task files of `tasks` (task or suite names; default all 53 tasks) into `dest`
    (the `local_data` folder `run_suite` reads). See the module doc; returns a report.
    Raises `DataError` at once when the source cannot be reached at all."""
    dest = Path(dest).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    base = base_url.rstrip("/")
    report = DownloadReport(dest=str(dest), base_url=base)
    t0 = time.perf_counter()
    specs = _select(tasks)
    by_file: dict[str, list[str]] = {}
    for t in specs:
        if t.dataset_root != "local_data":
            report.missing[t.name] = GPQA_NOTE if t.name.startswith("gpqa") else \
                f"dataset root {t.dataset_root!r} is not part of local_data; not downloadable"
            continue
        by_file.setdefault(t.dataset, []).append(t.name)
    known_gap = {t.dataset for t in specs if not t.dataset_available}
    with Progress(len(by_file), "eval download", "files", enabled=progress) as bar:
        try:
            _fetch_all(by_file, dest, base, force, known_gap, report, bar)
        except Unreachable as e:
            raise DataError(_offline_message(e, base, dest, report)) from e
    report.seconds = time.perf_counter() - t0
    if progress:
        print(report.summary(), flush=True)
    return report


def _fetch_all(by_file: dict[str, list[str]], dest: Path, base: str, force: bool, known_gap: set[str],
               report: DownloadReport, bar: Progress) -> None:
    record = _load_record(dest)
    for rel, names in by_file.items():
        bar.set_note(rel.rsplit("/", 1)[-1])
        target = dest / rel
        url = f"{base}/{rel}"
        if not force and target.is_file() and _already_there(rel, target, url, record):
            report.skipped.append(rel)
            bar.update(1)
            continue
        try:
            got = fetch(url, target, resume=not force, attempts=ATTEMPTS)
            record[rel] = {"bytes": got.bytes, "sha256": got.sha256, "url": url}
            _save_record(dest, record)
            report.downloaded.append(rel)
            report.bytes_fetched += got.fetched
        except SourceMissing:
            why = f"{url} does not exist"
            if rel in known_gap:
                why += (" (a known gap of the shared reference copy; LLM-Foundry v0.9.0 has this file: "
                        "fetch it from the default --base-url where there is internet)")
            for name in names:
                report.missing[name] = why
        except Unreachable:
            raise
        except (FetchError, ConfigError, OSError) as e:  # after retries; or a filesystem we cannot use
            report.failed[rel] = str(e)
            bar.write(f"FAILED {rel}: {e}")
        bar.update(1)


def _already_there(rel: str, target: Path, url: str, record: dict[str, Any]) -> bool:
    """A file recorded with its size on disk, or unrecorded but as big as the source says (or it does not say)."""
    rec = record.get(rel)
    size = target.stat().st_size
    if rec is not None:
        return rec.get("bytes") == size
    return source_size(url) in (None, size)


def _offline_message(e: Unreachable, base: str, dest: Path, report: DownloadReport) -> str:
    done = f" ({len(report.downloaded)} files fetched before it stopped; re-run to resume)" if report.downloaded else ""
    return (f"`dcbench eval download` cannot reach its source: {e}{done}. Where there is internet, re-run it. "
            f"Without internet, copy LLM-Foundry's scripts/eval/local_data folder (tag v0.9.0) onto this machine "
            f"and pass it to `dcbench eval --tasks-dir DIR` (or `dcbench eval download --base-url file:///that/dir "
            f"--out {dest}`); source was {base}")
