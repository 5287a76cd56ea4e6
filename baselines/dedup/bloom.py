"""A Bloom filter over a numpy bit array, and deterministic n-gram hashing.

Sizing follows BFF (DCLM's `dedup/bff`): for `n` expected items and a target
false-positive rate `p`, the filter has the smallest byte size `B` (found by
BFF's own binary search) with

    (1 - (1 - 1/m) ** (k * n)) ** k <= p,   m = 8 * B bits,  k = ceil((m / n) * ln 2)

which is within a few bytes of the closed form m = -n ln(p) / ln(2)^2
(about 9.6 bits, 1.2 bytes, per item at p = 0.01, k = 7).

Items are 64-bit hashes (numpy uint64). The k bit positions of a hash come
from double hashing (Kirsch & Mitzenmacher): g_i = (a + i * b) mod m with a
and b two remixes of the hash under the filter's seed, computed for a whole
batch at once; `contains` and `insert` take arrays.

Hashing never uses Python's salted `hash()`, so a filter saved by one process
is valid in any other: `token_hashes` is xxh3_64 of each token's UTF-8 bytes,
and an n-gram's hash is a polynomial (mod 2**64) over its tokens' hashes,
seeded by its length, then finalised by the splitmix64 mixer. Rolling the
polynomial over a concatenation of paragraphs gives every sliding n-gram of
every paragraph in a few vector operations.

A saved filter is a 72-byte little-endian header (magic, format version,
hash scheme, m, k, seed, insert count, expected items, fp rate, xxh3_64 of
the bits) followed by the raw bits; it is written to a temporary name and
renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import math
import os
import struct
import sys
from itertools import repeat
from pathlib import Path
from typing import Sequence

import numpy as np
import xxhash

from dcbench.atomic import open_atomic
from dcbench.errors import ConfigError, DataError
from dcbench.estimate import available_memory_bytes, human_bytes

MAGIC = b"DCBBLOOM"
FORMAT_VERSION = 1
# Bump when token/n-gram hashing changes: a filter built under another scheme
# would silently match nothing, so `load` refuses it.
HASH_SCHEME = 1

_HEADER = struct.Struct("<8sIIQIIQQQdQ")  # magic, version, scheme, m, k, pad, seed, count, expected, fp, xxh3
_U64 = np.uint64
_MASK64 = (1 << 64) - 1
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_GOLDEN = 0x9E3779B97F4A7C15
_POLY = 0x9FB21C651E98DF25  # odd multiplier of the n-gram polynomial
_SEED_A = 0xD6E8FEB86659FD93
_SEED_B = 0xA0761D6478BD642F
_CHUNK = 1 << 16  # hashes per vectorised step (keeps the (k, chunk) index arrays in cache)


# --------------------------------------------------------------------------- hashing


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array (a bijection; returns a new array)."""
    x = np.asarray(x, dtype=_U64)
    x = x ^ (x >> _U64(30))
    x *= _U64(_MIX1)
    x ^= x >> _U64(27)
    x *= _U64(_MIX2)
    x ^= x >> _U64(31)
    return x


def _mix64_int(x: int) -> int:
    x &= _MASK64
    x = ((x ^ (x >> 30)) * _MIX1) & _MASK64
    x = ((x ^ (x >> 27)) * _MIX2) & _MASK64
    return x ^ (x >> 31)


def _length_seed(length: int, seed: int) -> int:
    return _mix64_int((seed * _GOLDEN + length + 1) & _MASK64)


def token_hashes(tokens: Sequence[str], seed: int = 0) -> np.ndarray:
    """xxh3_64 of each token's UTF-8 bytes, as uint64 (raises UnicodeEncodeError on lone surrogates)."""
    # A positional seed from itertools.repeat: a keyword one (functools.partial) is ~2.5x slower.
    return np.fromiter(map(xxhash.xxh3_64_intdigest, map(str.encode, tokens), repeat(seed & _MASK64)),
                       dtype=_U64, count=len(tokens))


def sequence_hash(token_hash_seq: Sequence[int] | np.ndarray, seed: int = 0) -> int:
    """Hash of one whole token sequence (any length, 0 included), from its token hashes."""
    acc = _length_seed(len(token_hash_seq), seed)
    for t in np.asarray(token_hash_seq, dtype=_U64).tolist():
        acc = (acc * _POLY + t) & _MASK64
    return _mix64_int(acc)


