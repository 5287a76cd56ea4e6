"""Tokenize and shuffle a curated dataset into fixed-length token shards (DCLM section 6).

Stage 1, one Ray task per input shard: encode each document's `text`
without special tokens, append EOT, concatenate the shard's documents, cut
contexts of exactly `seq_len + 1` tokens and pad the shard's tail context
with PAD (as DCLM). Each context goes to a local cell chosen by a hash of
(seed, shard name, context index). The task streams: contexts go straight
to `work/stage1/<stem>.npy` (rows in order of appearance), the cell of each
row to `<stem>.cells.npy`, and `<stem>.json` (counts) marks it done.

Stage 2, one Ray task per cell: list the cell's rows over all shards in
pool order, permute them with a generator seeded by (seed, cell), and write
`tokens-NNNNN.npy` of at most `shard_sequences` rows, gathering rows from the
stage-1 files through memory maps. Shard numbers are fixed from the stage-1
counts before any cell runs, so cells write independently.

Mixtures (`tokenize_mixture`, Data Mixing Laws): stage 1 runs over the
shards of every source of weight > 0 (weight-0 sources are not read), with
stems `<source>--<shard>` so sources never collide. From the contexts each
source has (n_s) follows the total T: ceil(tokens / (seq_len + 1)) when
`tokens` is given, else the most that repeats no source, floor(min n_s / w_s).
Source s gets k_s of T by largest remainder of w_s * T (so the token shares
are the weights to within one context): k_s // n_s full passes plus a subset
of k_s % n_s contexts drawn by a generator seeded by (seed, source name).
`work/select/<stem>.npy` holds each row's multiplicity, and stage 2 repeats
a cell's rows by it before the permutation. A plain dataset is the
one-source case without selection (its stems keep their names).

Every output depends only on the inputs and the seed, never on scheduling,
so any number of workers gives byte-identical shards. Memory: stage 1 holds
one batch of documents, stage 2 one cell's row index (16 bytes a context)
and one output shard. The driver holds a few numbers per shard, and for a
mixture, while it selects a source's contexts, 8 bytes per context of that
source drawn once more than the rest (k_s % n_s of them), plus numpy's own
sampler's 8 bytes per context of the source for that one call when it takes
over 1/50 of it (fewer: 8 bytes per drawn context); each shard's
multiplicities are built and written one shard at a time. A re-run skips
finished tasks; a finished directory returns its manifest at once.

    out_dir/manifest.json   kind "tokens": shards (documents = sequences), inputs (the dataset's id, the
                            tokenizer's sha256, ...), extra (a plain dataset's extra["dataset_dir"]: where
                            it was read, so a submission finds its recipe; not part of the id)
                            (a mixture's extra["mixture"]: contexts available/taken, epochs and
                            token share per source; documents/content_tokens count what was read)
    out_dir/stats.json      CPU seconds of each stage, tokens per CPU second
    out_dir/tokens-NNNNN.npy  uint16 (vocab <= 65536) or uint32, shape (n, seq_len + 1)
    out_dir/work/           stage files, removed when the manifest is written
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import struct
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from tqdm import tqdm

from dcbench.atomic import open_atomic, write_atomic
from dcbench.errors import ConfigError, DataError
from dcbench.manifest import MANIFEST_NAME, Manifest, ShardEntry
from dcbench.mixture import Mixture, load_mixture
from dcbench.poolref import PoolRef, resolve_pool
from dcbench.shards import Bad, read_shard, shard_stem
from dcbench.taskloop import ray_session, run_tasks, task_limit
from dcbench.training.tokenizer import eot_id, file_sha256, load_tokenizer, pad_id, vocab_size

BATCH_BYTES = 1 << 20  # text per encode_batch call: bounds stage-1 memory (4 MB used 17 MB more, no faster)
_HEADER = 128  # bytes reserved for the .npy header of a streamed stage-1 file
_TOKENIZERS: dict[str, Any] = {}
_SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # becomes part of file names


def token_dtype(vocab: int) -> np.dtype:
    return np.dtype(np.uint16 if vocab <= 1 << 16 else np.uint32)


def tokenize_dataset(dataset: str, out_dir: str, tokenizer_path: str, *, seq_len: int, workers: int | None = None,
                     seed: int = 0, num_cells: int = 16, shard_sequences: int = 8192, address: str | None = None,
                     progress: bool = False) -> Manifest:
    """Tokenize `dataset` (a dataset dir or anything `resolve_pool` takes) into `out_dir`.

    `out_dir` and the tokenizer file are local paths; on a multi-node cluster
    they must be on storage every node sees at the same path.
    """
    _check_args(seq_len, workers, num_cells, shard_sequences)
    ref = resolve_pool(dataset)
    tok = load_tokenizer(tokenizer_path)
    inputs = {"dataset": ref.id, "tokenizer": file_sha256(tokenizer_path), "seq_len": seq_len, "seed": seed}
    return _tokenize({"": ref}, None, None, ref.name, inputs, out_dir, tokenizer_path, tok, seq_len=seq_len,
                     workers=workers, seed=seed, num_cells=num_cells, shard_sequences=shard_sequences,
                     address=address, progress=progress, where=dataset_location(dataset))


def tokenize_mixture(mixture: Mixture | str | os.PathLike, out_dir: str, tokenizer_path: str, *, seq_len: int,
                     tokens: int | None = None, workers: int | None = None, seed: int = 0, num_cells: int = 16,
                     shard_sequences: int = 8192, address: str | None = None, progress: bool = False) -> Manifest:
    """Tokenize a mixture (a `Mixture` or a mixture file) into `out_dir`, each source's token share its weight.

    `tokens`: the total to produce (whole contexts, rounded up); sources
    without enough are repeated, with a warning on stderr. Without it, the
    most tokens that repeat no source. See the module doc for the selection.
    """
    _check_args(seq_len, workers, num_cells, shard_sequences)
    if not isinstance(mixture, Mixture):
        mixture = load_mixture(mixture)
    if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1):
        raise ConfigError(f"--tokens must be a positive whole number, got {tokens!r}")
    weights = {n: float(mixture.weights[n]) for n in mixture.names}
    bad = [n for n in weights if not _SOURCE_NAME.fullmatch(n)]
    if bad:
        raise ConfigError(f"mixture source names {bad} must be letters, digits, '_', '.' or '-' "
                          f"(they become part of file names)")
    refs = {n: resolve_pool(mixture.sources[n]) for n, w in weights.items() if w > 0}  # weight 0: not read
    tok = load_tokenizer(tokenizer_path)
    inputs = {"mixture": {n: {"dataset": refs[n].id if n in refs else None, "weight": w} for n, w in weights.items()},
              "tokenizer": file_sha256(tokenizer_path), "seq_len": seq_len, "seed": seed, "tokens": tokens}
    return _tokenize(refs, weights, tokens, "+".join(refs), inputs, out_dir, tokenizer_path, tok, seq_len=seq_len,
                     workers=workers, seed=seed, num_cells=num_cells, shard_sequences=shard_sequences,
                     address=address, progress=progress)


def _tokenize(refs: dict[str, PoolRef], weights: dict[str, float] | None, tokens: int | None, name: str,
              inputs: dict[str, Any], out_dir: str, tokenizer_path: str, tok: Any, *, seq_len: int,
              workers: int | None, seed: int, num_cells: int, shard_sequences: int, address: str | None,
              progress: bool, where: str | None = None) -> Manifest:
    """The one code path: `weights` None is a plain dataset (`refs` = {"": ref}, every context once)."""
    sources = [(src, u, f"{src}--{shard_stem(u)}" if weights is not None else shard_stem(u))
               for src, ref in refs.items() for u in ref.uris]  # (source, shard uri, stem)
    stems = [stem for _, _, stem in sources]
    if len(set(stems)) < len(stems):
        raise ConfigError("two mixture sources give shards the same name (<source>--<shard>); rename a source")
    vocab = vocab_size(tok)
    layout = {"num_cells": num_cells, "shard_sequences": shard_sequences}
    out = Path(out_dir).resolve()  # tasks may run in another working directory
    finished = _finished(out, inputs, layout)
    if finished is not None:
        return finished
    _claim(out, {**inputs, **layout})

    spec = {"tokenizer": str(Path(tokenizer_path).resolve()), "seq_len": seq_len, "seed": seed, "num_cells": num_cells,
            "dtype": token_dtype(vocab).str, "eot": eot_id(tok), "pad": pad_id(tok), "select": weights is not None}
    work = out / "work"
    with ray_session(workers, address):
        limit = task_limit(workers)
        todo = [(u, s) for _, u, s in sources if not (work / "stage1" / f"{s}.json").exists()]
        _map(_stage1, [(u, s, str(work), spec) for u, s in todo], limit, progress, "tokenize", len(stems))
        stats = [_read_json(work / "stage1" / f"{s}.json") for s in stems]
        mixed = None
        if weights is None:
            cell_rows = np.sum([st["cells"] for st in stats], axis=0, dtype=np.int64) if stats else np.zeros(num_cells)
        else:
            cell_rows, mixed = _select(work, sources, stats, weights, tokens, seq_len, seed, num_cells)
        per_cell = [-(-int(n) // shard_sequences) for n in cell_rows]
        firsts = np.concatenate([[0], np.cumsum(per_cell)[:-1]]).astype(int).tolist()
        cells = [c for c in range(num_cells) if not (work / "stage2" / f"cell-{c:05d}.json").exists()]
        _map(_stage2, [(c, firsts[c], stems, str(work), str(out), spec, shard_sequences) for c in cells],
             limit, progress, "shuffle", num_cells)
    return _finish(out, name, inputs, layout, spec, vocab, stats, num_cells, mixed, where)


def dataset_location(spec: str) -> str | None:
    """Where a dataset directory is (absolute, or the URI as given), for the manifest's extra; None for
    a glob or a single shard."""
    if "://" in spec:
        return spec.rstrip("/").removesuffix(f"/{MANIFEST_NAME}")
    path = Path(spec)
    if path.is_dir():
        return str(path.resolve())
    return str(path.resolve().parent) if path.name == MANIFEST_NAME else None


def _check_args(seq_len: int, workers: int | None, num_cells: int, shard_sequences: int) -> None:
    if seq_len < 1:
        raise ConfigError(f"seq_len must be at least 1, got {seq_len}")
    if workers is not None and workers < 1:
        raise ConfigError("--workers must be at least 1")
    if not 1 <= num_cells <= 1 << 16:
        raise ConfigError(f"num_cells must be between 1 and 65536, got {num_cells}")
    if shard_sequences < 1:
        raise ConfigError(f"shard_sequences must be at least 1, got {shard_sequences}")


def _finished(out: Path, inputs: dict[str, Any], layout: dict[str, Any]) -> Manifest | None:
    path = out / MANIFEST_NAME
    if not path.exists():
        return None
    m = Manifest.load(str(path))
    if m.inputs == inputs and all(m.extra.get(k) == v for k, v in layout.items()):
        return m
    raise ConfigError(f"{out} holds tokens of other inputs ({m.inputs}); use a new output directory")


def _claim(out: Path, config: dict[str, Any]) -> None:
    """Refuse to resume stage files that another configuration wrote."""
    marker = out / "work" / "config.json"
    if marker.exists():
        if _read_json(marker) != config:
            raise ConfigError(f"{out}/work holds an unfinished run with {_read_json(marker)}; "
                              f"use a new output directory or delete {out}/work")
        return
    _write_json(marker, config)


def _map(fn: Callable[..., Any], calls: list[tuple], limit: int, progress: bool, desc: str, total: int) -> None:
    """Run `fn(*args)` for every call through the spine's task loop, with a progress bar."""
    bar = tqdm(total=total, initial=total - len(calls), desc=desc, unit="task", disable=not progress)
    try:
        outcome = run_tasks(fn, calls, limit=limit, on_result=lambda _, __: bar.update(1))
    finally:
        bar.close()
    outcome.raise_failures(f"{desc} tasks", total=total, hint="finished tasks are kept; re-run the same command "
                                                               "to redo the rest")


