"""Exact deduplication by a hash of each document's (or each line's) normalised content.

DCLM's `exact_dedup` global step (`ray_processing/dedup_jsonl.py`) hashes
every *unit* of each document's `content_key` with md5: the value itself when
it is a string (a URL, a whole text), each item when it is a list (the lines
`split_lines_modifier` makes). The hash is of the raw unit, or of
`str(normalize(unit))` with one of DCLM's `DEDUP_NORMALIZERS`. Equal hashes
form a group and one unit per group is kept: the first one met, or the
argmin (argmax with `selection_reverse`) of the unit's document's
`selection_key` value, optionally passed through `selection_normalize`.
Dropped units are cut out of their document's list, and a document left with
no unit is removed. Where DCLM keeps "the first one met" it keeps whatever
row a Ray groupby puts first (also for ties of the selection value); here it
is the first in the **global order** (shards sorted by name, documents in
file order, units in list order), so the decision does not depend on how
documents are cut into shards or how many workers run. Selection values
compare as numpy compares them: numbers as numbers, strings by code point
(a NaN wins, as numpy's argmin / argmax pick it); a shard mixing numbers and
strings is an error, where numpy would fail too.

The work is split into an analysis that each shard does alone and a reduction
that partitions by hash:

1. `exact_keys(docs)` (one key per document) or `shard_units(docs)` (one key
   per unit, with each unit's document and position): 128-bit keys as an
   ``(n, 2)`` uint64 array (high, low halves of the digest).
2. `shard_rows(keys, shard_rank)` -> `split_buckets(rows, B)`: rows of
   (key, selection, shard rank, index) bucketed by the key's high half modulo
   B. Equal keys always land in the same bucket, so the B buckets reduce
   independently.
3. `reduce_bucket(rows)`: the (shard rank, index) of every row to drop.
4. `drop_masks(sizes, dropped)`: one boolean drop mask per shard, or
   `unit_decisions(...)`: per shard, the (document, unit) pairs to drop.

`exact_duplicates(keys_per_shard)` and `unit_duplicates(units_per_shard)` run
the whole chain in one process.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Literal, Mapping, Sequence

import numpy as np
import xxhash

from dcbench.baselines.units import DEDUP_NORMALIZERS, normalize_url, normalize_whitespace_and_lowercase
from dcbench.shards import Bad

Normalization = Literal["none", "strip_lower", "whitespace_lower", "url", "normalize_url",
                        "normalize_whitespace_and_lowercase", "ccnet_dedup_normalizer", "hash_text",
                        "normalize_timestamps"]
HashName = Literal["xxh3_128", "md5"]
Keep = Literal["first", "min", "max"]

HASHES: tuple[str, ...] = ("xxh3_128", "md5")
KEEPS: tuple[str, ...] = ("first", "min", "max")

# One row per document (or unit) for the bucketed reduction. `sel` is the selection
# value's rank (0 when keep="first"); `shard` is the shard's rank in name order.
ROW_DTYPE = np.dtype([("hi", "<u8"), ("lo", "<u8"), ("sel", "<f8"), ("shard", "<i4"), ("index", "<i8")])
# What a reduction returns: the documents (units) to drop.
DROP_DTYPE = np.dtype([("shard", "<i4"), ("index", "<i8")])

_NORMALIZERS: dict[str, Callable[[str], Any]] = {
    "none": lambda s: s,
    # DCLM's `normalize_whitespace_and_lowercase`: strip the ends, lowercase.
    # (Despite its name it leaves inner whitespace alone.)
    "strip_lower": normalize_whitespace_and_lowercase,
    # Collapse every whitespace run to one space, strip, lowercase (ours, not DCLM's).
    "whitespace_lower": lambda s: " ".join(s.split()).lower(),
    "url": normalize_url,
    **DEDUP_NORMALIZERS,  # DCLM's names: normalize_url, normalize_whitespace_and_lowercase, hash_text, ...
}
NORMALIZATIONS: tuple[str, ...] = tuple(_NORMALIZERS)


def normalizer(name: str | None) -> Callable[[str], str]:
    """The normalisation called `name` (None: none), as DCLM keys a unit with it: `str(normalize(unit))`.
    An unknown name is a ValueError listing the accepted ones (DCLM silently skips normalising)."""
    if name is None or name == "none":
        return _identity
    try:
        fn = _NORMALIZERS[name]
    except KeyError:
        raise ValueError(f"normalize={name!r}: accepted values are {', '.join(NORMALIZATIONS)}") from None
    return lambda s: str(fn(s))


def _identity(s: str) -> str:
    return s


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


# ------------------------------------------------------------------ units (DCLM's list-valued content)


def selection_normalizer(name: str | None) -> Callable[[Any], Any]:
    """DCLM's `selection_normalize`: the function itself (a number stays a number), or none for None."""
    if name is None or name == "none":
        return _identity
    normalizer(name)  # the ValueError for an unknown name
    return _NORMALIZERS[name]


