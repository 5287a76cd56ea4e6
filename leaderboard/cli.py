"""`dcbench submit`, `dcbench leaderboard [html|import-dclm]`, `dcbench reproduce baseline`."""

from __future__ import annotations

import argparse
import os

DEFAULT_STORE = os.environ.get("DCBENCH_STORE", "leaderboard.sqlite")

LEADERBOARD_EPILOG = """\
examples:
  dcbench leaderboard                          # every tier, ranked by CORE (toy tiers by TOY)
  dcbench leaderboard --tier 7B-1x
  dcbench leaderboard html board.html          # a static page: tables, CORE vs compute, per-task, recipes
  dcbench leaderboard import-dclm exp_data/evals   # DCLM's published results, beside yours
  dcbench leaderboard --store postgresql://host/db   # a shared leaderboard
"""


def add_commands(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("submit", help="check a finished run against its tier's rules and store it",
                       description=("Build the submission (id chain pool -> dataset -> tokens -> model -> eval, recipe, "
                                    "dataset stats, hyperparameters, results), check the tier's rules, and store it. "
                                    "Each rejection names the rule and what to change."))
    s.add_argument("run_dir", help="a `dcbench reproduce` recipe directory (dataset/, tokens/, model/, eval.json), "
                                   "or a train run dir whose eval results sit inside it")
    s.add_argument("--eval", default=None, help="the results JSON, when not found in the run dir")
    s.add_argument("--name", default=None, help="the submission's name (default: the recipe's)")
    s.add_argument("--store", default=DEFAULT_STORE, help=f"SQLite path or postgresql:// URL (default {DEFAULT_STORE})")
    s.set_defaults(func=_submit)

    lb = sub.add_parser("leaderboard", help="show the leaderboard, write it as HTML, import DCLM's results",
                        epilog=LEADERBOARD_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    lb.add_argument("action", nargs="?", default="show", choices=["show", "html", "import-dclm"])
    lb.add_argument("path", nargs="?", help="html: the output file; import-dclm: DCLM's exp_data/evals folder")
    lb.add_argument("--tier", default=None, help="only this tier")
    lb.add_argument("--store", default=DEFAULT_STORE, help=f"SQLite path or postgresql:// URL (default {DEFAULT_STORE})")
    lb.set_defaults(func=_leaderboard)

    r = sub.add_parser("reproduce", help="run the DCLM baseline end to end and rank it",
                       description=("pool -> recipe -> tokenize -> train -> eval -> submit for DCLM-Baseline, "
                                    "RefinedWeb and the unfiltered pool, then print the tier's leaderboard. With no "
                                    "arguments: the embedded toy pool and the toy-250k-1x tier on this machine."))
    r.add_argument("what", choices=["baseline"], help="what to reproduce")
    r.add_argument("--tier", default="toy-250k-1x", help="scale tier (default toy-250k-1x)")
    r.add_argument("--pool", default=None, help="a pool (default: build the embedded toy pool)")
    r.add_argument("--out", default="runs/reproduce", help="working directory (resumable)")
    r.add_argument("--workers", type=int, default=None)
    r.add_argument("--max-steps", type=int, default=None, help="a smoke run (not a full-budget, rankable model)")
    r.add_argument("--store", default=None, help="leaderboard store (default OUT/leaderboard.sqlite)")
    r.set_defaults(func=_reproduce)


def _submit(args: argparse.Namespace) -> int:
    from dcbench.leaderboard.store import Store
    from dcbench.leaderboard.submission import build_submission

    submission = build_submission(args.run_dir, eval_json=args.eval, name=args.name)
    Store(args.store).add(submission)
    print(f"submitted {submission['name']} ({submission['tier']}) -> {args.store}")
    return 0


def _leaderboard(args: argparse.Namespace) -> int:
    from dcbench.errors import ConfigError
    from dcbench.leaderboard.store import Store

    store = Store(args.store)
    if args.action == "import-dclm":
        if not args.path:
            raise ConfigError("leaderboard import-dclm needs DCLM's exp_data/evals folder")
        from dcbench.leaderboard.dclm_import import import_reference_results

        done = import_reference_results(store, args.path)
        print(f"imported {len(done['added'])} DCLM reference results -> {args.store}"
              + (f" ({len(done['skipped'])} skipped)" if done["skipped"] else ""))
        return 0
    rows = store.list(tier=args.tier)
    if args.action == "html":
        if not args.path:
            raise ConfigError("leaderboard html needs an output file, e.g. board.html")
        from dcbench.leaderboard.html import write_leaderboard

        write_leaderboard(rows, args.path)
        print(f"{len(rows)} submissions -> {args.path}")
        return 0
    from dcbench.leaderboard.table import format_leaderboard

    print(format_leaderboard(rows, tier=args.tier))
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from dcbench.leaderboard.reproduce import reproduce
    from dcbench.leaderboard.rules import check, format_rejections
    from dcbench.leaderboard.store import Store
    from dcbench.leaderboard.submission import build_submission
    from dcbench.leaderboard.table import format_leaderboard

    results = reproduce(tier=args.tier, pool=args.pool, out=args.out, workers=args.workers, max_steps=args.max_steps)
    store = Store(args.store or f"{args.out}/leaderboard.sqlite")
    for r in results:
        d = r["dirs"]
        submission = build_submission(dataset_dir=d["dataset"], tokens_dir=d["tokens"], model_dir=d["model"],
                                      eval_json=r["eval_path"], name=r["recipe"])
        rejected = check(submission, store)
        if rejected:
            print(f"{r['recipe']}: not ranked:\n{format_rejections(rejected)}")
            continue
        if not any(row["id"] == submission["id"] for row in store.list(tier=args.tier)):
            store.add(submission)  # a resumed reproduce does not resubmit what is already ranked
    print(format_leaderboard(store.list(tier=args.tier), tier=args.tier))
    return 0
