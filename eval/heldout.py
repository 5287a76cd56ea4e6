"""Held-out perplexity: bits per byte on fresh pages, per source (`dcbench eval MODEL --suite heldout`).

Pages come from the files named with `--heldout` (jsonl, .jsonl.gz, .jsonl.zst or
.parquet, one page per record with a string `text`; a folder stands for the
shard files directly in it). A page's source is its `source` field, else its
file's name without the format suffix (`heldout/web.jsonl` -> `web`). For the
toy pool, `dcbench eval toy-suite --out DIR` (and `dcbench pool toy`, in
`OUT/eval`) writes such pages to `DIR/heldout/`, drawn from random streams no
pool uses.

Scoring: a page is the end-of-text token (what precedes a document in
training, where documents are joined by it) followed by its tokens; it is cut
into windows of the model's context, each predicting every token after its
first, so that every token of the page is predicted exactly once, from at
most `max_seq_len - 1` tokens of its own page. A page's bits are its summed
negative log-likelihood over ln 2; a source's bpb is its pages' bits over
their UTF-8 bytes (byte-weighted), and `HELDOUT-bpb` is the mean over sources
(lower is better). The forward is the scorer's (`eval.scoring.continuation_stats`).

Guard: with `--pool` (a pool or dataset dir with manifest.json, a folder of
shards, or one shard; repeat it), every page whose exact text is also in one
of them is not scored: it is counted and listed per source (`overlap`) and
the run warns. Without `--pool` nothing is checked, and the results say so.

Results JSON: ``{"suite": "heldout", "model", "sources": {source: {bpb, pages, tokens, bytes, bits,
overlap, files}}, "tasks": the same records (type "heldout", n = pages scored), "items": {source:
{index, correct: null, p_correct: null, bpb: [...], margin: null, bytes: [...]}}, "aggregates":
{"HELDOUT-bpb"}, "overlap": {source: [{file, line, sha}]}, "pools_checked", "files", "complete",
"partial", "id", ...}``; ``items`` keep the evaluator's per-item schema (`eval.runner`), plus each
page's bytes so a byte-weighted bpb can be recomputed.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from dcbench import __version__, table
from dcbench.atomic import write_atomic
from dcbench.errors import ConfigError, DataError
from dcbench.manifest import MANIFEST_NAME, Manifest, content_id
from dcbench.progress import Progress
from dcbench.shards import FORMATS, Bad, read_shard, sha256_of, shard_format, shard_stem

HEADLINE = "HELDOUT-bpb"
SUFFIXES = tuple(f".{f}" for f in FORMATS) + (".json.gz", ".jsonl.zstd", ".json.zst")


@dataclass(frozen=True)
class Page:
    source: str
    text: str
    file: str
    line: int  # the record's position in its file (0-based)
    index: int  # the page's position within its source


def text_key(text: str) -> str:
    """The exact-text fingerprint the pool guard compares (blake2b-128 of the UTF-8 bytes)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


# ------------------------------------------------------------------ inputs


def _shards_in(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(SUFFIXES))


def heldout_files(paths: Iterable[str]) -> list[str]:
    """The shard files `--heldout` names (folders expanded to the shard files in them)."""
    files: list[str] = []
    for given in paths:
        p = Path(given).expanduser()
        if p.is_dir():
            found = _shards_in(p)
            if not found:
                raise ConfigError(f"--heldout {given}: the folder holds no .jsonl/.jsonl.gz/.jsonl.zst/.parquet files")
            files += found
        elif p.is_file():
            shard_format(str(p))  # a DataError naming the accepted formats
            files.append(str(p))
        else:
            raise ConfigError(f"--heldout {given}: no such file or folder")
    if not files:
        raise ConfigError("--suite heldout needs pages to score: pass --heldout FILE.jsonl (repeat it, or name a "
                          "folder); for the toy pool, `dcbench eval toy-suite --out DIR` writes DIR/heldout/")
    return list(dict.fromkeys(files))


def read_pages(files: Sequence[str], limit: int | None = None) -> list[Page]:
    """Every page of `files`, in file then record order; `limit` keeps the first pages of each source."""
    pages: list[Page] = []
    per_source: dict[str, int] = {}
    for f in files:
        for line, rec in enumerate(read_shard(f)):
            if isinstance(rec, Bad):
                raise DataError(f"{f}: record {rec.index + 1} is not a page ({rec.reason}); held-out files need a "
                                f"string 'text' per record")
            source = rec.get("source") if isinstance(rec.get("source"), str) and rec.get("source") else shard_stem(f)
            n = per_source.get(source, 0)
            if limit is not None and n >= limit:
                continue
            if rec["text"]:
                pages.append(Page(source, rec["text"], f, line, n))
                per_source[source] = n + 1
    if not pages:
        raise DataError(f"no pages with text in {', '.join(files)}")
    return pages


