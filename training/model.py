"""OpenLM's decoder-only Transformer as DCLM trains it (`open_lm/model.py`).

Pre-norm blocks, gain-only LayerNorm (not RMSNorm), fused QKV without bias,
qk-norm over the full d_model-wide q and k, half-split rotary on each head,
causal SDPA, SwiGLU (fused w12 then w3), final norm, untied head.
Parameter names match OpenLM's, so OpenLM state dicts load once their
`pos_embed.inv_freq` buffers are dropped (we keep rotary tables out of the
state dict).

Inference can carry a `KVCache`: `model(prompt_ids, cache=cache)` runs the
prompts and keeps each layer's keys and values, then `model(next_ids[:, None],
cache=cache)` runs one new token per row against them (eval's greedy decoding),
instead of re-running the whole sequence for every generated token.
"""

from __future__ import annotations

import math
import re
import zlib

import torch
import torch.nn.functional as F
from torch import nn

from dcbench.training.scales import ModelConfig


class GainLayerNorm(nn.Module):
    """OpenLM's `gain_only_lp_layer_norm`: LayerNorm with a gain and no bias.

    "LP" (low precision): under autocast the input and gain are cast to the
    autocast dtype and normalised there, instead of autocast's fp32 layer_norm.
    """

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        device_type = x.device.type
        if not (torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type)):
            return F.layer_norm(x, self.weight.shape, self.weight, None, self.eps)
        dtype = torch.get_autocast_dtype(device_type)
        with torch.autocast(device_type, enabled=False):
            return F.layer_norm(x.to(dtype), self.weight.shape, self.weight.to(dtype), None, self.eps)


