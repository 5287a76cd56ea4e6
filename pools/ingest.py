"""WARC/WET files -> DCLM-Pool documents in jsonl.gz shards.

A WARC `response` with an HTML payload becomes one document whose text is
resiliparse's main-content extraction; a WET `conversion` record's text is
taken as is. Each document is `{"text", "url", "metadata", "warcinfo"}`:
`metadata` holds every WARC header of the record (plus `HTTP-Content-Type`
for responses) and `warcinfo` the text of the file's warcinfo record, as in
DCLM-Pool; `url` is our addition.

Nothing is lost silently: every record is a document, a counted skip (a
record type that holds no document, a non-HTML page, an empty extraction)
or a quarantined bad record, and a file that cannot be read is reported with
its reason while the run moves on to the next file.
"""

from __future__ import annotations

import io
import json
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import PurePosixPath
from typing import Any, Iterator

import fsspec
from fastwarc.stream_io import BrotliReader, ChunkedReader, ZstdReader
from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import bytes_to_str, detect_encoding
from tqdm import tqdm

from dcbench.atomic import open_atomic
from dcbench.errors import ConfigError
from dcbench.manifest import MANIFEST_NAME, Manifest, ShardEntry
from dcbench.shards import sha256_of, write_shard

QUARANTINE_NAME = "quarantine.jsonl"
HTML_TYPES = ("text/html", "application/xhtml+xml")
_COMPRESSION_SUFFIXES = (".gz", ".zst", ".zstd", ".lz4", ".br")
_CHUNK_HEADER = re.compile(rb"^[0-9a-fA-F]+[ \t]*(;[^\r\n]*)?\r?\n")
_HTML_SNIFF = re.compile(rb"<!doctype html|<html|<head|<body", re.IGNORECASE)

# Skip reasons, kept short and stable: they are the keys of the counts.
EMPTY = "empty text after extraction"
NON_HTML = "non-HTML response"
NON_HTTP = "non-HTTP response"


