"""Exact and MinHash-LSH dedup: planted duplicates are found, the first copy in
global order survives, and results do not depend on sharding or bucketing."""

from __future__ import annotations

import random

import numpy as np
import pytest

from dcbench.baselines.dedup import exact, minhash
from dcbench.shards import Bad


def _vocab(rng: random.Random, size: int = 5000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(size)]


def _doc(rng: random.Random, vocab: list[str], n_words: int = 300) -> str:
    words = [rng.choice(vocab) for _ in range(n_words)]
    # Some punctuation and line breaks, as in real text.
    return "\n".join(" ".join(words[i : i + 15]) + "." for i in range(0, n_words, 15))


def _perturb(rng: random.Random, vocab: list[str], text: str, n_changes: int) -> str:
    words = text.split(" ")
    for pos in rng.sample(range(len(words)), n_changes):
        words[pos] = rng.choice(vocab)
    return " ".join(words)


def _split(items: list, cuts: list[int]) -> dict[str, list]:
    """Cut a list into shards named so that name order is the list order."""
    bounds = [0, *cuts, len(items)]
    return {f"shard-{i:02d}.jsonl": items[a:b] for i, (a, b) in enumerate(zip(bounds, bounds[1:]))}


def _flat(masks: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([masks[n] for n in sorted(masks)])


@pytest.fixture(scope="module")
def corpus() -> dict:
    """60 unrelated docs, then planted copies: exact, whitespace/case variants, near duplicates."""
    rng = random.Random(7)
    vocab = _vocab(rng)
    base = [_doc(rng, vocab) for _ in range(60)]
    docs = list(base)
    exact_of = {}  # index -> index of the original it copies
    near_of = {}
    for src in (3, 10, 10, 25):  # doc 10 is copied twice
        exact_of[len(docs)] = src
        docs.append(base[src])
    ws_variant = len(docs)
    docs.append("  " + base[40].upper().replace(" ", "   \t ") + "\n\n")
    for src in (5, 17, 33, 48):
        near_of[len(docs)] = src
        docs.append(_perturb(rng, vocab, base[src], 3))
    return {"docs": docs, "base": base, "exact_of": exact_of, "near_of": near_of, "ws_variant": ws_variant}


# ------------------------------------------------------------------ exact


def test_exact_finds_planted_copies_and_keeps_first(corpus):
    docs = corpus["docs"]
    drop = exact.exact_duplicates({"a.jsonl": exact.exact_keys(docs)})["a.jsonl"]
    assert set(np.flatnonzero(drop)) == set(corpus["exact_of"])
    # Put a copy first: now the original (later in the global order) is dropped instead.
    keys = exact.exact_keys([docs[63], *docs])
    drop = exact.exact_duplicates({"a.jsonl": keys})["a.jsonl"]
    assert not drop[0] and drop[1 + 25] and drop[1 + 63]  # docs[63] copies docs[25]


def test_exact_normalisations():
    texts = ["Hello  World\n", "hello  world", "  HELLO\tWORLD ", "hello world", "Hello World!"]
    def dropped(norm):
        return list(np.flatnonzero(exact.exact_duplicates({"s": exact.exact_keys(texts, normalize=norm)})["s"]))
    assert dropped("none") == []
    assert dropped("strip_lower") == [1]  # DCLM's normaliser: ends stripped, lowercase, inner whitespace kept
    assert dropped("whitespace_lower") == [1, 2, 3]
    urls = [{"url": "https://www.example.com/a/"}, {"url": "http://example.com/a?utm_source=x"}, {"url": "example.com/b"}]
    keys = exact.exact_keys(urls, normalize="url", content_key="url")
    assert list(exact.exact_duplicates({"s": keys})["s"]) == [False, True, False]
    with pytest.raises(ValueError, match="accepted values"):
        exact.exact_keys(texts, normalize="nfkc")


def test_exact_md5_matches_dclm_digest_and_skips_bad():
    import hashlib

    docs = [{"text": "a"}, Bad(1, "bad json", "{"), {"text": "b"}]
    keys = exact.exact_keys(docs, hash="md5")
    assert keys.shape == (2, 2) and keys.dtype == np.uint64
    want = hashlib.md5(b"b").digest()
    assert int(keys[1, 0]).to_bytes(8, "big") + int(keys[1, 1]).to_bytes(8, "big") == want


def test_exact_selection_key_min_max():
    keys = exact.exact_keys(["x", "y", "x", "x"])
    sel = np.array([5.0, 1.0, 2.0, 2.0])
    by_min = exact.exact_duplicates({"s": keys}, selection_per_shard={"s": sel}, keep="min")["s"]
    assert list(by_min) == [True, False, False, True]  # ties go to the first in global order
    by_max = exact.exact_duplicates({"s": keys}, selection_per_shard={"s": sel}, keep="max")["s"]
    assert list(by_max) == [False, False, True, True]


def test_exact_sharding_and_buckets_do_not_change_the_result(corpus):
    docs = corpus["docs"]
    one = exact.exact_duplicates({"all": exact.exact_keys(docs, normalize="whitespace_lower")})
    shards = _split(docs, [20, 61])
    keys = {n: exact.exact_keys(d, normalize="whitespace_lower") for n, d in shards.items()}
    want = _flat(one)
    assert want.sum() == len(corpus["exact_of"]) + 1  # the whitespace/case variant too
    for buckets in (1, 2, 7):
        assert np.array_equal(_flat(exact.exact_duplicates(keys, num_buckets=buckets)), want)
    # The partitioned path, piece by piece, as a distributed run does it.
    names = exact.shard_order(keys)
    per_bucket = [[] for _ in range(5)]
    for rank, name in enumerate(names):
        for b, part in enumerate(exact.split_buckets(exact.shard_rows(keys[name], rank), 5)):
            per_bucket[b].append(part)
    dropped = [exact.reduce_bucket(np.concatenate(parts)) for parts in per_bucket]
    masks = exact.drop_masks({n: len(keys[n]) for n in names}, dropped)
    assert np.array_equal(_flat(masks), want)


# ------------------------------------------------------------------ MinHash


@pytest.fixture(scope="module")
def sigs(corpus) -> np.ndarray:
    return minhash.signatures(corpus["docs"])


def test_signatures_equal_datasketch_bulk_and_are_deterministic(corpus, sigs):
    from datasketch import MinHash
    import xxhash

    docs = corpus["docs"][:12]
    ref = MinHash.bulk([minhash.shingles(t) for t in docs], num_perm=128, hashfunc=xxhash.xxh32_intdigest)
    assert np.array_equal(sigs[:12], np.stack([m.hashvalues for m in ref]))
    assert np.array_equal(minhash.signatures(docs, engine="datasketch"), sigs[:12])
    assert sigs.dtype == np.uint32 and sigs.shape == (len(corpus["docs"]), 128)
    assert np.array_equal(minhash.signatures(corpus["docs"]), sigs)


def test_shingles_and_empty_documents():
    assert minhash.shingles("One, two; THREE four five six!") == {b"one two three four five", b"two three four five six"}
    assert minhash.shingles("just three words") == {b"just three words"}
    s = minhash.signatures(["", "  ...  ", {"text": ""}, Bad(0, "x", ""), "a b c d e f"])
    assert s.shape == (4, 128)
    assert list(minhash.is_empty(s)) == [True, True, True, False]
    drop = minhash.near_duplicates({"s": s})["s"]
    assert not drop.any()  # empty documents never match (exact dedup handles them)


def test_near_duplicates_found_unrelated_kept(corpus, sigs):
    drop = minhash.near_duplicates({"a.jsonl": sigs})["a.jsonl"]
    # 3 of 300 words changed: estimated Jaccard ~0.9, above 0.8.
    expected = set(corpus["exact_of"]) | set(corpus["near_of"]) | {corpus["ws_variant"]}
    assert set(np.flatnonzero(drop)) == expected
    assert not drop[:60].any()  # no original is dropped, unrelated docs are never merged
    for dup, src in corpus["near_of"].items():
        assert minhash.jaccard(sigs[dup], sigs[src]) >= 0.8


def test_cluster_keeps_first_in_global_order(corpus):
    rng = random.Random(3)
    vocab = _vocab(rng)
    a = _doc(rng, vocab)
    b = _perturb(rng, vocab, a, 3)
    c = _perturb(rng, vocab, b, 3)
    other = _doc(rng, vocab)
    s = minhash.signatures([other, c, a, b])
    assert list(minhash.near_duplicates({"s": s})["s"]) == [False, False, True, True]
    # Across shards the shard name decides the order, not the dict order.
    masks = minhash.near_duplicates({"z.jsonl": s[2:], "b.jsonl": s[:2]})
    assert list(masks["b.jsonl"]) == [False, False] and list(masks["z.jsonl"]) == [True, True]


def test_near_duplicates_independent_of_shards_and_buckets(corpus, sigs):
    want = minhash.near_duplicates({"all": sigs})["all"]
    docs = corpus["docs"]
    shards = _split(docs, [30, 62])
    per_shard = {n: minhash.signatures(d) for n, d in shards.items()}
    for buckets in (1, 3, 8):
        assert np.array_equal(_flat(minhash.near_duplicates(per_shard, num_buckets=buckets)), want)
    # The partitioned path, piece by piece.
    bands, rows = minhash.optimal_bands_rows(0.8, 128)
    names = sorted(per_shard)
    buckets = [[] for _ in range(4)]
    for rank, n in enumerate(names):
        for i, part in enumerate(minhash.split_buckets(minhash.lsh_rows(per_shard[n], rank, bands, rows), 4)):
            buckets[i].append(part)
    sigs_by_rank = [per_shard[n] for n in names]
    edges = [minhash.verify_pairs(minhash.candidate_pairs(np.concatenate(b)), sigs_by_rank, 0.8) for b in buckets]
    masks = minhash.cluster_drop_masks({n: len(per_shard[n]) for n in names}, edges)
    assert np.array_equal(_flat(masks), want)


def test_candidate_pairs_window_bounds_big_groups():
    rows = np.zeros(200, dtype=minhash.LSH_ROW_DTYPE)
    rows["key"] = 42
    rows["index"] = np.arange(200)
    pairs = minhash.candidate_pairs(rows, window=4)
    assert len(pairs) == 4 * 200 - 10 + (200 - 5)  # 4 predecessors each, plus the group's first
    assert (pairs["a_index"] < pairs["b_index"]).all()
    small = minhash.candidate_pairs(rows[:5], window=4)
    assert len(small) == 10  # a small group yields all its pairs


def test_banding_parameters():
    assert minhash.optimal_bands_rows(0.8, 128) == (9, 13)  # what datasketch's MinHashLSH picks
    keys = minhash.band_keys(np.arange(2 * 128, dtype=np.uint32).reshape(2, 128), 9, 13)
    assert keys.shape == (2, 9) and keys.dtype == np.uint64 and len(set(keys.ravel().tolist())) == 18
    with pytest.raises(ValueError):
        minhash.band_keys(np.zeros((1, 128), dtype=np.uint32), 10, 13)


def test_values_are_pinned_across_runs_and_versions():
    """Keys and signatures are stored between the analysis and apply phases (and
    across runs): they must not depend on the process, and a dependency upgrade
    that changes them must be noticed."""
    import xxhash

    s = minhash.signatures(["The quick brown fox jumps over the lazy dog again and again.", "short"])
    assert s[0, :4].tolist() == [218915508, 666134057, 151891097, 1785009914]
    assert xxhash.xxh64_hexdigest(s.tobytes()) == "bd8a8de31a6dd09c"
    k = exact.exact_keys(["The quick brown fox"])
    assert f"{int(k[0, 0]):016x}{int(k[0, 1]):016x}" == xxhash.xxh3_128_hexdigest(b"The quick brown fox")
