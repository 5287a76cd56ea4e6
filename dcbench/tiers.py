"""The scale tiers, once for every stage: DCLM's official tiers (spec
`dclm.md` section 7) and small tiers for CPUs, each with its model shape,
its fixed training recipe and the pool it filters.

The official tiers reproduce DCLM's `training/configs/*.json` (lr, warmup,
wd, z-loss, batch, accumulation, Chinchilla multiplier) on OpenLM's
architecture. The CPU tiers keep the architecture and the token rule
(tokens = 20 x params x multiplier) at sizes a 2-core CPU can train.

Parameter counts are computed from the shape, never typed in. DCLM's
published `params` (411,616,256 for 400M-1x, ...) count the model *without*
the qk-norm gains (2 x d_model per layer), although every DCLM run trains
with `--qk-norm`. Token budgets follow from the published number, so
`Tier.params` keeps DCLM's convention and `Tier.model_params` is the exact
size of the model that is trained.

Each official tier filters DCLM's competition pool of its name; the CPU
tiers filter the embedded toy pool. Pool sizes and H100-hours are DCLM's
rounded figures; where DCLM published nothing (1B-5x is deprecated) a field
is None rather than a guess. Training (`dcbench.training.scales`), the pool
listing (`dcbench.pools.tiers`) and the leaderboard all read this table.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Mapping

from dcbench.errors import ConfigError

TOY_POOL = "toy"
# DCLM: only --acc may change on a leaderboard run; the training seed (`dcbench train --seed`) is the axis
# of repeats the leaderboard groups over, so it may change too
FREE_ON_OFFICIAL = frozenset({"accum", "seed"})
# The tokenizer a tier's name fixes, by the sha256 of its tokenizer.json (None: not pinned; GPT-NeoX-20B
# comes from the hub). The toy BPEs ship with dcbench (dcbench.training's data/bpe-N.json), trained on the
# default toy pool's text; dcbench.flows.tier_tokenizers rebuilds them byte for byte.
TOKENIZER_SHA256: Mapping[str, str | None] = MappingProxyType({
    "gpt-neox-20b": None,
    "bpe-1024": "c6fd394be1f8fcaad3081034b1329e42853f01617569f71f13fa7f6ebe046ec4",
    "bpe-2048": "648c3c7c5521a63ec8aea8b9602a4eb579be6720d0fe01c8f33cf3c43b59dce4",
})
_RW = "global-shard_03"  # DCLM's RefinedWeb subsets for the filtering track all live in this shard


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
    """Exact number of parameters of OpenLM with shape `cfg`."""
    d, h = cfg.d_model, cfg.hidden
    norms = (4 if cfg.qk_norm else 2) * d  # attention_norm, ffn_norm [, q_norm, k_norm]
    block = 4 * d * d + 3 * d * h + norms  # fused qkv + out; w12 + w3
    return cfg.n_layers * block + 2 * cfg.vocab_size * d + d  # + embeddings, head, final norm


@dataclass(frozen=True)
class Pool:
    """What a tier filters, as DCLM published it."""

    name: str
    tokens: int | None  # size of the competition pool, rounded as published
    h100_hours: int | None  # DCLM's estimate of the cost of training the tier on it
    refinedweb_subset: tuple[str, ...] | None  # DCLM-RefinedWeb shards allowed instead (filtering track)
    competition_pool: str | None  # file list under data/competition_pools/{preextracted,raw_warcs}/
    files: int | None = None  # number of .jsonl.gz files in that list, where the spec gives it
    generated: bool = False  # built locally (`dcbench pool toy`), never downloaded
    note: str = ""


@dataclass(frozen=True)
class Tier:
    """One training scale: model shape plus the fixed recipe (DCLM's 'scale').

    Only recipe facts are fields (`tier_record` writes them into checkpoints and
    submissions); what DCLM published about the tier's pool is `pool`.
    """

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
    tokenizer: str  # "gpt-neox-20b", or "bpe-<vocab>": a fixed file (TOKENIZER_SHA256)
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

    @property
    def pool(self) -> Pool:
        """The pool this tier filters: DCLM's pool of its name, the toy pool for CPU tiers."""
        return POOLS[self.name if self.official else TOY_POOL]


def tier_record(tier: Tier) -> dict:
    """The tier as plain JSON data, with its derived numbers (what runs and submissions record)."""
    rec = dataclasses.asdict(tier)
    rec.update(params=tier.params, tokens=tier.tokens, steps=tier.steps, micro_batch=tier.micro_batch)
    return rec


def _official(name, d, n_layers, n_heads, mult, batch, accum, lr, warmup, wd, z, **kw) -> Tier:
    model = ModelConfig(d_model=d, n_layers=n_layers, n_heads=n_heads)
    return Tier(name, model, mult, batch, accum, lr, warmup, wd, z, official=True,
                tokenizer="gpt-neox-20b", eval_suite="core", **kw)


def _cpu(name, d, n_layers, n_heads, vocab, seq_len, batch, lr, warmup) -> Tier:
    model = ModelConfig(d_model=d, n_layers=n_layers, n_heads=n_heads, vocab_size=vocab, seq_len=seq_len)
    return Tier(name, model, 1.0, batch, 1, lr, warmup, 0.033, 1e-4, official=False,
                tokenizer=f"bpe-{vocab}", eval_suite="toy")


def _local(*shards: int) -> tuple[str, ...]:
    return tuple(f"{_RW}/local-shard_{i}" for i in shards)


_TIERS = (
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
    _cpu("toy-250k-1x", 64, 2, 4, 1024, 256, 32, 3e-3, 50),
    _cpu("toy-1m-1x", 128, 4, 4, 1024, 256, 32, 3e-3, 200),
    _cpu("toy-5m-1x", 256, 5, 4, 2048, 256, 64, 2e-3, 500),
)

_POOLS = (
    Pool(TOY_POOL, None, None, None, None, generated=True,
         note="embedded pool: `dcbench pool toy` generates it, no download"),
    Pool("400M-1x", 137_000_000_000, 26, None, "400m-1x.txt", files=10_305,
         note="no RefinedWeb subset: filter the competition pool"),
    Pool("1B-1x", 1_640_000_000_000, 240, _local(1), "1b-1x.txt"),
    Pool("1B-5x", None, None, None, None, note="deprecated, kept for reference; no pool size or cost in the spec"),
    Pool("3B-1x", 3_180_000_000_000, 740, _local(1, 8), "3b-1x.txt"),
    Pool("7B-1x", 7_850_000_000_000, 3_700, _local(1, 3, 6, 8, 9), "7b-1x.txt"),
    Pool("7B-2x", 15_700_000_000_000, 7_300, (_RW,), "7b-2x.txt", note="RefinedWeb subset: all of global-shard_03"),
)

TIERS: Mapping[str, Tier] = MappingProxyType({t.name: t for t in _TIERS})  # insertion order = table order
POOLS: Mapping[str, Pool] = MappingProxyType({p.name: p for p in _POOLS})


def get_tier(name: str) -> Tier:
    """The tier called `name`, case-insensitive (DCLM's file lists write `400m-1x`)."""
    wanted = name.strip().lower()
    for tier in _TIERS:
        if tier.name.lower() == wanted:
            return tier
    raise ConfigError(f"unknown tier {name!r}; choose one of: {', '.join(TIERS)}")