def rotary_tables(seq_len: int, head_dim: int, base: float, device,
                  dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [seq_len, head_dim] for the half-split (GPT-NeoX) layout, in `dtype` as OpenLM's
    RotaryEmbedding makes them for q and k of that dtype: under DCLM's bf16 policies positions
    and inverse frequencies are rounded to bf16 and angles, cos and sin are bf16 too (positions
    past 256 get coarse); in fp32 everything is fp32."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    positions = torch.arange(seq_len, device=device, dtype=torch.float32)
    angles = torch.outer(positions.to(dtype), inv_freq.to(dtype))
    angles = torch.cat((angles, angles), dim=-1)  # frequency i drives dims i and i + head_dim/2
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x [B, H, T, D] by position, computed in the tables' dtype as OpenLM does,
    returned in x's dtype."""
    xf = x.to(cos.dtype)
    x1, x2 = xf.chunk(2, dim=-1)
    rotated = torch.cat((-x2, x1), dim=-1)
    return (xf * cos + rotated * sin).to(x.dtype)


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype q and k run in: autocast's when it is on, else x's (bf16 under an FSDP2 bf16
    parameter policy). OpenLM builds its rotary tables in that dtype."""
    device_type = x.device.type
    if torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return x.dtype


class KVCache:
    """Each layer's keys and values [B, H, capacity, D] (after rotary) for decoding.

    Rows may hold different lengths (right-padded prompts): `lengths[b]` real
    positions, so row b's next token goes to position `lengths[b]` and attends
    to positions 0..lengths[b]; whatever sits past that (padding) is masked.
    """

    def __init__(self, lengths: torch.Tensor, capacity: int):
        self.lengths = lengths.to(torch.long)
        self.capacity = int(capacity)
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []

    @property
    def filled(self) -> bool:
        """Whether the prompt has run (then each call adds one token per row)."""
        return bool(self.keys)

    def store(self, k: torch.Tensor, v: torch.Tensor) -> None:
        """Keep one layer's prompt keys and values, in buffers of the cache's capacity."""
        b, h, t, d = k.shape
        if t > self.capacity:
            raise ValueError(f"KVCache: prompt of {t} positions exceeds capacity {self.capacity}")
        for dest, src in ((self.keys, k), (self.values, v)):
            buf = src.new_zeros(b, h, self.capacity, d)
            buf[:, :, :t] = src
            dest.append(buf)

    def extend(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write one new position per row ([B, H, 1, D]) at `lengths`; the layer's full buffers."""
        if int(self.lengths.max()) >= self.capacity:
            raise ValueError(f"KVCache: full at capacity {self.capacity}; make it larger")
        rows = torch.arange(k.shape[0], device=k.device)
        self.keys[layer][rows, :, self.lengths] = k[:, :, 0]
        self.values[layer][rows, :, self.lengths] = v[:, :, 0]
        return self.keys[layer], self.values[layer]

    def visible(self) -> torch.Tensor:
        """The attention mask [B, 1, 1, capacity] of a new token: positions up to its own."""
        pos = torch.arange(self.capacity, device=self.lengths.device)
        return (pos[None, :] <= self.lengths[:, None])[:, None, None, :]

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only `rows` (indices into the batch): finished rows leave it."""
        self.lengths = self.lengths[rows]
        self.keys = [k[rows] for k in self.keys]
        self.values = [v[rows] for v in self.values]


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads, self.head_dim = cfg.n_heads, cfg.head_dim
        self.in_proj = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.out_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        # OpenLM normalises the whole d_model-wide q and k, before the head split
        self.q_norm = GainLayerNorm(cfg.d_model, cfg.norm_eps) if cfg.qk_norm else nn.Identity()
        self.k_norm = GainLayerNorm(cfg.d_model, cfg.norm_eps) if cfg.qk_norm else nn.Identity()

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.in_proj(x).chunk(3, dim=-1)
        q, k = self.q_norm(q), self.k_norm(k)
        q, k, v = (z.view(b, t, self.n_heads, self.head_dim).transpose(1, 2) for z in (q, k, v))
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if cache is not None and len(cache.keys) > layer:  # one new token per row, against the cache
            keys, values = cache.extend(layer, k, v)
            out = F.scaled_dot_product_attention(q, keys, values, attn_mask=cache.visible())
        else:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            if cache is not None:
                cache.store(k, v)
        return self.out_proj(out.transpose(1, 2).reshape(b, t, d))


class SwiGLU(nn.Module):
    """silu(gate) * up with gate and up from one fused w12 (gate = first half)."""

    def __init__(self, d: int, hidden: int):
        super().__init__()
        self.w12 = nn.Linear(d, 2 * hidden, bias=False)
        self.w3 = nn.Linear(hidden, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attention_norm = GainLayerNorm(cfg.d_model, cfg.norm_eps)
        self.attention = Attention(cfg)
        self.ffn_norm = GainLayerNorm(cfg.d_model, cfg.norm_eps)
        self.feed_forward = SwiGLU(cfg.d_model, cfg.hidden)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        h = x + self.attention(self.attention_norm(x), cos, sin, cache, layer)
        return h + self.feed_forward(self.ffn_norm(h))


class OpenLM(nn.Module):
    """`seed=None` leaves parameters uninitialised (ones for norms), e.g. before a load."""

    def __init__(self, cfg: ModelConfig, seed: int | None = 0):
        super().__init__()
        self.cfg = cfg
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = GainLayerNorm(cfg.d_model, cfg.norm_eps)
        self.output = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self._rotary: dict = {}  # (T, device, dtype) -> (cos, sin); not state, not parameters
        if seed is not None:
            init_weights(self, seed)

    def _tables(self, seq_len: int, device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        key = (seq_len, str(device), dtype)
        if key not in self._rotary:
            self._rotary[key] = rotary_tables(seq_len, self.cfg.head_dim, self.cfg.rotary_base, device, dtype)
        return self._rotary[key]

    def forward(self, input_ids: torch.Tensor, n_layers: int | None = None,
                cache: KVCache | None = None) -> torch.Tensor:
        """Logits [B, T, vocab] in fp32; `n_layers` exits after the first n blocks.

        With a `cache` (inference only): an unfilled one runs the prompts and keeps
        their keys and values; a filled one takes input_ids [B, 1], the next token
        of each row, at position `cache.lengths` (then advanced by one)."""
        x = self.tok_embeddings(input_ids)
        stepping = cache is not None and cache.filled
        if stepping:
            if input_ids.shape[1] != 1:
                raise ValueError(f"a filled KVCache takes one token per row; got {input_ids.shape[1]}")
            cos, sin = self._tables(max(cache.capacity, self.cfg.seq_len), input_ids.device, compute_dtype(x))
            cos, sin = cos[cache.lengths][:, None, None, :], sin[cache.lengths][:, None, None, :]
        else:
            cos, sin = self._tables(input_ids.shape[1], input_ids.device, compute_dtype(x))
        for i, block in enumerate(self.layers[: len(self.layers) if n_layers is None else n_layers]):
            x = block(x, cos, sin, cache, i)
        if stepping:
            cache.lengths = cache.lengths + 1
        return self.output(self.norm(x)).float()  # OpenLM casts logits to fp32


_BLOCK_PARAM = re.compile(r"layers\.(\d+)\.(.+)")


def init_std(name: str, cfg: ModelConfig) -> float | None:
    """OpenLM's init std for parameter `name`; None for norm gains (set to 1).

    Truncated normal std 1/sqrt(fan_in) everywhere (embeddings and head too);
    the two residual output projections also / sqrt(2 (layer_id + 1)).
    """
    if name.endswith("norm.weight"):
        return None
    if name in ("tok_embeddings.weight", "output.weight"):
        return 1 / math.sqrt(cfg.d_model)
    layer, rest = _BLOCK_PARAM.fullmatch(name).groups()
    depth = math.sqrt(2 * (int(layer) + 1))
    stds = {
        "attention.in_proj.weight": 1 / math.sqrt(cfg.d_model),
        "attention.out_proj.weight": 1 / math.sqrt(cfg.d_model) / depth,
        "feed_forward.w12.weight": 1 / math.sqrt(cfg.d_model),
        "feed_forward.w3.weight": 1 / math.sqrt(cfg.hidden) / depth,
    }
    return stds[rest]


@torch.no_grad()
def init_parameter(name: str, param: torch.Tensor, cfg: ModelConfig, seed: int) -> None:
    """Initialise one parameter from its own generator (seed, name): the result does
    not depend on construction order, so a grown layer i equals a fresh model's layer i."""
    if param.device.type == "meta":
        return
    std = init_std(name, cfg)
    if std is None:
        param.fill_(1.0)
        return
    gen = torch.Generator(device=param.device).manual_seed((seed * 1_000_003 + zlib.crc32(name.encode())) % 2**63)
    nn.init.trunc_normal_(param, std=std, a=-3 * std, b=3 * std, generator=gen)


def init_weights(model: OpenLM, seed: int) -> None:
    for name, param in model.named_parameters():
        init_parameter(name, param, model.cfg, seed)