class _BadRecord(Exception):
    """A record that should have been a document but cannot be: quarantined."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind  # the count key


# ------------------------------------------------------------------ report


@dataclass
class FileStats:
    source: str
    records: Counter = field(default_factory=Counter)  # WARC records seen, by type
    documents: int = 0
    skipped: Counter = field(default_factory=Counter)  # by reason
    quarantined: Counter = field(default_factory=Counter)  # by reason
    shards: list[str] = field(default_factory=list)
    error: str | None = None  # the file, or the rest of it, could not be read

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "records": dict(sorted(self.records.items())), "documents": self.documents,
                "skipped": dict(sorted(self.skipped.items())), "quarantined": dict(sorted(self.quarantined.items())),
                "shards": self.shards, "error": self.error}


@dataclass
class IngestReport:
    out_dir: str
    files: list[FileStats] = field(default_factory=list)
    manifest: str = ""
    quarantine: str = ""

    @property
    def documents(self) -> int:
        return sum(f.documents for f in self.files)

    @property
    def skipped(self) -> Counter:
        return sum((f.skipped for f in self.files), Counter())

    @property
    def quarantined(self) -> Counter:
        return sum((f.quarantined for f in self.files), Counter())

    @property
    def failed_files(self) -> list[FileStats]:
        return [f for f in self.files if f.error]

    def summary(self) -> str:
        lines = [f"{self.documents:,} documents from {len(self.files)} files -> {self.out_dir}"]
        lines += _counts("skipped", self.skipped, "  ")
        lines += _counts("quarantined", self.quarantined, "  ")
        for f in self.files:
            lines.append(f"  {f.source}: {f.documents:,} documents from {sum(f.records.values()):,} records"
                         f" in {len(f.shards)} shards")
            lines += _counts("skipped", f.skipped, "    ")
            lines += _counts("quarantined", f.quarantined, "    ")
            if f.error:
                lines.append(f"    ERROR {f.error}")
        if self.failed_files:
            lines.append(f"{len(self.failed_files)} files could not be read (fully); see ERROR lines above")
        if sum(self.quarantined.values()) or self.failed_files:
            lines.append(f"quarantine: {self.quarantine}")
        lines.append(f"manifest: {self.manifest}")
        return "\n".join(lines)


def _counts(label: str, counts: Counter, indent: str) -> list[str]:
    if not counts:
        return []
    parts = ", ".join(f"{reason} {n:,}" for reason, n in sorted(counts.items()))
    return [f"{indent}{label} {sum(counts.values()):,}: {parts}"]


# ------------------------------------------------------------------ driver


def ingest(inputs: list[str], out_dir: str, docs_per_shard: int = 10000) -> IngestReport:
    """Turn WARC/WET files into DCLM-Pool shards, a quarantine file and a pool manifest in `out_dir`."""
    if docs_per_shard < 1:
        raise ConfigError(f"--docs-per-shard must be at least 1, got {docs_per_shard}")
    if not inputs:
        raise ConfigError("no input files given; pass WARC/WET files (.warc, .warc.gz, .warc.wet.gz)")
    stems = _stems(inputs)
    out = out_dir.rstrip("/") or "/"
    fs, out_path = fsspec.core.url_to_fs(out)
    fs.makedirs(out_path, exist_ok=True)
    report = IngestReport(out_dir=out)
    entries: list[ShardEntry] = []
    quarantine: list[str] = []
    input_ids = []
    for source, stem in tqdm(list(zip(inputs, stems)), desc="ingest", unit="file", disable=None):
        stats = FileStats(source)
        report.files.append(stats)
        entries += _ingest_file(source, stem, out, docs_per_shard, stats, quarantine)
        input_ids.append(_input_id(source))
    report.quarantine = _write_quarantine(fs, f"{out_path}/{QUARANTINE_NAME}", quarantine)
    manifest = Manifest(
        "pool", PurePosixPath(out_path).name or "pool", entries,
        inputs={"files": input_ids, "docs_per_shard": docs_per_shard,
                "extractor": f"resiliparse {version('resiliparse')} extract_plain_text(main_content=True)"},
        extra={"ingest": [f.as_dict() for f in report.files], "quarantined": len(quarantine),
               "quarantine": QUARANTINE_NAME},
    )
    report.manifest = f"{out}/{MANIFEST_NAME}"
    manifest.save(report.manifest)
    return report


def _stems(inputs: list[str]) -> list[str]:
    """Output name stems: `x.warc.gz` -> `x`, `x.warc.wet.gz` -> `x.wet` (WARC and WET of one crawl
    file must not collide). Inputs whose stems still clash keep their full file name."""
    names = [uri.rstrip("/").rsplit("/", 1)[-1] for uri in inputs]
    stems = [_stem(name) for name in names]
    counts = Counter(stems)
    stems = [name if counts[stem] > 1 else stem for name, stem in zip(names, stems)]
    dup = [s for s, n in Counter(stems).items() if n > 1]
    if dup:
        clash = [u for u, s in zip(inputs, stems) if s == dup[0]]
        raise ConfigError(f"inputs {clash} have the same file name, so their shards would overwrite each other; "
                          "ingest them into different --out directories or rename one")
    return stems


def _stem(name: str) -> str:
    for suffix in _COMPRESSION_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    lower = name.lower()
    if lower.endswith(".warc.wet"):
        return name[: -len(".warc.wet")] + ".wet"
    if lower.endswith((".warc", ".arc")):
        return name.rsplit(".", 1)[0]
    return name


def _input_id(source: str) -> dict[str, Any]:
    """Name and content hash of an input, so the pool's id follows its bytes, not its location."""
    name = source.rstrip("/").rsplit("/", 1)[-1]
    try:
        size, sha = sha256_of(source)
    except (OSError, ValueError) as e:
        return {"name": name, "error": f"{type(e).__name__}: {e}"}
    return {"name": name, "bytes": size, "sha256": sha}


def _ingest_file(source: str, stem: str, out: str, per_shard: int, stats: FileStats,
                 quarantine: list[str]) -> list[ShardEntry]:
    entries: list[ShardEntry] = []
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        name = f"{stem}-{len(entries):05d}.jsonl.gz"
        info = write_shard(f"{out}/{name}", batch)
        entries.append(ShardEntry(name, info.bytes, info.sha256, info.documents))
        stats.shards.append(name)
        batch.clear()

    for doc in _documents(source, stats, quarantine):
        batch.append(doc)
        if len(batch) == per_shard:
            flush()
    if batch:
        flush()
    stats.documents = sum(e.documents for e in entries)
    return entries


def _quarantine_line(source: str, offset: int | None, reason: str, record: WarcRecord | None = None) -> str:
    line: dict[str, Any] = {"source": source, "offset": offset, "reason": reason}
    if record is not None:
        line["record_id"] = record.record_id
        line["url"] = _url(record)
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def _write_quarantine(fs: Any, path: str, lines: list[str]) -> str:
    """Always written (empty when nothing was bad), so a re-run never leaves an old one behind."""
    with open_atomic(fs.unstrip_protocol(path), "w") as f:
        f.writelines(line + "\n" for line in lines)
    return path


# ------------------------------------------------------------------ records


