"""`dcbench eval [run] MODEL --suite ...` and `dcbench eval download`.

`dcbench eval MODEL ...` is short for `dcbench eval run MODEL ...` (the command
line expands it). `dcbench eval toy-suite` draws its items from the toy pool's
language, so it crosses stages: `dcbench.flows.cli` adds it to the group
`add_commands` returns.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dcbench.cliargs import non_negative_int, positive_int
from dcbench.errors import ConfigError, RunError

from dcbench.eval.download import DEFAULT_BASE_URL, download_tasks
from dcbench.eval.heldout import run_heldout
from dcbench.eval.runner import default_tasks_dir, run_suite

SUITES = ["core", "extended", "mmlu", "core+mmlu", "toy", "heldout"]

EPILOG = """\
examples:
  dcbench eval download                                   # LLM-Foundry's task files -> the default tasks dir
  dcbench eval runs/model --suite core -o runs/model/eval_core.json
  dcbench eval runs/model --suite mmlu --tokenizer gpt-neox-20b.json
  dcbench eval toy-suite --out toy_eval                   # the toy suite built from the toy pool's grammar
  dcbench eval runs/model --suite toy --tasks-dir toy_eval
  dcbench eval runs/model --suite heldout --heldout toy_eval/heldout --pool toy_pool
  dcbench eval runs/model --suite heldout --heldout fresh_news.jsonl --heldout fresh_code.jsonl --pool POOL

`dcbench eval MODEL ...` is short for `dcbench eval run MODEL ...`.
Suites: core (22 tasks), extended (53), mmlu (5-shot, 57 subjects macro-averaged), core+mmlu, toy,
heldout (bits per byte on pages no pool contains, per source).
Scores are centered accuracy with DCLM's random baselines (v2 by default, --version v1).

Continuous proxies, from the same forward pass as accuracy, per task and per item in the results
JSON ("items": lists in item order, the same in every run):
  p_correct  probability of the correct choice: softmax over the choices of the per-token mean
             log-likelihoods accuracy ranks (multiple-choice and schema tasks)
  margin     mean log-likelihood of the correct choice minus the best wrong one's (> 0 iff correct)
  bpb        the correct answer's bits per UTF-8 byte (generation tasks: under teacher forcing)
Each task's proxy is 0 at chance and 1 when perfect: choice tasks (mean p_correct - c) / (1 - c),
c = mean of 1/choices; LM and generation tasks (2^-bpb - 2^-8) / (1 - 2^-8), bpb the mean over
items. CORE-proxy (EXTENDED-, MMLU-, TOY-proxy) is the plain mean of the task proxies over the
headline's tasks, N/A when one is missing. Proxies separate small models where accuracy sits at
chance; they are ours, not DCLM's, and CORE itself is unchanged.

