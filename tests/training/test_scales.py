"""DCLM's scales: exact parameter counts (meta device), token budgets and steps."""

from dataclasses import replace

import pytest
import torch

from dcbench.errors import ConfigError
from dcbench.training.model import OpenLM
from dcbench.training.scales import TIERS, ModelConfig, flops_per_token, format_table, get_tier, param_count

# DCLM training/configs/*.json: params, tokens; steps = tokens // (2048 x global_bs)
DCLM = {
    "400M-1x": (411_616_256, 8_232_325_120, 7_850),
    "1B-1x": (1_439_795_200, 28_795_904_000, 54_923),
    "1B-5x": (1_439_795_200, 143_979_520_000, 274_619),
    "3B-1x": (2_795_932_160, 55_918_643_200, 106_656),
    "7B-1x": (6_889_410_560, 137_788_211_200, 32_851),
    "7B-2x": (6_889_410_560, 275_576_422_400, 65_702),
}


def _meta_count(cfg: ModelConfig) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in OpenLM(cfg).parameters())


@pytest.mark.parametrize("name", ["400M-1x", "1B-1x", "3B-1x", "7B-1x"])
def test_official_parameter_counts(name):
    tier, (params, _, _) = get_tier(name), DCLM[name]
    # DCLM's published count is the model without the qk-norm gains ...
    plain = replace(tier.model, qk_norm=False)
    assert _meta_count(plain) == param_count(plain) == tier.params == params
    # ... the trained model (qk-norm on) has 2 x d_model more per layer
    extra = 2 * tier.model.d_model * tier.model.n_layers
    assert _meta_count(tier.model) == param_count(tier.model) == tier.model_params == params + extra


@pytest.mark.parametrize("name", list(DCLM))
def test_official_tokens_and_steps(name):
    tier = get_tier(name)
    _, tokens, steps = DCLM[name]
    assert (tier.tokens, tier.steps) == (tokens, steps)
    assert tier.micro_batch * tier.accum == tier.global_batch
    assert tier.official and tier.tokenizer == "gpt-neox-20b" and tier.model.seq_len == 2048


def test_swiglu_widths_and_recipe():
    widths = {n: get_tier(n).model.hidden for n in ("400M-1x", "1B-1x", "3B-1x", "7B-1x")}
    assert widths == {"400M-1x": 2816, "1B-1x": 5632, "3B-1x": 6912, "7B-1x": 11008}
    t = get_tier("7b-1X")
    assert (t.lr, t.warmup, t.weight_decay, t.z_loss, t.global_batch, t.accum) == (2e-3, 5000, 0.05, 5e-6, 2048, 2)
    assert (t.beta1, t.beta2, t.eps, t.grad_clip, t.cooldown_lr, t.seed) == (0.9, 0.95, 1e-8, 1.0, 3e-5, 124)
    assert get_tier("1B-5x").deprecated


def test_small_tiers_follow_chinchilla():
    small = [t for t in TIERS.values() if not t.official]
    assert small and all(t.eval_suite == "toy" for t in small)
    for t in small:
        assert t.tokens == int(20 * t.params * t.multiplier)
        assert t.tokenizer == f"bpe-{t.model.vocab_size}"
        assert t.steps > 5 * t.warmup >= 5
    smallest = min(small, key=lambda t: t.params)
    assert smallest.params < 300_000 and smallest.tokens < 6_000_000


def test_get_tier_unknown_lists_names():
    with pytest.raises(ConfigError, match="400M-1x"):
        get_tier("13B-1x")


def test_flops_per_token_formula():
    cfg = get_tier("400M-1x").model
    n_matmul = 24 * (4 * 1024**2 + 3 * 1024 * 2816) + 50432 * 1024
    assert flops_per_token(cfg) == 6 * n_matmul + 12 * 24 * 1024 * 2048


def test_format_table_lists_every_tier():
    table = format_table()
    assert all(name in table for name in TIERS) and "411,616,256" in table