def _documents(source: str, stats: FileStats, quarantine: list[str]) -> Iterator[dict[str, Any]]:
    """Documents of one file; skips and bad records go into `stats` and `quarantine`."""
    try:
        f = fsspec.open(source, "rb").open()
    except Exception as e:  # missing file, permission, bad URI: report and go on
        stats.error = f"cannot open: {type(e).__name__}: {e}"
        quarantine.append(_quarantine_line(source, None, stats.error))
        return
    offsets = _OffsetCheck(source)
    infos = _Warcinfos()
    last_pos: int | None = None
    try:
        # Strict WARC framing, so damage is reported instead of skipped; HTTP headers are parsed
        # leniently per record (old crawls end header lines with a bare LF).
        records = iter(ArchiveIterator(f, parse_http=False, quirks_mode=False, auto_decode="none"))
        while True:
            try:
                record = next(records)
            except StopIteration:
                break
            except OSError as e:  # the stream itself is broken: nothing after this point can be trusted
                stats.error = _stream_error(f, e, last_pos)
                quarantine.append(_quarantine_line(source, None if last_pos is not None else 0, stats.error))
                break
            last_pos = record.stream_pos
            kind = str(record.record_type)
            stats.records[kind] += 1
            try:
                doc = _to_document(record, infos)
            except _BadRecord as bad:
                stats.quarantined[bad.kind] += 1
                quarantine.append(_quarantine_line(source, offsets(record.stream_pos), str(bad), record))
                continue
            except Exception as e:  # unreadable payload (OSError) or a library bug: one record, not the run
                kind = "unreadable payload" if isinstance(e, OSError) else "unexpected error"
                stats.quarantined[kind] += 1
                quarantine.append(_quarantine_line(source, offsets(record.stream_pos),
                                                   f"{kind}: {type(e).__name__}: {e}", record))
                continue
            if isinstance(doc, str):
                stats.skipped[doc] += 1
            else:
                yield doc
        if not stats.records and not stats.error:
            stats.error = f"no WARC records found{_arc_hint(f) or ' (empty file?)'}"
            quarantine.append(_quarantine_line(source, 0, stats.error))
    finally:
        f.close()


def _stream_error(f: Any, error: OSError, last_pos: int | None) -> str:
    if last_pos is None:
        return f"not a readable WARC/WET file: {error}{_arc_hint(f)}"
    return f"unreadable WARC data after the record at offset {last_pos}: {error}; the rest of the file was skipped"


def _arc_hint(f: Any) -> str:
    """ARC (the WARC predecessor) is a common reason the first header fails."""
    try:
        f.seek(0)
        head = f.read(512)
        if head[:2] == b"\x1f\x8b":
            head = zlib.decompressobj(31).decompress(head)
    except Exception:
        return ""
    if head.startswith(b"filedesc://"):
        return " (this is an ARC file; convert it to WARC first)"
    return ""


class _Warcinfos:
    """The warcinfo text a record belongs to: the one its WARC-Warcinfo-ID names, else the latest seen."""

    def __init__(self) -> None:
        self.by_id: dict[str, str] = {}
        self.latest: str | None = None

    def add(self, record: WarcRecord, text: str) -> None:
        self.latest = text
        if record.record_id:
            self.by_id[_bare_id(record.record_id)] = text

    def of(self, record: WarcRecord) -> str | None:
        ref = record.headers.get("WARC-Warcinfo-ID")
        return self.by_id.get(_bare_id(ref), self.latest) if ref else self.latest


def _bare_id(record_id: str) -> str:
    return record_id.strip().strip("<>")


class _OffsetCheck:
    """A record's byte offset, when it can be trusted. fastwarc reports the
    start of the record's gzip member; a file gzipped as one member (not per
    record) gives positions that are not record starts, so look at the bytes."""

    def __init__(self, source: str):
        self.source = source

    def __call__(self, pos: int) -> int | None:
        try:
            with fsspec.open(self.source, "rb") as f:
                f.seek(pos)
                head = f.read(5)
        except Exception:
            return None
        return pos if head[:2] == b"\x1f\x8b" or head == b"WARC/" else None


def _url(record: WarcRecord) -> str | None:
    uri = record.headers.get("WARC-Target-URI")
    return uri.strip().strip("<>").strip() if uri else None  # WARC 1.1 drafts wrote <uri>


def _to_document(record: WarcRecord, infos: _Warcinfos) -> dict[str, Any] | str:
    """A document, or the reason the record holds none; raises _BadRecord for broken ones."""
    kind = record.record_type
    if kind == WarcRecordType.warcinfo:
        infos.add(record, bytes_to_str(_payload(record), "utf-8"))
        return "warcinfo record"
    if kind == WarcRecordType.conversion:
        return _wet_document(record, infos)
    if kind == WarcRecordType.response:
        return _html_document(record, infos)
    return f"{kind} record"