Held-out pages (--suite heldout --heldout FILE|DIR, repeatable): jsonl (or .jsonl.gz/.zst/.parquet)
records with "text" and optionally "source" (default: the file's name). Each page is scored from
end-of-text in windows of the model's context; a source's bpb is its bits over its UTF-8 bytes and
HELDOUT-bpb the mean over sources (lower is better). --pool DIR (repeatable: a pool or dataset
dir, or shard files) is read first: pages whose exact text it contains are not scored, and are
counted and listed in the results (a warning says how many). `dcbench eval toy-suite --out DIR`
writes the toy pool's held-out pages to DIR/heldout/.

Models run in fp32, as DCLM evaluates; --precision bf16 is faster on GPUs, is recorded in the
results JSON, and is not accepted on official leaderboard tiers. --seed replaces every task's
few-shot seed (1234), as DCLM's evaluator does.
A missing task file marks the aggregate incomplete and names it; it is never averaged away.
Contexts too long for the model lose tokens from the left (as LLM-Foundry does); an item whose
answer alone fills the model's context is skipped and counted per task.

exit codes: 0 every task scored (with --limit the scores are marked PARTIAL); 4 the suite is
incomplete (a task file missing, a task failed, or items skipped; the results JSON is still
written and says why); 2 a bad option; 3 unusable model or task files.
Progress: a bar on a terminal; otherwise a line per task and every 30 s with an ETA
(DCBENCH_PROGRESS_EVERY=seconds).
"""


def add_commands(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Add `eval` with `run` and `download`; return its group, for the flows' `toy-suite`."""
    e = sub.add_parser("eval", help="evaluate a model on CORE, EXTENDED, MMLU or the toy suite",
                       description="The fixed evaluator: LLM-Foundry in-context task formats and DCLM's aggregation.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    esub = e.add_subparsers(dest="eval_command", metavar="EVAL_COMMAND")
    esub.required = True

    r = esub.add_parser("run", help="score a model on a suite (`dcbench eval MODEL ...` for short)",
                        description="Score MODEL on every task of the suite and write the results JSON.",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("model", help="a `dcbench train` run dir, a checkpoint, or a local Hugging Face model dir")
    r.add_argument("--suite", default="core", choices=SUITES)
    r.add_argument("--version", default="v2", choices=["v2", "v1"], help="random baselines (default v2)")
    r.add_argument("--tasks-dir", default=None, help="task files (LLM-Foundry local_data layout, or a toy suite dir)")
    r.add_argument("-o", "--output", default=None, help="results JSON (default: beside the model)")
    r.add_argument("--tokenizer", default=None, help="tokenizer.json, when the model's is not beside its tokens")
    r.add_argument("--batch-size", type=positive_int, default=8)
    r.add_argument("--limit", type=positive_int, default=None,
                   help="score only the first N examples a task (a smoke run)")
    r.add_argument("--threads", type=positive_int, default=None,
                   help="CPU threads for torch (default $DCBENCH_THREADS, else one fewer than the CPUs available, "
                        "1 to 4; see benchmarks/threads.py); recorded in the results JSON")
    r.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                   help="fp32 (default; DCLM evaluates in fp32) or bf16 autocast (faster on GPUs and AMX CPUs; "
                        "recorded in the results JSON, and not accepted on official leaderboard tiers)")
    r.add_argument("--seed", type=non_negative_int, default=None,
                   help="replace every task's few-shot seed (default each task's own, 1234), as DCLM's --seed does")
    r.add_argument("--exclude-contaminated", default=None, metavar="REPORT",
                   help="score only the items a `dcbench contamination` report found clean (its contamination.json); "
                        "the results record it under clean_subset and are marked PARTIAL")
    r.add_argument("--heldout", action="append", default=None, metavar="FILE|DIR",
                   help="with --suite heldout: pages to score (jsonl records with text[, source]); repeat it")
    r.add_argument("--pool", action="append", default=None, metavar="DIR|FILE",
                   help="with --suite heldout: a pool whose pages are not held out (exact text); repeat it")
    r.set_defaults(func=_run)

    d = esub.add_parser("download", help="fetch LLM-Foundry's task files (CORE, EXTENDED, MMLU)",
                        description=("Fetch the task files DCLM's suites read into the tasks dir (LLM-Foundry's "
                                     "local_data layout), verify them, and resume what an earlier call left."),
                        epilog=("exit codes: 0 every file there (GPQA, which no source here serves, is only "
                                "listed); 3 the source cannot be reached (it stops at the first file instead of "
                                "retrying each); 4 some files failed (re-run to resume) or the source lacks some."))
    d.add_argument("--out", default=None,
                   help="the tasks dir to write (default $DCBENCH_EVAL_DATA or ~/.cache/dcbench/eval/local_data)")
    d.add_argument("--base-url", default=DEFAULT_BASE_URL, help="where the task files come from (a file:// mirror works)")
    d.add_argument("--task", action="append", default=None, metavar="NAME",
                   help="only this task or suite (repeat; default every task)")
    d.add_argument("--force", action="store_true", help="fetch again files already there")
    d.set_defaults(func=_download)
    return esub


def _run(args: argparse.Namespace) -> int:
    output = args.output
    if output is None:
        base = Path(args.model)
        output = str((base if base.is_dir() else base.parent) / f"eval_{args.suite.replace('+', '_')}.json")
    if args.suite == "heldout":
        return _run_heldout(args, output)
    if args.heldout or args.pool:
        raise ConfigError("--heldout and --pool go with --suite heldout")
    results = run_suite(args.model, args.suite, tasks_dir=args.tasks_dir, out_path=output, version=args.version,
                        batch_size=args.batch_size, limit=args.limit, tokenizer=args.tokenizer, threads=args.threads,
                        precision=args.precision, seed=args.seed, exclude_contaminated=args.exclude_contaminated)
    print(f"\nresults -> {output}")
    reasons = results.get("incomplete_reasons") or []
    if reasons:
        print(f"eval {args.suite}: INCOMPLETE (exit {RunError.exit_code}): " + "; ".join(reasons), file=sys.stderr)
        return RunError.exit_code
    if results.get("partial"):
        print(f"eval {args.suite}: PARTIAL scores: " + "; ".join(results.get("partial_reasons") or []),
              file=sys.stderr)
    return 0


def _run_heldout(args: argparse.Namespace, output: str) -> int:
    if args.exclude_contaminated:
        raise ConfigError("--exclude-contaminated goes with the task suites (toy, core, ...), not --suite heldout")
    if args.heldout is None:
        raise ConfigError("--suite heldout needs pages to score: pass --heldout FILE.jsonl (repeat it, or name a "
                          "folder); for the toy pool, `dcbench eval toy-suite --out DIR` writes DIR/heldout/")
    results = run_heldout(args.model, args.heldout, pools=args.pool or (), out_path=output,
                          batch_size=args.batch_size, limit=args.limit, tokenizer=args.tokenizer,
                          threads=args.threads, precision=args.precision)
    print(f"\nresults -> {output}")
    if results.get("partial"):
        print("eval heldout: PARTIAL scores: " + "; ".join(results["partial_reasons"]), file=sys.stderr)
    return 0


def _download(args: argparse.Namespace) -> int:
    dest = args.out or str(default_tasks_dir())
    report = download_tasks(dest, base_url=args.base_url, tasks=args.task, force=args.force)
    lacking = [t for t in report.missing if not t.startswith("gpqa")]
    return RunError.exit_code if report.failed or lacking else 0
