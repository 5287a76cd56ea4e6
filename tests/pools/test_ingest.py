import gzip
import json
import os
import zlib
from pathlib import Path

import pytest

from dcbench.errors import ConfigError
from dcbench.manifest import Manifest
from dcbench.shards import Bad, read_shard, sha256_of
from dcbench.pools.ingest import EMPTY, NON_HTML, ingest

DATA = Path(os.environ.get("DCBENCH_SHARED_DATA") or Path(__file__).parents[2] / ".." / "shared" / "data")
WARC = DATA / "web" / "warc"
needs_data = pytest.mark.skipif(not WARC.is_dir(), reason=f"shared WARC files not found at {WARC} "
                                "(set DCBENCH_SHARED_DATA to the shared data folder)")
MAIN = ["sample-0000.warc.gz", "sample-0001.warc.gz", "warcfile.warc.gz", "whirlwind.warc.gz",
        "whirlwind.warc.wet.gz", "clueweb-quirk.warc.gz", "clipped.warc.gz"]


def _docs(out: Path, stem: str) -> list[dict]:
    docs = []
    for shard in sorted(out.glob(f"{stem}-*.jsonl.gz")):
        docs += [json.loads(line) for line in gzip.open(shard)]
    return docs


def _count_type(path: Path, kind: str) -> int:
    """Records of a type, counted from the raw bytes (independent of fastwarc)."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # member by member, tolerating a clipped last one
        members = []
        while raw:
            d = zlib.decompressobj(31)
            members.append(d.decompress(raw))
            raw = d.unused_data
        raw = b"".join(members)
    return raw.count(f"\r\nWARC-Type: {kind}\r\n".encode()) + raw.count(f"\nWARC-Type: {kind}\n".encode())


def _quarantine(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def main_run(tmp_path_factory):
    if not WARC.is_dir():
        pytest.skip(f"shared WARC files not found at {WARC}")
    out = tmp_path_factory.mktemp("main")
    report = ingest([str(WARC / name) for name in MAIN], str(out), docs_per_shard=10)
    return out, report, {Path(f.source).name: f for f in report.files}


@pytest.fixture(scope="module")
def edge_run(tmp_path_factory):
    if not WARC.is_dir():
        pytest.skip(f"shared WARC files not found at {WARC}")
    out = tmp_path_factory.mktemp("edge")
    files = sorted((WARC / "edge_cases").iterdir())
    report = ingest([str(f) for f in files], str(out))
    return out, report, {Path(f.source).name: f for f in report.files}


# ------------------------------------------------------------------ real files


@needs_data
@pytest.mark.parametrize("name", MAIN)
def test_every_record_is_accounted_for(main_run, name):
    out, _, stats = main_run
    s = stats[name]
    assert sum(s.records.values()) == s.documents + sum(s.skipped.values()) + sum(s.quarantined.values())
    responses = _count_type(WARC / name, "response")
    assert s.records["response"] == responses
    conversions = _count_type(WARC / name, "conversion")
    assert responses + conversions == s.documents + s.skipped[NON_HTML] + s.skipped[EMPTY] + sum(s.quarantined.values())
    written = sum(sum(1 for _ in gzip.open(out / shard)) for shard in s.shards)
    assert written == s.documents


@needs_data
def test_known_record(main_run):
    out, _, stats = main_run
    assert stats["sample-0000.warc.gz"].documents == 22
    assert stats["sample-0000.warc.gz"].shards == [f"sample-0000-0000{i}.jsonl.gz" for i in range(3)]
    first = _docs(out, "sample-0000")[0]
    assert first["url"] == "https://www.semanticscholar.org/research/research-team"
    meta = first["metadata"]
    assert meta["WARC-Target-URI"] == "<https://www.semanticscholar.org/research/research-team>"  # kept as written
    assert meta["WARC-Type"] == "response" and meta["WARC-Record-ID"].startswith("<urn:uuid:")
    assert meta["HTTP-Content-Type"].startswith("text/html")
    assert first["warcinfo"].startswith("software: Wget/")
    assert "Semantic Scholar Research Team" in first["text"]


@needs_data
def test_main_content_and_wet(main_run):
    out, _, _ = main_run
    raw_html = gzip.decompress((WARC / "whirlwind.warc.gz").read_bytes()).decode("utf-8", "replace")
    (page,) = _docs(out, "whirlwind")
    (wet,) = _docs(out, "whirlwind.wet")
    assert page["url"] == wet["url"] == "https://an.wikipedia.org/wiki/Escopete"
    # the navigation menu is in the HTML and in CC's WET text, but not in the main content
    assert "Menú principal" in raw_html and "Menú principal" in wet["text"]
    assert "Menú principal" not in page["text"] and "De Biquipedia" in page["text"]
    assert wet["text"].startswith("Escopete - Biquipedia")
    assert wet["metadata"]["WARC-Type"] == "conversion" and "HTTP-Content-Type" not in wet["metadata"]
    assert "isPartOf: CC-MAIN-2024-22" in page["warcinfo"]


@needs_data
def test_clueweb_charset_and_stale_encoding_header(main_run):
    """EUC-JP pages with LF-only HTTP headers and a `Content-Encoding: gzip` over a plain body."""
    out, _, stats = main_run
    s = stats["clueweb-quirk.warc.gz"]
    assert (s.documents, sum(s.quarantined.values())) == (29, 0)
    first = _docs(out, "clueweb-quirk")[0]
    assert "ヘッドポーター" in first["text"] and "\ufffd" not in first["text"]


@needs_data
def test_clipped_record_is_quarantined(main_run):
    out, _, stats = main_run
    assert stats["clipped.warc.gz"].quarantined == {"truncated record": 1}
    (line,) = [q for q in _quarantine(out) if q["source"].endswith("clipped.warc.gz")]
    assert line["offset"] == 0 and "88,038" in line["reason"] and "houstonpress.com" in line["url"]


@needs_data
def test_shards_readable_and_manifest(main_run):
    out, report, _ = main_run
    manifest = Manifest.load(str(out / "manifest.json"))
    assert manifest.kind == "pool" and manifest.documents == report.documents
    for entry, uri in zip(manifest.shards, manifest.shard_uris(str(out))):
        assert sha256_of(uri) == (entry.bytes, entry.sha256)
        records = list(read_shard(uri))
        assert len(records) == entry.documents and not any(isinstance(r, Bad) for r in records)
    names = [f["name"] for f in manifest.inputs["files"]]
    assert names == MAIN and all(len(f["sha256"]) == 64 for f in manifest.inputs["files"])
    summary = report.summary()
    assert f"{report.documents} documents" in summary and "truncated record 1" in summary


EDGE = {  # file -> (documents, quarantined, error substring or None)
    "bad.arc": (0, {}, "this is an ARC file"),
    "example-space-in-url.arc": (0, {}, "this is an ARC file"),
    "example.arc": (0, {}, "this is an ARC file"),
    "example.arc.gz": (0, {}, "this is an ARC file"),
    "example-bad-non-chunked.warc.gz": (1, {}, None),
    "example-bad.warc.gz.bad": (2, {}, None),
    "example-digest.warc": (0, {}, None),
    "example-iana.org-chunked.warc": (1, {}, None),
    "example-resource.warc.gz": (0, {}, None),
    "example-space-in-target-uri.warc.gz": (0, {}, None),
    "example-trunc.warc": (0, {"bad gzip encoding": 1}, "the rest of the file was skipped"),
    "example-wget-bad-target-uri.warc.gz": (1, {}, None),
    "example-wrong-chunks.warc.gz": (1, {}, None),
    "example.warc": (1, {}, None),
    "example.warc.gz": (1, {}, None),
    "post-test.warc.gz": (0, {}, None),
}


@needs_data
def test_edge_cases_are_reported_not_raised(edge_run):
    out, _, stats = edge_run
    assert set(stats) == set(EDGE), "a new edge-case file appeared: add its expected outcome"
    lines = _quarantine(out)
    for name, (docs, quarantined, error) in EDGE.items():
        s = stats[name]
        assert (s.documents, dict(s.quarantined)) == (docs, quarantined), name
        assert sum(s.records.values()) == s.documents + sum(s.skipped.values()) + sum(s.quarantined.values())
        if error:
            assert error in s.error, name
        else:
            assert s.error is None, name
        mine = [q for q in lines if Path(q["source"]).name == name]
        assert len(mine) == sum(quarantined.values()) + (error is not None), name
        assert all(q["reason"] for q in mine)


@needs_data
def test_edge_case_details(edge_run):
    out, _, stats = edge_run
    assert stats["post-test.warc.gz"].skipped == {NON_HTML: 3, "request record": 3}
    assert stats["example-resource.warc.gz"].skipped["resource record"] == 1
    assert stats["example-digest.warc"].skipped == {"request record": 4}
    (chunked,) = _docs(out, "example-iana.org-chunked")
    assert "The global coordination of the DNS Root" in chunked["text"] and "1c37" not in chunked["text"]
    (wget,) = _docs(out, "example-wget-bad-target-uri")
    assert wget["url"] == "http://example.com/"  # `<...>` of the WARC 1.1 draft removed
    (gzipped,) = _docs(out, "example-bad-non-chunked")  # Content-Encoding: gzip payload
    assert gzipped["text"].startswith("Example Domain")
    # example.warc and example.warc.gz share a stem, so both keep their full names
    assert _docs(out, "example.warc") and _docs(out, "example.warc.gz")
    trunc = [q for q in _quarantine(out) if q["source"].endswith("example-trunc.warc")]
    assert trunc[0]["offset"] == 1197 and trunc[0]["url"] == "http://example.com/"
    assert trunc[1]["offset"] is None and "after the record at offset 1197" in trunc[1]["reason"]


@needs_data
def test_deterministic(tmp_path):
    inputs = [str(WARC / "sample-0001.warc.gz"), str(WARC / "whirlwind.warc.wet.gz")]
    first, second = ingest(inputs, str(tmp_path / "a"), 7), ingest(inputs, str(tmp_path / "b"), 7)
    names = sorted(p.name for p in (tmp_path / "a").glob("*.jsonl.gz"))
    assert names == sorted(p.name for p in (tmp_path / "b").glob("*.jsonl.gz")) and len(names) == 4
    assert all((tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes() for n in names)
    ids = [Manifest.load(str(tmp_path / d / "manifest.json")).shards for d in "ab"]
    assert ids[0] == ids[1] and first.documents == second.documents == 16


@needs_data
def test_missing_file_does_not_stop_the_run(tmp_path):
    report = ingest([str(tmp_path / "gone.warc.gz"), str(WARC / "whirlwind.warc.gz")], str(tmp_path / "out"))
    gone, ok = report.files
    assert "cannot open" in gone.error and ok.documents == 1
    assert [f.source for f in report.failed_files] == [str(tmp_path / "gone.warc.gz")]
    assert "ERROR cannot open" in report.summary()


# ------------------------------------------------------------------ synthetic records (no shared data needed)


def _record(kind: str, block: bytes, **headers: str) -> bytes:
    head = [b"WARC/1.0", f"WARC-Type: {kind}".encode(), b"WARC-Record-ID: <urn:uuid:%d>" % len(block)]
    head += [f"{k.replace('_', '-')}: {v}".encode() for k, v in headers.items()]
    head.append(f"Content-Length: {len(block)}".encode())
    return b"\r\n".join(head) + b"\r\n\r\n" + block + b"\r\n\r\n"


def _http(body: bytes, *headers: str) -> bytes:
    return b"\r\n".join([b"HTTP/1.1 200 OK", *(h.encode() for h in headers)]) + b"\r\n\r\n" + body


PAGE = b"<html><head><title>T</title></head><body><article><p>" + b"A sentence of real prose here. " * 20 + \
    b"</p></article></body></html>"


def _response(body: bytes, *headers: str, uri: str | None = "http://x.example/") -> bytes:
    extra = {"WARC_Target_URI": uri} if uri else {}
    return _record("response", _http(body, *headers), Content_Type="application/http; msgtype=response", **extra)


def test_synthetic_records(tmp_path):
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(PAGE), PAGE)
    deflated = zlib.compress(PAGE)
    warc = b"".join([
        _record("warcinfo", b"software: test\r\n", Content_Type="application/warc-fields"),
        _response(PAGE, "Content-Type: text/html; charset=utf-8"),  # doc
        _response(chunked, "Content-Type: text/html", "Transfer-Encoding: chunked"),  # doc
        _response(deflated, "Content-Type: text/html", "Content-Encoding: deflate"),  # doc
        _response(PAGE),  # no Content-Type: sniffed as HTML -> doc
        _response(b"zz\r\nnot chunked", "Content-Type: text/html", "Transfer-Encoding: chunked"),  # not chunked: kept
        _response(b"\x1f\x8b\x08\x00broken", "Content-Type: text/html", "Content-Encoding: gzip"),  # quarantined
        _response(PAGE, "Content-Type: text/html", "Content-Encoding: compress"),  # HTML despite header -> doc
        _response(b"\x00\x01binary", "Content-Type: text/html", "Content-Encoding: compress"),  # quarantined
        _response(PAGE, "Content-Type: text/html", uri=None),  # no URL: quarantined
        _response(b"<html><body></body></html>", "Content-Type: text/html"),  # empty extraction
        _response(b"%PDF-1.4", "Content-Type: application/pdf"),  # non-HTML
        _record("response", b"plain", Content_Type="text/plain", WARC_Target_URI="dns:x.example"),  # non-HTTP
    ])
    path = tmp_path / "syn.warc"
    path.write_bytes(warc)
    report = ingest([str(path)], str(tmp_path / "out"))
    (s,) = report.files
    assert s.documents == 6, s
    assert s.skipped == {"warcinfo record": 1, EMPTY: 1, NON_HTML: 1, "non-HTTP response": 1}
    assert s.quarantined == {"bad gzip encoding": 1, "unsupported Content-Encoding": 1, "no WARC-Target-URI": 1}
    docs = _docs(tmp_path / "out", "syn")
    assert all("A sentence of real prose here." in d["text"] for d in docs[:4])
    assert all(d["warcinfo"] == "software: test\r\n" for d in docs)
    lines = _quarantine(tmp_path / "out")
    assert len(lines) == 3 and all(warc[q["offset"] : q["offset"] + 8] == b"WARC/1.0" for q in lines)
    assert [q["reason"].split(":")[0] for q in lines] == ["bad gzip encoding", "unsupported Content-Encoding",
                                                         "no WARC-Target-URI"]


def test_not_a_warc_and_empty(tmp_path):
    (tmp_path / "junk.warc").write_bytes(b"this is not a WARC file at all\n" * 10)
    (tmp_path / "empty.warc").write_bytes(b"")
    report = ingest([str(tmp_path / "junk.warc"), str(tmp_path / "empty.warc")], str(tmp_path / "out"))
    junk, empty = report.files
    assert "not a readable WARC/WET file" in junk.error
    assert "no WARC records found" in empty.error
    assert len(_quarantine(tmp_path / "out")) == 2
    assert Manifest.load(str(tmp_path / "out" / "manifest.json")).shards == []


def test_names_and_arguments(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d in "ab":
        (tmp_path / d / "x.warc.gz").write_bytes(b"")
    with pytest.raises(ConfigError, match="same file name"):
        ingest([str(tmp_path / "a" / "x.warc.gz"), str(tmp_path / "b" / "x.warc.gz")], str(tmp_path / "out"))
    with pytest.raises(ConfigError):
        ingest([str(tmp_path / "a" / "x.warc.gz")], str(tmp_path / "out"), docs_per_shard=0)
    with pytest.raises(ConfigError):
        ingest([], str(tmp_path / "out"))
