"""The trainer: open_lm's recipe (AdamW, warmup + cosine, z-loss, bf16 autocast,
gradient accumulation) with atomic, bitwise-resumable checkpoints and FSDP2 under
torchrun. One code path: with WORLD_SIZE > 1 the model is sharded and each rank reads
its slice of every global batch; otherwise it is the same loop on one process. Official
tiers train under DCLM's FSDP precision policy (`precision_for`), a single process too,
through a one-process group.

Run distributed:  python -m torch.distributed.run --standalone --nproc_per_node N \
                      -m training.trainer --tier NAME --data DIR --out DIR
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import math
import os
import pickle
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from dcbench.atomic import open_atomic, write_atomic
from dcbench.errors import ConfigError, DataError
from dcbench.manifest import MANIFEST_NAME, Manifest, ShardEntry
from dcbench.tiers import FREE_ON_OFFICIAL, tier_record  # the tier rules live in the spine's table
from dcbench.training.budget import epochs, repetition_warning, warmup_warning
from dcbench.training.data import TokenShards
from dcbench.training.inheritune import grow, inherit_state_dict
from dcbench.training.model import OpenLM
from dcbench.training.scales import flops_per_token, get_tier
from dcbench.training.threads import use_threads

CKPT_DIR = "checkpoints"
LATEST = "latest"
MODEL_DIR = "model"
MODEL_FILE = "model.pt"
LOG_FILE = "train_log.jsonl"
# Dense bf16 peaks (no sparsity) by CUDA device name; anything else needs --peak-flops.
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "H800": 989e12, "A100": 312e12, "A800": 312e12,
                   "L40S": 362e12, "A10G": 125e12}


# ---------------------------------------------------------------- schedule and loss

def lr_at(step: int, tier) -> float:
    """open_lm `cosine_lr`: base·(s+1)/W while s < W, then cosine from base to
    `cooldown_lr` over the remaining `tier.steps - W` steps (s is 0-based, set before the step)."""
    base, warmup, total = tier.lr, tier.warmup, tier.steps
    if step < warmup:
        return base * (step + 1) / warmup
    frac = (step - warmup) / max(total - warmup, 1)
    return tier.cooldown_lr + 0.5 * (1 + math.cos(math.pi * frac)) * (base - tier.cooldown_lr)


def z_loss(logits: torch.Tensor, coef: float) -> torch.Tensor:
    """open_lm's `CrossEntropyLossWithZLoss` term: coef · mean(logsumexp²), the mean of the
    squares over every position (not the square of the mean)."""
    return coef * torch.logsumexp(logits.float(), dim=-1).square().mean()


def loss_fn(logits: torch.Tensor, targets: torch.Tensor, z_coef: float) -> torch.Tensor:
    """Mean cross-entropy plus the z-loss over every target position. DCLM trains with no
    target mask (open_lm masks only under --target-mask-left/right, which DCLM never passes),
    so PAD targets (50256, also an ordinary GPT-NeoX token) count in both terms."""
    logits = logits.reshape(-1, logits.shape[-1]).float()
    ce = F.cross_entropy(logits, targets.reshape(-1))
    return ce + z_loss(logits, z_coef) if z_coef else ce


def split_inputs(batch: torch.Tensor, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """open_lm's `sample_chunk` for contexts of seq_len + 1: input = first seq_len tokens,
    target = the same shifted by one. Shorter contexts are refused, as open_lm drops them."""
    if batch.shape[1] < seq_len + 1:
        raise DataError(f"token contexts hold {batch.shape[1]} tokens; training needs > {seq_len}")
    return batch[:, :seq_len], batch[:, 1 : seq_len + 1]


# ---------------------------------------------------------------- tier and config

def resolve_tier(tier, overrides: dict | None = None, *, off_leaderboard: bool = False,
                 inherit_layers: int | None = None):
    """The tier after `overrides` (Tier or ModelConfig field names). An official tier
    refuses any change but `accum` (and an Inheritune depth) unless off_leaderboard."""
    tier = get_tier(tier) if isinstance(tier, str) else tier
    changes = dict(overrides or {})
    if inherit_layers is not None:
        changes.setdefault("n_layers", inherit_layers)
    locked = sorted(set(changes) - FREE_ON_OFFICIAL)
    if locked and tier.official and not off_leaderboard:
        raise ConfigError(
            f"tier {tier.name} is official: DCLM fixes its hyperparameters per scale and leaderboard runs may "
            f"change only {sorted(FREE_ON_OFFICIAL)}; refusing to change {locked}. Pass --off-leaderboard "
            f"to run it as an off-leaderboard experiment.")
    return apply_overrides(tier, changes)


def apply_overrides(tier, changes: dict):
    model_fields = {f.name for f in dataclasses.fields(tier.model)}
    tier_fields = {f.name for f in dataclasses.fields(tier)}
    unknown = sorted(set(changes) - model_fields - tier_fields)
    if unknown:
        raise ConfigError(f"unknown override(s) {unknown}; known: tier {sorted(tier_fields)}, "
                          f"model {sorted(model_fields)}")
    model = dataclasses.replace(tier.model, **{k: v for k, v in changes.items() if k in model_fields})
    rest = {k: v for k, v in changes.items() if k in tier_fields and k not in model_fields}
    return dataclasses.replace(tier, model=model, **rest)


# ---------------------------------------------------------------- distributed

@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def sharded(self) -> bool:
        return self.world_size > 1


def setup_distributed(device: str | torch.device | None = None) -> Dist:
    """Join the torchrun group when WORLD_SIZE > 1 (gloo on CPU, nccl on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if world == 1:
        return Dist(device=device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), device)


