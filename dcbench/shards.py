"""Shard I/O: DCLM-Pool documents in .jsonl, .jsonl.gz, .jsonl.zst or .parquet,
on local disk or any fsspec filesystem (s3://, gs://, hf://, file://).

Reading never loses a record silently: anything that is not a usable
document comes back as a `Bad` with the reason, for the caller to quarantine
and count. Writing is atomic (`dcbench.atomic`) and deterministic
(no timestamps in gzip headers), so equal documents give equal bytes.
A `text` that is a list of lines (a stage between DCLM's split_lines_modifier
and join_lines_modifier) round-trips in every format; in parquet, a `text`
column mixing strings and lists is stored as JSON text and named in the
file's schema metadata, so a reader gets each value back as it was.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import zlib
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import fsspec
import zstandard

from dcbench.atomic import open_atomic
from dcbench.errors import DataError

FORMATS = ("jsonl", "jsonl.gz", "jsonl.zst", "parquet")
_SUFFIXES = {".jsonl": "jsonl", ".jsonl.gz": "jsonl.gz", ".json.gz": "jsonl.gz", ".jsonl.zst": "jsonl.zst",
             ".jsonl.zstd": "jsonl.zst", ".json.zst": "jsonl.zst", ".parquet": "parquet"}


@dataclass(frozen=True)
class Bad:
    """A record that could not become a document, kept with its reason."""

    index: int  # position in the shard (0-based line or row), -1 for the whole stream
    reason: str
    raw: str  # the record as text; undecodable bytes are backslash-escaped


@dataclass(frozen=True)
class ShardInfo:
    uri: str
    bytes: int
    sha256: str
    documents: int
    records: str = ""  # sha256 of the decompressed records in their one JSON form (see `dumps`)


def shard_format(uri: str) -> str:
    """The format a shard's name says it has, or a DataError naming the accepted ones."""
    name = uri.rstrip("/").rsplit("/", 1)[-1].lower()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return _SUFFIXES[suffix]
    raise DataError(f"{uri}: unknown shard format; shards end in .jsonl, .jsonl.gz, .jsonl.zst or .parquet")


def shard_stem(uri: str) -> str:
    """The shard's name without its format suffix (`a/b/x.jsonl.gz` -> `x`)."""
    name = uri.rstrip("/").rsplit("/", 1)[-1]
    fmt = shard_format(uri)
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if _SUFFIXES[suffix] == fmt and name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


# ------------------------------------------------------------------ reading


def read_shard(uri: str, require_text: bool = True) -> Iterator[dict[str, Any] | Bad]:
    """Yield each record of a shard as a dict, or as `Bad` when it is unusable.

    With `require_text`, a record without a string `text` is `Bad` too.
    A truncated or corrupt compressed stream yields the records before the
    damage, then one `Bad` for the rest of the stream.
    """
    fmt = shard_format(uri)
    try:
        if fmt == "parquet":
            records = _parquet_records(uri)
        else:
            records = _jsonl_records(uri, fmt)
        for index, rec in records:
            yield _check(index, rec) if require_text and not isinstance(rec, Bad) else rec
    except FileNotFoundError as e:
        raise DataError(f"{uri}: shard not found") from e


def _check(index: int, rec: dict[str, Any]) -> dict[str, Any] | Bad:
    text = rec.get("text")
    if isinstance(text, str):
        return rec
    raw = json.dumps(rec, ensure_ascii=False, default=repr)
    if "text" not in rec:
        return Bad(index, "missing 'text' field", raw)
    return Bad(index, f"'text' is {type(text).__name__}, not a string", raw)


def _jsonl_records(uri: str, fmt: str) -> Iterator[tuple[int, dict[str, Any] | Bad]]:
    index = 0
    with fsspec.open(uri, "rb") as raw_file:
        stream = _decompressed(raw_file, fmt)
        try:
            for n, line in enumerate(stream):
                if n == 0:
                    line = line.removeprefix(_BOM)  # a UTF-8 byte order mark opens the first line, not a record
                if not line.strip():
                    continue  # blank lines hold no record
                yield index, _parse_line(index, line)
                index += 1
        except (EOFError, OSError, zlib.error, zstandard.ZstdError) as e:
            what = "gzip" if fmt == "jsonl.gz" else "zstd"
            yield index, Bad(index, f"truncated or corrupt {what} stream after {index} records: {e}", "")


