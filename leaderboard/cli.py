"""`dcbench submit`, `dcbench leaderboard [html|import-dclm]` and `dcbench compare A B`.

`dcbench reproduce baseline` runs every stage before it submits, so it is a
flow: `dcbench.flows.cli` registers it.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from dcbench.cliargs import non_negative_int, positive_int
from dcbench.errors import ConfigError, DataError
from dcbench.leaderboard.compare import DEFAULT_SAMPLES, METRICS, compare_runs, format_comparison, load_side
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
                                               # seeds of one dataset: one entry, mean and 95% interval
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


COMPARE_EPILOG = f"""\
examples:
  dcbench compare runs/a/eval_toy.json runs/b/eval_toy.json      # two results files
  dcbench compare runs/reproduce/dclm_baseline runs/reproduce/unfiltered   # every seed of each
  dcbench compare submission-0123456789abcdef dataset-fedcba9876543210 --store board.sqlite
  dcbench compare A B --metric p_correct --json

A and B are each a results JSON (what `dcbench eval` wrote), a directory (a `dcbench train --out`
directory, or one holding several runs: every seed found below it), or a leaderboard id (a submission,
or a dataset id: all its seeds on the leaderboard). Both must be evaluated on the same task files.

How it decides: a task's score is the mean of the metric over its items (averaged over seeds); the
aggregate is TOY or CORE (mean centered accuracy over the ranked tasks; for other metrics the plain
mean). The paired bootstrap ({DEFAULT_SAMPLES:,} samples by default, --seed fixes them) draws the items
of each task with replacement, the same items for A and B, and each side's seeds with replacement.
Its 2.5%-97.5% percentiles are the interval of A - B; P(A better) is the share of samples where A
wins (ties half). Verdict: "A better" / "B better" when the interval excludes 0, else "no detectable
difference at this size" with the items needed to see the observed difference (95% confidence, 80%
power): n x ((1.96 + 0.84) x se / |d|)^2, se the bootstrap standard error, d the difference.
With one run a side the interval covers the items only, not another training seed; with 2-3 seeds
redrawing them understates the seed spread: train more seeds to be sure of a small gap.

Exit codes: 0 compared (whatever the verdict); 2 a bad option; 3 a side cannot be read or the two
cannot be paired (other suites or task files, no per-item values: re-run `dcbench eval`).
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
    s.add_argument("--contamination", default=None, metavar="FILE",
                   help="the dataset's `dcbench contamination` report (default: DATASET/contamination.json when "
                        "present); its per-task shares go on the leaderboard")
    s.add_argument("--store", default=DEFAULT_STORE, help=f"SQLite path or postgresql:// URL (default {DEFAULT_STORE})")
    s.set_defaults(func=_submit)

    lb = sub.add_parser("leaderboard", help="show the leaderboard, write it as HTML, import DCLM's results",
                        epilog=LEADERBOARD_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    lb.add_argument("action", nargs="?", default="show", choices=["show", "html", "import-dclm"])
    lb.add_argument("path", nargs="?", help="html: the output file; import-dclm: DCLM's exp_data/evals folder")
    lb.add_argument("--tier", default=None, help="only this tier")
    lb.add_argument("--store", default=DEFAULT_STORE, help=f"SQLite path or postgresql:// URL (default {DEFAULT_STORE})")
    lb.set_defaults(func=_leaderboard)

    c = sub.add_parser("compare", help="is A's data better than B's? paired bootstrap over items (and seeds)",
                       description=("Per-task and aggregate differences A - B with paired bootstrap intervals over "
                                    "evaluation items (and seeds), P(A better) and a plain verdict."),
                       epilog=COMPARE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("a", metavar="A", help="results JSON, run directory or leaderboard id")
    c.add_argument("b", metavar="B", help="results JSON, run directory or leaderboard id")
    c.add_argument("--metric", default="correct", choices=list(METRICS),
                   help="per-item value compared: " + "; ".join(f"{k}: {v[0]}" for k, v in METRICS.items())
                        + " (default correct)")
    c.add_argument("--samples", type=positive_int, default=DEFAULT_SAMPLES,
                   help=f"bootstrap samples (default {DEFAULT_SAMPLES}; at least 100)")
    c.add_argument("--seed", type=non_negative_int, default=0, help="bootstrap seed (default 0): reruns print the same")
    c.add_argument("--json", action="store_true", help="print the comparison as JSON")
    c.add_argument("--store", default=DEFAULT_STORE,
                   help=f"where leaderboard ids are looked up (default {DEFAULT_STORE})")
    c.set_defaults(func=_compare)


def _submit(args: argparse.Namespace) -> int:
    submission = build_submission(args.run_dir, eval_json=args.eval, dataset_dir=args.dataset,
                                  tokens_dir=args.tokens, name=args.name, contamination=args.contamination)
    with Store(args.store) as store:
        store.add(submission)  # a rejection raises DataError: exit 3, every rule's message
        row = next(r for r in store.list(tier=submission["tier"]) if r["id"] == submission["id"])
    score = f"{row['rank_by'].upper()} {100 * row['score']:.1f}" if row["score"] is not None else "no score"
    epochs = submission["model"].get("epochs")
    passes = f", trained {epochs:.1f} epochs over its data" if epochs else ""
    noted = "".join(f" [{m}]" for m in marks(submission))  # e.g. a toy score evaluated in bf16
    seed = submission["model"].get("seed")
    print(f"submitted {printable(submission['name'])} ({submission['tier']}): {score}{noted}"
          f"{f', training seed {seed}' if seed is not None else ''}, rank {row['rank']}{passes} -> {args.store}")
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
    print(format_leaderboard(with_documents(store, rows), tier=args.tier))  # documents: per-item separability
    return 0


def _compare(args: argparse.Namespace) -> int:
    store = None
    if not (Path(args.a).exists() and Path(args.b).exists()):
        path = args.store[len("sqlite:///"):] if args.store.startswith("sqlite:///") else args.store
        store = _existing_store(args.store) if "://" in path or Path(path).is_file() else None
    try:
        a, b = load_side(args.a, store), load_side(args.b, store)
        result = compare_runs(a, b, metric=args.metric, samples=args.samples, seed=args.seed)
    finally:
        if store is not None:
            store.close()
    if args.json:
        print(json.dumps({"A": args.a, "B": args.b, **result.as_dict()}, indent=2))
    else:
        print(format_comparison(result, args.a, args.b))
    return 0