@dataclass(frozen=True)
class Precision:
    """How a run trains: bf16 autocast (DCLM's `--precision amp_bfloat16`) on or off, and the
    FSDP2 `MixedPrecisionPolicy` (parameters' compute dtype, gradient-reduction dtype; None:
    parameters stay fp32 and only autocast lowers the matmuls)."""

    name: str
    autocast: bool
    param_dtype: torch.dtype | None = None
    reduce_dtype: torch.dtype | None = None


FSDP_AMP = Precision("fsdp-amp", True, torch.bfloat16, torch.float32)  # DCLM --fsdp-amp
FSDP_PURE_BF16 = Precision("fsdp-pure-bf16", True, torch.bfloat16, torch.bfloat16)  # DCLM --fsdp-pure-bf16
AUTOCAST_BF16 = Precision("autocast-bf16", True)  # CPU tiers: fp32 parameters, bf16 autocast
FP32 = Precision("fp32", False)  # --no-amp: the fp32 reference
PURE_BF16_TIERS = frozenset({"3B-1x", "7B-1x", "7B-2x"})  # DCLM's 3B/7B configs; 400M/1B use --fsdp-amp


def precision_for(tier, amp: bool = True) -> Precision:
    """DCLM's policy for an official tier (by name, so off-leaderboard variants keep it);
    what works on a CPU for the toy tiers; fp32 when amp is off."""
    if not amp:
        return FP32
    if not tier.official:
        return AUTOCAST_BF16
    return FSDP_PURE_BF16 if tier.name in PURE_BF16_TIERS else FSDP_AMP


def join_single_process_group(d: Dist) -> None:
    """A one-process group, so a single process trains through the same FSDP2 wrapper (and
    so the same bf16 parameter policy) as a torchrun job."""
    if not dist.is_initialized():
        backend = "nccl" if d.device.type == "cuda" else "gloo"
        dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)