def content_units(value: Any, content_key: str) -> list[str]:
    """The units of a content value as DCLM splits them: a string is one unit, a list its items.
    Anything else (absent, a number, a list holding a non-string) is a ValueError."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    if value is None:
        raise ValueError(f"exact_dedup: the document has no {content_key!r} (content_key) to deduplicate")
    raise ValueError(f"exact_dedup: {content_key!r} (content_key) is {_kind(value)}; "
                     f"it must be a string or a list of strings")


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list holding " + ", ".join(sorted({type(v).__name__ for v in value if not isinstance(v, str)}))
    return f"a {type(value).__name__}"


@dataclass
class ShardUnits:
    """One shard's analysis: a key per unit, in order, and what to know of each document."""

    keys: np.ndarray  # (m, 2) uint64, one per unit
    doc: np.ndarray  # (m,) int64: position of the unit's document among the shard's documents
    unit: np.ndarray  # (m,) int64: position of the unit in its document's list
    docs: int  # documents in the shard
    selection: list[Any] | None = None  # per document: its selection value (None for a bad document)
    bad: dict[int, str] = field(default_factory=dict)  # document position -> why it cannot be deduplicated


def shard_units(docs: Iterable[Any], *, content_key: str = "text", normalize: str | None = None,
                selection_key: str | None = None, selection_normalize: str | None = None,
                hash: HashName = "xxh3_128") -> ShardUnits:
    """Key every unit of every document of a shard (`Bad` records are skipped, as apply never sees them).

    A document whose content is unusable, or whose selection value is missing
    (null, or not a number or a string), is recorded in `bad` and has no units.
    """
    norm, digest = normalizer(normalize), _digest_fn(hash)
    select = selection_normalizer(selection_normalize)
    digests: list[bytes] = []
    doc_of: list[int] = []
    unit_of: list[int] = []
    selection: list[Any] | None = None if selection_key is None else []
    bad: dict[int, str] = {}
    n = 0
    for page in docs:
        if isinstance(page, Bad):
            continue
        i, n = n, n + 1
        try:
            units = content_units(page.get(content_key), content_key)
            value = None if selection_key is None else _selection_value(page, selection_key, select)
        except (ValueError, TypeError) as e:  # TypeError: a normaliser given what it cannot read
            bad[i] = str(e)
            if selection is not None:
                selection.append(None)
            continue
        if selection is not None:
            selection.append(value)
        for k, u in enumerate(units):
            digests.append(digest(norm(u).encode("utf-8", "surrogatepass")))
            doc_of.append(i)
            unit_of.append(k)
    keys = (np.frombuffer(b"".join(digests), dtype=">u8").astype(np.uint64).reshape(-1, 2) if digests
            else np.empty((0, 2), dtype=np.uint64))
    return ShardUnits(keys, np.asarray(doc_of, dtype=np.int64), np.asarray(unit_of, dtype=np.int64), n,
                      selection, bad)


def _selection_value(page: Mapping[str, Any], key: str, select: Callable[[Any], Any]) -> Any:
    if page.get(key) is None:
        raise ValueError(f"exact_dedup: the document has no {key!r} (selection_key) to choose the copy to keep by")
    value = select(page[key])
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"exact_dedup: {key!r} (selection_key) gives a {type(value).__name__}; "
                         f"copies are chosen by a number or a string")
    return value


