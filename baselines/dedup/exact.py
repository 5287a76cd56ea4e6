"""Exact deduplication by a hash of each document's normalised content.

DCLM's `exact_dedup` global step (`ray_processing/dedup_jsonl.py`) hashes the
optionally normalised `content_key` of every document with md5, groups equal
hashes and keeps one row per group: the first one met, or the argmin / argmax
of a `selection_key`. In DCLM "the first one met" is whatever row a Ray
groupby puts first; here it is the first in the **global order** (shards
sorted by name, documents in file order), so the decision does not depend on
how documents are cut into shards or how many workers run.

The work is split into an analysis that each shard does alone and a reduction
that partitions by hash:

1. `exact_keys(docs)`: one 128-bit key per good document of a shard, an
   ``(n, 2)`` uint64 array (high, low halves of the digest).
2. `shard_rows(keys, shard_rank)` -> `split_buckets(rows, B)`: rows of
   (key, shard rank, index) bucketed by the key's high half modulo B. Equal
   keys always land in the same bucket, so the B buckets reduce independently.
3. `reduce_bucket(rows)`: the (shard rank, index) of every row to drop.
4. `drop_masks(sizes, dropped)`: one boolean drop mask per shard.

`exact_duplicates(keys_per_shard)` runs the whole chain in one process.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Callable, Iterable, Literal, Mapping, Sequence

import numpy as np
import xxhash

from dcbench.shards import Bad

Normalization = Literal["none", "strip_lower", "whitespace_lower", "url"]
HashName = Literal["xxh3_128", "md5"]
Keep = Literal["first", "min", "max"]

NORMALIZATIONS: tuple[str, ...] = ("none", "strip_lower", "whitespace_lower", "url")
HASHES: tuple[str, ...] = ("xxh3_128", "md5")
KEEPS: tuple[str, ...] = ("first", "min", "max")

# One row per document for the bucketed reduction. `sel` is the selection
# value (0 when keep="first"); `shard` is the shard's rank in name order.
ROW_DTYPE = np.dtype([("hi", "<u8"), ("lo", "<u8"), ("sel", "<f8"), ("shard", "<i4"), ("index", "<i8")])
# What a reduction returns: the documents to drop.
DROP_DTYPE = np.dtype([("shard", "<i4"), ("index", "<i8")])

_URL_SCHEME_RE = re.compile(r"https?://(www\.)?")
_URL_TRACKING_RE = re.compile(r"\?(utm_|ref|feed).*")


def _normalize_url(url: str) -> str:
    """DCLM's `normalize_url` (from TFDS C4): drop the scheme and `www.`, a
    tracking query (`?utm_…`, `?ref…`, `?feed…`) and trailing slashes."""
    url = _URL_SCHEME_RE.sub("", url)
    url = _URL_TRACKING_RE.sub("", url)
    return url.rstrip("/")


_NORMALIZERS: dict[str, Callable[[str], str]] = {
    "none": lambda s: s,
    # DCLM's `normalize_whitespace_and_lowercase`: strip the ends, lowercase.
    # (Despite its name it leaves inner whitespace alone.)
    "strip_lower": lambda s: s.strip().lower(),
    # Collapse every whitespace run to one space, strip, lowercase.
    "whitespace_lower": lambda s: " ".join(s.split()).lower(),
    "url": _normalize_url,
}


def normalizer(name: str) -> Callable[[str], str]:
    """The normalisation function called `name`, or a ValueError listing the accepted names."""
    try:
        return _NORMALIZERS[name]
    except KeyError:
        raise ValueError(f"normalize={name!r}: accepted values are {', '.join(NORMALIZATIONS)}") from None


def _digest_fn(name: str) -> Callable[[bytes], bytes]:
    if name == "xxh3_128":
        return xxhash.xxh3_128_digest
    if name == "md5":
        return lambda b: hashlib.md5(b).digest()
    raise ValueError(f"hash={name!r}: accepted values are {', '.join(HASHES)}")


def iter_values(docs: Iterable[Any], content_key: str = "text") -> Iterable[str]:
    """The `content_key` string of each good document; `Bad` records are skipped,
    plain strings are taken as the content itself."""
    for i, doc in enumerate(docs):
        if isinstance(doc, Bad):
            continue
        if isinstance(doc, str):
            yield doc
            continue
        value = doc.get(content_key) if isinstance(doc, Mapping) else None
        if not isinstance(value, str):
            raise ValueError(f"document {i}: {content_key!r} is {type(value).__name__}, not a string")
        yield value


def exact_keys(
    docs: Iterable[Any],
    *,
    normalize: Normalization = "none",
    hash: HashName = "xxh3_128",
    content_key: str = "text",
) -> np.ndarray:
    """One 128-bit key per good document, in order: an ``(n, 2)`` uint64 array.

    `docs` yields dicts (the `content_key` field is hashed), plain strings, or
    `dcbench.shards.Bad` records, which are skipped, so row i belongs to the
    shard's i-th good document. `hash="md5"` gives DCLM's digest (of the UTF-8
    bytes of the normalised value); xxh3_128 is the faster default. Lone
    surrogates from JSON escapes are hashed as they are, not rejected.
    """
    norm = normalizer(normalize)
    digest = _digest_fn(hash)
    digests = [digest(norm(v).encode("utf-8", "surrogatepass")) for v in iter_values(docs, content_key)]
    if not digests:
        return np.empty((0, 2), dtype=np.uint64)
    return np.frombuffer(b"".join(digests), dtype=">u8").astype(np.uint64).reshape(-1, 2)


def shard_order(names: Iterable[str]) -> list[str]:
    """The global shard order: names sorted as strings. A shard's rank is its position here."""
    return sorted(names)