def shard_model(model: torch.nn.Module, precision: Precision = FP32) -> None:
    """FSDP2: each block its own unit, then the root (embeddings, final norm, head), all
    under the precision's MixedPrecisionPolicy (fp32 master weights and optimizer state)."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard  # deferred: ~0.65 s (measured), FSDP runs only

    policy = MixedPrecisionPolicy(param_dtype=precision.param_dtype, reduce_dtype=precision.reduce_dtype)
    for block in model.layers:
        fully_shard(block, mp_policy=policy)
    fully_shard(model, mp_policy=policy)


def _all_mean(value: torch.Tensor, d: Dist) -> float:
    if d.sharded:
        value = value.detach().clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        value /= d.world_size
    return float(value)


# ---------------------------------------------------------------- model I/O

def build_model(tier, device: torch.device, init_from: str | Path | None = None,
                inherit_layers: int | None = None) -> torch.nn.Module:
    """Seeded init, or weights from `init_from` (its first `inherit_layers` blocks if given)."""
    torch.manual_seed(tier.seed)
    # OpenLM seeds each parameter from (seed, name); skip that work when weights are loaded
    model = OpenLM(tier.model, seed=None if init_from is not None else tier.seed)
    if init_from is not None:
        state, _ = load_weights(init_from)
        if inherit_layers is not None:
            state = inherit_state_dict(state, inherit_layers)
        model.load_state_dict(state)
    return model.to(device)


def load_weights(path: str | Path) -> tuple[dict, dict | None]:
    """(state dict, config.json or None) from a run dir, a model dir, a checkpoint or a .pt."""
    path = Path(path)
    if (path / MODEL_DIR / MODEL_FILE).is_file():
        path = path / MODEL_DIR
    if path.is_dir():
        path = path / MODEL_FILE
    data = read_state(path)
    if "model" in data and isinstance(data["model"], dict):  # a training checkpoint
        return data["model"], {"tier": data.get("tier")}
    config = path.parent / "config.json"
    return data, json.loads(config.read_text()) if config.is_file() else None


def read_state(path: Path) -> Any:
    """torch.load with weights_only; a file that is not a PyTorch state dict is a DataError (exit 3)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # a pickle that names code: refused, and never unlocked
        raise DataError(f"{path} is not a dcbench/PyTorch state dict: it holds Python objects other than "
                        f"tensors and plain values, which dcbench refuses to load") from e
    except (RuntimeError, EOFError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(f"{path} is not a readable dcbench/PyTorch state dict ({reason})") from e


def _atomic_save(obj: Any, path: Path) -> None:
    with open_atomic(path) as f:
        torch.save(obj, f)


# ---------------------------------------------------------------- checkpoints

_FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


def _rng_state() -> dict:
    np_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": [np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, keys.numpy(), *rest))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(out_dir: Path, step: int, model, optimizer, tier, data_pos: int, d: Dist,
                    keep: int = 3) -> Path | None:
    """Gather full states (a collective: every rank calls it), write on rank 0 atomically,
    then point `latest` at it and prune all but the last `keep`."""
    state = {"model": get_model_state_dict(model, options=_FULL),
             "optimizer": get_optimizer_state_dict(model, optimizer, options=_FULL),
             "step": step, "data_pos": data_pos, "rng": _rng_state(), "tier": tier_record(tier),
             "world_size": d.world_size}
    if not d.is_main:
        return None
    ckpt_dir = out_dir / CKPT_DIR
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    path = ckpt_dir / f"step_{step:06d}.pt"
    _atomic_save(state, path)
    write_atomic(ckpt_dir / LATEST, path.name + "\n")
    for old in sorted(ckpt_dir.glob("step_*.pt"))[:-keep]:
        old.unlink()
    return path


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    pointer = Path(out_dir) / CKPT_DIR / LATEST
    if not pointer.is_file():
        return None
    path = pointer.parent / pointer.read_text().strip()
    return path if path.is_file() else None


