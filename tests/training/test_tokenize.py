"""Tokenizer files and tokenize + two-stage shuffle on Ray."""

from __future__ import annotations

import collections
import hashlib
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from dcbench.errors import ConfigError
from dcbench.manifest import Manifest
from dcbench.poolref import resolve_pool
from dcbench.shards import write_shard
from dcbench.training.data import TokenShards
from dcbench.training.tokenize import tokenize_dataset
from dcbench.training.tokenizer import download_tokenizer, eot_id, load_tokenizer, pad_id, train_bpe

SEQ = 31  # contexts of 32 tokens
WORDS = "data curation language model web page filter token shard quality the of and to".split()


def _docs(rng: random.Random, n: int) -> list[dict]:
    return [{"text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 60))), "url": f"u{i}"}
            for i in range(n)]


@pytest.fixture(scope="module")
def neox(shared_data: Path) -> Path:
    path = shared_data / "tokenizers" / "gpt-neox-20b.json"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="module")
def bpe(tmp_path_factory) -> Path:
    texts = [d["text"] for d in _docs(random.Random(1), 300)]
    return train_bpe(texts, 300, tmp_path_factory.mktemp("tok") / "bpe.json")


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> Path:
    """Three shards; the last ends with an unreadable line (skipped and counted)."""
    root = tmp_path_factory.mktemp("pool")
    rng = random.Random(7)
    for i, n in enumerate((40, 25, 31)):
        write_shard(str(root / f"part-{i}.jsonl"), _docs(rng, n))
    with open(root / "part-2.jsonl", "a") as f:
        f.write("{not json\n")
    return root


def _expected_contexts(pool: Path, tok_path: Path) -> list[bytes]:
    tok = load_tokenizer(tok_path)
    eot, pad, out = eot_id(tok), pad_id(tok), []
    for shard in sorted(pool.glob("*.jsonl")):
        stream: list[int] = []
        for line in shard.read_text().splitlines():
            if line.startswith("{\""):
                stream += tok.encode(json.loads(line)["text"], add_special_tokens=False).ids + [eot]
        stream += [pad] * (-len(stream) % (SEQ + 1))
        out += [np.asarray(stream[i:i + SEQ + 1], np.uint16).tobytes() for i in range(0, len(stream), SEQ + 1)]
    return out


def _rows(out: Path) -> list[np.ndarray]:
    m = Manifest.load(str(out / "manifest.json"))
    return [row for s in m.shards for row in np.load(out / s.path)]


def _run(pool, out, tok, ray_session, **kw):
    kw = {"seq_len": SEQ, "num_cells": 4, "shard_sequences": 5, **kw}
    return tokenize_dataset(str(pool), str(out), str(tok), **kw)


# ------------------------------------------------------------------ tokenizer


def test_neox_ids_eot_and_pad(neox):
    tok = load_tokenizer(neox)
    assert tok.encode("Hello world, this is DCLM.", add_special_tokens=False).ids == \
        [12092, 1533, 13, 436, 310, 399, 3207, 46, 15]
    assert (eot_id(tok), pad_id(tok)) == (0, 50256)


def test_download_from_file_url(neox, tmp_path):
    hub = tmp_path / "hub" / "EleutherAI" / "gpt-neox-20b" / "resolve" / "main"
    hub.mkdir(parents=True)
    shutil.copy(neox, hub / "tokenizer.json")
    dest = download_tokenizer(tmp_path / "t" / "neox.json", base_url=f"file://{tmp_path / 'hub'}")
    assert dest.read_bytes() == neox.read_bytes()
    assert [p.name for p in dest.parent.iterdir()] == ["neox.json"]  # no temporary left
    with pytest.raises(ConfigError, match="no tokenizer at"):
        download_tokenizer(tmp_path / "x.json", repo="nobody/none", base_url=f"file://{tmp_path / 'hub'}")
    with pytest.raises(ConfigError, match="`dcbench tokenizer download --dest") as e:
        load_tokenizer(tmp_path / "missing.json")
    assert "download_tokenizer" not in str(e.value) and "--tokenizer" in str(e.value)  # commands, not functions


def test_bpe_is_deterministic_with_eot_zero(bpe, tmp_path):
    again = train_bpe([d["text"] for d in _docs(random.Random(1), 300)], 300, tmp_path / "again.json")
    assert again.read_bytes() == bpe.read_bytes()
    tok = load_tokenizer(bpe)
    assert (eot_id(tok), pad_id(tok), tok.get_vocab_size()) == (0, 1, 300)
    text = "data curation of web pages"
    assert tok.decode(tok.encode(text, add_special_tokens=False).ids) == text