def shard_rows(keys: np.ndarray, shard_rank: int, selection: np.ndarray | None = None) -> np.ndarray:
    """The reduction rows of one shard: (key, selection value, shard rank, index) per document."""
    keys = np.asarray(keys, dtype=np.uint64).reshape(-1, 2)
    rows = np.empty(len(keys), dtype=ROW_DTYPE)
    rows["hi"] = keys[:, 0]
    rows["lo"] = keys[:, 1]
    if selection is None:
        rows["sel"] = 0.0
    else:
        sel = np.asarray(selection, dtype=np.float64)
        if sel.shape != (len(keys),):
            raise ValueError(f"selection has shape {sel.shape}, expected ({len(keys)},)")
        if np.isnan(sel).any():
            raise ValueError("selection values must not be NaN")
        rows["sel"] = sel
    rows["shard"] = shard_rank
    rows["index"] = np.arange(len(keys), dtype=np.int64)
    return rows


def bucket_of(hi: np.ndarray, num_buckets: int) -> np.ndarray:
    """The bucket of each key: its high 64 bits modulo `num_buckets`."""
    return (np.asarray(hi, dtype=np.uint64) % np.uint64(num_buckets)).astype(np.int64)


def split_buckets(rows: np.ndarray, num_buckets: int) -> list[np.ndarray]:
    """Split rows into `num_buckets` parts by key; equal keys share a bucket."""
    if num_buckets < 1:
        raise ValueError(f"num_buckets must be >= 1, got {num_buckets}")
    if num_buckets == 1:
        return [rows]
    b = bucket_of(rows["hi"], num_buckets)
    order = np.argsort(b, kind="stable")
    bounds = np.searchsorted(b[order], np.arange(num_buckets + 1))
    return [rows[order[bounds[i] : bounds[i + 1]]] for i in range(num_buckets)]


