"""`tokenize_mixture` and `dcbench tokenize --mix`: token shares, repetition, determinism, resume."""

from __future__ import annotations

import collections
import hashlib
import json
import random
from pathlib import Path

import numpy as np
import pytest

from dcbench.mixture import Mixture, save_mixture
from dcbench.cli import main
from dcbench.errors import ConfigError
from dcbench.manifest import Manifest
from dcbench.poolref import resolve_pool
from dcbench.shards import write_shard
from dcbench.training.data import TokenShards
from dcbench.training.tokenize import largest_remainder, tokenize_dataset, tokenize_mixture
from dcbench.tiers import TOKENIZER_SHA256
from dcbench.training.tokenizer import eot_id, file_sha256, load_tokenizer, pad_id, train_bpe

SEQ = 63  # contexts of 64 tokens (about 15 words: no context twice in a source)
VOCAB = {  # disjoint words, so every context belongs to one source
    "web": "data curation language model web page filter token shard quality the of and to".split(),
    "books": "river mountain forest cloud stone valley rain snow wind lake".split(),
    "code": "zebra quartz jolly vex glyph fjord sphinx".split(),
}
SHARDS = {"web": (30, 22), "books": (25,), "code": (12,)}  # documents per shard


def _texts(name: str, shard: int, n: int) -> list[str]:
    rng = random.Random(f"{name}/{shard}")
    return [" ".join(rng.choice(VOCAB[name]) for _ in range(rng.randint(3, 40))) for _ in range(n)]


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    """Three pools whose shards share names (part-0.jsonl in each): the stems must not collide."""
    root = tmp_path_factory.mktemp("sources")
    for name, sizes in SHARDS.items():
        for i, n in enumerate(sizes):
            write_shard(str(root / name / f"part-{i}.jsonl"), [{"text": t, "url": f"{name}/{i}/{j}"}
                                                               for j, t in enumerate(_texts(name, i, n))])
    return root


@pytest.fixture(scope="module")
def bpe(sources, tmp_path_factory) -> Path:
    texts = [t for name, sizes in SHARDS.items() for i, n in enumerate(sizes) for t in _texts(name, i, n)]
    return train_bpe(texts, 300, tmp_path_factory.mktemp("tok") / "bpe.json")


@pytest.fixture(scope="module")
def contexts(sources, bpe) -> dict[str, list[bytes]]:
    """Every source's contexts, computed here without the pipeline: EOT after each document,
    each shard's tail padded to a whole context."""
    tok = load_tokenizer(bpe)
    out: dict[str, list[bytes]] = {}
    for name, sizes in SHARDS.items():
        out[name] = []
        for i, n in enumerate(sizes):
            stream = [t for text in _texts(name, i, n) for t in tok.encode(text, add_special_tokens=False).ids
                      + [eot_id(tok)]]
            stream += [pad_id(tok)] * (-len(stream) % (SEQ + 1))
            out[name] += [np.asarray(stream[j:j + SEQ + 1], np.uint16).tobytes()
                          for j in range(0, len(stream), SEQ + 1)]
        assert len(set(out[name])) == len(out[name])  # no context twice: counts below are exact
    assert not set(out["web"]) & set(out["books"]) | set(out["web"]) & set(out["code"])
    return out


def _mix(sources: Path, **weights: float) -> Mixture:
    return Mixture({n: str(sources / n) for n in weights}, weights)


def _run(mixture, out, bpe, **kw):
    kw = {"seq_len": SEQ, "num_cells": 4, "shard_sequences": 7, **kw}
    return tokenize_mixture(mixture, str(out), str(bpe), **kw)


def _rows(out: Path) -> list[bytes]:
    m = Manifest.load(str(out / "manifest.json"))
    return [row.tobytes() for s in m.shards for row in np.load(out / s.path)]


def _per_source(rows: list[bytes], contexts: dict[str, list[bytes]]) -> dict[str, collections.Counter]:
    owner = {c: name for name, cs in contexts.items() for c in cs}
    assert all(r in owner for r in rows)  # nothing but the sources' own contexts
    found: dict[str, collections.Counter] = {name: collections.Counter() for name in contexts}
    for r in rows:
        found[owner[r]][r] += 1
    return found


