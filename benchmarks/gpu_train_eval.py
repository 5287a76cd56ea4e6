"""The GPU check: 400M-1x training throughput and MFU under DCLM's precision policy, the
bf16-vs-fp32 loss gap, and (with --eval-data) fp32 evaluation speed on a slice of CORE.

On CUDA, under torchrun (or one plain process, which joins a one-process group), it trains
400M-1x shapes on synthetic tokens with the real trainer step (training.trainer.train_step)
through FSDP2 and DCLM's `--fsdp-amp` policy (bf16 parameters in compute, fp32 reduction),
times --steps optimizer steps after --warmup untimed ones, and prints tokens/s per GPU and
MFU = dcbench's FLOPs per token x tokens/s / the device's dense bf16 peak. It then trains a
fresh fp32 model on the same first --fp32-steps batches and prints the per-step loss gap.
With --eval-data (LLM-Foundry's local_data layout) and --tokenizer it times the evaluator in
fp32 on the first --eval-limit items of every CORE task, per task type.

Without CUDA it exits 2 and says so. --cpu-twin runs the same code at toy shapes on the CPU
(CI runs it: tests/training/test_gpu_script.py), so the script cannot rot before a GPU runs it.

    torchrun --standalone --nproc_per_node 1 benchmarks/gpu_train_eval.py [--steps 300]
    python benchmarks/gpu_train_eval.py --cpu-twin
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dcbench.table import format_table  # noqa: E402
from dcbench.training.scales import flops_per_token  # noqa: E402
from dcbench.training.trainer import (FP32, Dist, build_model, join_single_process_group, lr_at,  # noqa: E402
                                      make_optimizer, peak_flops_for, precision_for, resolve_tier,
                                      setup_distributed, shard_model, train_step)

TWIN_SHAPE = {"d_model": 64, "n_layers": 2, "n_heads": 4, "vocab_size": 512, "seq_len": 64, "warmup": 5}


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/gpu_train_eval.py", description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300, help="timed optimizer steps (default 300)")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first (default 10)")
    p.add_argument("--micro-batch", type=int, default=8, help="sequences per micro-batch per GPU (default 8)")
    p.add_argument("--accum", type=int, default=1, help="micro-batches per step (DCLM's 400M-1x: 8 on 8 GPUs)")
    p.add_argument("--fp32-steps", type=int, default=8, help="steps compared against fp32 (default 8)")
    p.add_argument("--compile", action="store_true", help="torch.compile each block before sharding")
    p.add_argument("--peak-flops", type=float, help="per-GPU dense bf16 peak FLOP/s if the name is unknown")
    p.add_argument("--eval-data", type=Path, help="LLM-Foundry local_data folder: also time fp32 CORE")
    p.add_argument("--tokenizer", type=Path, help="GPT-NeoX-20B tokenizer.json for --eval-data")
    p.add_argument("--eval-limit", type=int, default=32, help="items per CORE task (default 32)")
    p.add_argument("--cpu-twin", action="store_true", help="toy shapes on the CPU (what CI runs)")
    a = p.parse_args(argv)
    if a.cpu_twin:
        a.steps, a.warmup, a.micro_batch, a.fp32_steps = min(a.steps, 4), min(a.warmup, 1), 2, min(a.fp32_steps, 2)
    if min(a.steps, a.micro_batch, a.accum, a.fp32_steps) < 1 or a.warmup < 0:
        p.error("--steps, --micro-batch, --accum and --fp32-steps must be >= 1, --warmup >= 0")
    if a.eval_data and not a.tokenizer:
        p.error("--eval-data needs --tokenizer (the GPT-NeoX-20B tokenizer.json)")
    return a


def the_tier(a: argparse.Namespace, world: int):
    """400M-1x with this run's batch; the twin shrinks the shape and keeps the tier (and policy)."""
    changes = {"global_batch": a.micro_batch * a.accum * world, "accum": a.accum}
    if a.cpu_twin:
        changes.update(TWIN_SHAPE)
    return resolve_tier("400M-1x", changes, off_leaderboard=True)


def batch_for(step: int, tier, d: Dist) -> torch.Tensor:
    """Synthetic tokens, a fixed function of (step, rank): both precisions see the same data."""
    gen = torch.Generator().manual_seed(step * 1009 + d.rank)
    rows = tier.global_batch // d.world_size
    return torch.randint(0, tier.model.vocab_size, (rows, tier.model.seq_len + 1), generator=gen)


def make(tier, precision, d: Dist, compile_blocks: bool):
    model = build_model(tier, d.device)
    if compile_blocks:
        for block in model.layers:
            block.compile()
    shard_model(model, precision)
    return model, make_optimizer(model, tier)


