"""Training throughput of the real trainer step (training.trainer.train_step).

Prints, per small tier at its own shapes (seq_len, global batch, accum), the
median tokens/s of --steps timed optimizer steps after --warmup untimed ones,
in fp32 and with bf16 autocast (AMX on this CPU). With CUDA present it also
times 400M-1x shapes (one micro-batch of --cuda-batch x 2048 per step) and
prints MFU = flops_per_token x tokens/s / peak; without CUDA it says so.

The batches are random token ids: throughput does not depend on the text.

    python benchmarks/train_cpu.py [--tiers toy-250k-1x,toy-1m-1x,toy-5m-1x] [--steps 3] [--warmup 1]
"""

from __future__ import annotations

import argparse
import sys
import statistics
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dcbench.training.scales import flops_per_token  # noqa: E402
from dcbench.training.trainer import (Dist, build_model, make_optimizer, peak_flops_for, resolve_tier,  # noqa: E402
                              train_step)


def time_steps(tier, device: torch.device, amp: bool, steps: int, warmup: int) -> float:
    """Median tokens/s of `steps` optimizer steps after `warmup` ones."""
    d = Dist(device=device)
    model = build_model(tier, device)
    opt = make_optimizer(model, tier)
    gen = torch.Generator().manual_seed(0)
    batch = torch.randint(0, tier.model.vocab_size, (tier.global_batch, tier.model.seq_len + 1), generator=gen)
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        train_step(model, opt, batch, tier, amp=amp, d=d, lr=tier.lr)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return tier.global_batch * tier.model.seq_len / statistics.median(times)


def cpu_table(names: list[str], steps: int, warmup: int) -> None:
    torch.set_flush_denormal(True)
    print(f"CPU, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{'tier':<14} {'params':>9} {'tok/step':>9} {'fp32 tok/s':>11} {'bf16 tok/s':>11}")
    for name in names:
        tier = resolve_tier(name)
        fp32 = time_steps(tier, torch.device("cpu"), False, steps, warmup)
        bf16 = time_steps(tier, torch.device("cpu"), True, steps, warmup)
        print(f"{name:<14} {tier.model_params:>9,} {tier.global_batch * tier.model.seq_len:>9,} "
              f"{fp32:>11,.0f} {bf16:>11,.0f}")


def cuda_mfu(batch: int, steps: int, warmup: int, peak: float | None) -> None:
    if not torch.cuda.is_available():
        print("400M-1x MFU: skipped, no CUDA device here")
        return
    device = torch.device("cuda")
    tier = resolve_tier("400M-1x", {"global_batch": batch, "accum": 1}, off_leaderboard=True)
    tok_s = time_steps(tier, device, True, steps, warmup)
    peak = peak_flops_for(device, peak)
    mfu = f"{flops_per_token(tier.model) * tok_s / peak:.1%}" if peak else "n/a (unknown peak; --peak-flops)"
    print(f"400M-1x shapes on {torch.cuda.get_device_name(device)}: {batch}x{tier.model.seq_len} tokens/step, "
          f"{tok_s:,.0f} tok/s, MFU {mfu} (eager, bf16 autocast)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiers", default="toy-250k-1x,toy-1m-1x,toy-5m-1x")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--cuda-batch", type=int, default=8, help="sequences per step at 400M-1x shapes")
    p.add_argument("--peak-flops", type=float, help="device peak FLOP/s if its name is not known")
    a = p.parse_args()
    cpu_table(a.tiers.split(","), a.steps, a.warmup)
    cuda_mfu(a.cuda_batch, a.steps, a.warmup, a.peak_flops)


if __name__ == "__main__":
    main()
