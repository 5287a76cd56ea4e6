"""Near-duplicate removal with MinHash signatures and LSH banding.

A document's set is its word n-grams ("shingles", default 5 words): the text
is lowercased and cut into `\\w+` runs, and each n-gram is the words joined by
single spaces, UTF-8 encoded (a text with fewer words than n is one shingle;
a text with no word has no shingle and never matches anything).

Signatures are datasketch 2.0 MinHashes (scheme ``affine32``, `seed`, shingles
hashed with ``xxhash.xxh32_intdigest``): `signatures(..., engine="datasketch")`
calls ``MinHash.bulk(..., hashfunc=xxhash.xxh32_intdigest)`` itself; the
default engine ``numpy`` computes the very same values (same permutations,
same pre-mix, checked in the tests) without building a Python set of bytes
per document, which is about 1.5x faster end to end.

The global step is cut so that it partitions over workers:

1. per shard: `signatures(docs)` -> ``(n, num_perm)`` uint32, then
   `lsh_rows(sigs, shard_rank, bands, rows)`: one (band key, shard, index)
   row per document and band (documents with no shingle are left out);
2. `split_buckets(rows, B)` by band key: rows that can collide share a bucket;
3. per bucket: `candidate_pairs(rows)`: pairs of documents that share a band
   key, the earlier document (global order) first;
4. `verify_pairs(pairs, sigs_by_rank, threshold)`: keep the pairs whose
   estimated Jaccard similarity (fraction of equal signature entries) is at
   least `threshold`; this drops band-hash collisions and weak matches;
5. `cluster_drop_masks(sizes, edges)`: union-find over the verified pairs; in
   each cluster the first document in global order (shards sorted by name,
   documents in file order) is kept and the others are dropped.

`near_duplicates(sig_per_shard)` runs 2-5 in one process.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any, Iterable, Literal, Mapping, Sequence

import numpy as np
import xxhash

from dcbench.baselines.dedup.exact import iter_values, shard_order

Engine = Literal["numpy", "datasketch"]

EMPTY = np.uint32(0xFFFFFFFF)  # the signature entry of a document with no shingle (datasketch's initial value)
LSH_ROW_DTYPE = np.dtype([("key", "<u8"), ("shard", "<i4"), ("index", "<i8")])
PAIR_DTYPE = np.dtype([("a_shard", "<i4"), ("a_index", "<i8"), ("b_shard", "<i4"), ("b_index", "<i8")])

_WORD_RE = re.compile(r"\w+")
_CHUNK_ENTRIES = 1 << 18  # signature work buffer: 1 MiB of uint32
_M64 = (1 << 64) - 1


# ------------------------------------------------------------------ shingles


def _joined_words(text: str, lowercase: bool) -> bytes:
    if lowercase:
        text = text.lower()
    return " ".join(_WORD_RE.findall(text)).encode("utf-8", "surrogatepass")


def shingles(text: str, ngram: int = 5, *, lowercase: bool = True) -> set[bytes]:
    """The document's set of word n-grams as UTF-8 bytes (see the module docstring)."""
    if ngram < 1:
        raise ValueError(f"ngram must be >= 1, got {ngram}")
    joined = _joined_words(text, lowercase)
    if not joined:
        return set()
    words = joined.split(b" ")
    if len(words) < ngram:
        return {joined}
    return {b" ".join(words[i : i + ngram]) for i in range(len(words) - ngram + 1)}


def _shingle_hashes(text: str, ngram: int, lowercase: bool) -> list[int]:
    """xxh32 of every shingle (duplicates included: they do not change a minimum).

    The shingles are slices of the joined word string, so no per-shingle
    string is built by joining.
    """
    joined = _joined_words(text, lowercase)
    if not joined:
        return []
    spaces = np.flatnonzero(np.frombuffer(joined, dtype=np.uint8) == 32)
    n_words = len(spaces) + 1
    h32 = xxhash.xxh32_intdigest
    if n_words < ngram:
        return [h32(joined)]
    starts = [0] + (spaces[: n_words - ngram] + 1).tolist()
    ends = spaces[ngram - 1 :].tolist() + [len(joined)]
    return [h32(joined[s:e]) for s, e in zip(starts, ends)]


