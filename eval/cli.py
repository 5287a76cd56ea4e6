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
from dcbench.errors import RunError

from dcbench.eval.download import DEFAULT_BASE_URL, download_tasks
from dcbench.eval.runner import default_tasks_dir, run_suite

SUITES = ["core", "extended", "mmlu", "core+mmlu", "toy"]

EPILOG = """\
examples:
  dcbench eval download                                   # LLM-Foundry's task files -> the default tasks dir
  dcbench eval runs/model --suite core -o runs/model/eval_core.json
  dcbench eval runs/model --suite mmlu --tokenizer gpt-neox-20b.json
  dcbench eval toy-suite --out toy_eval                   # the toy suite built from the toy pool's grammar
  dcbench eval runs/model --suite toy --tasks-dir toy_eval

`dcbench eval MODEL ...` is short for `dcbench eval run MODEL ...`.
Suites: core (22 tasks), extended (53), mmlu (5-shot, 57 subjects macro-averaged), core+mmlu, toy.
Scores are centered accuracy with DCLM's random baselines (v2 by default, --version v1).
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
    results = run_suite(args.model, args.suite, tasks_dir=args.tasks_dir, out_path=output, version=args.version,
                        batch_size=args.batch_size, limit=args.limit, tokenizer=args.tokenizer, threads=args.threads,
                        precision=args.precision, seed=args.seed)
    print(f"\nresults -> {output}")
    reasons = results.get("incomplete_reasons") or []
    if reasons:
        print(f"eval {args.suite}: INCOMPLETE (exit {RunError.exit_code}): " + "; ".join(reasons), file=sys.stderr)
        return RunError.exit_code
    if results.get("partial"):
        print(f"eval {args.suite}: PARTIAL scores: " + "; ".join(results.get("partial_reasons") or []),
              file=sys.stderr)
    return 0


def _download(args: argparse.Namespace) -> int:
    dest = args.out or str(default_tasks_dir())
    report = download_tasks(dest, base_url=args.base_url, tasks=args.task, force=args.force)
    lacking = [t for t in report.missing if not t.startswith("gpqa")]
    return RunError.exit_code if report.failed or lacking else 0
