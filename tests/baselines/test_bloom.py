"""The Bloom filter: BFF's sizing, vectorised ops, fp rate, persistence, deterministic hashing."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dcbench.baselines.dedup.bloom import (BloomFilter, bff_size_bytes, false_positive_rate, mix64, optimal_hashers,
                                   paragraph_ngram_hashes, sequence_hash, sliding_hashes, token_hashes)
from dcbench.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[2]


def _random_hashes(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)


# ---------------------------------------------------------------- sizing


def test_sizing_matches_bff_formula_for_a_million_at_one_percent():
    m, k = BloomFilter.sizing(1_000_000, 0.01)
    # BFF: the byte size its binary search finds, m = 8 * bytes, k = ceil(m/n ln 2).
    assert m % 8 == 0 and m == 8 * bff_size_bytes(1_000_000, 0.01)
    assert k == math.ceil(m / 1_000_000 * math.log(2)) == 7
    # The formula holds at m (to BFF's one-byte search slack), and 2 bytes less is too small.
    assert false_positive_rate(m // 8, 1_000_000, k) <= 0.01 * (1 + 1e-5)
    assert false_positive_rate(m // 8 - 2, 1_000_000, optimal_hashers(m // 8 - 2, 1_000_000)) > 0.01
    # The closed form -n ln p / ln(2)^2: ~9.59 bits, ~1.2 bytes per item.
    closed = -1_000_000 * math.log(0.01) / math.log(2) ** 2
    assert abs(m - closed) / closed < 1e-3
    assert 1.19 < BloomFilter.required_bytes(1_000_000, 0.01) / 1_000_000 < 1.21


@pytest.mark.parametrize("n,fp", [(1000, 0.01), (12345, 0.01), (100_000, 0.05), (1_000_000, 0.001)])
def test_bff_search_is_within_a_byte_of_the_true_minimum(n, fp):
    size = bff_size_bytes(n, fp)
    best = next(b for b in range(max(1, size - 50), size + 50)
                if false_positive_rate(b, n, optimal_hashers(b, n)) <= fp)
    assert abs(size - best) <= 1


def test_refuses_a_filter_that_does_not_fit_in_memory():
    with pytest.raises(ConfigError) as e:
        BloomFilter(10**15, 0.01)  # ~1.2 PB
    msg = str(e.value)
    assert "needs" in msg and "available" in msg and "fp_rate" in msg and "partitions" in msg
    with pytest.raises(ConfigError, match="1,199,120 bytes"):
        BloomFilter(1_000_000, 0.01, available_bytes=1_000_000)


@pytest.mark.parametrize("bad", [dict(expected_ngrams=0), dict(expected_ngrams=10, fp_rate=0.0),
                                 dict(expected_ngrams=10, fp_rate=1.5), dict(expected_ngrams=2.5)])
def test_bad_sizing_parameters_are_config_errors(bad):
    with pytest.raises(ConfigError):
        BloomFilter(**bad)


# ---------------------------------------------------------------- operations


def test_insert_then_contains_vectorised_and_no_false_negatives():
    bf = BloomFilter(10_000, 0.01)
    items = _random_hashes(10_000, 1)
    assert not bf.contains(items[:100]).any()
    bf.insert(items)
    assert bf.contains(items).all()
    assert len(bf) == 10_000
    assert bf.contains(np.zeros(0, dtype=np.uint64)).shape == (0,)
    # Plain Python ints are accepted too.
    assert bf.contains([int(items[0])]).tolist() == [True]


def test_measured_false_positive_rate_is_within_20_percent_of_configured():
    # 100k items at 1%: 200k fresh queries expect ~2000 false positives (sd ~45), so
    # +-20% (+-400) is a ~9 sd margin: safe, and it runs in ~0.1 s.
    bf = BloomFilter(100_000, 0.01)
    bf.insert(_random_hashes(100_000, 7))
    rate = bf.contains(_random_hashes(200_000, 8)).mean()
    assert abs(rate - 0.01) < 0.2 * 0.01, rate
    st = bf.stats()
    assert abs(st["estimated_distinct"] - 100_000) < 2_000
    assert abs(st["estimated_fp_rate"] - 0.01) < 0.002


def test_seed_changes_positions_but_not_answers_for_inserted_items():
    items = _random_hashes(1000, 3)
    a, b = BloomFilter(1000, 0.01, seed=0), BloomFilter(1000, 0.01, seed=1)
    a.insert(items)
    b.insert(items)
    assert a.contains(items).all() and b.contains(items).all()
    assert not np.array_equal(a.bits, b.bits)


# ---------------------------------------------------------------- persistence


def test_save_load_round_trip_and_atomic_write(tmp_path):
    bf = BloomFilter(50_000, 0.01, seed=5)
    items = _random_hashes(20_000, 4)
    bf.insert(items)
    path = tmp_path / "sub" / "f.bloom"
    bf.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["f.bloom"]  # no temporary left behind
    back = BloomFilter.load(path)
    assert (back.m, back.k, back.seed, back.count) == (bf.m, bf.k, 5, 20_000)
    assert np.array_equal(back.bits, bf.bits)
    assert back.contains(items).all()
    fresh = _random_hashes(5000, 9)
    assert np.array_equal(back.contains(fresh), bf.contains(fresh))


def test_load_rejects_corrupt_and_foreign_files(tmp_path):
    bf = BloomFilter(1000, 0.01)
    bf.insert(_random_hashes(100, 1))
    path = tmp_path / "f.bloom"
    bf.save(path)
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    (tmp_path / "flipped").write_bytes(bytes(raw))
    with pytest.raises(DataError, match="checksum"):
        BloomFilter.load(tmp_path / "flipped")
    (tmp_path / "short").write_bytes(path.read_bytes()[:-8])
    with pytest.raises(DataError, match="truncated"):
        BloomFilter.load(tmp_path / "short")
    (tmp_path / "other").write_bytes(b"not a filter at all" * 10)
    with pytest.raises(DataError, match="magic"):
        BloomFilter.load(tmp_path / "other")


# ---------------------------------------------------------------- hashing


def test_sliding_and_paragraph_hashes_agree_with_whole_sequence_hash():
    tok = token_hashes([f"w{i}" for i in range(20)])
    assert sliding_hashes(tok, 5).tolist() == [sequence_hash(tok[i:i + 5]) for i in range(16)]
    # Paragraphs of 7, 3, 0, 10 tokens; n=5, min 3: 3 sliding + 1 whole + none + 6 sliding.
    hashes, offsets = paragraph_ngram_hashes(tok, [7, 3, 0, 10], 5, 3)
    assert offsets.tolist() == [0, 3, 4, 4, 10]
    expect = ([sequence_hash(tok[i:i + 5]) for i in range(3)] + [sequence_hash(tok[7:10])]
              + [sequence_hash(tok[10 + i:15 + i]) for i in range(6)])
    assert hashes.tolist() == expect
    # A window never spans two paragraphs, and length is part of the hash.
    assert sequence_hash(tok[:3]) != sequence_hash(tok[:4])
    assert len(set(hashes.tolist())) == len(hashes)


def test_tokens_with_separator_like_characters_do_not_collide():
    a = token_hashes(["a\x1f", "b"])
    b = token_hashes(["a", "\x1fb"])
    assert sequence_hash(a) != sequence_hash(b)


_CHILD = """
import sys
from dcbench.baselines.dedup.bloom import BloomFilter, paragraph_ngram_hashes, token_hashes
tok = token_hashes("Der schnelle braune Fuchs springt über den faulen Hund , 🦊 !".split() * 3, seed=11)
h, _ = paragraph_ngram_hashes(tok, [len(tok)], 13, 13, seed=11)
bf = BloomFilter(1000, 0.01, seed=3)
bf.insert(h)
print(",".join(map(str, h.tolist())), bf.bits.nonzero()[0].tolist())
"""


def test_hashes_and_bit_positions_are_identical_in_another_process():
    env = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=str(REPO))
    child = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, env=env, cwd=REPO,
                           check=True).stdout.strip()
    tok = token_hashes("Der schnelle braune Fuchs springt über den faulen Hund , 🦊 !".split() * 3, seed=11)
    h, _ = paragraph_ngram_hashes(tok, [len(tok)], 13, 13, seed=11)
    bf = BloomFilter(1000, 0.01, seed=3)
    bf.insert(h)
    assert child == f"{','.join(map(str, h.tolist()))} {bf.bits.nonzero()[0].tolist()}"
    # Pinned values: a change in hashing must bump bloom.HASH_SCHEME (old filters would match nothing).
    assert token_hashes(["hello"]).tolist() == [10760762337991515389]  # xxh3_64(b"hello")
    assert mix64(np.array([1], dtype=np.uint64)).tolist() == [0x5692161D100B05E5]
    assert sequence_hash(token_hashes(["hello", "world"])) == 17783050159115158539
