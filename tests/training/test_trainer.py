"""Trainer: open_lm's schedule and z-loss, training on real token shards (made by
training.tokenize), bitwise resume, FSDP2 over 2 gloo processes, the official-tier rule."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from dcbench.errors import ConfigError
from dcbench.manifest import Manifest
from dcbench.shards import write_shard
from dcbench.training.scales import get_tier
from dcbench.training.tokenize import tokenize_dataset
from dcbench.training.tokenizer import train_bpe
from dcbench.training.trainer import (grow_until, latest_checkpoint, load_weights, loss_fn, lr_at, resolve_tier, train,
                              z_loss)

REPO = Path(__file__).resolve().parents[2]
SEQ = 32
TINY = {"seq_len": SEQ, "global_batch": 8, "warmup": 5}  # toy-250k-1x, cut to seconds on 2 cores
# FSDP2 vs 1 process, fp32, 4 steps: the same math in another summation order (per-rank means
# averaged by the reduce-scatter, a sharded clipping norm). Measured: relative norm difference per
# tensor 1.1e-7 (float32 rounding), max abs 3e-6. Adam divides by sqrt(v), so where a gradient is
# tiny a rounding change can move a weight by a sizeable part of lr (3e-3): max abs is held to 1e-4
# and the per-tensor relative norm to 1e-5. (With bf16 autocast both are ~1.5e-3: bf16 rounding.)
FSDP_REL, FSDP_ATOL = 1e-5, 1e-4


# ------------------------------------------------------------------ schedule and loss


def test_lr_warmup_peak_cosine_end_by_hand():
    tier = SimpleNamespace(lr=1e-3, warmup=10, steps=110, cooldown_lr=1e-4)
    assert lr_at(0, tier) == pytest.approx(1e-4)  # base·(0+1)/10
    assert lr_at(4, tier) == pytest.approx(5e-4)
    assert lr_at(9, tier) == pytest.approx(1e-3)  # warmup reaches the peak on its last step
    assert lr_at(10, tier) == pytest.approx(1e-3)  # cosine starts at the peak
    assert lr_at(60, tier) == pytest.approx(1e-4 + 0.5 * 9e-4)  # half way: cos(pi/2) = 0
    assert lr_at(109, tier) == pytest.approx(1e-4 + 0.5 * (1 + math.cos(math.pi * 0.99)) * 9e-4)
    assert lr_at(110, tier) == pytest.approx(1e-4)


def test_lr_of_a_real_tier_ends_at_cooldown_lr():
    tier = get_tier("400M-1x")
    assert lr_at(0, tier) == pytest.approx(3e-3 / 2000)
    assert lr_at(1999, tier) == pytest.approx(3e-3)
    assert lr_at(tier.steps, tier) == pytest.approx(3e-5)


def test_z_loss_is_open_lm_mean_of_squared_logsumexp():
    # row logsumexps: ln 2 and ln(3 + 1) = 2 ln 2. open_lm: coef·mean(lse²) = coef·(1 + 4)/2·ln²2
    # (the square of the mean, coef·(1.5 ln 2)² = 2.25 coef ln²2, is the old, wrong form)
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]], requires_grad=True)
    loss = z_loss(logits, 1e-4)
    assert loss.item() == pytest.approx(1e-4 * 2.5 * math.log(2) ** 2, rel=1e-6)
    # d/dlogit_ij = coef · 2·lse_i / N · softmax_ij: row 0 lse ln 2, softmax (1/2, 1/2);
    # row 1 lse 2 ln 2, softmax (3/4, 1/4); N = 2 rows
    loss.backward()
    expected = 1e-4 * math.log(2) * torch.tensor([[0.5, 0.5], [1.5, 0.5]])
    torch.testing.assert_close(logits.grad, expected, rtol=1e-6, atol=0.0)


def test_loss_fn_counts_pad_targets_as_dclm_does():
    # DCLM passes no --target-mask-*: target 50256 (PAD, and an ordinary GPT-NeoX token) counts
    torch.manual_seed(0)
    logits = torch.randn(1, 4, 50432)
    targets = torch.tensor([[1, 2, 50256, 50256]])
    ce = torch.nn.functional.cross_entropy(logits[0], targets[0])
    lse2 = torch.logsumexp(logits[0], -1).square().mean()
    assert loss_fn(logits, targets, 0.0).item() == pytest.approx(ce.item(), rel=1e-6)
    assert loss_fn(logits, targets, 1e-2).item() == pytest.approx((ce + 1e-2 * lse2).item(), rel=1e-6)
    unmasked_tail = torch.nn.functional.cross_entropy(logits[0, 2:], targets[0, 2:])
    assert unmasked_tail.item() > 0 and loss_fn(logits, targets, 0.0).item() != pytest.approx(
        torch.nn.functional.cross_entropy(logits[0, :2], targets[0, :2]).item(), rel=1e-6)


def test_official_tier_refuses_overrides_without_off_leaderboard(tmp_path):
    with pytest.raises(ConfigError, match="--off-leaderboard"):
        train("400M-1x", tmp_path / "nodata", tmp_path / "out", overrides={"lr": 1e-3})
    assert resolve_tier("400M-1x", {"accum": 16}).accum == 16  # DCLM lets only --acc change
    assert resolve_tier("400M-1x", {"lr": 1e-3}, off_leaderboard=True).lr == 1e-3
    with pytest.raises(ConfigError, match="unknown override"):
        resolve_tier("toy-250k-1x", {"learning_rate": 1})


# ------------------------------------------------------------------ training on real token shards

NOUNS = "model data page filter shard token corpus web text crawl".split()
VERBS = "trains reads drops keeps scores writes cleans finds".split()
ADJS = "small large clean noisy long short good new".split()


def _sentence(rng: random.Random) -> str:
    return f"the {rng.choice(ADJS)} {rng.choice(NOUNS)} {rng.choice(VERBS)} the {rng.choice(NOUNS)}."


@pytest.fixture(scope="module")
def tokens(tmp_path_factory, ray_session) -> Path:
    """A small pool of simple English tokenized by training.tokenize (contexts of SEQ + 1)."""
    root = tmp_path_factory.mktemp("trainer_data")
    rng = random.Random(3)
    docs = [{"text": " ".join(_sentence(rng) for _ in range(rng.randint(2, 8))), "url": f"u{i}"} for i in range(400)]
    for i in range(2):
        write_shard(str(root / "pool" / f"part-{i}.jsonl"), docs[i::2])
    bpe = train_bpe([d["text"] for d in docs], 300, root / "bpe.json")
    tokenize_dataset(str(root / "pool"), str(root / "tokens"), str(bpe), seq_len=SEQ, num_cells=4,
                     shard_sequences=64)
    return root / "tokens"


def _run(tokens, out, **kw):
    kw = {"overrides": TINY, "checkpoint_every": 1000, "log": lambda *_: None, **kw}
    return train("toy-250k-1x", tokens, out, **kw)


def test_loss_falls_and_outputs_are_written(tokens, tmp_path):
    res = _run(tokens, tmp_path, max_steps=30)
    losses = [r["loss"] for r in res.log]
    assert res.steps == 30 and len(losses) == 30
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 1.5, losses
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 31)) and log[0]["mfu"] is None  # no known CPU peak
    manifest = Manifest.load(str(tmp_path / "manifest.json"))
    assert manifest.kind == "model" and manifest.inputs["tokens"] == Manifest.load(str(tokens / "manifest.json")).id
    assert manifest.inputs["overrides"] == TINY and manifest.inputs["tier"] == "toy-250k-1x"
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["model"]["seq_len"] == SEQ and config["tier"]["global_batch"] == 8
    ckpt = torch.load(latest_checkpoint(tmp_path), weights_only=True)
    assert ckpt["step"] == 30 and ckpt["data_pos"] == 30 and set(ckpt) >= {"model", "optimizer", "rng", "tier"}
    state, _ = load_weights(tmp_path)
    assert all(torch.equal(state[k], ckpt["model"][k]) for k in state)


def test_resume_is_bitwise_equal_to_an_uninterrupted_run(tokens, tmp_path):
    kw = {"overrides": {**TINY, "accum": 2}}
    whole = _run(tokens, tmp_path / "whole", max_steps=8, **kw)
    _run(tokens, tmp_path / "cut", max_steps=3, **kw)
    resumed = _run(tokens, tmp_path / "cut", max_steps=8, **kw)
    a, b = load_weights(whole.model_path)[0], load_weights(resumed.model_path)[0]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [r["loss"] for r in whole.log[3:]] == [r["loss"] for r in resumed.log]
    oa = torch.load(latest_checkpoint(tmp_path / "whole"), weights_only=True)["optimizer"]["state"]
    ob = torch.load(latest_checkpoint(tmp_path / "cut"), weights_only=True)["optimizer"]["state"]
    assert all(torch.equal(oa[p][s], ob[p][s]) for p in oa for s in oa[p])


def test_resume_refuses_another_configuration(tokens, tmp_path):
    _run(tokens, tmp_path, max_steps=2)
    with pytest.raises(ConfigError, match="another configuration"):
        _run(tokens, tmp_path, max_steps=4, overrides={**TINY, "lr": 1e-3})


@pytest.mark.slow
def test_fsdp2_on_two_gloo_ranks_matches_one_process(tokens, tmp_path):
    steps, overrides = 4, {**TINY, "accum": 2}
    single = _run(tokens, tmp_path / "one", max_steps=steps, overrides=overrides, amp=False)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "dcbench.training.trainer", "--tier", "toy-250k-1x", "--data", str(tokens), "--out", str(tmp_path / "two"),
           "--max-steps", str(steps), "--overrides", json.dumps(overrides), "--no-amp"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = load_weights(single.model_path)[0], load_weights(tmp_path / "two")[0]
    assert a.keys() == b.keys()
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    rel = max(((a[k] - b[k]).norm() / a[k].norm()).item() for k in a)
    assert diff <= FSDP_ATOL and rel <= FSDP_REL, (diff, rel)
    two = [json.loads(line)["loss"] for line in (tmp_path / "two" / "train_log.jsonl").read_text().splitlines()]
    assert two == pytest.approx([r["loss"] for r in single.log], rel=1e-5)


def test_grow_until_inherits_half_then_grows_two_layers(tokens, tmp_path):
    ref = _run(tokens, tmp_path / "ref", max_steps=12, overrides={**TINY, "n_layers": 4})
    # a near-zero lr (long warmup) keeps each round close to what it inherited: 2 of 4 trained
    # blocks lose to the reference, so the loop must grow to 4 with the reference's blocks 2-3
    res = grow_until(ref.out_dir, "toy-250k-1x", tokens, tokens, tmp_path / "grow", steps_per_round=1,
                     max_rounds=2, overrides={**TINY, "warmup": 10_000}, val_batches=2, log=lambda *_: None)
    assert [r["layers"] for r in res.rounds] == [2, 4] and res.rounds[0]["val_loss"] > res.reference_loss
    assert res.reached == (res.rounds[1]["val_loss"] <= res.reference_loss)
    assert res.rounds[1]["val_loss"] == pytest.approx(res.reference_loss, abs=0.05)
    grown = load_weights(tmp_path / "grow" / "round_0_2L" / "grown_4L.pt")[0]
    ref_state = load_weights(ref.out_dir)[0]
    assert all(torch.equal(grown[k], ref_state[k]) for k in ref_state if k.startswith(("layers.2.", "layers.3.")))


@pytest.mark.slow
def test_repeated_data_and_a_short_run_are_warned_and_recorded(tokens, tmp_path):
    """20 steps x 64 sequences read the small token set more than once: said, and kept in the manifest."""
    warned: list[str] = []
    res = _run(tokens, tmp_path, max_steps=20, warn=warned.append, overrides={**TINY, "global_batch": 64})
    available = Manifest.load(str(tokens / "manifest.json")).extra["sequences"]
    expected = 20 * 64 / available
    assert expected > 1 and res.epochs == pytest.approx(expected)
    repeat = next(w for w in warned if "repeats it" in w)
    assert f"{expected:.1f} epochs" in repeat and f"{available * (SEQ + 1):,}" in repeat
    assert not any("warms up" in w for w in warned)  # warmup 5 < 20 steps
    manifest = Manifest.load(str(tmp_path / "manifest.json"))
    assert manifest.extra["epochs"] == pytest.approx(expected) and manifest.extra["sequences"] == available
    # the tokenizer's digest travels from the tokens' manifest into the model's (part of its id)
    assert manifest.inputs["tokenizer"] == Manifest.load(str(tokens / "manifest.json")).inputs["tokenizer"]

    short: list[str] = []
    _run(tokens, tmp_path / "short", max_steps=2, warn=short.append)
    assert any("warms up over 5 steps but this run stops after 2" in w for w in short), short


@pytest.mark.slow
def test_official_tier_trains_under_fsdp_amp_in_one_process(tokens, tmp_path):
    # 400M-1x's policy (DCLM --fsdp-amp) at toy shapes: one process, the same FSDP2 wrapper
    shape = {"d_model": 32, "n_layers": 2, "n_heads": 2, "vocab_size": 512, "seq_len": SEQ,
             "global_batch": 8, "accum": 2, "warmup": 5}
    res = train("400M-1x", tokens, tmp_path, max_steps=2, overrides=shape, off_leaderboard=True,
                checkpoint_every=1000, log=lambda *_: None, warn=lambda *_: None)
    assert res.steps == 2 and math.isfinite(res.final_loss)
    assert Manifest.load(str(tmp_path / "manifest.json")).extra["precision"] == "fsdp-amp"
    state, config = load_weights(tmp_path)
    assert config["precision"] == "fsdp-amp" and all(v.dtype == torch.float32 for v in state.values())