def load_checkpoint(path: Path, model, optimizer, tier) -> dict:
    """Restore model, optimizer and RNG; every rank reads the file (full state dicts)."""
    state = read_state(path)
    saved, now = state["tier"], tier_record(tier)
    diff = sorted(k for k in set(saved) | set(now)
                  if k not in ("accum", "micro_batch") and saved.get(k) != now.get(k))
    if diff:
        raise ConfigError(f"{path} was written for another configuration (differs in {diff}); "
                          f"train into a new --out directory")
    opts = StateDictOptions(full_state_dict=True)
    set_model_state_dict(model, state["model"], options=opts)
    set_optimizer_state_dict(model, optimizer, state["optimizer"], options=opts)
    _set_rng_state(state["rng"])
    return state


# ---------------------------------------------------------------- the loop

@dataclass
class TrainResult:
    out_dir: Path
    model_path: Path
    steps: int
    tokens: int
    final_loss: float | None
    manifest_id: str | None
    tier: Any
    log: list[dict] = field(default_factory=list)
    epochs: float | None = None  # passes over the token shards


def peak_flops_for(device: torch.device, given: float | None) -> float | None:
    """Per-device dense bf16 peak: `given`, else looked up by CUDA device name, else None."""
    if given:
        return given
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)
    return None


def _autocast(device: torch.device, amp: bool):
    if not amp:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def train_step(model, optimizer, batch: torch.Tensor, tier, *, amp: bool,
               d: Dist, lr: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step over this rank's slice of a global batch, in `tier.accum`
    micro-batches; gradients sync (reduce-scatter) only on the last one."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    inputs, targets = split_inputs(batch.to(d.device, non_blocking=True), tier.model.seq_len)
    micro = inputs.shape[0] // tier.accum
    if micro * tier.accum != inputs.shape[0]:
        raise ConfigError(f"{inputs.shape[0]} sequences per rank do not split into accum={tier.accum}")
    total = torch.zeros((), device=d.device)
    for i in range(tier.accum):
        if hasattr(model, "set_requires_gradient_sync"):  # FSDP2-wrapped
            model.set_requires_gradient_sync(i == tier.accum - 1)
        part = slice(i * micro, (i + 1) * micro)
        with _autocast(d.device, amp):
            logits = model(inputs[part])
        loss = loss_fn(logits, targets[part], tier.z_loss) / tier.accum
        loss.backward()
        total += loss.detach()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), tier.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    if hasattr(grad_norm, "full_tensor"):
        grad_norm = grad_norm.full_tensor()
    return total, grad_norm


def make_optimizer(model, tier) -> torch.optim.Optimizer:
    """AdamW with weight decay on every parameter, as open_lm does."""
    return torch.optim.AdamW(model.parameters(), lr=tier.lr, betas=(tier.beta1, tier.beta2), eps=tier.eps,
                             weight_decay=tier.weight_decay)


def _token_manifest(data_dir: Path) -> Manifest | None:
    path = Path(data_dir) / MANIFEST_NAME
    return Manifest.load(str(path)) if path.is_file() else None


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _warn_budget(tier, sequences: int, total_steps: int, warn: Callable[[str], Any]) -> None:
    """Say when this run repeats its data or ends inside the warmup (see training.budget)."""
    for message in (repetition_warning(tier, sequences, total_steps), warmup_warning(tier, total_steps)):
        if message:
            warn(message)