def _pool_files(given: str) -> list[str]:
    p = Path(given).expanduser()
    if p.is_dir() and (p / MANIFEST_NAME).is_file():
        return Manifest.load(str(p / MANIFEST_NAME)).shard_uris(str(p))
    if p.is_dir():
        found = _shards_in(p)
        if found:
            return found
        raise ConfigError(f"--pool {given}: neither a manifest.json nor shard files in that folder")
    if p.is_file():
        shard_format(str(p))
        return [str(p)]
    raise ConfigError(f"--pool {given}: no such file or folder")


def pool_overlap(pages: Sequence[Page], pools: Sequence[str], say: Callable[[str], Any] = print) -> set[str]:
    """The text keys of `pages` that some document of `pools` has, reading each pool shard once."""
    wanted = {text_key(p.text) for p in pages}
    found: set[str] = set()
    for pool in pools:
        files = _pool_files(pool)
        docs = 0
        for f in files:
            for rec in read_shard(f):
                if not isinstance(rec, Bad):
                    docs += 1
                    key = text_key(rec["text"])
                    if key in wanted:
                        found.add(key)
        say(f"heldout: checked {len(wanted):,} pages against {docs:,} documents of {pool} ({len(files)} shards)")
    return found


# ------------------------------------------------------------------ scoring


def page_windows(ids: Sequence[int], eot_id: int, max_seq_len: int) -> list[tuple[list[int], list[int]]]:
    """(context, continuation) windows that predict every token of ``[eot] + ids`` after the first exactly
    once; each window is at most `max_seq_len` tokens, its context the token before its first target."""
    if max_seq_len < 2:
        raise ConfigError(f"a model with max_seq_len {max_seq_len} cannot score held-out pages")
    seq = [eot_id, *ids]
    step = max_seq_len - 1
    return [([seq[s]], seq[s + 1:s + 1 + step]) for s in range(0, len(seq) - 1, step)]


def score_pages(model: Any, pages: Sequence[Page], *, batch_size: int = 8, precision: str = "fp32",
                on_done: Callable[[float], None] | None = None) -> list[tuple[float, int, int]]:
    """(bits, bytes, tokens) of each page under `model` (an `EvalModel`: encode, eot_id, max_seq_len)."""
    # deferred: the scorer imports torch (~2 s measured); `dcbench eval --help` must not pay it
    from dcbench.eval.scoring import continuation_stats

    pairs, owner, tokens = [], [], []
    for k, page in enumerate(pages):
        ids = list(model.encode(page.text))
        tokens.append(len(ids))
        windows = page_windows(ids, model.eot_id, model.max_seq_len) if ids else []
        pairs += windows
        owner += [k] * len(windows)
    share = [0] * len(pages)
    for k in owner:
        share[k] += 1
    on_batch = None
    if on_done is not None:
        def on_batch(rows: list[int]) -> None:
            on_done(sum(1.0 / share[owner[r]] for r in rows))
    _, _, nll = continuation_stats(model, pairs, pad_id=getattr(model, "pad_id", 0), batch_size=batch_size,
                                   precision=precision, on_batch=on_batch)
    nats = [0.0] * len(pages)
    for k, v in zip(owner, nll):
        nats[k] += v
    return [(n / math.log(2), len(p.text.encode("utf-8")), t) for n, p, t in zip(nats, pages, tokens)]


# ------------------------------------------------------------------ results


