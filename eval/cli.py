"""`dcbench eval MODEL --suite ...`, `dcbench eval download`, `dcbench eval toy-suite`."""

from __future__ import annotations

import argparse

EPILOG = """\
examples:
  dcbench eval download                                   # LLM-Foundry's task files -> the default tasks dir
  dcbench eval runs/model --suite core -o runs/model/eval_core.json
  dcbench eval runs/model --suite mmlu --tokenizer gpt-neox-20b.json
  dcbench eval toy-suite --out toy_eval                   # the toy suite built from the toy pool's grammar
  dcbench eval runs/model --suite toy --tasks-dir toy_eval

Suites: core (22 tasks), extended (53), mmlu (5-shot, 57 subjects macro-averaged), core+mmlu, toy.
Scores are centered accuracy with DCLM's random baselines (v2 by default, --version v1).
A missing task file marks the aggregate incomplete and names it; it is never averaged away.
"""


def add_commands(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("eval", help="evaluate a model on CORE, EXTENDED, MMLU or the toy suite",
                       description="The fixed evaluator: LLM-Foundry in-context task formats and DCLM's aggregation.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("model", help="a `dcbench train` run dir, a checkpoint, a local Hugging Face model dir; "
                                 "or `download` / `toy-suite`")
    e.add_argument("--suite", default="core", choices=["core", "extended", "mmlu", "core+mmlu", "toy"])
    e.add_argument("--version", default="v2", choices=["v2", "v1"], help="random baselines (default v2)")
    e.add_argument("--tasks-dir", default=None, help="task files (LLM-Foundry local_data layout, or a toy suite dir)")
    e.add_argument("-o", "--output", default=None, help="results JSON (default: beside the model)")
    e.add_argument("--tokenizer", default=None, help="tokenizer.json, when the model's is not beside its tokens")
    e.add_argument("--batch-size", type=int, default=8)
    e.add_argument("--limit", type=int, default=None, help="score only the first N examples a task (a smoke run)")
    e.add_argument("--base-url", default=None, help="with `download`: where the task files come from")
    e.add_argument("--out", default=None, help="with `download` / `toy-suite`: the directory to write")
    e.add_argument("--seed", type=int, default=0, help="with `toy-suite`: the generator seed")
    e.set_defaults(func=_eval)


def _eval(args: argparse.Namespace) -> int:
    if args.model == "download":
        return _download(args)
    if args.model == "toy-suite":
        from dcbench.eval.toy import build_toy_suite

        out = args.out or "toy_eval"
        suite = build_toy_suite(out, seed=args.seed)
        print(f"toy suite: {len(suite.get('tasks', suite))} tasks -> {out}")
        return 0
    from pathlib import Path

    from dcbench.eval.runner import run_suite

    output = args.output
    if output is None:
        base = Path(args.model)
        output = str((base if base.is_dir() else base.parent) / f"eval_{args.suite.replace('+', '_')}.json")
    results = run_suite(args.model, args.suite, tasks_dir=args.tasks_dir, out_path=output, version=args.version,
                        batch_size=args.batch_size, limit=args.limit, tokenizer=args.tokenizer)
    print(f"\nresults -> {output}" + ("" if results.get("complete") else "  (incomplete: see 'missing')"))
    return 0


def _download(args: argparse.Namespace) -> int:
    from dcbench.eval.download import DEFAULT_BASE_URL, download_tasks
    from dcbench.eval.runner import default_tasks_dir

    dest = args.out or str(default_tasks_dir())
    report = download_tasks(dest, base_url=args.base_url or DEFAULT_BASE_URL)
    print(report.summary() if hasattr(report, "summary") else report)
    return 0
