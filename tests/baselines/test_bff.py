"""BFF old-both dedup: the rule's cases by hand, annotate spans, persistence, and the
partitioned batch protocol (local and Ray) against the sequential reference."""

from __future__ import annotations

import json
import random
from functools import lru_cache

import numpy as np
import pytest

from dcbench.baselines.dedup.bff import (BadDocument, BFFDeduper, PartitionedBFF, RayPartition, dedup_batches,
                                 is_blank, local_partitions, make_ray_partitions, paragraphs, partition_of,
                                 save_partitions)
from dcbench.baselines.dedup.bloom import BloomFilter
from dcbench.errors import ConfigError

try:
    from dcbench.baselines.text import split_words as _split_words
except ImportError:  # baselines/text.py not there yet: the same segments from uniseg
    from uniseg.wordbreak import words as _uniseg_words

    def _split_words(text, ignore_punctuation=False, ignore_whitespace=True):
        return [w for w in _uniseg_words(text) if w.strip()]


@lru_cache(maxsize=None)
def _tokens(text: str) -> tuple[str, ...]:
    return tuple(_split_words(text, ignore_punctuation=False, ignore_whitespace=True))


def tok(text: str) -> list[str]:
    return list(_tokens(text))


def W(prefix: str, n: int, start: int = 0) -> str:
    """n distinct one-token words: prefix0 prefix1 ..."""
    return " ".join(f"{prefix}{i}" for i in range(start, start + n))


def dedup(**kw) -> BFFDeduper:
    return BFFDeduper(BloomFilter(100_000, 1e-9), tokenizer=tok, **kw)


# ---------------------------------------------------------------- the rule, by hand


def test_paragraphs_are_bff_windows():
    assert paragraphs("a\nb\n") == ["a", "\nb", "\n"]
    assert paragraphs("\nx") == ["", "\nx"]
    assert paragraphs("") == [""]
    assert "".join(paragraphs("p\n\nq\r\n")) == "p\n\nq\r\n"


def test_paragraph_removed_above_80_percent_and_kept_at_exactly_80():
    d = dedup()
    assert d.process({"text": W("a", 30)})["text"] == W("a", 30)  # 18 fresh 13-grams, inserted
    # 29 of the words then a new one: 17 of 18 13-grams seen (94%) -> paragraph removed; the
    # document holds 17 of 36 (47%) -> kept without it.
    out = d.process({"text": W("b", 30) + "\n" + W("a", 29) + " zz"})
    assert out["text"] == W("b", 30)
    assert out["bff_contained_ngram_count_before_dedupe"] == 17
    # 24 seen words + 3 new: 27 tokens, 15 13-grams, 12 seen = exactly 0.8 -> kept (the rule is "> 0.8").
    out = d.process({"text": W("a", 24) + " n1 n2 n3"})
    assert out is not None and out["text"] == W("a", 24) + " n1 n2 n3"
    assert out["bff_contained_ngram_count_before_dedupe"] == 12
    # 25 seen + 2 new: 13 of 15 (87%) -> removed, and the document (13/15) is emptied -> dropped.
    assert d.process({"text": W("a", 25) + " m1 m2"}) is None


def test_document_emptied_when_over_80_percent_overall():
    d = dedup()
    d.process({"text": W("a", 30)})
    # The duplicate paragraph (18/18) is removed; the short one has no 13-grams and would stay,
    # but the document as a whole is 18/18 contained, so its text becomes "" and it is dropped.
    assert d.process({"text": W("a", 30) + "\nContact us today"}) is None
    # With as many fresh 13-grams as seen ones (18/36) only the duplicate paragraph goes.
    out = d.process({"text": W("a", 30) + "\n" + W("c", 30)})
    assert out["text"] == "\n" + W("c", 30)
    assert out["bff_contained_ngram_count_before_dedupe"] == 18


