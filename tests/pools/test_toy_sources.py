"""The toy mixing sources: layout, determinism, held-out sets and what language each source is in."""

from __future__ import annotations

import hashlib
import statistics
from pathlib import Path

import pytest

from dcbench.mixture import load_mixture
from dcbench.baselines.resources import lid176_path
from dcbench.cli import main
from dcbench.manifest import Manifest
from dcbench.poolref import resolve_pool
from dcbench.shards import read_shard
from dcbench.pools import toy_sources
from dcbench.pools.toy_sources import SOURCES, build_toy_sources, source_document

STOP = {"the", "be", "to", "of", "and", "that", "have", "with"}  # DCLM's English stop words
DOCS, VALID, SHARDS = 60, 12, 2


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("sources")
    return out, build_toy_sources(str(out), docs_per_source=DOCS, valid_docs=VALID, n_shards=SHARDS, seed=3)


def _docs(spec: str | Path) -> list[dict]:
    return [d for uri in resolve_pool(str(spec)).uris for d in read_shard(uri)]


def _stop_share(text: str) -> float:
    words = text.split()
    return sum(w.lower() in STOP for w in words) / len(words)


_lid = None


def _en(text: str) -> float:
    """lid.176's probability of English when English is its top label, else 0."""
    global _lid
    if _lid is None:
        import fasttext

        _lid = fasttext.load_model(str(lid176_path()))
    labels, probs = _lid.predict(text.replace("\n", " "), k=1)
    return float(probs[0]) if labels[0] == "__label__en" else 0.0


def test_sources_and_held_out_sets_resolve_as_pools(built):
    out, result = built
    assert list(result.sources) == list(SOURCES) == ["web", "reference", "foreign"]
    for name in SOURCES:
        ref = resolve_pool(str(out / name))
        m = Manifest.load(str(out / name / "manifest.json"))
        assert (ref.name, ref.id, m.kind) == (name, result.sources[name].id, "pool")
        assert len(ref.uris) == SHARDS and m.documents == DOCS
        docs = _docs(out / name)
        assert len(docs) == DOCS
        assert all(set(d) == {"text", "url", "metadata"} and d["metadata"]["WARC-Target-URI"] == d["url"]
                   for d in docs)
        valid = resolve_pool(str(out / "valid" / name))
        assert valid.id == result.valid[name].id and len(_docs(out / "valid" / name)) == VALID
        assert valid.id != ref.id


def test_uniform_mixture_points_at_the_sources(built):
    out, result = built
    assert result.mixture == out / "uniform.yaml"
    mix = load_mixture(result.mixture)
    assert mix.names == list(SOURCES)
    assert mix.sources == {n: str((out / n).resolve()) for n in SOURCES}
    assert mix.weights == pytest.approx({n: 1 / 3 for n in SOURCES})
    assert "web: web" in result.mixture.read_text()  # relative, so the folder can move


def test_held_out_documents_are_not_training_documents(built):
    out, _ = built
    for name in SOURCES:
        train = {d["text"] for d in _docs(out / name)}
        valid = [d["text"] for d in _docs(out / "valid" / name)]
        assert len(set(valid)) == VALID and not train & set(valid)


def test_same_seed_same_bytes_other_seed_other_documents(built, tmp_path):
    out, result = built
    again = build_toy_sources(str(tmp_path / "a"), docs_per_source=DOCS, valid_docs=VALID, n_shards=SHARDS, seed=3)
    for name in SOURCES:
        assert again.sources[name].id == result.sources[name].id
        assert again.valid[name].id == result.valid[name].id
        for shard in result.sources[name].shards:
            assert (tmp_path / "a" / name / shard.path).read_bytes() == (out / name / shard.path).read_bytes()
    other = build_toy_sources(str(tmp_path / "b"), docs_per_source=DOCS, valid_docs=VALID, n_shards=SHARDS, seed=4)
    assert all(other.sources[n].id != result.sources[n].id for n in SOURCES)
    for name in SOURCES:
        assert not {d["text"] for d in _docs(tmp_path / "b" / name)} & {d["text"] for d in _docs(out / name)}


