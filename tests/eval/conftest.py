"""Fixtures of the evaluator's tests: a toy model really trained on the toy pool (shared by the
proxy and held-out tests, built once a session)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

from dcbench.eval.model import load_model
from dcbench.training.model import OpenLM
from dcbench.training.scales import ModelConfig

TRAIN = {"seq_len": 128, "global_batch": 8, "warmup": 5}


@pytest.fixture(scope="session")
def trained(ray_session):
    """Toy pool -> tokens -> 60 training steps of toy-250k-1x (seq 128) -> the evaluator's model,
    with the toy suite (and its held-out pages) beside it, and the same network untrained."""
    from dcbench.flows.toy_suite import build_toy_suite
    from dcbench.pools.toy import build_toy_pool
    from dcbench.shards import read_shard
    from dcbench.training.tokenize import tokenize_dataset
    from dcbench.training.tokenizer import train_bpe
    from dcbench.training.trainer import train

    root = Path(tempfile.mkdtemp(prefix="dcbh5"))  # Ray's socket paths must stay short
    pool = build_toy_pool(str(root / "pool"), n_docs=300, n_shards=2, seed=0)
    texts = [d["text"] for uri in pool.shard_uris(str(root / "pool")) for d in read_shard(uri)][:200]
    bpe = train_bpe(texts, 384, root / "bpe.json")
    tokenize_dataset(str(root / "pool"), str(root / "tokens"), str(bpe), seq_len=128, num_cells=2,
                     shard_sequences=64)
    train("toy-250k-1x", root / "tokens", root / "model", max_steps=60, overrides=TRAIN, checkpoint_every=1000,
          log=lambda *_: None)
    untrained = root / "untrained" / "model"  # the same network at its initialisation
    untrained.mkdir(parents=True)
    config = json.loads((root / "model" / "model" / "config.json").read_text())
    (untrained / "config.json").write_text(json.dumps(config))
    torch.save(OpenLM(ModelConfig(**config["model"]), seed=0).state_dict(), untrained / "model.pt")
    build_toy_suite(root / "eval", seed=0, n_items=40, heldout_pages=12)
    yield {"root": root, "pool": root / "pool", "bpe": bpe, "suite": root / "eval",
           "model": load_model(root / "model", tokenizer=bpe), "untrained": load_model(untrained, tokenizer=bpe)}
    shutil.rmtree(root, ignore_errors=True)