def train(tier, data_dir, out_dir, *, max_steps: int | None = None, overrides: dict | None = None,
          off_leaderboard: bool = False, init_from=None, inherit_layers: int | None = None,
          checkpoint_every: int = 500, resume: bool = True, device=None, amp: bool = True,
          peak_flops: float | None = None, log_every: int = 10,
          log: Callable[[str], Any] = print, warn: Callable[[str], Any] = _stderr,
          threads: int | None = None) -> TrainResult:
    """Train `tier` on the token shards in `data_dir`; see the module docstring. `warn` hears
    when the budget repeats the data and when the run ends inside the warmup."""
    tier = resolve_tier(tier, overrides, off_leaderboard=off_leaderboard, inherit_layers=inherit_layers)
    out_dir = Path(out_dir)
    d = setup_distributed(device)
    thread_info = use_threads(threads)  # --threads; recorded in the model's manifest
    torch.set_flush_denormal(True)  # denormals made fp32 CPU steps 2-5x slower (environment.md §7)
    shards = TokenShards(data_dir, seed=tier.seed)  # the seed orders passes after the first
    _check_data(shards, tier, d)
    say = log if d.is_main else (lambda *_: None)
    model = build_model(tier, d.device, init_from, inherit_layers)
    precision = precision_for(tier, amp)
    if d.sharded or precision.param_dtype is not None:
        join_single_process_group(d)
        shard_model(model, precision)
    say(f"precision: {precision.name}")
    optimizer = make_optimizer(model, tier)
    total_steps = min(tier.steps, max_steps) if max_steps is not None else tier.steps
    if d.is_main:
        _warn_budget(tier, len(shards), total_steps, warn)

    step, data_pos = 0, 0
    ckpt = latest_checkpoint(out_dir) if resume else None
    if ckpt is not None:
        state = load_checkpoint(ckpt, model, optimizer, tier)
        step, data_pos = state["step"], state["data_pos"]
        say(f"resumed from {ckpt} at step {step}")
    elif d.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / LOG_FILE).unlink(missing_ok=True)

    tokens_per_step = tier.global_batch * tier.model.seq_len
    fpt = flops_per_token(tier.model)
    peak = peak_flops_for(d.device, peak_flops)
    # data_pos counts global batches; each rank reads its block of every one
    batches = shards.batches(tier.global_batch // d.world_size, rank=d.rank, world_size=d.world_size,
                             start=data_pos, repeat=True)
    records: list[dict] = []
    last_loss = None
    model.train()
    while step < total_steps:
        t0 = time.perf_counter()
        batch = next(batches)
        loss, gnorm = train_step(model, optimizer, batch, tier, amp=amp, d=d,
                                 lr=lr_at(step, tier))
        last_loss = _all_mean(loss, d)
        if d.device.type == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        step, data_pos = step + 1, data_pos + 1
        rec = _record(step, last_loss, float(gnorm), lr_at(step - 1, tier), tokens_per_step, dt, fpt, peak, d)
        records.append(rec)
        _log_step(out_dir, rec, d, say, step % log_every == 0 or step == total_steps)
        if step % checkpoint_every == 0 or step == total_steps:
            save_checkpoint(out_dir, step, model, optimizer, tier, data_pos, d)
    return _finish(out_dir, model, tier, step, last_loss, records, data_dir, overrides, d, len(shards),
                   threads=thread_info, precision=precision.name)


def _check_data(shards, tier, d: Dist) -> None:
    if shards.seq_len < tier.model.seq_len:
        raise DataError(f"token contexts have {shards.seq_len + 1} tokens; tier {tier.name} needs "
                        f"> {tier.model.seq_len} (re-tokenize with seq_len {tier.model.seq_len})")
    if shards.vocab_size > tier.model.vocab_size:
        raise DataError(f"tokens use a vocabulary of {shards.vocab_size} > the model's {tier.model.vocab_size}")
    if tier.global_batch % (d.world_size * tier.accum):
        raise ConfigError(f"global batch {tier.global_batch} does not split over {d.world_size} ranks "
                          f"x accum {tier.accum}")


def _record(step, loss, gnorm, lr, tokens_per_step, dt, fpt, peak, d: Dist) -> dict:
    tok_s = tokens_per_step / dt
    mfu = fpt * tok_s / (peak * d.world_size) if peak else None
    return {"step": step, "loss": loss, "lr": lr, "grad_norm": gnorm, "tokens": step * tokens_per_step,
            "step_s": dt, "tokens_per_s": tok_s, "mfu": mfu}