def sliding_hashes(tok: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Hashes of every window tok[i:i+n] (len(tok) - n + 1 of them, or none), equal to
    `sequence_hash(tok[i:i+n])`."""
    count = len(tok) - n + 1
    if n < 1 or count <= 0:
        return np.empty(0, dtype=_U64)
    acc = np.full(count, _length_seed(n, seed), dtype=_U64)
    poly = _U64(_POLY)
    for j in range(n):
        acc *= poly
        acc += tok[j:j + count]
    return mix64(acc)


def paragraph_ngram_hashes(tok: np.ndarray, lengths: Sequence[int] | np.ndarray, n: int, min_n: int,
                           seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """BFF's n-grams of consecutive paragraphs whose token hashes are concatenated in `tok`.

    Paragraph j has `lengths[j]` tokens. It yields its sliding n-grams when it
    has at least `n` tokens; otherwise one n-gram of all its tokens when it has
    at least `min_n`; otherwise none. Returns (hashes in paragraph order,
    offsets) where paragraph j's hashes are hashes[offsets[j]:offsets[j+1]].
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.sum() != len(tok):
        raise ValueError("paragraph lengths do not add up to the number of tokens")
    long = lengths >= n
    short = ~long & (lengths >= min_n)
    counts = np.where(long, lengths - n + 1, 0) + short
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    out = np.empty(int(offsets[-1]), dtype=_U64)
    if long.any():
        windows = sliding_hashes(tok, n, seed)
        ends = np.cumsum(lengths)
        end_of_token = np.repeat(ends, lengths)[:len(windows)]
        valid = np.arange(len(windows)) + n <= end_of_token
        out[np.repeat(long, counts)] = windows[valid]
    if short.any():
        starts = np.cumsum(lengths) - lengths
        for j in np.flatnonzero(short).tolist():
            out[offsets[j]] = sequence_hash(tok[starts[j]:starts[j] + lengths[j]], seed)
    return out, offsets


# --------------------------------------------------------------------------- sizing and memory


def false_positive_rate(size_bytes: int, expected: int, k: int) -> float:
    """BFF's (1 - (1 - 1/m)^(k n))^k with m = 8 * size_bytes."""
    m = float(size_bytes * 8)
    return (1.0 - (1.0 - 1.0 / m) ** (k * float(expected))) ** k


def optimal_hashers(size_bytes: int, expected: int) -> int:
    """BFF's k = ceil((m / n) ln 2)."""
    return math.ceil((size_bytes * 8 / expected) * math.log(2.0))


def bff_size_bytes(expected: int, fp_rate: float, num_hashers: int = 0) -> int:
    """The byte size BFF picks (its binary search, as in `bff sysreq`, without the RAM cap).

    BFF's search may land one byte either side of the true minimum; we keep
    its answer so our filters have the same size and k as BFF's.
    """
    lo, hi = 1, 420_744_073_709_551_615
    while lo < hi - 1:
        mid = lo + (hi - lo) // 2
        k = num_hashers or optimal_hashers(mid, expected)
        if false_positive_rate(mid, expected, k) > fp_rate:
            lo = mid + 1
        else:
            hi = mid - 1
    return hi


def _check_sizing(expected: int, fp_rate: float) -> None:
    if not isinstance(expected, (int, np.integer)) or isinstance(expected, bool) or expected < 1:
        raise ConfigError(f"Bloom filter expected_ngrams must be a positive integer, got {expected!r}")
    if not (isinstance(fp_rate, (int, float)) and 0.0 < fp_rate < 1.0):
        raise ConfigError(f"Bloom filter fp_rate must be in (0, 1), got {fp_rate!r}")


def _sizing(expected: int, fp_rate: float, num_hashers: int = 0) -> tuple[int, int]:
    """(m bits, k) for BFF's sizing."""
    _check_sizing(expected, fp_rate)
    size = bff_size_bytes(int(expected), float(fp_rate), num_hashers)
    k = num_hashers or optimal_hashers(size, int(expected))
    return size * 8, k


def _bits_bytes(m: int) -> int:
    return 8 * ((m + 63) // 64)


def ensure_memory(needed: int, available: int | None, what: str, advice: str) -> None:
    if available is None:
        available = available_memory_bytes()
    if available is not None and needed > available:
        raise ConfigError(
            f"{what} needs {human_bytes(needed)} ({needed:,} bytes) of memory but only {human_bytes(available)} "
            f"({available:,} bytes) is available; {advice}")


# --------------------------------------------------------------------------- the filter


class BloomFilter:
    """A Bloom filter of 64-bit hashes with BFF's sizing.

    `BloomFilter(expected_ngrams, fp_rate)` allocates m bits and refuses
    (ConfigError) when they do not fit in the available memory. `seed`
    changes which bits an item sets; `num_hashers` = 0 means BFF's optimal k.
    """

    def __init__(self, expected_ngrams: int, fp_rate: float = 0.01, *, seed: int = 0, num_hashers: int = 0,
                 available_bytes: int | None = None) -> None:
        m, k = _sizing(expected_ngrams, fp_rate, num_hashers)
        needed = _bits_bytes(m)
        ensure_memory(needed, available_bytes, f"a Bloom filter for {expected_ngrams:,} n-grams at fp rate {fp_rate}",
                       "lower expected_ngrams, raise fp_rate, split the filter into more partitions on more "
                       "machines, or free memory")
        self._init(m, k, seed, 0, int(expected_ngrams), float(fp_rate), np.zeros(needed // 8, dtype=_U64))

    def _init(self, m: int, k: int, seed: int, count: int, expected: int, fp_rate: float, bits: np.ndarray) -> None:
        self.m, self.k, self.seed = int(m), int(k), int(seed) & _MASK64
        self.count, self.expected, self.fp_rate = int(count), int(expected), float(fp_rate)
        self.bits = bits
        self._m = _U64(self.m)
        self._mm1 = _U64(max(self.m - 1, 1))
        self._ks = np.arange(self.k, dtype=_U64)[:, None]
        self._sa = _U64((self.seed * _GOLDEN + _SEED_A) & _MASK64)
        self._sb = _U64(_SEED_B)

    @staticmethod
    def required_bytes(expected_ngrams: int, fp_rate: float = 0.01, num_hashers: int = 0) -> int:
        """Bytes of bit array a filter for `expected_ngrams` at `fp_rate` takes."""
        m, _ = _sizing(expected_ngrams, fp_rate, num_hashers)
        return _bits_bytes(m)

    @staticmethod
    def sizing(expected_ngrams: int, fp_rate: float = 0.01, num_hashers: int = 0) -> tuple[int, int]:
        """(m bits, k hashers) BFF would choose."""
        return _sizing(expected_ngrams, fp_rate, num_hashers)

    @property
    def nbytes(self) -> int:
        return int(self.bits.nbytes)

    def __len__(self) -> int:
        """Items passed to `insert` (repeats included)."""
        return self.count

    def __repr__(self) -> str:
        return (f"BloomFilter(m={self.m:,} bits, k={self.k}, seed={self.seed}, inserted={self.count:,}, "
                f"{human_bytes(self.nbytes)})")

    # -- positions

    def _positions(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(word index, bit mask), each of shape (k, len(h))."""
        a = mix64(h ^ self._sa)
        b = mix64(a ^ self._sb)
        a %= self._m
        b %= self._mm1
        b += _U64(1)  # a step in [1, m-1]: never 0, so the k positions differ
        idx = self._ks * b  # < k * m, no wrap for m < 2**60
        idx += a
        idx %= self._m
        words = idx >> _U64(6)
        idx &= _U64(63)
        masks = np.left_shift(_U64(1), idx)
        return words, masks

    @staticmethod
    def _as_hashes(hashes: np.ndarray | Sequence[int]) -> np.ndarray:
        h = np.asarray(hashes)
        if h.dtype != _U64:
            if h.size and h.dtype.kind not in "iu":
                raise TypeError(f"Bloom filter items must be uint64 hashes, got dtype {h.dtype}")
            h = h.astype(_U64)
        return h.ravel()

    def contains(self, hashes: np.ndarray | Sequence[int]) -> np.ndarray:
        """For each hash, whether all its k bits are set (bool array)."""
        h = self._as_hashes(hashes)
        out = np.empty(len(h), dtype=bool)
        for s in range(0, len(h), _CHUNK):
            words, masks = self._positions(h[s:s + _CHUNK])
            hit = self.bits[words]
            hit &= masks
            out[s:s + _CHUNK] = np.logical_and.reduce(hit != 0, axis=0)
        return out

    def insert(self, hashes: np.ndarray | Sequence[int]) -> None:
        """Set the k bits of each hash."""
        h = self._as_hashes(hashes)
        for s in range(0, len(h), _CHUNK):
            words, masks = self._positions(h[s:s + _CHUNK])
            np.bitwise_or.at(self.bits, words.ravel(), masks.ravel())
        self.count += len(h)

    def contains_then_insert(self, hashes: np.ndarray | Sequence[int]) -> np.ndarray:
        """`contains(hashes)` as the filter was before, then `insert(hashes)`."""
        found = self.contains(hashes)
        self.insert(hashes)
        return found

    # -- state

    def set_bits(self) -> int:
        if hasattr(np, "bitwise_count"):
            return int(np.bitwise_count(self.bits).sum(dtype=np.int64))
        return int(np.unpackbits(self.bits.view(np.uint8)).sum(dtype=np.int64))  # pragma: no cover

    def stats(self) -> dict:
        """Size, fill and estimates: distinct items from the fill, and the current fp rate."""
        ones = self.set_bits()
        fill = ones / self.m
        distinct = -(self.m / self.k) * math.log1p(-fill) if fill < 1 else float("inf")
        return {"m_bits": self.m, "k": self.k, "seed": self.seed, "bytes": self.nbytes, "inserted": self.count,
                "expected": self.expected, "configured_fp_rate": self.fp_rate, "fill": fill,
                "estimated_distinct": distinct, "estimated_fp_rate": fill ** self.k}

    def save(self, path: str | os.PathLike) -> None:
        """Write header + bits to `path` atomically and durably (fsync before the rename)."""
        bits = self.bits if sys.byteorder == "little" else self.bits.byteswap()
        digest = xxhash.xxh3_64_intdigest(memoryview(bits).cast("B"))
        header = _HEADER.pack(MAGIC, FORMAT_VERSION, HASH_SCHEME, self.m, self.k, 0, self.seed, self.count,
                              self.expected, self.fp_rate, digest)
        with open_atomic(path, fsync=True) as f:
            f.write(header)
            f.write(memoryview(bits).cast("B"))

    @classmethod
    def load(cls, path: str | os.PathLike, *, available_bytes: int | None = None) -> "BloomFilter":
        """Read a filter written by `save` (checks magic, versions, size and checksum)."""
        path = Path(path)
        with open(path, "rb") as f:
            raw = f.read(_HEADER.size)
            if len(raw) < _HEADER.size or raw[:8] != MAGIC:
                raise DataError(f"{path} is not a dcbench Bloom filter file (bad magic or truncated header)")
            magic, version, scheme, m, k, _, seed, count, expected, fp_rate, digest = _HEADER.unpack(raw)
            if version != FORMAT_VERSION:
                raise DataError(f"{path}: Bloom filter format version {version}, this dcbench reads {FORMAT_VERSION}")
            if scheme != HASH_SCHEME:
                raise DataError(f"{path}: built with n-gram hash scheme {scheme}, this dcbench hashes with "
                                f"{HASH_SCHEME}; its bits would match nothing, rebuild the filter")
            needed = _bits_bytes(m)
            size = os.fstat(f.fileno()).st_size
            if size != _HEADER.size + needed:
                raise DataError(f"{path}: {size:,} bytes, expected {_HEADER.size + needed:,} for m={m:,} bits "
                                "(truncated or corrupt)")
            ensure_memory(needed, available_bytes, f"loading the Bloom filter {path}",
                           "load it on a machine with more memory, or free memory")
            bits = np.fromfile(f, dtype="<u8", count=needed // 8)
        if xxhash.xxh3_64_intdigest(memoryview(bits).cast("B")) != digest:
            raise DataError(f"{path}: checksum mismatch, the bit array is corrupt")
        if bits.dtype != np.dtype(_U64):
            bits = bits.astype(_U64)  # pragma: no cover - big-endian hosts
        self = cls.__new__(cls)
        self._init(m, k, seed, count, expected, fp_rate, bits)
        return self