# ------------------------------------------------------------------ signatures


@lru_cache(maxsize=16)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    return np.ascontiguousarray(a, dtype=np.uint32), np.ascontiguousarray(b, dtype=np.uint32)


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser (datasketch's pre-mix for the affine32 scheme)."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def signatures(
    docs: Iterable[Any],
    *,
    ngram: int = 5,
    num_perm: int = 128,
    seed: int = 1,
    lowercase: bool = True,
    content_key: str = "text",
    engine: Engine = "numpy",
) -> np.ndarray:
    """MinHash signatures of the good documents, in order: ``(n, num_perm)`` uint32.

    `docs` yields strings, dicts (their `content_key` is used) or
    `dcbench.shards.Bad` records (skipped). A document with no word gets a row
    of `EMPTY` and is never matched. Deterministic for fixed parameters.
    """
    if ngram < 1:
        raise ValueError(f"ngram must be >= 1, got {ngram}")
    if num_perm < 1:
        raise ValueError(f"num_perm must be >= 1, got {num_perm}")
    texts = iter_values(docs, content_key)
    if engine == "datasketch":
        from datasketch import MinHash

        sets = [shingles(t, ngram, lowercase=lowercase) for t in texts]
        hashes = MinHash.bulk(sets, num_perm=num_perm, seed=seed, scheme="affine32",
                              hashfunc=xxhash.xxh32_intdigest)
        if not hashes:
            return np.empty((0, num_perm), dtype=np.uint32)
        return np.stack([m.hashvalues for m in hashes]).astype(np.uint32, copy=False)
    if engine != "numpy":
        raise ValueError(f"engine={engine!r}: accepted values are numpy, datasketch")
    a, b = _permutations(num_perm, seed)
    # One reusable (chunk, num_perm) buffer: in-place arithmetic, bounded memory for long documents.
    chunk = max(1, _CHUNK_ENTRIES // num_perm)
    buf = np.empty((chunk, num_perm), dtype=np.uint32)
    rows = []
    for text in texts:
        hv = _shingle_hashes(text, ngram, lowercase)
        if not hv:
            rows.append(np.full(num_perm, EMPTY, dtype=np.uint32))
            continue
        mixed = _fmix32(np.array(hv, dtype=np.uint32))
        row = None
        for start in range(0, len(mixed), chunk):
            part = mixed[start : start + chunk]
            view = buf[: len(part)]
            np.multiply(part[:, None], a, out=view)  # wraps modulo 2**32, as datasketch's affine32
            view += b
            low = view.min(axis=0)
            row = low if row is None else np.minimum(row, low, out=row)
        rows.append(row)
    if not rows:
        return np.empty((0, num_perm), dtype=np.uint32)
    return np.stack(rows)


def is_empty(sigs: np.ndarray) -> np.ndarray:
    """True for the rows of documents that had no shingle."""
    return (np.asarray(sigs) == EMPTY).all(axis=1)


def jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard similarity: the fraction of equal entries (row-wise for 2-D input)."""
    return (np.asarray(sig_a) == np.asarray(sig_b)).mean(axis=-1)


# ------------------------------------------------------------------ banding


_trapezoid = getattr(np, "trapezoid", None) or getattr(np, "trapz")  # numpy 2 / numpy 1.26


def _false_positive(threshold: float, bands: int, rows: int) -> float:
    x = np.linspace(0.0, threshold, 201)
    return float(_trapezoid(1.0 - (1.0 - x**rows) ** bands, x))


def _false_negative(threshold: float, bands: int, rows: int) -> float:
    x = np.linspace(threshold, 1.0, 201)
    return float(_trapezoid((1.0 - x**rows) ** bands, x))


@lru_cache(maxsize=64)
def optimal_bands_rows(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) with bands*rows <= num_perm minimising the weighted areas of
    false positives (below `threshold`) and false negatives (above it), the
    criterion datasketch's MinHashLSH uses. (0.8, 128) -> (9, 13)."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    best, best_err = (1, 1), math.inf
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            err = fp_weight * _false_positive(threshold, bands, rows) + fn_weight * _false_negative(threshold, bands, rows)
            if err < best_err:
                best, best_err = (bands, rows), err
    return best


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per document and band: ``(n, bands)`` uint64.

    Band j covers signature columns ``[j*rows, (j+1)*rows)``; two documents
    share band j's key when those columns are equal (or, rarely, by a 64-bit
    collision, which verification removes). The band number is mixed in, so
    keys of different bands do not coincide systematically.
    """
    sigs = np.asarray(sigs, dtype=np.uint32)
    if sigs.ndim != 2:
        raise ValueError(f"signatures must be 2-D, got shape {sigs.shape}")
    if bands < 1 or rows < 1 or bands * rows > sigs.shape[1]:
        raise ValueError(f"bands={bands} x rows={rows} must be >= 1 and fit in num_perm={sigs.shape[1]}")
    keys = np.empty((sigs.shape[0], bands), dtype=np.uint64)
    prime = np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        for j in range(bands):
            h = np.full(sigs.shape[0], (0x2545F4914F6CDD1D * (j + 1)) & _M64, dtype=np.uint64)
            for c in range(j * rows, (j + 1) * rows):
                h = _fmix64((h ^ sigs[:, c].astype(np.uint64)) * prime)
            keys[:, j] = h
    return keys


def lsh_rows(sigs: np.ndarray, shard_rank: int, bands: int, rows: int) -> np.ndarray:
    """The LSH rows of one shard: (band key, shard rank, index) for every
    document with shingles and every band."""
    sigs = np.asarray(sigs, dtype=np.uint32)
    keep = np.flatnonzero(~is_empty(sigs)) if len(sigs) else np.empty(0, dtype=np.int64)
    keys = band_keys(sigs[keep], bands, rows) if len(keep) else np.empty((0, bands), dtype=np.uint64)
    out = np.empty(keys.size, dtype=LSH_ROW_DTYPE)
    out["key"] = keys.reshape(-1)
    out["shard"] = shard_rank
    out["index"] = np.repeat(keep, bands)
    return out


def split_buckets(rows: np.ndarray, num_buckets: int) -> list[np.ndarray]:
    """Split LSH rows into `num_buckets` parts by band key (key modulo num_buckets)."""
    if num_buckets < 1:
        raise ValueError(f"num_buckets must be >= 1, got {num_buckets}")
    if num_buckets == 1:
        return [rows]
    b = (rows["key"] % np.uint64(num_buckets)).astype(np.int64)
    order = np.argsort(b, kind="stable")
    bounds = np.searchsorted(b[order], np.arange(num_buckets + 1))
    return [rows[order[bounds[i] : bounds[i + 1]]] for i in range(num_buckets)]


def candidate_pairs(rows: np.ndarray, window: int = 64) -> np.ndarray:
    """Pairs of documents that share a band key, within one bucket's rows.

    In a group of k documents with the same key (sorted in global order),
    every member is paired with the `window` members before it and with the
    group's first member, so a group of up to window+1 documents yields all
    its pairs and a huge group (boilerplate) stays linear. The earlier
    document of a pair comes first; pairs are unique and sorted.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if len(rows) < 2:
        return np.empty(0, dtype=PAIR_DTYPE)
    order = np.lexsort((rows["index"], rows["shard"], rows["key"]))
    r = rows[order]
    key = r["key"]
    same = key[1:] == key[:-1]
    in_group = np.zeros(len(r), dtype=bool)
    in_group[1:] |= same
    in_group[:-1] |= same
    r = r[in_group]
    if len(r) < 2:
        return np.empty(0, dtype=PAIR_DTYPE)
    key = r["key"]
    new_group = np.ones(len(r), dtype=bool)
    new_group[1:] = key[1:] != key[:-1]
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(r)), 0))
    pos = np.arange(len(r))
    lefts, rights = [], []
    for d in range(1, window + 1):
        ok = pos - d >= group_start
        if not ok.any():
            break
        rights.append(pos[ok])
        lefts.append(pos[ok] - d)
    far = pos - group_start > window
    lefts.append(group_start[far])
    rights.append(pos[far])
    left, right = np.concatenate(lefts), np.concatenate(rights)
    pairs = np.empty(len(left), dtype=PAIR_DTYPE)
    pairs["a_shard"], pairs["a_index"] = r["shard"][left], r["index"][left]
    pairs["b_shard"], pairs["b_index"] = r["shard"][right], r["index"][right]
    pairs = pairs[(pairs["a_shard"] != pairs["b_shard"]) | (pairs["a_index"] != pairs["b_index"])]
    return np.unique(pairs)


def verify_pairs(pairs: np.ndarray, sigs_by_rank: Sequence[np.ndarray], threshold: float) -> np.ndarray:
    """The pairs whose estimated Jaccard similarity is >= threshold.

    `sigs_by_rank[r]` is the signature array of the shard of rank r.
    """
    if len(pairs) == 0:
        return pairs
    num_perm = sigs_by_rank[0].shape[1] if len(sigs_by_rank) else 0
    sim = np.empty(len(pairs))
    # Gather by shard so that each shard's signatures are indexed once per side.
    for side in ("a", "b"):
        gathered = np.empty((len(pairs), num_perm), dtype=np.uint32)
        for rank in np.unique(pairs[f"{side}_shard"]):
            sel = pairs[f"{side}_shard"] == rank
            gathered[sel] = sigs_by_rank[int(rank)][pairs[f"{side}_index"][sel]]
        if side == "a":
            left = gathered
        else:
            sim = jaccard(left, gathered)
    return pairs[sim >= threshold]


def _global_ids(shard: np.ndarray, index: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    return offsets[shard.astype(np.int64)] + index.astype(np.int64)


def cluster_drop_masks(sizes: Mapping[str, int], edges: Iterable[np.ndarray]) -> dict[str, np.ndarray]:
    """Drop masks from verified pairs: union-find into clusters, keep each
    cluster's first document in global order, drop the rest.

    `sizes` maps shard names to their document counts; shard ranks in the
    pairs refer to `shard_order(sizes)`.
    """
    names = shard_order(sizes)
    counts = np.array([int(sizes[n]) for n in names], dtype=np.int64)
    offsets = np.zeros(len(names) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    parts = [e for e in edges if len(e)]
    drop = np.zeros(int(offsets[-1]), dtype=bool)
    if parts:
        e = np.concatenate(parts)
        a = _global_ids(e["a_shard"], e["a_index"], offsets)
        b = _global_ids(e["b_shard"], e["b_index"], offsets)
        parent: dict[int, int] = {}

        def find(x: int) -> int:
            root = x
            while parent.get(root, root) != root:
                root = parent[root]
            while x != root:  # path compression
                parent[x], x = root, parent[x]
            return root

        for x, y in zip(a.tolist(), b.tolist()):
            rx, ry = find(x), find(y)
            if rx != ry:
                lo, hi = (rx, ry) if rx < ry else (ry, rx)
                parent[hi] = lo  # the root is always the cluster's smallest global id
        members = np.fromiter(parent.keys(), dtype=np.int64, count=len(parent))
        roots = np.fromiter((find(int(m)) for m in members), dtype=np.int64, count=len(members))
        drop[members[roots != members]] = True
    return {n: drop[offsets[i] : offsets[i + 1]].copy() for i, n in enumerate(names)}


def near_duplicates(
    sig_per_shard: Mapping[str, np.ndarray],
    *,
    threshold: float = 0.8,
    bands: int | None = None,
    rows: int | None = None,
    num_buckets: int = 1,
    window: int = 64,
) -> dict[str, np.ndarray]:
    """Drop masks (True = near duplicate to remove) for every shard.

    `bands`/`rows` default to `optimal_bands_rows(threshold, num_perm)`; given
    one, the other is as many as fit in num_perm.
    `num_buckets` only changes how the work is cut, never the result.

    Memory grows with the pool, per document: the signatures given (4 x num_perm
    bytes, 512 at the default 128), 8 x bands bytes of band keys plus 8 for its
    position (80 at the default 9 bands), one byte of drop mask, and one bucket's
    LSH rows, candidate pairs and sort at a time (about 4 x 20 x bands / num_buckets
    bytes, 45 at the defaults); verified pairs and their union-find grow with the
    duplicates only. About 630 bytes a document at the defaults, 0.63 GB per
    million documents (115 bytes beyond the signatures measured at 200,000
    documents with 16 buckets, against 684 when every bucket's rows were built at once).
    """
    names = shard_order(sig_per_shard)
    sigs = [np.asarray(sig_per_shard[n], dtype=np.uint32) for n in names]
    num_perm = next((s.shape[1] for s in sigs if s.ndim == 2), 128)
    for n, s in zip(names, sigs):
        if s.ndim != 2 or (len(s) and s.shape[1] != num_perm):
            raise ValueError(f"shard {n}: signatures of shape {s.shape}, expected (n, {num_perm})")
    if bands is None and rows is None:
        bands, rows = optimal_bands_rows(float(threshold), int(num_perm))
    elif rows is None:
        rows = num_perm // bands
    elif bands is None:
        bands = num_perm // rows
    if num_buckets < 1:
        raise ValueError(f"num_buckets must be >= 1, got {num_buckets}")
    keyed = [_shard_keys(s.reshape(-1, num_perm), bands, rows) for s in sigs]
    edges = [verify_pairs(candidate_pairs(_bucket_rows(keyed, b, num_buckets), window), sigs, threshold)
             for b in range(num_buckets)]
    return cluster_drop_masks({n: len(s) for n, s in zip(names, sigs)}, edges)


def _shard_keys(sigs: np.ndarray, bands: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """(positions of the documents with shingles, their band keys (n, bands))."""
    keep = np.flatnonzero(~is_empty(sigs)) if len(sigs) else np.empty(0, dtype=np.int64)
    keys = band_keys(sigs[keep], bands, rows) if len(keep) else np.empty((0, bands), dtype=np.uint64)
    return keep, keys


def _bucket_rows(keyed: list[tuple[np.ndarray, np.ndarray]], bucket: int, num_buckets: int) -> np.ndarray:
    """The LSH rows of one bucket, built from every shard's band keys: the rows `lsh_rows` then
    `split_buckets` give, without all buckets' rows in memory at once."""
    parts = []
    for rank, (keep, keys) in enumerate(keyed):
        flat = keys.reshape(-1)
        at = np.flatnonzero(flat % np.uint64(num_buckets) == bucket) if num_buckets > 1 else np.arange(flat.size)
        part = np.empty(len(at), dtype=LSH_ROW_DTYPE)
        part["key"], part["shard"], part["index"] = flat[at], rank, keep[at // keys.shape[1]]
        parts.append(part)
    return np.concatenate(parts) if parts else np.empty(0, dtype=LSH_ROW_DTYPE)


__all__: Sequence[str] = (
    "EMPTY", "LSH_ROW_DTYPE", "PAIR_DTYPE", "shingles", "signatures", "is_empty", "jaccard", "optimal_bands_rows",
    "band_keys", "lsh_rows", "split_buckets", "candidate_pairs", "verify_pairs", "cluster_drop_masks",
    "near_duplicates",
)