def test_token_shares_follow_the_weights_without_repeating(sources, bpe, contexts, tmp_path, ray_session):
    weights = {"web": 0.5, "books": 0.3, "code": 0.2}
    m = _run(_mix(sources, **weights), tmp_path / "out", bpe)
    avail = {n: len(contexts[n]) for n in weights}
    total = m.extra["sequences"]
    found = _per_source(_rows(tmp_path / "out"), contexts)
    for name, w in weights.items():
        taken = sum(found[name].values())
        assert abs(taken - w * total) < 1, name  # token share = weight, to within one context
        assert set(found[name].values()) <= {1}  # no context repeated
        r = m.extra["mixture"][name]
        assert (r["contexts_available"], r["contexts_taken"]) == (avail[name], taken)
        assert r["epochs"] == pytest.approx(taken / avail[name]) and r["epochs"] <= 1
        assert m.extra["token_shares"][name] == pytest.approx(taken / total) == pytest.approx(w, abs=1 / total)
    # the largest total whose quotas w * total fit every source: one context more and one would not
    assert total == sum(sum(c.values()) for c in found.values())
    assert all(w * total <= avail[n] for n, w in weights.items())
    assert any(w * (total + 1) > avail[n] for n, w in weights.items())
    assert m.kind == "tokens" and m.name == "web+books+code" and m.extra["tokens"] == total * (SEQ + 1)
    assert m.inputs == {"mixture": {n: {"dataset": resolve_pool(str(sources / n)).id, "weight": w}
                                    for n, w in weights.items()},
                        "tokenizer": hashlib.sha256(bpe.read_bytes()).hexdigest(), "seq_len": SEQ, "seed": 0,
                        "tokens": None}
    assert m.extra["documents"] == sum(sum(s) for s in SHARDS.values())  # what stage 1 read
    assert not (tmp_path / "out" / "work").exists()
    assert TokenShards(tmp_path / "out").sequences == total


def test_weight_zero_source_is_not_read(sources, bpe, contexts, tmp_path, ray_session):
    mix = Mixture({"web": str(sources / "web"), "books": str(sources / "books"), "gone": str(tmp_path / "missing")},
                  {"web": 0.6, "books": 0.4, "gone": 0.0})
    m = _run(mix, tmp_path / "out", bpe)  # the weight-0 source does not even exist
    found = _per_source(_rows(tmp_path / "out"), contexts)
    assert not found["code"] and sum(found["web"].values()) and sum(found["books"].values())
    assert m.inputs["mixture"]["gone"] == {"dataset": None, "weight": 0.0}
    assert m.extra["mixture"]["gone"]["contexts_taken"] == 0 and m.extra["token_shares"]["gone"] == 0


