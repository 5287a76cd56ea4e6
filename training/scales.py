"""Model shapes and training recipes: DCLM's official scales and small CPU tiers.

The official tiers reproduce DCLM's `training/configs/*.json` (lr, warmup, wd,
z-loss, batch, accumulation, Chinchilla multiplier) on top of OpenLM's
architecture. Small tiers keep the same architecture and the same token rule
(tokens = 20 x params x multiplier) at sizes a 2-core CPU can train.

Parameter counts: DCLM's published `params` (411,616,256 for 400M-1x, ...) are
the count of the model *without* the qk-norm gains (2 x d_model per layer),
although every DCLM run trains with `--qk-norm`. Token budgets are defined from
the published number, so `Tier.params` follows DCLM's convention and
`Tier.model_params` is the exact size of the model that is trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from dcbench.errors import ConfigError


@dataclass(frozen=True)
class ModelConfig:
    """OpenLM Transformer shape (`open_lm.model.Params` with DCLM's settings).

    Fixed by OpenLM/DCLM and so not fields: pre-norm, gain-only LayerNorm,
    no linear biases, no post-embedding norm, untied head (weight_tying false),
    half-split rotary on each head, SwiGLU feed-forward.
    """

    d_model: int
    n_layers: int
    n_heads: int
    vocab_size: int = 50432
    seq_len: int = 2048
    norm_eps: float = 1e-5
    qk_norm: bool = True
    ffn_hidden: int | None = None
    rotary_base: float = 10000.0  # OpenLM's RotaryEmbedding hard-codes 10000

    def __post_init__(self):
        if self.d_model % self.n_heads:
            raise ConfigError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if (self.d_model // self.n_heads) % 2:
            raise ConfigError(f"head dim {self.d_model // self.n_heads} must be even for rotary embeddings")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def hidden(self) -> int:
        """SwiGLU width: 8d/3 rounded up to a multiple of 256 (OpenLM's llama rule)."""
        if self.ffn_hidden is not None:
            return self.ffn_hidden
        return 256 * math.ceil(int(8 * self.d_model / 3) / 256)


def param_count(cfg: ModelConfig) -> int:
    """Exact number of parameters of `OpenLM(cfg)`."""
    d, h = cfg.d_model, cfg.hidden
    norms = (4 if cfg.qk_norm else 2) * d  # attention_norm, ffn_norm [, q_norm, k_norm]
    block = 4 * d * d + 3 * d * h + norms  # fused qkv + out; w12 + w3
    return cfg.n_layers * block + 2 * cfg.vocab_size * d + d  # + embeddings, head, final norm


def flops_per_token(cfg: ModelConfig) -> int:
    """Training FLOPs per token: 6·N_matmul + 12·L·d·T (PaLM's convention).

    N_matmul counts the weights used in matrix multiplies (blocks and head, not
    the embedding lookup or norm gains). 12·L·d·T is forward+backward of the
    QKᵀ and AV products at full (not causally halved) length T = seq_len.
    """
    d, h = cfg.d_model, cfg.hidden
    n_matmul = cfg.n_layers * (4 * d * d + 3 * d * h) + cfg.vocab_size * d
    return 6 * n_matmul + 12 * cfg.n_layers * d * cfg.seq_len


@dataclass(frozen=True)
class Tier:
    """One training scale: model shape plus the fixed recipe (DCLM 'scale')."""

    name: str
    model: ModelConfig
    multiplier: float
    global_batch: int  # sequences per optimizer step
    accum: int
    lr: float
    warmup: int
    weight_decay: float
    z_loss: float
    official: bool
    tokenizer: str  # "gpt-neox-20b", or "bpe-<vocab>" trained on the pool
    eval_suite: str  # "core" or "toy"
    cooldown_lr: float = 3e-5
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0
    seed: int = 124
    deprecated: bool = False
    note: str = ""

    @property
    def params(self) -> int:
        """DCLM's published count (qk-norm gains excluded); sets the token budget."""
        return param_count(replace(self.model, qk_norm=False))

    @property
    def model_params(self) -> int:
        """Exact size of the trained model (with qk-norm gains)."""
        return param_count(self.model)

    @property
    def tokens(self) -> int:
        return int(20 * self.params * self.multiplier)

    @property
    def steps(self) -> int:
        return self.tokens // (self.model.seq_len * self.global_batch)

    @property
    def micro_batch(self) -> int:
        return self.global_batch // self.accum


def _official(name, d, n_layers, n_heads, mult, batch, accum, lr, warmup, wd, z, **kw) -> Tier:
    model = ModelConfig(d_model=d, n_layers=n_layers, n_heads=n_heads)
    return Tier(name, model, mult, batch, accum, lr, warmup, wd, z, official=True,
                tokenizer="gpt-neox-20b", eval_suite="core", **kw)


def _toy(name, d, n_layers, n_heads, vocab, seq_len, batch, lr, warmup) -> Tier:
    model = ModelConfig(d_model=d, n_layers=n_layers, n_heads=n_heads, vocab_size=vocab, seq_len=seq_len)
    return Tier(name, model, 1.0, batch, 1, lr, warmup, 0.033, 1e-4, official=False,
                tokenizer=f"bpe-{vocab}", eval_suite="toy")


_TIERS = [
    # DCLM training/configs: 411m_1x, 1b_1x_fast, 3b_1x_fast_3e-3_lr_1e-4_zloss, 7b_{1,2}x_fast_2e-3_lr_5e-6_zloss
    _official("400M-1x", 1024, 24, 8, 1, 512, 8, 3e-3, 2000, 0.033, 1e-4),
    _official("1B-1x", 2048, 24, 16, 1, 256, 1, 3e-3, 5000, 0.033, 1e-4),
    _official("1B-5x", 2048, 24, 16, 5, 256, 1, 3e-3, 5000, 0.033, 1e-4, deprecated=True,
              note="deprecated by DCLM; kept for comparison with old results"),
    _official("3B-1x", 2560, 32, 32, 1, 256, 1, 3e-3, 5000, 0.033, 1e-4),
    _official("7B-1x", 4096, 32, 32, 1, 2048, 2, 2e-3, 5000, 0.05, 5e-6),
    _official("7B-2x", 4096, 32, 32, 2, 2048, 2, 2e-3, 5000, 0.05, 5e-6),
    # CPU tiers: ~8k-32k tokens a step, a few hundred to a few thousand steps;
    # warmup ~5-8% of steps; lr 3e-3 as DCLM's small scales (qk-norm keeps it stable).
    _toy("toy-250k-1x", 64, 2, 4, 1024, 256, 32, 3e-3, 50),
    _toy("toy-1m-1x", 128, 4, 4, 1024, 256, 32, 3e-3, 200),
    _toy("toy-5m-1x", 256, 5, 4, 2048, 256, 64, 2e-3, 500),
]
TIERS: dict[str, Tier] = {t.name: t for t in _TIERS}


def get_tier(name: str) -> Tier:
    for tier in _TIERS:
        if tier.name.lower() == name.lower():
            return tier
    raise ConfigError(f"unknown scale {name!r}; choose one of: {', '.join(TIERS)}")


def format_table() -> str:
    head = ("scale", "d/L/H", "vocab", "seq", "params", "tokens", "batch", "acc", "steps",
            "lr", "warmup", "wd", "z-loss", "tokenizer")
    rows = [head]
    for t in _TIERS:
        m = t.model
        rows.append((
            t.name + (" (deprecated)" if t.deprecated else ""),
            f"{m.d_model}/{m.n_layers}/{m.n_heads}", str(m.vocab_size), str(m.seq_len),
            f"{t.params:,}", f"{t.tokens:,}", str(t.global_batch), str(t.accum), f"{t.steps:,}",
            f"{t.lr:g}", str(t.warmup), f"{t.weight_decay:g}", f"{t.z_loss:g}", t.tokenizer,
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)
