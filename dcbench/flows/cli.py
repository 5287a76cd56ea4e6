"""The commands that cross stages, registered beside each stage's own.

`dcbench pool toy`, `dcbench eval toy-suite` and `dcbench mix run` join the
groups the stage CLIs return (users type the same command lines as before);
`dcbench reproduce baseline` is a command of its own.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dcbench.cliargs import non_negative_int, parse_overrides, parse_pairs, positive_int
from dcbench.errors import ConfigError
from dcbench.flows.toy_setup import DEFAULT_DOCS, DEFAULT_SHARDS, TOY_CLASSIFIER, set_up_toy
from dcbench.flows.toy_suite import build_toy_suite
from dcbench.mixture import load_mixture
from dcbench.tiers import get_tier


def add_commands(sub: argparse._SubParsersAction, *, pool: argparse._SubParsersAction,
                 evaluate: argparse._SubParsersAction, mix: argparse._SubParsersAction) -> None:
    """Add the flows: `pool toy` to `pool`, `toy-suite` to `evaluate` (the eval group), `run` to `mix`,
    and `reproduce` to the top level `sub`."""
    _add_pool_toy(pool)
    _add_toy_suite(evaluate)
    _add_mix_run(mix)
    _add_reproduce(sub)


def _add_pool_toy(pool: argparse._SubParsersAction) -> None:
    toy = pool.add_parser(
        "toy",
        help="generate the embedded toy pool with planted, labelled defects",
        description=(
            "Generate a pool deterministically from a seed: clean prose plus planted defects "
            "(boilerplate, spam URLs, non-English, bullets, repetition, duplicates, too short/long). "
            "Every document carries its ground truth in `planted`, so each filter's precision and "
            "recall can be measured. Also writes reference/hq.jsonl, a small high-quality set for "
            f"training a quality classifier, trains one on it ({TOY_CLASSIFIER}), and writes the toy "
            "evaluation suite (eval/)."
        ),
    )
    toy.add_argument("--out", required=True, help="output directory (shards, manifest.json, reference/, eval/)")
    toy.add_argument("--docs", type=positive_int, default=DEFAULT_DOCS,
                     help=f"number of pool documents (default {DEFAULT_DOCS})")
    toy.add_argument("--shards", type=positive_int, default=DEFAULT_SHARDS,
                     help=f"number of shards (default {DEFAULT_SHARDS})")
    toy.add_argument("--seed", type=non_negative_int, default=0, help="generator seed (default 0)")
    toy.add_argument("--no-classifier", action="store_true",
                     help=f"skip training {TOY_CLASSIFIER} (reference set vs pool, DCLM's fastText settings)")
    toy.set_defaults(func=_pool_toy)


def _add_toy_suite(evaluate: argparse._SubParsersAction) -> None:
    t = evaluate.add_parser(
        "toy-suite", help="write the toy evaluation suite (for the small tiers; no download)",
        description=("Write the toy suite's task files and suite.json: zero-shot tasks drawn from the toy pool's "
                     "language on streams no pool uses, so they are held out. Same seed -> identical files."),
        epilog="example:\n  dcbench eval toy-suite --out toy_eval\n"
               "  dcbench eval runs/model --suite toy --tasks-dir toy_eval",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--out", default="toy_eval", help="the suite directory to write (default toy_eval)")
    t.add_argument("--seed", type=non_negative_int, default=0, help="the generator seed (default 0)")
    t.set_defaults(func=_toy_suite)


def _add_mix_run(mix: argparse._SubParsersAction) -> None:
    r = mix.add_parser("run", help="tokenize, train and validate one small model per mixture",
                       description=("For each mixture file in MIXTURES: tokenize with one shared tokenizer, "
                                    "train the tier, and record the loss on each validation domain in "
                                    "OUT/runs.jsonl. Finished mixtures are skipped on a re-run."))
    r.add_argument("mixtures", help="a folder of mixture files (from `mix propose`) or one file")
    r.add_argument("--valid", action="append", required=True, metavar="DOMAIN=DATASET",
                   help="a validation domain and its held-out documents (repeat)")
    r.add_argument("--tier", required=True, help="the scale tier every run trains")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="tier override for every run, e.g. multiplier=0.25 (runs are off-leaderboard)")
    r.add_argument("--tokenizer", default=None, help="tokenizer.json (default: the tier's own)")
    r.add_argument("--workers", type=positive_int, default=None, help="Ray workers for tokenizing")
    r.add_argument("-o", "--out", required=True, help="experiment folder")
    r.set_defaults(func=_mix_run)


def _add_reproduce(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("reproduce", help="run the DCLM baseline end to end and rank it",
                       description=("pool -> recipe -> tokenize -> train -> eval -> submit for DCLM-Baseline, "
                                    "RefinedWeb and the unfiltered pool, then print the tier's leaderboard. With no "
                                    "arguments: the embedded toy pool and the toy-250k-1x tier on this machine."),
                       epilog=("Exit codes: 0 every run ranked; 2 a bad option or recipe; 3 a run was not ranked "
                               "(its rejections are printed; --max-steps runs never are) or the pool is unusable; "
                               "4 work failed part way (re-run to resume)."))
    r.add_argument("what", choices=["baseline"], help="what to reproduce")
    r.add_argument("--tier", default="toy-250k-1x", help="scale tier (default toy-250k-1x)")
    r.add_argument("--pool", default=None, help="a pool (default: build the embedded toy pool)")
    r.add_argument("--out", default="runs/reproduce", help="working directory (resumable)")
    r.add_argument("--workers", type=positive_int, default=None)
    r.add_argument("--max-steps", type=positive_int, default=None,
                   help="a smoke run: not a full-budget model, so not ranked (exit code 3)")
    r.add_argument("--store", default=None, help="leaderboard store (default OUT/leaderboard.sqlite)")
    r.set_defaults(func=_reproduce)


def _pool_toy(args: argparse.Namespace) -> int:
    set_up_toy(args.out, n_docs=args.docs, n_shards=args.shards, seed=args.seed, classifier=not args.no_classifier)
    return 0


def _toy_suite(args: argparse.Namespace) -> int:
    suite = build_toy_suite(args.out, seed=args.seed)
    print(f"toy suite: {len(suite['tasks'])} tasks -> {args.out}")
    return 0


def _mix_run(args: argparse.Namespace) -> int:
    # deferred: the flow trains with torch (~2 s measured) on Ray; --help must not pay it
    from dcbench.flows.mixing import run_mixtures

    src = Path(args.mixtures)
    files = sorted(src.glob("*.yaml")) if src.is_dir() else [src]
    if not files:
        raise ConfigError(f"no mixture files (*.yaml) in {src}; write some with `dcbench mix propose`")
    mixtures = {f.stem: load_mixture(f) for f in files}
    runs = run_mixtures(mixtures, parse_pairs(args.valid, "--valid"), args.tier, args.out, tokenizer=args.tokenizer,
                        overrides=parse_overrides(args.set) or None, workers=args.workers)
    print(f"{len(runs)} runs -> {Path(args.out) / 'runs.jsonl'}")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    # deferred: the flow trains with torch (~2 s measured) on Ray; --help must not pay it
    from dcbench.flows.reproduce import leaderboard_table, not_ranked_error, reproduce, submit_all

    results = reproduce(tier=args.tier, pool=args.pool, out=args.out, workers=args.workers, max_steps=args.max_steps)
    store, not_ranked = submit_all(results, args.store or f"{args.out}/leaderboard.sqlite", args.tier)
    print(leaderboard_table(store, args.tier))
    if not_ranked:
        raise not_ranked_error(not_ranked, len(results), args.max_steps, get_tier(args.tier))
    return 0
