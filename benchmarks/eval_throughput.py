"""Evaluation throughput: examples/s per task type for a small model on CPU.

Builds a `toy-1m-1x`-shaped OpenLM (random weights: speed does not depend on
them) with a BPE trained on toy prose, writes it as a run dir, and times
`run_suite` per task type, in fp32 (the default) and with `--precision bf16`:
multiple choice and language modeling on the toy suite, and where
`../shared/data/eval/local_data` is present, real files of each type
(hellaswag_zeroshot MC 0-shot, copa MC, winogrande schema, lambada LM,
jeopardy LM 10-shot, triviaqa generation 3-shot) with --limit items each.

With CUDA present it also times CORE on a 400M-1x-shaped model (NeoX
vocabulary, random weights, fp32 as DCLM evaluates) with --cuda-limit items per task and
extrapolates to the full CORE item counts; without CUDA it says so.

    python benchmarks/eval_throughput.py [--limit 40] [--repeats 3] [--cuda-limit 64]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dcbench.manifest import MANIFEST_NAME, Manifest  # noqa: E402
from dcbench.eval.runner import run_suite  # noqa: E402
from dcbench.flows.toy_suite import build_toy_suite  # noqa: E402

REAL = {  # task -> type, for the per-type table on real files
    "hellaswag_zeroshot": "multiple_choice (0-shot)", "copa": "multiple_choice (0-shot)",
    "winogrande": "schema (0-shot)", "lambada_openai": "language_modeling (0-shot)",
    "jeopardy": "language_modeling (10-shot)", "triviaqa_sm_sub": "generation (3-shot)",
}


def make_run(root: Path, tier_name: str, vocab: int | None, tokenizer: Path | None = None) -> Path:
    from dcbench.pools.toy_grammar import Prose
    from dcbench.training.model import OpenLM
    from dcbench.training.scales import get_tier
    from dcbench.training.tokenizer import file_sha256, train_bpe, vocab_size, load_tokenizer
    from dcbench.training.trainer import _shard_entry, tier_record

    tokens = root / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    tier = get_tier(tier_name)
    if tokenizer is None:
        texts = [Prose(random.Random(i), hq=i % 4 == 0).document(200) for i in range(400)]
        train_bpe(texts, vocab, tokens / "tokenizer.json")
        tok_path = tokens / "tokenizer.json"
    else:
        tok_path = tokenizer
    v = vocab_size(load_tokenizer(tok_path))
    model_cfg = dataclasses.replace(tier.model, vocab_size=max(v, tier.model.vocab_size) if tokenizer else vocab)
    tier = dataclasses.replace(tier, model=model_cfg)
    tman = Manifest(kind="tokens", name="bench", shards=[],
                    inputs={"dataset": "dataset-bench", "tokenizer": file_sha256(tok_path), "seq_len": model_cfg.seq_len,
                            "seed": 0}, extra={"vocab_size": v, "eot": 0, "pad": 1})
    tman.save(str(tokens / MANIFEST_NAME))
    run = root / "run"
    (run / "model").mkdir(parents=True, exist_ok=True)
    torch.save(OpenLM(model_cfg, seed=0).state_dict(), run / "model" / "model.pt")
    (run / "model" / "config.json").write_text(json.dumps(
        {"tier": tier_record(tier), "model": dataclasses.asdict(model_cfg), "steps": 0}))
    Manifest(kind="model", name=tier.name, shards=[_shard_entry(run / "model" / "model.pt", run)],
             inputs={"tokens": tman.id, "tier": tier.name, "overrides": {}}).save(str(run / MANIFEST_NAME))
    return run


def _time_task(run: Path, suite: str, tasks_dir: Path, task: str, limit: int, repeats: int, batch: int,
               fp32: bool, tokenizer=None, device=None) -> tuple[float, int]:
    """Median examples/s of one task of `suite` (others filtered out) over `repeats` runs."""
    from dcbench.eval import runner

    orig = runner._plan

    def only(suite_name, version, td):
        plans, facts = orig(suite_name, version, td)
        return [p for p in plans if p["name"] == task], facts

    runner._plan = only
    try:
        from dcbench.eval.model import load_model

        model = load_model(run, device=device, tokenizer=tokenizer, precision="fp32" if fp32 else "bf16")
        rates = []
        n = 0
        for _ in range(repeats):
            t0 = time.perf_counter()
            res = run_suite(run, suite, tasks_dir=tasks_dir, limit=limit, batch_size=batch, progress=False,
                            model=model)
            dt = time.perf_counter() - t0
            n = res["tasks"][task]["n"]
            rates.append(n / dt)
        return statistics.median(rates), n
    finally:
        runner._plan = orig


def cuda_core(args) -> None:
    if not torch.cuda.is_available():
        print("\nCORE on a 400M-1x-shaped model: skipped (no CUDA device here)")
        return
    shared = REPO.parent / "shared" / "data"
    tok = shared / "tokenizers" / "gpt-neox-20b.json"
    local = shared / "eval" / "local_data"
    if not (tok.is_file() and local.is_dir()):
        print("\nCORE on 400M-1x: skipped (../shared/data tokenizer or local_data absent)")
        return
    from dcbench.eval.suites import get_suite

    with tempfile.TemporaryDirectory() as tmp:
        run = make_run(Path(tmp), "400M-1x", None, tokenizer=tok)
        t0 = time.perf_counter()
        res = run_suite(run, "core", tasks_dir=local, limit=args.cuda_limit, batch_size=args.cuda_batch,
                        tokenizer=tok, progress=False)
        dt = time.perf_counter() - t0
        full = 0.0
        print(f"\nCORE on a 400M-1x-shaped model, {torch.cuda.get_device_name()}, fp32, batch {args.cuda_batch}, "
              f"{args.cuda_limit} items/task: {dt:.1f} s wall")
        print(f"{'task':28s} {'n':>5s} {'ex/s':>8s} {'items':>6s} {'est. s full':>11s}")
        for t in get_suite("core"):
            r = res["tasks"].get(t.name)
            if r is None:
                continue
            rate = r["n"] / r["seconds"]
            est = r["total"] / rate
            full += est
            print(f"{t.name:28s} {r['n']:5d} {rate:8.1f} {r['total']:6d} {est:11.1f}")
        print(f"estimated full CORE (present tasks, all items): {full / 60:.1f} min; missing: {res['missing']}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tier", default="toy-1m-1x")
    p.add_argument("--limit", type=int, default=40)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--cuda-limit", type=int, default=64)
    p.add_argument("--cuda-batch", type=int, default=16)
    args = p.parse_args()
    torch.set_flush_denormal(True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU {torch.backends.cpu.get_cpu_capability()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = make_run(tmp / "m", args.tier, 1024)
        toy_dir = tmp / "toy"
        build_toy_suite(toy_dir, seed=0, n_items=max(args.limit, 1))
        rows = []
        for task, kind in (("toy_word_salad", "multiple_choice (toy, 0-shot)"), ("toy_lm", "language_modeling (toy)")):
            for fp32 in (True, False):
                rate, n = _time_task(run, "toy", toy_dir, task, args.limit, args.repeats, args.batch, fp32)
                rows.append((task, kind, "fp32" if fp32 else "bf16", n, rate))
        local = REPO.parent / "shared" / "data" / "eval" / "local_data"
        if local.is_dir():
            for task, kind in REAL.items():
                for fp32 in (True, False):
                    rate, n = _time_task(run, "extended", local, task, args.limit, args.repeats, args.batch, fp32)
                    rows.append((task, kind, "fp32" if fp32 else "bf16", n, rate))
        else:
            print(f"{local} absent: real task files not timed")
        print(f"\n{args.tier}-shaped model (random weights, vocab 1024, seq_len 256), batch {args.batch}, "
              f"median of {args.repeats}:")
        print(f"{'task':22s} {'type':32s} {'prec':5s} {'n':>4s} {'examples/s':>11s}")
        for task, kind, prec, n, rate in rows:
            print(f"{task:22s} {kind:32s} {prec:5s} {n:4d} {rate:11.1f}")
    cuda_core(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