def test_more_tokens_than_a_source_has_repeat_it_with_a_warning(sources, bpe, contexts, tmp_path, capsys,
                                                                 ray_session):
    weights = {"web": 0.25, "code": 0.75}
    avail = {n: len(contexts[n]) for n in weights}
    tokens = 3 * avail["code"] * (SEQ + 1) + 5  # code alone needs 2.25 passes; rounds up to whole contexts
    m = _run(_mix(sources, **weights), tmp_path / "out", bpe, tokens=tokens)
    total = -(-tokens // (SEQ + 1))
    assert m.extra["sequences"] == total and m.inputs["tokens"] == tokens
    found = _per_source(_rows(tmp_path / "out"), contexts)
    take = largest_remainder(weights, total)
    for name in weights:
        k, n = take[name], avail[name]
        assert sum(found[name].values()) == k == m.extra["mixture"][name]["contexts_taken"]
        # k // n full passes, then k % n contexts once more
        times = collections.Counter({k // n: n - k % n, k // n + 1: k % n})
        del times[0]
        assert collections.Counter(found[name].values()) == +times
        # which contexts come once more: the draw seeded by (seed, source name), in source order
        key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")
        extra = np.random.default_rng([0, key]).choice(n, k % n, replace=False)
        assert {i for i, c in enumerate(contexts[name]) if found[name][c] == k // n + 1} == set(extra.tolist())
    assert m.extra["mixture"]["code"]["epochs"] > 2
    err = capsys.readouterr().err
    assert "'code'" in err and "repeated" in err
    assert ("'web'" in err) == (take["web"] > avail["web"])


def test_workers_do_not_change_bytes_and_seed_changes_selection(sources, bpe, contexts, tmp_path, ray_session):
    mix = _mix(sources, web=0.5, books=0.5)
    one = _run(mix, tmp_path / "w1", bpe, workers=1)
    two = _run(mix, tmp_path / "w2", bpe, workers=2)
    assert [(s.path, s.sha256) for s in one.shards] == [(s.path, s.sha256) for s in two.shards]
    assert one.id == two.id and one.extra == two.extra
    other = _run(mix, tmp_path / "s1", bpe, seed=1)
    assert other.id != one.id
    a, b = _per_source(_rows(tmp_path / "w1"), contexts), _per_source(_rows(tmp_path / "s1"), contexts)
    assert sum(a["web"].values()) == sum(b["web"].values())
    subset = "web" if len(contexts["web"]) > sum(a["web"].values()) else "books"
    assert set(a[subset]) != set(b[subset])  # another seed draws another subset of the larger source


def test_finished_output_is_reused_and_other_weights_refused(sources, bpe, tmp_path, ray_session):
    first = _run(_mix(sources, web=0.5, books=0.5), tmp_path / "out", bpe)
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()}
    again = _run(_mix(sources, web=0.5, books=0.5), tmp_path / "out", bpe)
    assert again.id == first.id
    assert stamps == {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()}
    with pytest.raises(ConfigError, match="new output directory"):
        _run(_mix(sources, web=0.6, books=0.4), tmp_path / "out", bpe)
    changed = _run(_mix(sources, web=0.6, books=0.4), tmp_path / "other", bpe)
    assert changed.inputs["mixture"]["web"]["weight"] == 0.6 and changed.id != first.id
    assert changed.inputs != first.inputs


def test_unfinished_work_of_another_mixture_is_refused(sources, bpe, tmp_path, ray_session):
    work = tmp_path / "out" / "work"
    work.mkdir(parents=True)
    (work / "config.json").write_text(json.dumps({"mixture": {"web": {"dataset": "x", "weight": 1.0}}}))
    with pytest.raises(ConfigError, match="unfinished run"):
        _run(_mix(sources, web=1.0), tmp_path / "out", bpe)


def test_one_source_mixture_holds_the_same_contexts_as_the_dataset(sources, bpe, tmp_path, ray_session):
    mixed = _run(_mix(sources, web=1.0), tmp_path / "mix", bpe)
    plain = tokenize_dataset(str(sources / "web"), str(tmp_path / "plain"), str(bpe), seq_len=SEQ, num_cells=4,
                             shard_sequences=7)
    assert collections.Counter(_rows(tmp_path / "mix")) == collections.Counter(_rows(tmp_path / "plain"))
    assert mixed.extra["mixture"]["web"]["epochs"] == 1.0 and mixed.id != plain.id
    assert "mixture" not in plain.extra and "mixture" not in plain.inputs


def test_bad_mixtures_are_config_errors(sources, bpe, tmp_path, ray_session):
    path = tmp_path / "bad.yaml"
    path.write_text("kind: mixture\nversion: 1\nsources: {web: web}\nweights: {web: 0.5}\n")
    with pytest.raises(ConfigError, match="sum to 1"):
        _run(path, tmp_path / "o1", bpe)
    with pytest.raises(ConfigError, match="weights must name every source"):
        Mixture({"web": "w"}, {"web": 0.5, "books": 0.5})
    with pytest.raises(ConfigError, match="file names"):
        _run(Mixture({"a/b": str(sources / "web")}, {"a/b": 1.0}), tmp_path / "o2", bpe)
    with pytest.raises(ConfigError, match="tokens"):
        _run(_mix(sources, web=1.0), tmp_path / "o3", bpe, tokens=0)


def test_cli_mix(sources, bpe, tmp_path, capsys, ray_session):
    mixture = save_mixture(Mixture({"web": "web", "books": "books", "code": "code"},
                                   {"web": 0.5, "books": 0.5, "code": 0.0}), sources / "half.yaml")
    common = ["--tier", "toy-250k-1x", "-o", str(tmp_path / "out")]
    assert main(["tokenize", *common]) == 2
    assert main(["tokenize", str(sources / "web"), "--mix", str(mixture), *common]) == 2
    assert "exactly one of DATASET or --mix" in capsys.readouterr().err
    assert main(["tokenize", "--mix", str(mixture), "--tokenizer", str(bpe), "--tokens", "20000", *common]) == 0
    printed = capsys.readouterr().out
    assert "web: weight 0.5000, token share 0.5000" in printed and "code: weight 0, not read" in printed
    m = Manifest.load(str(tmp_path / "out" / "manifest.json"))
    assert m.inputs["tokens"] == 20000 and m.extra["sequences"] == -(-20000 // 257)


def test_cli_mix_uses_the_tiers_one_tokenizer(sources, bpe, tmp_path, capsys, ray_session):
    """Whatever the sources, the tier's shipped BPE tokenizes every mixture; another one is used with a note."""
    a = save_mixture(Mixture({"web": "web", "code": "code"}, {"web": 1.0, "code": 0.0}), sources / "a.yaml")
    b = save_mixture(Mixture({"web": "web", "books": "books"}, {"web": 0.5, "books": 0.5}), sources / "b.yaml")
    assert main(["tokenize", "--mix", str(a), "--tier", "toy-250k-1x", "-o", str(tmp_path / "a")]) == 0
    assert main(["tokenize", "--mix", str(b), "--tier", "toy-250k-1x", "-o", str(tmp_path / "b")]) == 0
    shipped = TOKENIZER_SHA256["bpe-1024"]
    assert file_sha256(tmp_path / "a" / "tokenizer.json") == file_sha256(tmp_path / "b" / "tokenizer.json") == shipped
    assert Manifest.load(str(tmp_path / "a" / "manifest.json")).inputs["tokenizer"] == shipped
    capsys.readouterr()
    assert main(["tokenize", "--mix", str(b), "--tier", "toy-250k-1x", "-o", str(tmp_path / "c"),
                 "--tokenizer", str(bpe)]) == 0
    assert "not tier toy-250k-1x's tokenizer" in capsys.readouterr().out


def test_cli_plain_dataset_records_where_it_was_and_warns_of_repetition(sources, tmp_path, capsys, ray_session):
    assert main(["tokenize", str(sources / "web"), "--tier", "toy-250k-1x", "-o", str(tmp_path / "t")]) == 0
    m = Manifest.load(str(tmp_path / "t" / "manifest.json"))
    assert m.extra["dataset_dir"] == str((sources / "web").resolve())  # how a submission finds the recipe
    assert m.inputs["tokenizer"] == TOKENIZER_SHA256["bpe-1024"]
    err = capsys.readouterr().err
    passes = 640 * 32 / m.extra["sequences"]
    assert f"training repeats it {passes:.1f} times" in err and "toy-250k-1x" in err
