"""Each tier trains under DCLM's precision policy: FSDP2's MixedPrecisionPolicy with bf16
parameters and fp32 gradient reduction at 400M/1B (`--fsdp-amp`), bf16 reduction at 3B/7B
(`--fsdp-pure-bf16`), bf16 autocast over fp32 parameters on the CPU tiers, fp32 with --no-amp;
a single process runs the same FSDP2 wrapper in a one-process group."""

from __future__ import annotations

import pytest
import torch

from dcbench.tiers import TIERS
from dcbench.training.model import OpenLM
from dcbench.training.scales import ModelConfig
from dcbench.training.trainer import (AUTOCAST_BF16, FP32, FSDP_AMP, FSDP_PURE_BF16, Dist,
                                      join_single_process_group, precision_for, shard_model)

DCLM_POLICY = {"400M-1x": "fsdp-amp", "1B-1x": "fsdp-amp", "1B-5x": "fsdp-amp",
               "3B-1x": "fsdp-pure-bf16", "7B-1x": "fsdp-pure-bf16", "7B-2x": "fsdp-pure-bf16"}


def test_every_tier_gets_dclms_policy():
    for name, tier in TIERS.items():
        expected = DCLM_POLICY[name] if tier.official else "autocast-bf16"
        assert precision_for(tier).name == expected, name
        assert precision_for(tier, amp=False) is FP32
    assert (FSDP_AMP.param_dtype, FSDP_AMP.reduce_dtype) == (torch.bfloat16, torch.float32)
    assert (FSDP_PURE_BF16.param_dtype, FSDP_PURE_BF16.reduce_dtype) == (torch.bfloat16, torch.bfloat16)
    assert AUTOCAST_BF16.param_dtype is None and AUTOCAST_BF16.autocast and not FP32.autocast


def test_fsdp_amp_computes_in_bf16_and_keeps_fp32_master_weights():
    join_single_process_group(Dist())
    cfg = ModelConfig(d_model=32, n_layers=2, n_heads=2, vocab_size=61, seq_len=16)
    model = OpenLM(cfg, seed=0)
    shard_model(model, FSDP_AMP)
    seen = []
    model.layers[0].attention.in_proj.register_forward_hook(lambda m, i, o: seen.append((i[0].dtype, o.dtype)))
    logits = model(torch.randint(0, 61, (2, 16)))  # no autocast: only the policy lowers the compute
    logits.float().square().mean().backward()
    assert seen == [(torch.bfloat16, torch.bfloat16)]
    assert {key[2] for key in model._rotary} == {torch.bfloat16}  # OpenLM's bf16 rotary buffer
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in model.parameters())
