"""Exact and MinHash-LSH dedup: planted duplicates are found, the first copy in
global order survives, and results do not depend on sharding or bucketing.
DCLM's unit dedup (list-valued content, selection keys) is checked against a
plain re-statement of DCLM's dedup_jsonl rules."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import pytest

from dcbench.baselines.dedup import exact, minhash
from dcbench.baselines.registry import get
from dcbench.baselines.units import DEDUP_NORMALIZERS
from dcbench.errors import ConfigError
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


# ------------------------------------------------ DCLM's unit dedup (list-valued content, selection)


def _dclm_reference(shards: dict[str, list[dict]], content_key: str, normalize=None, selection_key=None,
                    selection_normalize=None, reverse=False) -> dict[str, list[dict]]:
    """DCLM's dedup_jsonl restated plainly: md5 of each unit (`str(normalize(unit))`), groups of equal
    digests in global order, keep np.argmin / np.argmax of the selection values, cut the other units
    out, remove documents left empty (in files that lost a unit), leave other files alone."""
    norm = DEDUP_NORMALIZERS[normalize] if normalize else None
    groups: dict[str, list] = {}
    for name in sorted(shards):
        for d, doc in enumerate(shards[name]):
            value = doc[content_key]
            for u, unit in enumerate(value if isinstance(value, list) else [value]):
                key = hashlib.md5((str(norm(unit)) if norm else unit).encode()).hexdigest()
                sel = None
                if selection_key:
                    sel = doc[selection_key]
                    sel = DEDUP_NORMALIZERS[selection_normalize](sel) if selection_normalize else sel
                groups.setdefault(key, []).append((name, d, u, sel))
    drop: dict[str, dict[int, set]] = {n: {} for n in shards}
    for rows in groups.values():
        keep = 0 if not selection_key else (np.argmax if reverse else np.argmin)(np.array([r[3] for r in rows]))
        for i, (name, d, u, _) in enumerate(rows):
            if i != keep:
                drop[name].setdefault(d, set()).add(u)
    out = {}
    for name, docs in shards.items():
        if not drop[name]:
            out[name] = docs
            continue
        kept = []
        for d, doc in enumerate(docs):
            value = doc[content_key]
            units = [x for u, x in enumerate(value if isinstance(value, list) else [value])
                     if u not in drop[name].get(d, ())]
            if units:
                kept.append(doc if d not in drop[name] else {**doc, content_key: units})
        out[name] = kept
    return out


def _ours(shards: dict[str, list[dict]], content_key: str, normalize=None, selection_key=None,
          selection_normalize=None, reverse=False, num_buckets=3) -> dict[str, list[dict]]:
    units = {n: exact.shard_units(d, content_key=content_key, normalize=normalize, selection_key=selection_key,
                                  selection_normalize=selection_normalize) for n, d in shards.items()}
    keep = "first" if selection_key is None else "max" if reverse else "min"
    decisions = exact.unit_duplicates(units, keep=keep, num_buckets=num_buckets)
    out = {}
    for name, docs in shards.items():
        apply = exact.drop_units(decisions[name], content_key)
        out[name] = [p for doc in docs for p in apply(dict(doc))]
    return out


def _c4_like(seed: int) -> dict[str, list[dict]]:
    """Pages split into lines (as split_lines_modifier leaves them) sharing boilerplate lines, in 3 shards."""
    rng = random.Random(seed)
    pool = ["Home", "home ", "  HOME", "Contact us", "Read more", "© 2019 Example", "Share this:", "Posted 3 days ago"]
    shards: dict[str, list[dict]] = {}
    for s in ("b", "a", "c"):  # dict order differs from name order
        docs = []
        for i in range(12):
            lines = [rng.choice(pool) if rng.random() < 0.5 else f"unique {s}{i} line {k}"
                     for k in range(rng.randint(1, 5))]
            url = f"https://{rng.choice(['x', 'y', 'z'])}.example/{rng.randint(0, 5)}"
            docs.append({"text": lines if rng.random() < 0.8 else "Home", "url": url, "n": rng.randint(0, 3)})
        shards[s] = docs
    return shards


@pytest.mark.parametrize("seed", range(6))
def test_unit_dedup_matches_dclms_rules_restated(seed):
    shards = _c4_like(seed)
    # C4's paragraph dedup: lines, DCLM's normaliser, the copy kept by the md5 of its page's URL.
    c4 = dict(content_key="text", normalize="normalize_whitespace_and_lowercase", selection_key="url",
              selection_normalize="hash_text")
    assert _ours(shards, **c4) == _dclm_reference(shards, **c4)
    assert _ours(shards, **c4, reverse=True) == _dclm_reference(shards, **c4, reverse=True)
    # C4's URL dedup: one unit per page, the first in global order kept.
    url = dict(content_key="url", normalize="normalize_url")
    assert _ours(shards, **url) == _dclm_reference(shards, **url)
    # Numbers compare as numbers; the raw unit when no normaliser.
    assert _ours(shards, "text", selection_key="n") == _dclm_reference(shards, "text", selection_key="n")


def test_unit_dedup_cuts_lines_removes_emptied_pages_and_keeps_the_selected_copy():
    shards = {"s2": [{"text": ["Menu", "b2"], "url": "u1"}],
              "s1": [{"text": ["menu ", "a1"], "url": "u9"}, {"text": ["MENU"], "url": "u5"},
                     {"text": "x", "url": "u0"}]}
    out = _ours(shards, "text", normalize="normalize_whitespace_and_lowercase")
    assert out == {"s1": [{"text": ["menu ", "a1"], "url": "u9"}, {"text": "x", "url": "u0"}],  # first copy kept
                   "s2": [{"text": ["b2"], "url": "u1"}]}
    out = _ours(shards, "text", normalize="strip_lower", selection_key="url")  # ours = DCLM's normaliser
    assert out["s1"][0] == {"text": ["a1"], "url": "u9"} and out["s2"] == [{"text": ["Menu", "b2"], "url": "u1"}]
    out = _ours(shards, "text", normalize="strip_lower", selection_key="url", reverse=True)
    assert out["s1"] == [{"text": ["menu ", "a1"], "url": "u9"}, {"text": "x", "url": "u0"}]  # u9 is the largest
    # String selection values compare by code point, as numpy's argmin does ("Z" < "a").
    tie = {"s": [{"text": "t", "url": "a"}, {"text": "t", "url": "Z"}, {"text": "t", "url": "Z"}]}
    assert _ours(tie, "text", selection_key="url") == {"s": [{"text": "t", "url": "Z"}]}
    assert exact.unit_duplicates({"s": exact.shard_units(tie["s"], selection_key="url")}, keep="min")["s"]["drop"] \
        == [[0, 0], [2, 0]]  # of the tied "Z"s, the first in global order


def test_an_empty_list_is_removed_only_from_a_shard_that_lost_a_unit():
    shards = {"a": [{"text": ["x"]}, {"text": []}], "b": [{"text": ["x"]}, {"text": []}], "c": [{"text": []}]}
    # a keeps its "x" (the first copy) and so is not rewritten; b loses its copy and with it the empty list
    assert _ours(shards, "text") == {"a": [{"text": ["x"]}, {"text": []}], "b": [], "c": [{"text": []}]}
    assert _dclm_reference(shards, "text") == _ours(shards, "text")


def test_unusable_documents_are_reported_per_position_and_a_nan_is_picked_as_numpy_does():
    docs = [{"text": "a", "t": 2.0}, {"url": "no text"}, {"text": ["a", 3], "t": 1.0}, {"text": "a", "t": None},
            {"text": "a", "t": float("nan")}, {"text": "a", "t": 1.0}]
    units = exact.shard_units(docs, selection_key="t")
    assert sorted(units.bad) == [1, 2, 3]
    assert "no 'text' (content_key)" in units.bad[1] and "a list holding int" in units.bad[2]
    assert "no 't' (selection_key)" in units.bad[3]
    decision = exact.unit_duplicates({"s": units}, keep="min")["s"]
    assert decision["drop"] == [[0, 0], [5, 0]]  # the NaN is numpy's argmin
    assert int(np.argmin(np.array([2.0, float("nan"), 1.0]))) == 1
    assert exact.unit_duplicates({"s": units}, keep="max")["s"]["drop"] == [[0, 0], [5, 0]]  # and its argmax
    apply = exact.drop_units(decision, "text")
    assert apply(docs[0]) == []
    with pytest.raises(ValueError, match="no 'text'"):
        apply(docs[1])  # the runner quarantines the page with this reason
    with pytest.raises(ValueError, match="mix numbers and strings"):
        exact.unit_duplicates({"s": exact.shard_units([{"text": "a", "t": 1}, {"text": "a", "t": "b"}],
                                                      selection_key="t")}, keep="min")


def test_dclms_normaliser_names_and_ours_agree_and_an_unknown_name_is_refused():
    texts = [" A b ", "a b", "https://www.x.org/p/?utm_a=1", "x.org/p"]
    for ours, dclm in (("strip_lower", "normalize_whitespace_and_lowercase"), ("url", "normalize_url")):
        assert np.array_equal(exact.exact_keys(texts, normalize=ours), exact.exact_keys(texts, normalize=dclm))
    assert np.array_equal(exact.exact_keys(["Ａ１ b"], normalize="ccnet_dedup_normalizer"),
                          exact.exact_keys(["a0 b"]))
    spec = get("exact_dedup")
    assert spec.any_text
    with pytest.raises(ConfigError, match="normalize' must be one of 'none'.*'normalize_url'"):
        spec.build({"normalize": "normalise_url"})
    with pytest.raises(ConfigError, match="selection_normalize"):
        spec.build({"selection_key": "url", "selection_normalize": "md5"})