_BOM = b"\xef\xbb\xbf"


def _decompressed(raw_file: Any, fmt: str) -> Iterable[bytes]:
    if fmt == "jsonl.gz":
        return gzip.GzipFile(fileobj=raw_file, mode="rb")
    if fmt == "jsonl.zst":
        return _lines(_zstd_chunks(raw_file))
    return raw_file


def _zstd_chunks(raw_file: Any, size: int = 1 << 20) -> Iterator[bytes]:
    """Decompress frame after frame; raise EOFError if the input stops mid-frame
    (zstandard's stream reader returns a quiet EOF there)."""
    dctx = zstandard.ZstdDecompressor()
    d, in_frame = dctx.decompressobj(), False
    while chunk := raw_file.read(size):
        while chunk:
            in_frame = True
            yield d.decompress(chunk)
            chunk = b""
            if d.eof:
                chunk, in_frame = d.unused_data, False
                d = dctx.decompressobj()
    if in_frame:
        raise EOFError("zstd frame ended early")


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    tail = b""
    for chunk in chunks:
        *complete, tail = (tail + chunk).split(b"\n")
        for line in complete:
            yield line
    if tail:
        yield tail


def _parse_line(index: int, line: bytes) -> dict[str, Any] | Bad:
    line = line.rstrip(b"\r\n")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        return Bad(index, f"invalid UTF-8 at byte {e.start}", line.decode("utf-8", "backslashreplace"))
    try:
        rec = json.loads(text)
    except json.JSONDecodeError as e:
        return Bad(index, f"malformed JSON: {e.msg} at column {e.colno}", text)
    except RecursionError:
        return Bad(index, "unreadable JSON: nested deeper than the reader's recursion limit", text)
    except ValueError as e:  # Python's int limit: "Exceeds the limit (4300 digits) for integer string conversion"
        return Bad(index, f"unreadable JSON: {str(e).split(';')[0]}", text)
    if not isinstance(rec, dict):
        return Bad(index, f"record is a JSON {type(rec).__name__}, not an object", text)
    if _SURROGATE_ESCAPE.search(text) and not _encodable(rec):
        return Bad(index, "lone UTF-16 surrogate escape (\\ud800-\\udfff): cannot be written as UTF-8", text)
    return rec


# A surrogate can only enter through a \uXXXX escape (the line itself is valid UTF-8), so only lines with
# one pay for the full check; a well-formed pair decodes to one character and passes it.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _encodable(rec: dict[str, Any]) -> bool:
    try:
        dumps(rec).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _parquet_records(uri: str) -> Iterator[tuple[int, dict[str, Any] | Bad]]:
    import pyarrow.parquet as pq

    with fsspec.open(uri, "rb") as f:
        try:
            pf = pq.ParquetFile(f)
        except Exception as e:  # pyarrow raises ArrowInvalid/OSError for non-parquet bytes
            yield -1, Bad(-1, f"unreadable parquet file: {e}", "")
            return
        json_columns = _json_columns(pf.schema_arrow.metadata)
        index = 0
        for batch in pf.iter_batches(batch_size=1024):
            for rec in batch.to_pylist():
                yield index, _decode_json_columns(rec, json_columns)
                index += 1


# A parquet column whose values share no one type is stored as one JSON text per value, and named under
# this schema metadata key. Only `text` is stored so: between DCLM's split_lines_modifier and
# join_lines_modifier a stage's output mixes texts that are strings with texts that are lists of lines.
_JSON_COLUMNS_KEY = b"dcbench:json_columns"
_JSON_ALLOWED = ("text",)


def _json_columns(metadata: dict[bytes, bytes] | None) -> tuple[str, ...]:
    return tuple(json.loads(metadata[_JSON_COLUMNS_KEY])) if metadata and _JSON_COLUMNS_KEY in metadata else ()


