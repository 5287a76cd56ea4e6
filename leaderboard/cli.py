"""`dcbench submit` and `dcbench leaderboard [html|import-dclm]`.

`dcbench reproduce baseline` runs every stage before it submits, so it is a
flow: `dcbench.flows.cli` registers it.
"""

from __future__ import annotations

import argparse
import os

from dcbench.errors import ConfigError
from dcbench.leaderboard.dclm_import import import_reference_results
from dcbench.leaderboard.html import with_documents, write_leaderboard
from dcbench.leaderboard.store import Store
from dcbench.leaderboard.submission import build_submission
from dcbench.leaderboard.table import format_leaderboard

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


def _submit(args: argparse.Namespace) -> int:
    submission = build_submission(args.run_dir, eval_json=args.eval, name=args.name)
    Store(args.store).add(submission)
    print(f"submitted {submission['name']} ({submission['tier']}) -> {args.store}")
    return 0


def _leaderboard(args: argparse.Namespace) -> int:
    store = Store(args.store)
    if args.action == "import-dclm":
        if not args.path:
            raise ConfigError("leaderboard import-dclm needs DCLM's exp_data/evals folder")
        done = import_reference_results(store, args.path)
        print(f"imported {len(done['added'])} DCLM reference results -> {args.store}"
              + (f" ({len(done['skipped'])} skipped)" if done["skipped"] else ""))
        return 0
    rows = store.list(tier=args.tier)
    if args.action == "html":
        if not args.path:
            raise ConfigError("leaderboard html needs an output file, e.g. board.html")
        write_leaderboard(with_documents(store, rows), args.path)  # per-task results and recipes
        print(f"{len(rows)} submissions -> {args.path}")
        return 0
    print(format_leaderboard(rows, tier=args.tier))
    return 0