# ------------------------------------------------------------------ stage 1


def _tokenizer(path: str) -> Any:
    """One tokenizer per worker process; one thread, as Ray gives each task one CPU."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    if path not in _TOKENIZERS:
        _TOKENIZERS[path] = load_tokenizer(path)
    return _TOKENIZERS[path]


def cell_of(seed: int, stem: str, index: int, num_cells: int) -> int:
    """The local cell of context `index` of shard `stem`: a hash, so independent of scheduling."""
    digest = hashlib.blake2b(f"{seed}/{stem}/{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % num_cells


def _text_batches(uri: str, counts: dict[str, int]) -> Iterator[list[str]]:
    batch, size = [], 0
    for rec in read_shard(uri):
        if isinstance(rec, Bad):
            counts["bad_records"] += 1
            continue
        batch.append(rec["text"])
        size += len(rec["text"])
        if size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _stage1(uri: str, stem: str, work: str, spec: dict[str, Any]) -> None:
    cpu = time.process_time()
    tok = _tokenizer(spec["tokenizer"])
    encode = getattr(tok, "encode_batch_fast", tok.encode_batch)  # _fast (no offsets) since tokenizers 0.20
    dtype, width = np.dtype(spec["dtype"]), spec["seq_len"] + 1
    counts = {"documents": 0, "bad_records": 0, "content_tokens": 0}
    cells: list[int] = []
    carry = np.zeros(0, dtype)
    final = Path(work) / "stage1" / f"{stem}.npy"
    final.parent.mkdir(parents=True, exist_ok=True)
    with open_atomic(final) as f:
        f.write(b"\0" * _HEADER)
        eot = np.asarray([spec["eot"]], dtype)
        for texts in _text_batches(uri, counts):
            # one small array per document, not one Python int per token of the batch
            parts = [carry]
            for enc in encode(texts, add_special_tokens=False):
                parts += [np.asarray(enc.ids, dtype), eot]
            counts["documents"] += len(texts)
            counts["content_tokens"] += sum(len(p) for p in parts) - len(carry)
            carry = np.concatenate(parts)
            full = len(carry) // width * width
            f.write(carry[:full].tobytes())
            base = len(cells)
            cells += [cell_of(spec["seed"], stem, base + i, spec["num_cells"]) for i in range(full // width)]
            carry = carry[full:]
        # DCLM pads the tail of each file to a whole context. Edge, decided: when a file's tokens
        # are an exact multiple of seq_len + 1, tokshuf-rs still writes one context of nothing but
        # PAD; we write none. That is about one file in 2049 (~5 of the 10,305 files of the 400M-1x
        # pool, against the ~4M contexts it trains on), so no published number can move, and an
        # all-PAD context would only teach the model PAD -> PAD (DCLM masks no target).
        if len(carry):
            f.write(np.concatenate([carry, np.full(width - len(carry), spec["pad"], dtype)]).tobytes())
            cells.append(cell_of(spec["seed"], stem, len(cells), spec["num_cells"]))
        f.seek(0)
        f.write(_npy_header(dtype, len(cells), width))
    cell_ids = np.asarray(cells, np.uint16 if spec["num_cells"] <= 1 << 16 else np.uint32)
    _save_npy(final.with_name(f"{stem}.cells.npy"), cell_ids)
    counts["cells"] = np.bincount(cell_ids, minlength=spec["num_cells"]).tolist()
    _write_json(final.with_name(f"{stem}.json"),
                {"shard": uri, "contexts": len(cells), "cpu_secs": time.process_time() - cpu, **counts})


def _npy_header(dtype: np.dtype, rows: int, cols: int) -> bytes:
    """A .npy v1.0 header padded to `_HEADER` bytes, written after the rows are counted."""
    body = f"{{'descr': '{dtype.str}', 'fortran_order': False, 'shape': ({rows}, {cols}), }}"
    body = body.ljust(_HEADER - 11) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body.encode("latin1")


# ------------------------------------------------------------------ mixture selection


def largest_remainder(weights: dict[str, float], total: int) -> dict[str, int]:
    """Whole shares of `total` in proportion to `weights`, summing to exactly `total`
    (ties go to the earlier name)."""
    norm = sum(weights.values())
    quota = {n: w / norm * total for n, w in weights.items()}
    take = {n: math.floor(q) for n, q in quota.items()}
    order = sorted(weights, key=lambda n: -(quota[n] - take[n]))  # stable: mixture order breaks ties
    for n in order[:total - sum(take.values())]:
        take[n] += 1
    return take


def _name_key(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def _select(work: Path, sources: list[tuple[str, str, str]], stats: list[dict[str, Any]],
            weights: dict[str, float], tokens: int | None, seq_len: int, seed: int,
            num_cells: int) -> tuple[np.ndarray, dict[str, dict[str, Any]]]:
    """Decide how often each context is taken; write `work/select/<stem>.npy`; return the rows
    of each cell and the per-source report."""
    active = {n: w for n, w in weights.items() if w > 0}
    read = {n: {"contexts": 0, "documents": 0, "content_tokens": 0} for n in active}
    for (src, _, _), st in zip(sources, stats):
        for key in read[src]:
            read[src][key] += st[key]
    avail = {n: r["contexts"] for n, r in read.items()}
    empty = [n for n, k in avail.items() if k == 0]
    if empty:
        raise DataError(f"mixture sources {empty} have weight > 0 but no text to tokenize")
    if tokens is not None:
        total = -(-tokens // (seq_len + 1))
    else:  # the most that repeats no source (float weights: step down if rounding overshoots one)
        total = min(math.floor(n / active[s] + 1e-9) for s, n in avail.items())
    take = largest_remainder(active, total)
    while tokens is None and any(take[s] > avail[s] for s in active):
        total -= 1
        take = largest_remainder(active, total)
    report: dict[str, dict[str, Any]] = {}
    cell_rows = np.zeros(num_cells, np.int64)
    for src, w in weights.items():
        if src not in active:
            report[src] = {"weight": w, "contexts_available": None, "contexts_taken": 0, "epochs": 0.0,
                           "token_share": 0.0}
            continue
        n, k = avail[src], take[src]
        if k > n:
            print(f"warning: mixture source {src!r} has {n:,} contexts but its weight {w:.4g} takes {k:,}: "
                  f"it is repeated {k / n:.2f} times", file=sys.stderr)
        # The contexts taken once more than the rest, sorted; each shard's multiplicities are built
        # from them one shard at a time, never one number per context of the whole source.
        extra = np.sort(np.random.default_rng([seed, _name_key(src)]).choice(n, k % n, replace=False))
        dtype = np.uint16 if k // n + (len(extra) > 0) < 1 << 16 else np.uint32
        start = 0
        for (s_src, _, stem), st in zip(sources, stats):
            if s_src == src:
                end = start + st["contexts"]
                lo, hi = np.searchsorted(extra, [start, end])
                part = np.full(st["contexts"], k // n, dtype)
                part[extra[lo:hi] - start] += 1
                start = end
                path = work / "select" / f"{stem}.npy"
                if not path.exists():  # a resumed run: the same selection, already written
                    _save_npy(path, part)
                cells = np.load(work / "stage1" / f"{stem}.cells.npy")
                cell_rows += np.bincount(cells, weights=part, minlength=num_cells).astype(np.int64)
        report[src] = {"weight": w, "contexts_available": n, "contexts_taken": k, "epochs": k / n,
                       "token_share": k / total, "documents_read": read[src]["documents"],
                       "content_tokens_read": read[src]["content_tokens"]}
    return cell_rows, report


# ------------------------------------------------------------------ stage 2


def _cell_members(cell: int, stems: list[str], work: Path, select: bool) -> tuple[np.ndarray, np.ndarray]:
    """(shard index, row) of every context in `cell`, in pool and row order; with `select`,
    each row as many times as its multiplicity (0 drops it)."""
    shards, rows = [], []
    for i, stem in enumerate(stems):
        r = np.flatnonzero(np.load(work / "stage1" / f"{stem}.cells.npy") == cell)
        if select:
            r = np.repeat(r, np.load(work / "select" / f"{stem}.npy")[r].astype(np.int64))
        shards.append(np.full(len(r), i, np.int64))
        rows.append(r)
    return np.concatenate(shards or [np.zeros(0, np.int64)]), np.concatenate(rows or [np.zeros(0, np.int64)])


def _stage2(cell: int, first: int, stems: list[str], work: str, out: str, spec: dict[str, Any],
            shard_sequences: int) -> None:
    cpu, wdir = time.process_time(), Path(work)
    shard_idx, rows = _cell_members(cell, stems, wdir, spec.get("select", False))
    order = np.random.default_rng([spec["seed"], cell]).permutation(len(rows))
    maps: dict[int, np.ndarray] = {}
    entries = []
    for k, start in enumerate(range(0, len(order), shard_sequences)):
        pick = order[start:start + shard_sequences]
        block = np.empty((len(pick), spec["seq_len"] + 1), np.dtype(spec["dtype"]))
        for s in np.unique(shard_idx[pick]):
            if s not in maps:
                maps[s] = np.load(wdir / "stage1" / f"{stems[s]}.npy", mmap_mode="r")
            at = np.flatnonzero(shard_idx[pick] == s)
            block[at] = maps[s][rows[pick[at]]]
        name = f"tokens-{first + k:05d}.npy"
        _save_npy(Path(out) / name, block)
        entries.append(_entry(Path(out) / name, len(block)))
    _write_json(wdir / "stage2" / f"cell-{cell:05d}.json",
                {"cell": cell, "shards": entries, "cpu_secs": time.process_time() - cpu})


def _entry(path: Path, rows: int) -> dict[str, Any]:
    return {"path": path.name, "bytes": path.stat().st_size, "sha256": file_sha256(path), "documents": rows}


# ------------------------------------------------------------------ finish


def _finish(out: Path, name: str, inputs: dict[str, Any], layout: dict[str, Any], spec: dict[str, Any],
            vocab: int, stats: list[dict[str, Any]], num_cells: int,
            mixed: dict[str, dict[str, Any]] | None = None, where: str | None = None) -> Manifest:
    cells = [_read_json(out / "work" / "stage2" / f"cell-{c:05d}.json") for c in range(num_cells)]
    shards = [ShardEntry(**e) for cell in cells for e in cell["shards"]]
    sequences = sum(s.documents for s in shards)
    extra = {"sequences": sequences, "tokens": sequences * (inputs["seq_len"] + 1),
             "content_tokens": sum(st["content_tokens"] for st in stats),
             "documents": sum(st["documents"] for st in stats),
             "bad_records": sum(st["bad_records"] for st in stats),
             "dtype": np.dtype(spec["dtype"]).name, "vocab_size": vocab, "eot": spec["eot"], "pad": spec["pad"],
             **layout}
    if where is not None:
        extra["dataset_dir"] = where
    if mixed is not None:
        extra["mixture"] = mixed
        extra["token_shares"] = {n: r["token_share"] for n, r in mixed.items()}
    manifest = Manifest(kind="tokens", name=name, shards=shards, inputs=inputs, extra=extra)
    # Timings vary from run to run, so they live beside the manifest, not in it.
    cpu1, cpu2 = sum(st["cpu_secs"] for st in stats), sum(c["cpu_secs"] for c in cells)
    _write_json(out / "stats.json", {"manifest": manifest.id, "stage1_cpu_secs": cpu1, "stage2_cpu_secs": cpu2,
                                     "content_tokens_per_cpu_sec": extra["content_tokens"] / max(cpu1 + cpu2, 1e-9)})
    manifest.save(str(out / MANIFEST_NAME))
    shutil.rmtree(out / "work", ignore_errors=True)
    return manifest


def _save_npy(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_atomic(path) as f:
        np.save(f, arr, allow_pickle=False)


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def _write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, sort_keys=True))