def test_earlier_paragraph_of_the_same_document_matches_a_later_one():
    d = dedup()
    out = d.process({"text": W("d", 30) + "\n" + W("d", 30)})
    assert out["text"] == W("d", 30)  # 2nd paragraph: 18/18 inserted by the 1st; document 18/36
    assert out["bff_contained_ngram_count_before_dedupe"] == 18
    # Within one paragraph n-grams are all looked up before any is inserted: a paragraph that
    # repeats itself does not match itself.
    out = d.process({"text": W("e", 30) + " " + W("e", 30)})
    assert out["text"] == W("e", 30) + " " + W("e", 30)
    assert out["bff_contained_ngram_count_before_dedupe"] == 0
    assert d.process({"text": W("e", 30) + " " + W("e", 30)}) is None  # now it is all seen


def test_removed_paragraph_inserts_nothing():
    d = dedup()
    d.process({"text": W("a", 30)})
    # 'a0 .. a28 q' is removed (17 of 18 seen); its one new 13-gram 'a17 .. a28 q' must not
    # enter the filter, so a paragraph of exactly that 13-gram is then new.
    out = d.process({"text": W("f", 40) + "\n" + W("a", 29) + " q"})
    assert out["text"] == W("f", 40)
    out = d.process({"text": W("a", 12, start=17) + " q"})
    assert out is not None and out["bff_contained_ngram_count_before_dedupe"] == 0


def test_short_paragraphs_and_min_ngram_size():
    d = dedup()
    short = W("s", 12)  # 12 tokens < 13 = min: never hashed, never deduplicated
    for _ in range(3):
        assert d.process({"text": short})["text"] == short
    assert d.process({"text": short})["bff_contained_ngram_count_before_dedupe"] == 0
    # min_ngram_size 5 < 13: a 12-token paragraph becomes one n-gram of all its tokens, so its
    # second copy is removed; a 4-token one is still below min and kept.
    d = dedup(min_ngram_size=5)
    assert d.process({"text": short + "\n" + W("t", 4)})["text"] == short + "\n" + W("t", 4)
    out = d.process({"text": W("x", 20) + "\n" + short + "\n" + W("t", 4)})
    assert out["text"] == W("x", 20) + "\n" + W("t", 4)
    assert out["bff_contained_ngram_count_before_dedupe"] == 1
    # Exactly 13 tokens: one sliding 13-gram.
    d = dedup()
    d.process({"text": W("y", 13)})
    assert d.process({"text": W("y", 13)}) is None


def test_annotate_gives_byte_windows_with_multibyte_text():
    a = "Grüße aus Köln — " + W("u", 20)
    first = "Ça va? " + W("v", 15)
    text = first + "\n" + a + "\n" + "naïve café 日本語 " + W("w", 15)
    d = dedup(annotate=True)
    d.process({"text": a})
    doc = {"text": text, "url": "https://example.org/ü", "metadata": {"k": 1}}
    out = d.process(doc)
    start = len(first.encode())
    end = start + len(("\n" + a).encode())
    assert out["bff_duplicate_spans"] == [[start, end]]
    assert text.encode()[start:end].decode() == "\n" + a
    assert start != len(first) and end != len(first) + 1 + len(a)  # bytes, not characters
    assert out["text"] == text and out["url"] == doc["url"] and out["metadata"] == {"k": 1}
    assert out["bff_contained_ngram_count"] == 24 - 12  # all 12 13-grams of `a` (24 tokens)
    assert "bff_contained_ngram_count_before_dedupe" not in out
    # As in BFF, annotate does not apply the whole-document rule: a fully seen document keeps its
    # text, every paragraph span is listed.
    again = d.process({"text": a})
    assert again["text"] == a and again["bff_duplicate_spans"] == [[0, len(a.encode())]]
    # Without annotate the same decision cuts exactly those bytes.
    d2 = dedup()
    d2.process({"text": a})
    assert d2.process(doc)["text"] == first + "\n" + "naïve café 日本語 " + W("w", 15)


def test_exact_duplicate_document_is_removed():
    doc = {"text": W("p", 20) + "\n" + W("q", 20) + "\n" + W("r", 5), "url": "u"}
    d = dedup()
    first = d.process(doc)
    assert first["text"] == doc["text"] and first["url"] == "u"
    assert d.process(dict(doc)) is None