def selection_ranks(values_per_shard: Sequence[Sequence[Any]], keep: Keep) -> list[np.ndarray]:
    """Each value's rank among all values (equal values share a rank), per shard, so that comparing
    ranks compares the values as numpy does: numbers as numbers, strings by code point. A NaN
    ranks first for "min" and last for "max", as numpy's argmin / argmax pick it. None (a bad
    document) gets rank 0: it has no units, so its rank is never used."""
    present = [v for values in values_per_shard for v in values if v is not None]
    strings = sum(isinstance(v, str) for v in present)
    if 0 < strings < len(present):
        raise ValueError("exact_dedup: the selection_key values mix numbers and strings, which cannot be "
                         "compared; give every document the same kind of value (or a selection_normalize)")
    order = sorted({v for v in present if not (isinstance(v, float) and math.isnan(v))})
    rank = {v: float(r + 1) for r, v in enumerate(order)}
    nan = 0.0 if keep == "min" else float(len(order) + 1)
    return [np.array([0.0 if v is None else nan if isinstance(v, float) and math.isnan(v) else rank[v]
                      for v in values], dtype=np.float64) for values in values_per_shard]


def unit_duplicates(units_per_shard: Mapping[str, ShardUnits], *, keep: Keep = "first",
                    num_buckets: int = 1) -> dict[str, dict[str, Any]]:
    """Per shard, the decision `drop_units` enacts: which units of which documents to drop.

    One unit of each key survives: the first in global order, or the one whose
    document's selection rank is smallest (`keep="min"`) / largest (`"max"`),
    ties going to the first in global order.
    """
    names = shard_order(units_per_shard)
    shards = [units_per_shard[n] for n in names]
    if keep != "first" and any(s.selection is None for s in shards):
        raise ValueError(f"keep={keep!r} needs the selection values")
    ranks = selection_ranks([s.selection or [] for s in shards], keep) if keep != "first" else None
    rows = [shard_rows(s.keys, rank, None if ranks is None else ranks[rank][s.doc] if len(s.doc) else
                       np.empty(0)) for rank, s in enumerate(shards)]
    all_rows = np.concatenate(rows) if rows else np.empty(0, dtype=ROW_DTYPE)
    dropped = [reduce_bucket(b, keep) for b in split_buckets(all_rows, num_buckets)]
    flat = drop_masks({n: len(s.doc) for n, s in zip(names, shards)}, dropped)
    return {n: unit_decision(s, flat[n]) for n, s in zip(names, shards)}


def unit_decision(units: ShardUnits, dropped: np.ndarray) -> dict[str, Any]:
    """A shard's decision in JSON form: `drop` [[document, unit], ...], `bad` [[document, reason], ...],
    and `touched` (a unit of the shard is dropped: DCLM rewrites only such files, see `drop_units`)."""
    idx = np.flatnonzero(dropped)
    pairs = [[int(d), int(u)] for d, u in zip(units.doc[idx], units.unit[idx])]
    return {"drop": pairs, "bad": [[i, r] for i, r in sorted(units.bad.items())], "touched": bool(pairs)}


def drop_units(decision: Mapping[str, Any], content_key: str) -> Callable[[dict[str, Any]], list[dict[str, Any]]]:
    """A mapper enacting a shard's unit decision on its documents, called in file order.

    A dropped unit is cut out of its document's list (a string content is one
    unit: the document goes); a document left with no unit is removed. As in
    DCLM, only a shard with a dropped unit is rewritten, so a document whose
    content is an empty list is removed only there. DCLM also turns every
    content of a rewritten file into a list, and back into strings when every
    document has one unit left; that is not done here, and cannot be seen once
    join_lines_modifier has run (a string passes it unchanged and a one-item
    list becomes that item).
    """
    gone: dict[int, set[int]] = defaultdict(set)
    for d, u in decision["drop"]:
        gone[d].add(u)
    bad = {int(i): r for i, r in decision["bad"]}
    touched = bool(decision["touched"])
    position = itertools.count()

    def apply(page: dict[str, Any]) -> list[dict[str, Any]]:
        i = next(position)
        if i in bad:
            raise ValueError(bad[i])
        if not touched:
            return [page]
        value = page.get(content_key)
        units = content_units(value, content_key)
        if i in gone:
            units = [u for k, u in enumerate(units) if k not in gone[i]]
        if not units:
            return []
        if i not in gone:
            return [page]
        return [{**page, content_key: units}]

    return apply


__all__: Sequence[str] = (
    "NORMALIZATIONS", "HASHES", "KEEPS", "ROW_DTYPE", "DROP_DTYPE", "normalizer", "iter_values", "exact_keys",
    "shard_order", "shard_rows", "bucket_of", "split_buckets", "reduce_bucket", "drop_masks", "exact_duplicates",
    "exact_duplicates_of_docs", "selection_normalizer", "content_units", "ShardUnits", "shard_units",
    "selection_ranks", "unit_duplicates", "unit_decision", "drop_units",
)