def _log_step(out_dir: Path, rec: dict, d: Dist, log, show: bool) -> None:
    if not d.is_main:
        return
    with open(out_dir / LOG_FILE, "a") as f:
        f.write(json.dumps(rec) + "\n")
    if show:
        mfu = f"{rec['mfu']:.1%}" if rec["mfu"] is not None else "n/a"
        log(f"step {rec['step']} loss {rec['loss']:.4f} lr {rec['lr']:.3e} gnorm {rec['grad_norm']:.3f} "
            f"{rec['tokens_per_s']:,.0f} tok/s MFU {mfu}")


def _finish(out_dir: Path, model, tier, step, last_loss, records, data_dir, overrides, d: Dist,
            sequences: int, threads: dict | None = None, precision: str | None = None) -> TrainResult:
    """Final weights, config.json and manifest.json (rank 0); every rank gets the result. The
    manifest's inputs name the tokens and their tokenizer's sha256; its extra says how many
    passes over the data the run made (`epochs`)."""
    state = get_model_state_dict(model, options=_FULL)
    model_dir = out_dir / MODEL_DIR
    model_path = model_dir / MODEL_FILE
    manifest_id = None
    if d.is_main:
        model_dir.mkdir(parents=True, exist_ok=True)
        _atomic_save(state, model_path)
        config = {"tier": tier_record(tier), "model": dataclasses.asdict(tier.model), "steps": step,
                  "precision": precision,
                  "tokens_dir": str(Path(data_dir).resolve())}  # where evaluation finds the tokenizer
        write_atomic(model_dir / "config.json", json.dumps(config, indent=2) + "\n")
        tokens = _token_manifest(Path(data_dir))
        manifest = Manifest(kind="model", name=tier.name, shards=[_shard_entry(model_path, out_dir)],
                            inputs={"tokens": tokens.id if tokens else None, "tier": tier.name,
                                    "tokenizer": tokens.inputs.get("tokenizer") if tokens else None,
                                    "overrides": overrides or {}},
                            extra={"steps": step, "tokens": step * tier.global_batch * tier.model.seq_len,
                                   "final_loss": last_loss, "params": tier.params, "sequences": sequences,
                                   "epochs": epochs(tier, sequences, step), "threads": threads,
                                   "precision": precision})
        manifest.save(str(out_dir / MANIFEST_NAME))
        manifest_id = manifest.id
    if d.sharded:
        dist.barrier()
    return TrainResult(out_dir, model_path, step, step * tier.global_batch * tier.model.seq_len, last_loss,
                       manifest_id, tier, records, epochs(tier, sequences, step))


def _shard_entry(path: Path, base: Path) -> ShardEntry:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return ShardEntry(str(path.relative_to(base)), path.stat().st_size, digest.hexdigest(), 0)


# ---------------------------------------------------------------- evaluation and Inheritune grow

@torch.no_grad()
def validation_loss(model, data_dir, seq_len: int, *, batch_size: int = 8, max_batches: int = 8,
                    amp: bool = True, device=None) -> float:
    """Token-weighted mean CE (no z-loss) over non-PAD targets of the first `max_batches` batches."""
    shards = TokenShards(data_dir)
    device = torch.device(device or next(model.parameters()).device)
    model.eval()
    total, count = 0.0, 0
    batches = shards.batches(batch_size, repeat=False)
    for _, batch in zip(range(max_batches), batches):
        inputs, targets = split_inputs(batch.to(device), seq_len)
        with _autocast(device, amp):
            logits = model(inputs)
        mask = targets != shards.pad_id
        ce = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
        total += float(ce[mask.reshape(-1)].sum())
        count += int(mask.sum())
    model.train()
    if count == 0:
        raise DataError(f"{data_dir}: no validation tokens")
    return total / count


@dataclass
class GrowResult:
    reference_loss: float
    rounds: list[dict]
    reached: bool
    final_dir: Path