def _source_records(pages: Sequence[Page], scores: Sequence[tuple[float, int, int]], overlap: dict[str, list],
                    seconds: float) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(per-source records, per-source item lists)."""
    records: dict[str, dict[str, Any]] = {}
    items: dict[str, dict[str, Any]] = {}
    for page, (bits, n_bytes, n_tokens) in zip(pages, scores):
        r = records.setdefault(page.source, {"type": "heldout", "pages": 0, "bits": 0.0, "bytes": 0, "tokens": 0,
                                             "files": []})
        r["pages"] += 1
        r["bits"] += bits
        r["bytes"] += n_bytes
        r["tokens"] += n_tokens
        if page.file not in r["files"]:
            r["files"].append(page.file)
        it = items.setdefault(page.source, {"index": [], "correct": None, "p_correct": None, "bpb": [],
                                            "margin": None, "bytes": []})
        it["index"].append(page.index)
        it["bpb"].append(bits / n_bytes)
        it["bytes"].append(n_bytes)
    for source, r in records.items():
        r["bpb"] = r["bits"] / r["bytes"]
        r["n"] = r["pages"]
        r["overlap"] = len(overlap.get(source, []))
        r["seconds"] = seconds * r["tokens"] / max(1, sum(x["tokens"] for x in records.values()))
    for source, hits in overlap.items():  # a source whose every page was in the pool
        records.setdefault(source, {"type": "heldout", "pages": 0, "n": 0, "bits": 0.0, "bytes": 0, "tokens": 0,
                                    "files": sorted({h["file"] for h in hits}), "bpb": None,
                                    "overlap": len(hits), "seconds": 0.0})
    return records, items


def format_heldout(results: dict[str, Any]) -> str:
    """The per-source table and the headline, as printed at the end of a run."""
    rows = [(src, f"{r['pages']:,}", f"{r['overlap']:,}", f"{r['tokens']:,}", f"{r['bytes']:,}",
             f"{r['bpb']:.4f}" if r["bpb"] is not None else "-", f"{r['seconds']:.1f}")
            for src, r in results["sources"].items()]
    lines = [table.format_table(("source", "pages", "in pool", "tokens", "bytes", "bpb", "seconds"), rows)]
    head = results["aggregates"][HEADLINE]
    lines.append(f"{HEADLINE}: {head:.4f} (mean over sources; lower is better)" if isinstance(head, float)
                 else f"{HEADLINE}: {head}")
    if results.get("partial"):
        lines[-1] += "  PARTIAL: " + "; ".join(results["partial_reasons"])
    if not results["pools_checked"]:
        lines.append("not checked against any pool (pass --pool DIR to exclude pages a pool contains)")
    return "\n".join(lines)


def _overlap_report(pages: Sequence[Page], hits: set[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for p in pages:
        key = text_key(p.text)
        if key in hits:
            out.setdefault(p.source, []).append({"file": p.file, "line": p.line, "index": p.index, "text_key": key})
    return out


def run_heldout(model_path, heldout: Sequence[str], *, pools: Sequence[str] = (), out_path=None,
                batch_size: int = 8, limit: int | None = None, tokenizer=None, device=None, threads: int | None = None,
                precision: str = "fp32", progress: bool = True, model=None) -> dict[str, Any]:
    """Bits per byte of `model_path` on the held-out pages of `heldout` (files or folders), per source.

    `pools` are checked for exact copies of the pages first (module doc); `limit` scores the first
    `limit` pages of each source (PARTIAL). `model` is an already loaded `EvalModel`. Returns the
    results dict; writes it to `out_path` when given.
    """
    # deferred: the model imports torch (~2 s measured); `dcbench eval --help` must not pay it
    from dcbench.eval.model import load_model, use_threads

    if batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1 (got {batch_size})")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be >= 1 (got {limit})")
    say = print if progress else (lambda *_: None)
    files = heldout_files(heldout)
    pages = read_pages(files, limit)
    hits = pool_overlap(pages, pools, say) if pools else set()
    overlap = _overlap_report(pages, hits)
    scored = [p for p in pages if text_key(p.text) not in hits]
    thread_info = use_threads(threads)
    if model is None:
        model = load_model(model_path, device=device, tokenizer=tokenizer, precision=precision)
    t0 = time.perf_counter()
    with Progress(len(scored), "eval heldout", "pages", enabled=progress) as bar:
        scores = score_pages(model, scored, batch_size=batch_size, on_done=bar.update)
    seconds = time.perf_counter() - t0
    sources, items = _source_records(scored, scores, overlap, seconds)
    bpbs = [r["bpb"] for r in sources.values() if r["bpb"] is not None]
    n_overlap = sum(len(v) for v in overlap.values())
    partial = [f"--limit {limit} scored the first {limit} pages of each source"] if limit is not None else []
    describe = model.describe() if hasattr(model, "describe") else {"path": str(model_path)}
    describe["path"] = str(model_path) if model_path is not None else describe.get("path")
    results: dict[str, Any] = {
        "suite": "heldout", "model": describe, "sources": sources, "tasks": sources, "items": items,
        "aggregates": {HEADLINE: sum(bpbs) / len(bpbs) if bpbs else "N/A: every page is in a pool"},
        "overlap": overlap, "pools_checked": [str(p) for p in pools],
        "files": {f: sha256_of(f)[1] for f in files}, "missing": [], "complete": not partial,
        "partial": bool(partial), "partial_reasons": partial, "incomplete_reasons": [], "limit": limit,
        "batch_size": batch_size, "precision": getattr(model, "precision", "fp32"), "threads": thread_info,
        "seconds": seconds, "dcbench": __version__,
    }
    results["id"] = content_id("eval", {
        "model": describe.get("id_chain", {}).get("model"), "suite": "heldout", "files": results["files"],
        "pools": results["pools_checked"], "limit": limit, "code": __version__,
        "sources": {k: [v["bpb"], v["pages"]] for k, v in sources.items()},
        **({"precision": results["precision"]} if results["precision"] != "fp32" else {})})
    if out_path is not None:
        write_atomic(out_path, json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
    if progress:
        print(format_heldout(results), flush=True)
    if n_overlap:
        print(f"eval heldout: WARNING {n_overlap:,} held-out page(s) are also in the pool, so not held out: not "
              f"scored, listed under 'overlap' in the results ("
              + ", ".join(f"{s} {len(v):,}" for s, v in overlap.items()) + ")", file=sys.stderr)
    return results