def run_steps(tier, precision, d: Dist, steps: int, compile_blocks: bool = False) -> tuple[list[float], list[float]]:
    """Train `steps` steps from the seeded init; each step's loss and seconds."""
    model, opt = make(tier, precision, d, compile_blocks)
    losses, times = [], []
    for step in range(steps):
        t0 = time.perf_counter()
        loss, _ = train_step(model, opt, batch_for(step, tier, d), tier, amp=precision.autocast, d=d,
                             lr=lr_at(step, tier))
        losses.append(float(loss))  # a sync: the step is done
        times.append(time.perf_counter() - t0)
    del model, opt
    if d.device.type == "cuda":
        torch.cuda.empty_cache()
    return losses, times


def throughput(a, tier, d: Dist, say) -> list[float]:
    """Time the bf16 run; print tokens/s per GPU and MFU; return its losses."""
    precision = precision_for(tier)
    losses, times = run_steps(tier, precision, d, a.warmup + a.steps, a.compile)
    step_s = statistics.median(times[a.warmup:])
    tok_s = tier.global_batch // d.world_size * tier.model.seq_len / step_s
    peak = peak_flops_for(d.device, a.peak_flops)
    mfu = f"{flops_per_token(tier.model) * tok_s / peak:.1%}" if peak else "n/a (unknown peak: --peak-flops)"
    name = torch.cuda.get_device_name(d.device) if d.device.type == "cuda" else "CPU (twin)"
    say(f"{name}, {d.world_size} rank(s), precision {precision.name}, {tier.micro_batch // d.world_size}"
        f"x{tier.model.seq_len} tokens per micro-batch per GPU, accum {tier.accum}, compile {a.compile}")
    say(f"median step {step_s:.3f} s over {a.steps} steps after {a.warmup}: {tok_s:,.0f} tokens/s per GPU, "
        f"MFU {mfu} ({flops_per_token(tier.model):,} FLOPs/token)")
    return losses


def loss_gap(a, tier, bf16_losses: list[float], d: Dist, say) -> None:
    """Train a fresh model in fp32 on the same first batches; print both losses and the gap."""
    n = min(a.fp32_steps, len(bf16_losses))
    fp32_losses, _ = run_steps(tier, FP32, d, n)
    rows = [(i + 1, f"{b:.4f}", f"{f:.4f}", f"{b - f:+.4f}") for i, (b, f) in enumerate(zip(bf16_losses, fp32_losses))]
    say(format_table(["step", precision_for(tier).name, "fp32", "gap"], rows, title="loss, bf16 policy vs fp32"))
    say(f"max |loss gap| over {n} steps: {max(abs(b - f) for b, f in zip(bf16_losses, fp32_losses)):.4f}")


def eval_speed(a, d: Dist, say) -> None:
    """fp32 examples/s per CORE task type on the first --eval-limit items of a 400M-1x-shaped
    model with random weights (speed does not depend on them; the twin: toy-1m-1x shapes)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from eval_throughput import make_run  # deferred: another benchmark's helper, only with --eval-data

    from dcbench.eval.runner import run_suite  # deferred: the evaluator loads only with --eval-data
    from dcbench.eval.suites import get_suite

    kinds = {t.name: t.type for t in get_suite("core")}
    with tempfile.TemporaryDirectory() as tmp:
        run = make_run(Path(tmp), "toy-1m-1x" if a.cpu_twin else "400M-1x", None, tokenizer=a.tokenizer)
        res = run_suite(run, "core", tasks_dir=a.eval_data, limit=a.eval_limit, tokenizer=a.tokenizer,
                        device=d.device, progress=False, precision="fp32")
    items: dict[str, int] = {}
    seconds: dict[str, float] = {}
    for name, r in res["tasks"].items():
        kind = kinds.get(name, "?")
        items[kind] = items.get(kind, 0) + r["n"]
        seconds[kind] = seconds.get(kind, 0.0) + r["seconds"]
    rows = [(k, n, f"{n / seconds[k]:.1f}") for k, n in items.items()]
    say(format_table(["task type", "items", "examples/s"], rows, title=f"CORE in fp32, first {a.eval_limit} items"))


def main(argv: list[str] | None = None) -> int:
    a = parse(argv)
    if not a.cpu_twin and not torch.cuda.is_available():
        print("gpu_train_eval: no CUDA device here; run it on a GPU machine, or pass --cpu-twin for the "
              "toy-shape check", file=sys.stderr)
        return 2
    d = setup_distributed("cpu" if a.cpu_twin else "cuda")
    join_single_process_group(d)
    say = print if d.is_main else (lambda *_: None)
    try:
        tier = the_tier(a, d.world_size)
        losses = throughput(a, tier, d, say)
        loss_gap(a, tier, losses, d, say)
        if a.eval_data and d.is_main:
            eval_speed(a, d, say)
        elif d.is_main:
            say("CORE evaluation timing: skipped (pass --eval-data and --tokenizer)")
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
