"""Training throughput of the OpenLM model: forward + backward + AdamW step.

CPU: tokens/s for the small tiers, eager fp32 and bf16 autocast, with the
time a full Chinchilla run of the tier would take at that speed.
CUDA (if present): tokens/s and MFU at 400M-1x shapes (bf16 autocast, one
micro-batch of --cuda-batch sequences of 2048 tokens); skipped otherwise.

MFU = flops_per_token x tokens/s / peak, with flops_per_token = 6·N_matmul +
12·L·d·T (training/scales.py) and peak from --peak-tflops (H100 SXM bf16 dense: 989).

    python benchmarks/model_flops.py [--steps 5] [--tiers toy-250k-1x,toy-1m-1x]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from dcbench.training.model import OpenLM  # noqa: E402
from dcbench.training.scales import TIERS, flops_per_token, get_tier  # noqa: E402


def step_seconds(model, batch, steps: int, bf16: bool, device: str) -> float:
    """Median wall time of one optimizer step after one warm-up step."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    for _ in range(steps + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        ctx = torch.autocast(device, dtype=torch.bfloat16) if bf16 else nullcontext()
        with ctx:
            logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def cpu_report(tier_names: list[str], steps: int) -> None:
    print(f"CPU, {torch.get_num_threads()} threads; micro-batch = tier's micro_batch x seq_len")
    for name in tier_names:
        tier = get_tier(name)
        cfg = tier.model
        model = OpenLM(cfg, seed=0)
        batch = torch.randint(0, cfg.vocab_size, (tier.micro_batch, cfg.seq_len + 1))
        for bf16 in (False, True):
            tps = tier.micro_batch * cfg.seq_len / step_seconds(model, batch, steps, bf16, "cpu")
            gflops = flops_per_token(cfg) * tps / 1e9
            print(f"  {name:12s} {'bf16' if bf16 else 'fp32'}  {tps:9,.0f} tok/s  {gflops:6.1f} GFLOP/s  "
                  f"full run ({tier.tokens:,} tokens) ~{tier.tokens / tps / 60:.1f} min")


def cuda_report(batch_size: int, steps: int, peak_tflops: float) -> None:
    if not torch.cuda.is_available():
        print("CUDA: no device, skipping the 400M-1x MFU measurement")
        return
    cfg = get_tier("400M-1x").model
    model = OpenLM(cfg, seed=0).cuda()
    batch = torch.randint(0, cfg.vocab_size, (batch_size, cfg.seq_len + 1), device="cuda")
    tps = batch_size * cfg.seq_len / step_seconds(model, batch, steps, True, "cuda")
    mfu = flops_per_token(cfg) * tps / (peak_tflops * 1e12)
    print(f"CUDA {torch.cuda.get_device_name()}: 400M-1x eager bf16 autocast, batch {batch_size}x{cfg.seq_len}: "
          f"{tps:,.0f} tok/s, MFU {mfu:.1%} of {peak_tflops:g} TFLOP/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--tiers", default=",".join(n for n, t in TIERS.items() if not t.official))
    parser.add_argument("--cuda-batch", type=int, default=8)
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    args = parser.parse_args()
    cpu_report(args.tiers.split(","), args.steps)
    cuda_report(args.cuda_batch, args.steps, args.peak_tflops)


if __name__ == "__main__":
    main()