def reduce_bucket(rows: np.ndarray, keep: Keep = "first") -> np.ndarray:
    """The rows to drop among one bucket's rows (any order, any number of shards).

    Within each group of equal keys one row survives: the first in global
    order (`keep="first"`), or the smallest / largest selection value with ties
    going to the first in global order (`"min"` / `"max"`, like DCLM's
    argmin / argmax). Returns a `DROP_DTYPE` array sorted by (shard, index).
    """
    if keep not in KEEPS:
        raise ValueError(f"keep={keep!r}: accepted values are {', '.join(KEEPS)}")
    if len(rows) == 0:
        return np.empty(0, dtype=DROP_DTYPE)
    sel = rows["sel"]
    if keep == "first":
        sel = np.zeros(len(rows))
    elif keep == "max":
        sel = -sel
    # np.lexsort: the last key is the primary one.
    order = np.lexsort((rows["index"], rows["shard"], sel, rows["lo"], rows["hi"]))
    hi, lo = rows["hi"][order], rows["lo"][order]
    dup = np.zeros(len(rows), dtype=bool)
    dup[1:] = (hi[1:] == hi[:-1]) & (lo[1:] == lo[:-1])
    dropped = rows[order[dup]]
    out = np.empty(len(dropped), dtype=DROP_DTYPE)
    out["shard"] = dropped["shard"]
    out["index"] = dropped["index"]
    out.sort(order=("shard", "index"))
    return out


def drop_masks(sizes: Mapping[str, int], dropped: Iterable[np.ndarray]) -> dict[str, np.ndarray]:
    """One boolean drop mask per shard (True = drop) from the reductions' outputs.

    `sizes` maps each shard name to its number of good documents; shard ranks
    in `dropped` refer to `shard_order(sizes)`.
    """
    names = shard_order(sizes)
    masks = {name: np.zeros(int(sizes[name]), dtype=bool) for name in names}
    for part in dropped:
        for rank in np.unique(part["shard"]):
            idx = part["index"][part["shard"] == rank]
            masks[names[int(rank)]][idx] = True
    return masks


def exact_duplicates(
    keys_per_shard: Mapping[str, np.ndarray],
    *,
    selection_per_shard: Mapping[str, np.ndarray] | None = None,
    keep: Keep = "first",
    num_buckets: int = 1,
) -> dict[str, np.ndarray]:
    """Drop masks (True = duplicate to remove) for every shard.

    One copy of each key survives: the first in global order, or by
    `selection_per_shard` values with `keep="min"` / `"max"`. `num_buckets`
    only changes how the work is cut, never the result.
    """
    if keep != "first" and selection_per_shard is None:
        raise ValueError(f"keep={keep!r} needs selection_per_shard")
    names = shard_order(keys_per_shard)
    rows = [
        shard_rows(keys_per_shard[n], rank, None if selection_per_shard is None else selection_per_shard[n])
        for rank, n in enumerate(names)
    ]
    all_rows = np.concatenate(rows) if rows else np.empty(0, dtype=ROW_DTYPE)
    dropped = [reduce_bucket(b, keep) for b in split_buckets(all_rows, num_buckets)]
    return drop_masks({n: len(keys_per_shard[n]) for n in names}, dropped)


def exact_duplicates_of_docs(
    docs_per_shard: Mapping[str, Iterable[Any]],
    *,
    normalize: Normalization = "none",
    hash: HashName = "xxh3_128",
    content_key: str = "text",
    num_buckets: int = 1,
) -> dict[str, np.ndarray]:
    """Convenience: `exact_keys` for each shard, then `exact_duplicates` (keep the first)."""
    keys = {n: exact_keys(d, normalize=normalize, hash=hash, content_key=content_key)
            for n, d in docs_per_shard.items()}
    return exact_duplicates(keys, num_buckets=num_buckets)


__all__: Sequence[str] = (
    "NORMALIZATIONS", "HASHES", "KEEPS", "ROW_DTYPE", "DROP_DTYPE", "normalizer", "iter_values", "exact_keys",
    "shard_order", "shard_rows", "bucket_of", "split_buckets", "reduce_bucket", "drop_masks", "exact_duplicates",
    "exact_duplicates_of_docs",
)