def test_near_duplicate_loses_only_its_duplicate_paragraphs():
    p1, p2, p3, p2b = W("p", 30), W("q", 30), W("r", 30), W("z", 30)
    d = dedup()
    d.process({"text": "\n".join([p1, p2, p3])})
    out = d.process({"text": "\n".join([p1, p2b, p3])})
    assert out["text"] == "\n" + p2b  # BFF keeps the window's leading newline
    assert out["bff_contained_ngram_count_before_dedupe"] == 36


def test_blank_documents_are_dropped_and_bad_ones_raise():
    d = dedup()
    assert d.process({"text": ""}) is None
    assert d.process({"text": " \n\t\n\u3000"}) is None
    assert not is_blank("\x1f")  # Rust's trim() (BFF) keeps U+001F, Python's strip() would not
    with pytest.raises(ValueError):
        d.process({"url": "no text"})
    with pytest.raises(ValueError):
        d.process({"text": 3})


def test_update_false_only_queries():
    bf = BloomFilter(10_000, 1e-9)
    d = BFFDeduper(bf, tokenizer=tok, update=False)
    assert d.process({"text": W("a", 30)}) is not None
    assert d.process({"text": W("a", 30)}) is not None
    assert len(bf) == 0


@pytest.mark.parametrize("bad", [dict(ngram_size=0), dict(min_ngram_size=-1), dict(threshold=1.5),
                                 dict(threshold="0.8")])
def test_bad_parameters_are_config_errors(bad):
    with pytest.raises(ConfigError):
        BFFDeduper(BloomFilter(100, 0.01), tokenizer=tok, **bad)


def test_save_load_continues_dedup_over_a_later_batch(tmp_path):
    rng = random.Random(3)
    first, second = _corpus(rng, 40), _corpus(rng, 40, reuse_from=None)
    second += [dict(first[i]) for i in (0, 5, 9)]
    ref = dedup()
    expected = [ref.process(doc) for doc in first + second]

    d1 = dedup()
    got = [d1.process(doc) for doc in first]
    d1.filter.save(tmp_path / "f.bloom")
    d2 = BFFDeduper(BloomFilter.load(tmp_path / "f.bloom"), tokenizer=tok)
    got += [d2.process(doc) for doc in second]
    assert got == expected
    assert got[-3:] == [None, None, None]


# ---------------------------------------------------------------- partitioned protocol


_VOCAB = [f"w{i}" for i in range(3000)] + ["été", "naïve", "—", "Köln", "日本", "!", ",", "."]


def _para(rng: random.Random) -> str:
    return " ".join(rng.choice(_VOCAB) for _ in range(rng.choice([3, 8, 12, 13, 14, 20, 35, 60])))


def _corpus(rng: random.Random, n: int, reuse_from: list | None = None) -> list[dict]:
    """Random documents with planted duplicates: exact copies, near copies (one paragraph
    changed), paragraphs copied from other documents, repeated paragraphs inside a document,
    and partially overlapping paragraphs."""
    docs: list[dict] = []
    for i in range(n):
        kind = rng.random() if docs else 1.0
        if kind < 0.15:
            text = rng.choice(docs)["text"]
        elif kind < 0.3:
            paras = rng.choice(docs)["text"].split("\n")
            paras[rng.randrange(len(paras))] = _para(rng)
            text = "\n".join(paras)
        elif kind < 0.5:
            pool = [p for d in docs for p in d["text"].split("\n")]
            text = "\n".join(rng.choice(pool) if rng.random() < 0.5 else _para(rng) for _ in range(rng.randint(1, 6)))
        elif kind < 0.6:
            p = _para(rng)
            text = "\n".join([p, _para(rng), p])
        elif kind < 0.7:
            base = rng.choice(docs)["text"].split("\n")[0].split(" ")
            cut = rng.randint(1, max(1, len(base) - 1))
            text = " ".join(base[:cut] + _para(rng).split(" ")) + "\n" + _para(rng)
        else:
            text = "\n".join(_para(rng) for _ in range(rng.randint(1, 6)))
        docs.append({"id": i, "text": text})
    return docs