def _payload(record: WarcRecord, head: bytes = b"", expected: int | None = None) -> bytes:
    """The record's payload (`head` already read); a record cut short by the end of the file is bad.
    `expected` is the payload length fastwarc reported before anything was read."""
    expected = record.content_length if expected is None else expected
    body = head + record.reader.read()
    if len(body) < expected:
        raise _BadRecord("truncated record",
                         f"the WARC header promises {expected:,} payload bytes, the file holds {len(body):,}")
    return body


def _wet_document(record: WarcRecord, infos: _Warcinfos) -> dict[str, Any] | str:
    text = bytes_to_str(_payload(record), "utf-8")
    if not text.strip():
        return EMPTY
    return _document(text, record, infos, http_type=None)


def _html_document(record: WarcRecord, infos: _Warcinfos) -> dict[str, Any] | str:
    if not record.is_http:
        return NON_HTTP
    try:
        record.parse_http(quirks_mode=True)
    except OSError as e:
        raise _BadRecord("bad HTTP headers", str(e)) from e
    content_type = (record.http_content_type or "").lower()
    expected, head = record.content_length, b""
    if not content_type:  # no header: look at the bytes
        head = record.reader.read(4096)
        if not _HTML_SNIFF.search(head):
            return NON_HTML
    elif content_type not in HTML_TYPES:
        return NON_HTML
    body = _decode_payload(record, _payload(record, head, expected))
    try:
        charset = record.http_charset or detect_encoding(body, from_html_meta=True) or "utf-8"
        text = extract_plain_text(bytes_to_str(body, charset), main_content=True)
    except Exception as e:  # resiliparse raises on pathological input; one page must not stop the run
        raise _BadRecord("extraction failed", f"{type(e).__name__}: {e}") from e
    if not text.strip():
        return EMPTY
    return _document(text, record, infos, http_type=record.http_headers.get("Content-Type"))


def _decode_payload(record: WarcRecord, body: bytes) -> bytes:
    """Undo HTTP transfer and content encodings. Crawlers often store the
    decoded payload but keep the original headers, so bytes that already look
    like text are taken as they are."""
    headers = record.http_headers
    transfer = (headers.get("Transfer-Encoding") or "").lower()
    if "chunked" in transfer and _CHUNK_HEADER.match(body):  # else stored de-chunked
        body = _decode_with("chunked", lambda b: ChunkedReader(io.BytesIO(b)).read(), body)
    encoding = (headers.get("Content-Encoding") or "").strip().lower()
    if encoding in ("", "identity", "none"):
        return body
    decoders = {"gzip": _gunzip, "x-gzip": _gunzip, "deflate": _inflate,
                "br": lambda b: BrotliReader(io.BytesIO(b)).read(),
                "zstd": lambda b: ZstdReader(io.BytesIO(b)).read()}
    if encoding not in decoders:
        if _HTML_SNIFF.search(body[:4096]):
            return body
        raise _BadRecord("unsupported Content-Encoding", encoding)
    return _decode_with(encoding, decoders[encoding], body)


def _decode_with(name: str, decode: Any, body: bytes) -> bytes:
    try:
        return decode(body)
    except (OSError, zlib.error, EOFError) as e:
        if _HTML_SNIFF.search(body[:4096]):
            return body  # stored already decoded under the original header
        raise _BadRecord(f"bad {name} encoding", str(e)) from e


def _gunzip(body: bytes) -> bytes:
    d = zlib.decompressobj(wbits=31)
    out = d.decompress(body)
    if not d.eof:
        raise EOFError("gzip stream ends early")
    return out


def _inflate(body: bytes) -> bytes:
    try:
        return zlib.decompress(body)  # zlib-wrapped, as the RFC says
    except zlib.error:
        return zlib.decompress(body, wbits=-15)  # raw deflate, as many servers send


def _document(text: str, record: WarcRecord, infos: _Warcinfos, http_type: str | None) -> dict[str, Any]:
    url = _url(record)
    if not url:
        raise _BadRecord("no WARC-Target-URI", "a document needs the URL it came from")
    metadata: dict[str, str] = {}
    for key, value in record.headers.items():  # file order; a repeated header keeps all its values
        metadata[key] = f"{metadata[key]},{value}" if key in metadata else value
    if http_type is not None:
        metadata["HTTP-Content-Type"] = http_type
    return {"text": text, "url": url, "metadata": metadata, "warcinfo": infos.of(record)}