def _held_out_as_before(name: str, seed: int, n: int, training: set, key) -> list[dict]:
    """The held-out rule written plainly, with every training text in memory: the first `n`
    documents of the valid stream whose text repeats neither a training nor an earlier held-out one."""
    docs, index, seen = [], 0, set(training)
    while len(docs) < n:
        doc = source_document(name, seed, index, split="valid")
        index += 1
        if key(doc["text"]) not in seen:
            seen.add(key(doc["text"]))
            docs.append(doc)
    return docs


def test_held_out_sets_match_the_in_memory_rule_when_texts_collide(tmp_path, monkeypatch):
    # A 1-byte text key makes "repeats" common, so candidates are struck by training texts and by
    # each other, and more must be drawn and checked against the written shards.
    coarse = lambda text: hashlib.blake2b(text.encode(), digest_size=1).digest()  # noqa: E731
    monkeypatch.setattr(toy_sources, "_text_key", coarse)
    built = build_toy_sources(str(tmp_path), docs_per_source=120, valid_docs=30, n_shards=2, seed=4)
    for name in SOURCES:
        training = {coarse(d["text"]) for d in _docs(tmp_path / name)}
        expected = _held_out_as_before(name, 4, 30, training, coarse)
        assert _docs(tmp_path / "valid" / name) == expected
        assert built.valid[name].documents == 30


def test_each_document_has_its_own_generator(built, tmp_path):
    """A smaller build is a prefix of a larger one: documents never depend on each other's draws."""
    out, _ = built
    small = build_toy_sources(str(tmp_path), docs_per_source=DOCS // 3, valid_docs=VALID // 2, n_shards=SHARDS, seed=3)
    for name in SOURCES:
        for shard in small.sources[name].shards:
            few = list(read_shard(str(tmp_path / name / shard.path)))
            assert few == list(read_shard(str(out / name / shard.path)))[:len(few)]
        assert _docs(tmp_path / "valid" / name) == _docs(out / "valid" / name)[:VALID // 2]


def test_web_and_reference_are_english_and_foreign_is_not(built):
    out, _ = built
    share = {n: statistics.mean(_stop_share(d["text"]) for d in _docs(out / n)) for n in SOURCES}
    assert share["web"] > 0.05 and share["reference"] > 0.05
    assert share["foreign"] < 0.01  # none of DCLM's English stop words (some might be real words elsewhere)
    for name in ("web", "reference"):
        assert all(_en(d["text"]) > 0.65 for d in _docs(out / name) + _docs(out / "valid" / name)), name
    foreign = _docs(out / "foreign") + _docs(out / "valid" / "foreign")
    assert all(_en(d["text"]) == 0.0 for d in foreign)
    hosts = {d["url"].split("/")[2].rsplit(".", 1)[-1] for d in foreign}
    assert hosts and hosts <= {"de", "fr", "es", "it"}


def test_reference_reads_differently_from_web(built):
    """The two English sources differ in register, not just in seed: their vocabularies barely overlap
    beyond function words, which is what makes a mixing law worth fitting."""
    out, _ = built
    vocab = {n: {w.lower().strip(".,;?") for d in _docs(out / n) for w in d["text"].split()}
             for n in ("web", "reference")}
    shared = vocab["web"] & vocab["reference"]
    assert len(shared) < 0.25 * min(len(v) for v in vocab.values())  # about 10% at this size


def test_cli(tmp_path, capsys):
    assert main(["pool", "toy-sources", "--out", str(tmp_path / "s"), "--docs", "8", "--valid-docs", "3",
                 "--shards", "3", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    assert "web: 8 documents in 3 shards" in printed and "uniform.yaml" in printed
    for name in SOURCES:
        assert len(resolve_pool(str(tmp_path / "s" / name)).uris) == 3
    assert load_mixture(tmp_path / "s" / "uniform.yaml").names == list(SOURCES)
    with pytest.raises(SystemExit) as refused:  # argparse refuses the number before any work
        main(["pool", "toy-sources", "--out", str(tmp_path / "t"), "--docs", "0"])
    assert refused.value.code == 2