def grow_until(reference_ckpt, tier, data_dir, val_dir, out_dir, *, start_layers: int | None = None,
               steps_per_round: int | None = None, max_rounds: int = 4, overrides: dict | None = None,
               val_batches: int = 8, val_batch_size: int = 8, amp: bool = True, device=None,
               log: Callable[[str], Any] = print, **train_kw) -> GrowResult:
    """Inheritune's grow mode: inherit the reference's first `start_layers` blocks (default half),
    train `steps_per_round` steps, and while validation loss is worse than the reference's, add 2
    blocks (`inheritune.grow`) and train again, for at most `max_rounds` rounds."""
    ref_state, ref_config = load_weights(reference_ckpt)
    tier = resolve_tier(tier, overrides, off_leaderboard=True)
    ref_cfg = dataclasses.replace(tier.model, n_layers=_ref_layers(ref_state, ref_config))
    ref_model = OpenLM(ref_cfg, seed=None)
    ref_model.load_state_dict(ref_state)
    seq_len = tier.model.seq_len
    ref_loss = validation_loss(ref_model, val_dir, seq_len, batch_size=val_batch_size, max_batches=val_batches,
                               amp=amp, device=device)
    log(f"reference: {ref_cfg.n_layers} layers, validation loss {ref_loss:.4f}")
    n = start_layers or ref_cfg.n_layers // 2
    init, inherit = reference_ckpt, n
    rounds: list[dict] = []
    run_dir = Path(out_dir)
    for r in range(max_rounds):
        run_dir = Path(out_dir) / f"round_{r}_{n}L"
        res = train(tier, data_dir, run_dir, max_steps=steps_per_round, overrides={**(overrides or {}), "n_layers": n},
                    off_leaderboard=True, init_from=init, inherit_layers=inherit, device=device, amp=amp,
                    log=log, **train_kw)
        model = OpenLM(dataclasses.replace(tier.model, n_layers=n), seed=None)
        model.load_state_dict(load_weights(res.model_path)[0])
        loss = validation_loss(model, val_dir, seq_len, batch_size=val_batch_size, max_batches=val_batches,
                               amp=amp, device=device)
        rounds.append({"round": r, "layers": n, "val_loss": loss, "dir": str(run_dir)})
        log(f"round {r}: {n} layers, validation loss {loss:.4f} (reference {ref_loss:.4f})")
        if loss <= ref_loss or n >= ref_cfg.n_layers or r == max_rounds - 1:
            return GrowResult(ref_loss, rounds, loss <= ref_loss, run_dir)
        grow_n = min(2, ref_cfg.n_layers - n)
        model = grow(model, n_new=grow_n, reference=ref_model)  # Alg. 1: inherit the next blocks
        n += grow_n
        init, inherit = run_dir / f"grown_{n}L.pt", None
        torch.save(model.state_dict(), init)
    return GrowResult(ref_loss, rounds, False, run_dir)


def _ref_layers(state: dict, config: dict | None) -> int:
    if config and "model" in config:
        return config["model"]["n_layers"]
    return 1 + max(int(k.split(".")[1]) for k in state if k.startswith("layers."))


# ---------------------------------------------------------------- command line (torchrun entry)

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.trainer", description=__doc__.splitlines()[0])
    p.add_argument("--tier", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--overrides", type=json.loads, help="JSON object of Tier/ModelConfig fields")
    p.add_argument("--off-leaderboard", action="store_true")
    p.add_argument("--init-from")
    p.add_argument("--inherit-layers", type=int)
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--no-resume", action="store_true")
    p.add_argument("--no-amp", action="store_true", help="fp32 instead of the tier's bf16 precision policy")
    p.add_argument("--peak-flops", type=float, help="per-device peak FLOP/s for MFU")
    p.add_argument("--log-every", type=int, default=10)
    a = p.parse_args(argv)
    try:
        train(a.tier, a.data, a.out, max_steps=a.max_steps, overrides=a.overrides, off_leaderboard=a.off_leaderboard,
              init_from=a.init_from, inherit_layers=a.inherit_layers, checkpoint_every=a.checkpoint_every,
              resume=not a.no_resume, amp=not a.no_amp, peak_flops=a.peak_flops, log_every=a.log_every)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
