"""The held-out suite: windows that predict every token once, pages and sources read from files,
the toy generator's held-out pages, bits per byte by hand on a really trained toy model, the pool
guard (a planted pool page is reported and not scored), and the command line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from dcbench.cli import main
from dcbench.errors import ConfigError, DataError
from dcbench.eval.heldout import HEADLINE, heldout_files, page_windows, read_pages, run_heldout
from dcbench.flows.toy_suite import HELDOUT_SOURCES, heldout_page, write_toy_heldout
from dcbench.shards import read_shard, write_shard


def test_windows_predict_every_token_once_within_the_context():
    for n, ctx_len in ((0, 8), (1, 8), (6, 8), (7, 8), (8, 8), (50, 8), (50, 2)):
        ids = list(range(100, 100 + n))
        windows = page_windows(ids, 0, ctx_len)
        targets = [t for _, cont in windows for t in cont]
        assert targets == ids
        assert all(len(c) == 1 and len(c) + len(t) <= ctx_len for c, t in windows)
        seq = [0, *ids]  # the page after end-of-text; every token is distinct
        assert all(seq[seq.index(t[0]) - 1] == c[0] for c, t in windows)  # the context is the token before
    with pytest.raises(ConfigError):
        page_windows([1, 2], 0, 1)


def test_pages_and_sources_from_files(tmp_path):
    write_shard(str(tmp_path / "news.jsonl"), [{"text": "a"}, {"text": "b", "source": "wiki"}, {"text": ""}])
    write_shard(str(tmp_path / "more" / "code.jsonl.gz"), [{"text": "c"}, {"text": "d"}])
    files = heldout_files([str(tmp_path / "news.jsonl"), str(tmp_path / "more")])
    pages = read_pages(files)
    assert [(p.source, p.text, p.index) for p in pages] == [("news", "a", 0), ("wiki", "b", 0), ("code", "c", 0),
                                                            ("code", "d", 1)]
    assert [p.text for p in read_pages(files, limit=1)] == ["a", "b", "c"]
    with pytest.raises(ConfigError, match="--heldout"):
        heldout_files([str(tmp_path / "absent.jsonl")])
    with pytest.raises(ConfigError, match="--heldout"):
        heldout_files([])
    (tmp_path / "bad.jsonl").write_text('{"text": 3}\n')
    with pytest.raises(DataError, match="bad.jsonl"):
        read_pages([str(tmp_path / "bad.jsonl")])


def test_toy_heldout_pages_are_deterministic_and_not_in_the_toy_pool(tmp_path):
    from dcbench.pools.toy import build_toy_pool

    a = write_toy_heldout(tmp_path / "a", seed=0, n_pages=20)
    b = write_toy_heldout(tmp_path / "b", seed=0, n_pages=20)
    assert [Path(p).read_bytes() for p in a] == [Path(p).read_bytes() for p in b]
    assert [Path(p).stem for p in a] == list(HELDOUT_SOURCES)
    assert heldout_page("web", 1, 0) != heldout_page("web", 0, 0)
    pool = build_toy_pool(str(tmp_path / "pool"), n_docs=400, n_shards=2, seed=0)
    pool_texts = {d["text"] for uri in pool.shard_uris(str(tmp_path / "pool")) for d in read_shard(uri)}
    held = [d["text"] for p in a for d in read_shard(p)]
    assert len(set(held)) == 40 and not set(held) & pool_texts


@pytest.mark.slow
def test_bits_per_byte_by_hand_and_training_lowers_it(trained, tmp_path):
    model = trained["model"]
    short = "The small dog was happy."
    page = tmp_path / "one.jsonl"
    write_shard(str(page), [{"text": short}])
    res = run_heldout(None, [str(page)], model=model, progress=False)
    ids = [model.eot_id, *model.encode(short)]
    assert len(ids) <= model.max_seq_len  # one window: the whole page after end-of-text
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids]))[0].double(), dim=-1)
    bits = -sum(logp[t - 1, ids[t]].item() for t in range(1, len(ids))) / math.log(2)
    assert res["sources"]["one"]["bpb"] == pytest.approx(bits / len(short.encode()), rel=1e-5)
    assert res["items"]["one"]["bpb"] == pytest.approx([bits / len(short.encode())], rel=1e-5)

    heldout = str(trained["suite"] / "heldout")
    done = run_heldout(None, [heldout], model=model, progress=False)
    raw = run_heldout(None, [heldout], model=trained["untrained"], progress=False)
    assert set(done["sources"]) == set(HELDOUT_SOURCES)
    for source, rec in done["sources"].items():
        items = done["items"][source]
        assert rec["pages"] == rec["n"] == len(items["bpb"]) == len(items["index"]) == 12
        assert items["correct"] is None and items["p_correct"] is None and items["margin"] is None
        assert rec["bpb"] == pytest.approx(sum(b * n for b, n in zip(items["bpb"], items["bytes"])) / rec["bytes"])
        assert 0 < rec["bpb"] < raw["sources"][source]["bpb"]
    assert done["aggregates"][HEADLINE] == pytest.approx(sum(r["bpb"] for r in done["sources"].values()) / 2)
    assert done["pools_checked"] == [] and done["complete"]


@pytest.mark.slow
def test_a_pool_page_among_the_held_out_is_reported_not_scored(trained, tmp_path, capsys):
    pool = trained["pool"]
    pool_docs = [d for uri in sorted(pool.glob("shard_*.jsonl.gz")) for d in read_shard(str(uri))]
    fresh = [d for d in read_shard(str(trained["suite"] / "heldout" / "web.jsonl"))][:4]
    mixed = tmp_path / "web.jsonl"
    write_shard(str(mixed), [fresh[0], {"text": pool_docs[5]["text"]}, fresh[1], {"text": pool_docs[9]["text"]}])
    out = tmp_path / "res.json"
    res = run_heldout(None, [str(mixed)], pools=[str(pool)], model=trained["model"], out_path=out, progress=True)
    captured = capsys.readouterr()
    assert "2 held-out page(s) are also in the pool" in captured.err
    assert res["sources"]["web"]["pages"] == 2 and res["sources"]["web"]["overlap"] == 2
    assert res["items"]["web"]["index"] == [0, 2]
    assert [(h["line"], h["index"]) for h in res["overlap"]["web"]] == [(1, 1), (3, 3)]
    assert json.loads(out.read_text())["id"] == res["id"]
    clean = run_heldout(None, [str(trained["suite"] / "heldout")], pools=[str(pool)], model=trained["model"],
                        progress=False)
    assert clean["overlap"] == {} and all(r["overlap"] == 0 for r in clean["sources"].values())


@pytest.mark.slow
def test_the_command_line(trained, tmp_path, capsys):
    model_dir = str(trained["root"] / "model")
    out = tmp_path / "heldout.json"
    code = main(["eval", model_dir, "--suite", "heldout", "--heldout", str(trained["suite"] / "heldout"),
                 "--pool", str(trained["pool"]), "--tokenizer", str(trained["bpe"]), "--limit", "3", "-o", str(out)])
    text = capsys.readouterr()
    assert code == 0 and HEADLINE in text.out and "PARTIAL" in text.err
    saved = json.loads(out.read_text())
    assert saved["suite"] == "heldout" and saved["partial"] and all(r["pages"] == 3 for r in saved["sources"].values())
    assert main(["eval", model_dir, "--suite", "heldout"]) == 2
    assert "--heldout" in capsys.readouterr().err
    assert main(["eval", model_dir, "--suite", "toy", "--heldout", str(out)]) == 2
