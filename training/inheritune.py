"""Inheritune (Sanyal et al., arXiv 2404.08634): start a shallower model from
the first n blocks of a trained reference, then grow it 2 layers at a time.

Unlike the published scripts (which skipped the embeddings or the final norm),
we copy everything outside the dropped blocks: token embeddings, blocks
0..n-1, final norm and head. So before any training the inherited model
computes exactly the reference's early exit `reference(x, n_layers=n)`.
"""

from __future__ import annotations

import copy
import re
from dataclasses import replace

import torch

from dcbench.training.model import OpenLM, init_parameter

_LAYER = re.compile(r"layers\.(\d+)\.")
_WRAPPERS = ("module.", "_orig_mod.")  # DDP / torch.compile prefixes


def _unwrap(state_dict: dict) -> dict:
    """The model's own state dict from a checkpoint: the "state_dict" entry if any, prefixes removed."""
    if isinstance(state_dict.get("state_dict"), dict):
        state_dict = state_dict["state_dict"]
    clean = {}
    for key, value in state_dict.items():
        for prefix in _WRAPPERS:
            key = key.removeprefix(prefix)
        clean[key] = value
    return clean


def _layer_of(key: str) -> int | None:
    match = _LAYER.match(key)
    return int(match.group(1)) if match else None


def inherit_state_dict(state_dict: dict, n_layers: int) -> dict[str, torch.Tensor]:
    """Keep every entry except blocks >= n_layers; the result loads into
    `OpenLM(replace(cfg, n_layers=n_layers))` with strict=True."""
    state_dict = _unwrap(state_dict)
    depth = 1 + max((_layer_of(k) for k in state_dict if _layer_of(k) is not None), default=-1)
    if not 0 < n_layers <= depth:
        raise ValueError(f"cannot inherit {n_layers} layers from a {depth}-layer reference")
    return {k: v for k, v in state_dict.items() if (_layer_of(k) is None or _layer_of(k) < n_layers)}


def inherit(reference: OpenLM, n_layers: int) -> OpenLM:
    """A new `n_layers`-deep model holding copies of the reference's weights."""
    state = {k: v.detach().clone() for k, v in inherit_state_dict(reference.state_dict(), n_layers).items()}
    device = next(reference.parameters()).device
    with torch.device(device):
        model = OpenLM(replace(reference.cfg, n_layers=n_layers), seed=None)
    model.load_state_dict(state, strict=True)
    return model


def grow(model: OpenLM, n_new: int = 2, reference: OpenLM | None = None, seed: int = 124) -> OpenLM:
    """A copy of `model` with `n_new` blocks appended; existing blocks are unchanged.

    With `reference`, the new blocks are copies of the reference's next blocks
    (Inheritune's Alg. 1: "inherit the next 2 layers"); without one they are
    fresh, with OpenLM's init at their depth (out projections / sqrt(2 (i+1))).
    """
    old = len(model.layers)
    if reference is not None and old + n_new > len(reference.layers):
        raise ValueError(f"reference has {len(reference.layers)} layers; cannot grow {old} by {n_new}")
    grown = copy.deepcopy(model)
    grown.cfg = replace(model.cfg, n_layers=old + n_new)
    for i in range(old, old + n_new):
        if reference is not None:
            block = copy.deepcopy(reference.layers[i])
        else:
            block = copy.deepcopy(model.layers[0])  # right shapes, device and dtype
            for name, param in block.named_parameters():
                init_parameter(f"layers.{i}.{name}", param, grown.cfg, seed)
        grown.layers.append(block)
    return grown


def new_parameter_names(old_layers: int, grown: OpenLM) -> list[str]:
    """Names of the parameters `grow` added (for the trainer's log)."""
    layers = ((n, _layer_of(n)) for n, _ in grown.named_parameters())
    return [n for n, layer in layers if layer is not None and layer >= old_layers]
