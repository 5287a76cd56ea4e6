"""Training's view of the scale tiers: the spine's table (`dcbench.tiers`:
model shapes, recipes, parameter counts computed from the shape) plus the
compute each model costs and the `dcbench scales` listing.

`ModelConfig`, `Tier`, `TIERS`, `get_tier` and `param_count` are the spine's
own objects, re-exported so training code reads them from its own package.
"""

from __future__ import annotations

from dcbench import table
from dcbench.tiers import TIERS, ModelConfig, Tier, get_tier, param_count

__all__ = ["TIERS", "ModelConfig", "Tier", "flops_per_token", "format_table", "get_tier", "param_count"]


def flops_per_token(cfg: ModelConfig) -> int:
    """Training FLOPs per token: 6·N_matmul + 12·L·d·T (PaLM's convention).

    N_matmul counts the weights used in matrix multiplies (blocks and head, not
    the embedding lookup or norm gains). 12·L·d·T is forward+backward of the
    QKᵀ and AV products at full (not causally halved) length T = seq_len.
    """
    d, h = cfg.d_model, cfg.hidden
    n_matmul = cfg.n_layers * (4 * d * d + 3 * d * h) + cfg.vocab_size * d
    return 6 * n_matmul + 12 * cfg.n_layers * d * cfg.seq_len


def _row(t: Tier) -> list[str]:
    m = t.model
    return [t.name + (" (deprecated)" if t.deprecated else ""), f"{m.d_model}/{m.n_layers}/{m.n_heads}",
            str(m.vocab_size), str(m.seq_len), f"{t.params:,}", f"{t.tokens:,}", str(t.global_batch), str(t.accum),
            f"{t.steps:,}", f"{t.lr:g}", str(t.warmup), f"{t.weight_decay:g}", f"{t.z_loss:g}", t.tokenizer]


def format_table() -> str:
    """Every tier's shape and recipe, for `dcbench scales`."""
    head = ("scale", "d/L/H", "vocab", "seq", "params", "tokens", "batch", "acc", "steps",
            "lr", "warmup", "wd", "z-loss", "tokenizer")
    return table.format_table(head, [_row(t) for t in TIERS.values()])
