"""`dcbench submit` and `dcbench leaderboard [html|import-dclm]`.

`dcbench reproduce baseline` runs every stage before it submits, so it is a
flow: `dcbench.flows.cli` registers it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from dcbench.errors import ConfigError, DataError
from dcbench.leaderboard.dclm_import import import_reference_results
from dcbench.leaderboard.html import with_documents, write_leaderboard
from dcbench.leaderboard.rules import marks
from dcbench.leaderboard.store import Store
from dcbench.leaderboard.submission import build_submission
from dcbench.leaderboard.table import format_leaderboard
from dcbench.table import printable
from dcbench.tiers import get_tier

DEFAULT_STORE = os.environ.get("DCBENCH_STORE", "leaderboard.sqlite")

LEADERBOARD_EPILOG = """\
examples:
  dcbench leaderboard                          # every tier, ranked by CORE (toy tiers by TOY)
  dcbench leaderboard --tier 7B-1x
  dcbench leaderboard html board.html          # a static page: tables, CORE vs compute, per-task, recipes
  dcbench leaderboard import-dclm exp_data/evals   # DCLM's published results, beside yours
  dcbench leaderboard --store postgresql://host/db   # a shared leaderboard

Exit codes: 0 ok; 2 an unknown --tier or a bad option; 3 no leaderboard at --store (`dcbench submit`
creates one).
"""

SUBMIT_EPILOG = """\
examples:
  dcbench submit runs/model                 # a `dcbench train --out` directory, evaluated by `dcbench eval`
  dcbench submit runs/reproduce/dclm_baseline
  dcbench submit runs/model --eval results.json --dataset runs/dclm_baseline

The entry is named after its recipe and carries it: model -> its tokens (recorded by `dcbench train`)
-> their dataset (recorded by `dcbench tokenize`) -> the recipe in the dataset's manifest.
Evaluation results are found where `dcbench eval` writes them (eval_<suite>.json beside the model).

Exit codes: 0 stored; 2 a bad option; 3 the run cannot be ranked: an artefact is missing, or a rule of
the tier rejects it (model, budget, tokenizer, suite, id chain, duplicate). Each rejection names the
rule and what to change.
"""


def add_commands(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("submit", help="check a finished run against its tier's rules and store it",
                       description=("Build the submission (id chain pool -> dataset -> tokens -> model -> eval, recipe, "
                                    "dataset stats, hyperparameters, results), check the tier's rules, and store it. "
                                    "Each rejection names the rule and what to change."),
                       epilog=SUBMIT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("run_dir", metavar="RUN", help="a `dcbench train --out` directory (or a `dcbench reproduce` "
                                                  "recipe directory: dataset/, tokens/, model/, eval/)")
    s.add_argument("--eval", default=None, help="the results JSON (default: what `dcbench eval` wrote beside the model)")
    s.add_argument("--dataset", default=None,
                   help="the `dcbench process --out` directory (default: the one the tokens record)")
    s.add_argument("--tokens", default=None, help="the `dcbench tokenize -o` directory (default: the one the model "
                                                  "records)")
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
    submission = build_submission(args.run_dir, eval_json=args.eval, dataset_dir=args.dataset,
                                  tokens_dir=args.tokens, name=args.name)
    with Store(args.store) as store:
        store.add(submission)  # a rejection raises DataError: exit 3, every rule's message
        row = next(r for r in store.list(tier=submission["tier"]) if r["id"] == submission["id"])
    score = f"{row['rank_by'].upper()} {100 * row['score']:.1f}" if row["score"] is not None else "no score"
    epochs = submission["model"].get("epochs")
    passes = f", trained {epochs:.1f} epochs over its data" if epochs else ""
    noted = "".join(f" [{m}]" for m in marks(submission))  # e.g. a toy score evaluated in bf16
    print(f"submitted {printable(submission['name'])} ({submission['tier']}): {score}{noted}, "
          f"rank {row['rank']}{passes} -> {args.store}")
    return 0


def _existing_store(url: str) -> Store:
    """A store to read: a SQLite file that is not there is an error, not a new empty leaderboard."""
    path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else url
    if "://" not in path and path != ":memory:" and not Path(path).is_file():
        raise DataError(f"no leaderboard at {url}: `dcbench submit RUN --store {url}` creates it (or check --store)")
    return Store(url)


def _leaderboard(args: argparse.Namespace) -> int:
    store = Store(args.store) if args.action == "import-dclm" else _existing_store(args.store)
    if args.action == "import-dclm":
        if not args.path:
            raise ConfigError("leaderboard import-dclm needs DCLM's exp_data/evals folder")
        done = import_reference_results(store, args.path)
        print(f"imported {len(done['added'])} DCLM reference results -> {args.store}"
              + (f" ({len(done['skipped'])} skipped)" if done["skipped"] else ""))
        return 0
    rows = store.list(tier=args.tier)
    if args.tier is not None and not rows:
        get_tier(args.tier)  # an unknown tier (a typo) is a ConfigError listing the known ones
    if args.action == "html":
        if not args.path:
            raise ConfigError("leaderboard html needs an output file, e.g. board.html")
        write_leaderboard(with_documents(store, rows), args.path)  # per-task results and recipes
        print(f"{len(rows)} submissions -> {args.path}")
        return 0
    print(format_leaderboard(rows, tier=args.tier))
    return 0