def _decode_json_columns(rec: dict[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
    for key in columns:
        if isinstance(rec.get(key), str):
            rec[key] = json.loads(rec[key])
    return rec


# ------------------------------------------------------------------ writing


def dumps(doc: dict[str, Any]) -> str:
    """The one JSON form of a document we write (UTF-8, compact, key order kept)."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


class _HashingWriter(io.RawIOBase):
    def __init__(self, f: Any):
        self.f, self.sha, self.n = f, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        b = bytes(b)
        self.sha.update(b)
        self.n += len(b)
        self.f.write(b)
        return len(b)


def write_shard(uri: str, docs: Iterable[dict[str, Any]]) -> ShardInfo:
    """Write documents to `uri` atomically; the format follows the name."""
    fmt = shard_format(uri)
    with open_atomic(uri) as f:
        out = _HashingWriter(f)
        records = hashlib.sha256()
        count = _write_parquet(out, docs, records) if fmt == "parquet" else _write_jsonl(out, fmt, docs, records)
    return ShardInfo(uri, out.n, out.sha.hexdigest(), count, records.hexdigest())


def _write_jsonl(out: _HashingWriter, fmt: str, docs: Iterable[dict[str, Any]], records: Any) -> int:
    count = 0
    if fmt == "jsonl.gz":
        sink: Any = gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="", compresslevel=6)
    elif fmt == "jsonl.zst":
        sink = zstandard.ZstdCompressor(level=3).stream_writer(out, closefd=False)
    else:
        sink = out
    buffered = io.BufferedWriter(sink, buffer_size=1 << 20) if sink is out else sink
    for doc in docs:
        line = (dumps(doc) + "\n").encode("utf-8")
        records.update(line)  # ids hash these bytes, not the compressed stream a codec upgrade may change
        buffered.write(line)
        count += 1
    buffered.flush()
    if sink is not out:
        sink.close()
    return count


def _write_parquet(out: _HashingWriter, docs: Iterable[dict[str, Any]], records: Any) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = list(docs)
    table = _union_table(rows) if rows else pa.table({"text": pa.array([], pa.string())})
    json_columns = _json_columns(table.schema.metadata)
    for batch in table.to_batches():  # hash the records as a reader gets them back: every key in every row
        for rec in batch.to_pylist():
            records.update((dumps(_decode_json_columns(rec, json_columns)) + "\n").encode("utf-8"))
    pq.write_table(table, out, compression="zstd")
    return len(rows)


def _union_table(rows: list[dict[str, Any]]) -> Any:
    """A table with a column for every top-level key of any row (in order of first appearance;
    null where a row lacks it), or a DataError naming a key whose values share no one type
    (`text` excepted: strings mixed with lists of lines are stored as JSON, see `_JSON_COLUMNS_KEY`)."""
    import pyarrow as pa

    keys = list(dict.fromkeys(k for row in rows for k in row))
    columns, as_json = {}, []
    for key in keys:
        try:
            columns[key] = pa.array([row.get(key) for row in rows])
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as e:
            if key not in _JSON_ALLOWED:
                raise DataError(f"--format parquet: key {key!r} holds values of different types across documents "
                                f"({str(e).splitlines()[0]}); write this dataset with --format jsonl.gz") from e
            columns[key] = pa.array([None if key not in row else dumps(row[key]) for row in rows], pa.string())
            as_json.append(key)
    table = pa.table(columns)
    return table.replace_schema_metadata({_JSON_COLUMNS_KEY: json.dumps(as_json).encode()}) if as_json else table


def records_sha256(uri: str) -> str:
    """Recompute `ShardInfo.records` from a shard on disk: sha256 over its records in
    their one JSON form. Unreadable records are skipped, as a reader skips them."""
    sha = hashlib.sha256()
    for rec in read_shard(uri, require_text=False):
        if not isinstance(rec, Bad):
            sha.update((dumps(rec) + "\n").encode("utf-8"))
    return sha.hexdigest()


def sha256_of(uri: str, chunk: int = 1 << 20) -> tuple[int, str]:
    """(bytes, sha256 hex) of a file at any fsspec URI."""
    sha, n = hashlib.sha256(), 0
    with fsspec.open(uri, "rb") as f:
        while block := f.read(chunk):
            sha.update(block)
            n += len(block)
    return n, sha.hexdigest()