# ------------------------------------------------------------------ tokenize + shuffle


def test_contexts_are_a_permutation_of_the_token_stream(pool, bpe, tmp_path, ray_session):
    m = _run(pool, tmp_path / "out", bpe, ray_session)
    rows = _rows(tmp_path / "out")
    expected = _expected_contexts(pool, bpe)
    assert all(r.shape == (SEQ + 1,) and r.dtype == np.uint16 for r in rows)
    # every context exactly once: EOT after each document, exact length, padded tail per shard
    assert collections.Counter(r.tobytes() for r in rows) == collections.Counter(expected)
    assert [r.tobytes() for r in rows] != expected  # and shuffled
    assert m.kind == "tokens" and all(s.documents <= 5 for s in m.shards)
    assert m.inputs == {"dataset": resolve_pool(str(pool)).id, "seq_len": SEQ, "seed": 0,
                        "tokenizer": hashlib.sha256(bpe.read_bytes()).hexdigest()}
    x = m.extra
    assert (x["sequences"], x["tokens"], x["dtype"], x["eot"], x["pad"]) == \
        (len(expected), len(expected) * (SEQ + 1), "uint16", 0, 1)
    assert x["documents"] == 96 and x["bad_records"] == 1
    assert x["content_tokens"] == sum(int((r != 1).sum()) for r in rows)
    assert not (tmp_path / "out" / "work").exists()
    shards = TokenShards(tmp_path / "out")
    assert (shards.sequences, shards.seq_len, shards.pad_id, shards.vocab_size) == (len(expected), SEQ, 1, 300)


def test_workers_do_not_change_bytes_and_seed_changes_order(pool, bpe, tmp_path, ray_session):
    one = _run(pool, tmp_path / "w1", bpe, ray_session, workers=1)
    two = _run(pool, tmp_path / "w2", bpe, ray_session, workers=2)
    assert [(s.path, s.sha256) for s in one.shards] == [(s.path, s.sha256) for s in two.shards]
    assert one.id == two.id
    other = _run(pool, tmp_path / "s1", bpe, ray_session, seed=1)
    a, b = _rows(tmp_path / "w1"), _rows(tmp_path / "s1")
    assert [r.tobytes() for r in a] != [r.tobytes() for r in b]
    assert collections.Counter(r.tobytes() for r in a) == collections.Counter(r.tobytes() for r in b)
    assert other.inputs["seed"] == 1 and other.id != one.id


def test_finished_output_is_reused_and_other_inputs_refused(pool, bpe, tmp_path, ray_session):
    first = _run(pool, tmp_path / "out", bpe, ray_session)
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()}
    again = _run(pool, tmp_path / "out", bpe, ray_session)
    assert again.id == first.id
    assert stamps == {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()}
    with pytest.raises(ConfigError, match="new output directory"):
        _run(pool, tmp_path / "out", bpe, ray_session, seed=3)


def test_dataset_manifest_id_is_the_input(pool, bpe, tmp_path, ray_session):
    ds = tmp_path / "ds"
    shutil.copytree(pool, ds)
    m = Manifest(kind="dataset", name="d", shards=[
        {"path": p.name, "bytes": p.stat().st_size, "sha256": "", "documents": 0} for p in sorted(ds.glob("*.jsonl"))])
    m.save(str(ds / "manifest.json"))
    out = _run(ds, tmp_path / "out", bpe, ray_session, num_cells=1, shard_sequences=1000)
    assert out.inputs["dataset"] == m.id and len(out.shards) == 1


def test_neox_real_text(neox, tmp_path, ray_session):
    write_shard(str(tmp_path / "p" / "a.jsonl"), [{"text": "Hello world, this is DCLM."}] * 3)
    m = tokenize_dataset(str(tmp_path / "p"), str(tmp_path / "o"), str(neox), seq_len=9, num_cells=1)
    rows = _rows(tmp_path / "o")
    hello = [12092, 1533, 13, 436, 310, 399, 3207, 46, 15, 0]
    assert sorted(r.tolist() for r in rows) == sorted([hello, hello, hello])
    assert (m.extra["vocab_size"], m.extra["pad"], m.extra["dtype"]) == (50280, 50256, "uint16")
