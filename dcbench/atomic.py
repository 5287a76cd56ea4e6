"""Atomic writes, for local paths and fsspec URLs: a reader sees the old file
or the whole new one, never half of one, and a writer that fails or is
killed leaves nothing under the target's name.

On local disk (plain paths, `file://`) the data goes to a temporary file
beside the target, `<name>.tmp-<pid>-<8 hex>`, which is then renamed over the
target (`os.replace`, atomic within one filesystem). The name is unique per
writer, so when Ray retries a task whose first attempt is still running the
two attempts never write the same temporary file; readers that list folders
skip names holding `.tmp-` (`TEMP_MARK`).

On object stores (`s3://`, `gs://`, `memory://`, ...) a rename is a copy and
a delete, not atomic, so there is no temporary object: the data is spooled to
a local temporary file and uploaded once, with one PUT (multipart for big
files, completed in one call). S3 and GCS publish an object whole or not at
all, so readers never see a partial one, and a writer that fails before the
upload leaves nothing.

Three forms: `write_atomic(target, data)` for bytes or text in one call;
`open_atomic(target, mode)` yields a file object for streaming writers
(shards, `torch.save`, `np.save`); `atomic_path(target)` yields a local path
for libraries that only write to a file name (fastText's `save_model`).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

import fsspec
from fsspec.implementations.local import LocalFileSystem

TEMP_MARK = ".tmp-"  # in every temporary name; listings skip such files


def temp_name(name: str) -> str:
    """`<name>.tmp-<pid>-<8 hex>`: unique to this writer (process and call)."""
    return f"{name}{TEMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _local_path(target: str | os.PathLike) -> Path | None:
    """The local path `target` names, or None when it is on another filesystem."""
    text = os.fspath(target)
    if "://" not in text:
        return Path(text)
    fs, path = fsspec.core.url_to_fs(text)
    return Path(path) if isinstance(fs, LocalFileSystem) else None


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # platforms without directory descriptors
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(target: str | os.PathLike, *, fsync: bool = False) -> Iterator[Path]:
    """Yield a local temporary path to write; on a clean exit it becomes `target`.

    Locally the temporary lies beside the target and is renamed over it; for an
    object store it lies in the system temporary folder and is uploaded once.
    On an error the temporary is removed and the target is left as it was.
    `fsync` flushes the file and its folder to disk before returning (local only).
    """
    local = _local_path(target)
    if local is not None:
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(temp_name(local.name))
    else:
        fd, name = tempfile.mkstemp(prefix=temp_name(os.fspath(target).rsplit("/", 1)[-1]))
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if local is None:
            fs, path = fsspec.core.url_to_fs(os.fspath(target))
            fs.put_file(str(tmp), path)
            return
        if fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, local)
        if fsync:
            _fsync_dir(local.parent)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def open_atomic(target: str | os.PathLike, mode: str = "wb", *, fsync: bool = False,
                encoding: str = "utf-8") -> Iterator[IO]:
    """Yield a file open for writing ("wb", or "w" for UTF-8 text); on a clean
    exit its content becomes `target` atomically (see `atomic_path`)."""
    if mode not in ("wb", "w"):
        raise ValueError(f"open_atomic writes whole files: mode 'wb' or 'w', not {mode!r}")
    with atomic_path(target, fsync=fsync) as tmp:
        with open(tmp, mode, encoding=None if mode == "wb" else encoding) as f:
            yield f


def write_atomic(target: str | os.PathLike, data: str | bytes, *, fsync: bool = False) -> Path | str:
    """Write `data` (text as UTF-8) to `target` atomically; return the target
    (a Path for a plain path, the URL as given otherwise)."""
    with open_atomic(target, "wb", fsync=fsync) as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))
    text = os.fspath(target)
    return text if "://" in text else Path(text)