def _sequential(docs, **kw):
    d = BFFDeduper(BloomFilter(200_000, 1e-9), tokenizer=tok, **kw)
    return [d.process(doc) for doc in docs]


@pytest.mark.parametrize("annotate", [False, True])
def test_partitioned_equals_sequential_on_planted_duplicates(annotate):
    docs = _corpus(random.Random(11), 400)
    docs.insert(50, {"id": "bad", "text": None})
    ref = _sequential([d for d in docs if d["id"] != "bad"], annotate=annotate)
    if annotate:
        assert sum(bool(r["bff_duplicate_spans"]) for r in ref) > 20
    else:
        good = [d for d in docs if d["id"] != "bad"]
        assert 20 < sum(r is None for r in ref) < len(ref) // 2
        assert sum(r is not None and r["text"] != d["text"] for r, d in zip(ref, good)) > 20
    for P, batch in [(1, 17), (4, 17), (4, 1), (3, 1000)]:
        got = list(dedup_batches(docs, local_partitions(P, 200_000, 1e-9), batch_size=batch, tokenizer=tok,
                                 annotate=annotate))
        assert isinstance(got[50], BadDocument)
        del got[50]
        assert got == ref, (P, batch)


@pytest.mark.slow
def test_partitioned_equals_sequential_on_real_documents(web_docs):
    with open(web_docs, encoding="utf-8") as f:
        docs = [json.loads(line) for _, line in zip(range(200), f)]
    docs = docs + [docs[3], docs[17]] + docs[100:120]
    ref = _sequential(docs)
    got = list(dedup_batches(docs, local_partitions(4, 200_000, 1e-9), batch_size=64, tokenizer=tok))
    assert got == ref
    assert got[200] is None and got[201] is None


def test_partition_routing_uses_high_bits_and_is_balanced():
    h = np.random.default_rng(0).integers(0, 2**64 - 1, 100_000, dtype=np.uint64, endpoint=True)
    part = partition_of(h, 5)
    assert part.min() == 0 and part.max() == 4
    assert np.all(np.abs(np.bincount(part) - 20_000) < 1_000)
    assert np.array_equal(part, partition_of(h & ~np.uint64(0xFFFFFFFF), 5))  # low bits do not matter


def test_partitions_save_and_load_continue(tmp_path):
    rng = random.Random(5)
    docs = _corpus(rng, 120)
    ref = _sequential(docs)
    parts = local_partitions(3, 200_000, 1e-9)
    got = list(dedup_batches(docs[:60], parts, batch_size=25, tokenizer=tok))
    save_partitions(parts, tmp_path)
    again = local_partitions(3, 200_000, 1e-9, load_dir=tmp_path)
    got += list(dedup_batches(docs[60:], again, batch_size=25, tokenizer=tok))
    assert got == ref


@pytest.mark.slow
def test_ray_actor_partitions_match_sequential(ray_session, tmp_path):
    docs = _corpus(random.Random(23), 150)
    ref = _sequential(docs)
    actors = make_ray_partitions(2, 200_000, 1e-9)
    got = list(dedup_batches(docs[:100], actors, batch_size=20, tokenizer=tok))
    # Persist from the actors, reload into fresh actors, continue.
    save_partitions(actors, tmp_path)
    reloaded = make_ray_partitions(2, 200_000, 1e-9, load_dir=tmp_path)
    got += list(dedup_batches(docs[100:], reloaded, batch_size=20, tokenizer=tok))
    assert got == ref
    stats = ray_session.get([a.stats.remote() for a in reloaded])
    assert sum(s["inserted"] for s in stats) > 0
    for a in actors + reloaded:
        ray_session.kill(a)


def test_ray_partition_works_in_process_too():
    p = RayPartition(1000, 0.01)
    assert p.insert(np.array([1, 2, 3], dtype=np.uint64)) == 3
    assert p.contains(np.array([1, 2, 3], dtype=np.uint64)).all()
    with pytest.raises(ConfigError):
        RayPartition()
    with pytest.raises(ConfigError):
        PartitionedBFF([])
