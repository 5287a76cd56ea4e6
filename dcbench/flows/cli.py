"""The commands that cross stages, registered beside each stage's own.

`dcbench pool toy`, `dcbench eval toy-suite` and `dcbench mix run` join the
groups the stage CLIs return (users type the same command lines as before);
`dcbench reproduce baseline`, `dcbench plan` and `dcbench contamination` are commands of their own.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dcbench.cliargs import fraction, non_negative_int, parse_overrides, parse_pairs, positive_int
from dcbench.errors import ConfigError
from dcbench.flows.contamination import (
    DEFAULT_EXAMPLES, DEFAULT_FP_RATE, DEFAULT_NGRAM, contamination_report, default_output, format_report)
from dcbench.flows.plan import add_plan_command
from dcbench.flows.toy_setup import DEFAULT_DOCS, DEFAULT_SHARDS, TOY_CLASSIFIER, set_up_toy
from dcbench.flows.toy_suite import build_toy_suite
from dcbench.mixture import load_mixture
from dcbench.tiers import get_tier


def add_commands(sub: argparse._SubParsersAction, *, pool: argparse._SubParsersAction,
                 evaluate: argparse._SubParsersAction, mix: argparse._SubParsersAction) -> None:
    """Add the flows: `pool toy` to `pool`, `toy-suite` to `evaluate` (the eval group), `run` to `mix`,
    and `reproduce` and `plan` to the top level `sub`."""
    _add_pool_toy(pool)
    _add_toy_suite(evaluate)
    _add_mix_run(mix)
    _add_reproduce(sub)
    add_plan_command(sub)
    _add_contamination(sub)


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
    r.add_argument("--seeds", type=positive_int, default=1,
                   help="training seeds per recipe (default 1): the leaderboard shows their mean and 95%% interval, "
                        "and `dcbench compare OUT/A OUT/B` compares two recipes over items and seeds")
    r.add_argument("--store", default=None, help="leaderboard store (default OUT/leaderboard.sqlite)")
    r.set_defaults(func=_reproduce)


def _add_contamination(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser(
        "contamination", help="how many evaluation items a dataset already contains (n-gram overlap per task)",
        description=(
            "For each task of an evaluation suite, the share of its items that share an n-gram (13 tokens by default) "
            "with DATASET. An item's text is the task's context and its gold answer as the task format writes them "
            "(multiple choice: query + continuation delimiter + gold choice; schema: gold context option + "
            "delimiter + continuation; language modeling and generation: context + delimiter + answer), "
            "lower-cased and split as BFF dedup splits text (words and punctuation, whitespace dropped). "
            "A Bloom filter per shard (sized from its text bytes) finds candidate shards in one pass; those are "
            "then read again and only exact token matches count. The report (JSON) keeps every contaminated "
            "item's position, so `dcbench eval --exclude-contaminated REPORT` can score the clean items, and "
            "`dcbench submit` attaches DATASET/contamination.json to the entry."),
        epilog=("example:\n  dcbench contamination runs/dclm_baseline --suite toy --tasks-dir toy_eval\n"
                "  dcbench eval runs/model --suite toy --tasks-dir toy_eval \\\n"
                "      --exclude-contaminated runs/dclm_baseline/contamination.json\n\n"
                "Exit codes: 0 the report is written; 2 a bad option; 3 unusable dataset or task files; "
                "4 shards failed part way."),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("dataset", metavar="DATASET", help="a `dcbench process --out` directory, or any pool "
                                                      "(directory, manifest, glob or shard)")
    c.add_argument("--suite", default="core", choices=["core", "extended", "mmlu", "core+mmlu", "toy"],
                   help="the evaluation suite (default core)")
    c.add_argument("--tasks-dir", default=None, help="its task files, as `dcbench eval --tasks-dir` reads them")
    c.add_argument("--version", default="v2", choices=["v2", "v1"], help="suite version (default v2)")
    c.add_argument("--ngram", type=positive_int, default=DEFAULT_NGRAM,
                   help=f"tokens per n-gram (default {DEFAULT_NGRAM})")
    c.add_argument("--fp-rate", type=fraction, default=None,
                   help=f"the Bloom filters' false-positive rate (default: about 0.01 false hits per shard among the "
                        f"items' n-grams, at most {DEFAULT_FP_RATE}); a false positive costs only an exact re-read "
                        "of a shard, never a wrong count")
    c.add_argument("--examples", type=non_negative_int, default=DEFAULT_EXAMPLES,
                   help=f"example matches kept per task (default {DEFAULT_EXAMPLES})")
    c.add_argument("--workers", type=positive_int, default=None, help="Ray workers (1: no Ray, in this process)")
    c.add_argument("-o", "--output", default=None,
                   help="the report (default DATASET/contamination.json for a local directory, else "
                        "./contamination.json)")
    c.set_defaults(func=_contamination)


def _contamination(args: argparse.Namespace) -> int:
    out = args.output or default_output(args.dataset)
    report = contamination_report(args.dataset, args.suite, args.tasks_dir, n=args.ngram, fp_rate=args.fp_rate,
                                  out_path=out, workers=args.workers, max_examples=args.examples,
                                  version=args.version)
    print(format_report(report))
    print(f"report -> {out}")
    return 0


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

    results = reproduce(tier=args.tier, pool=args.pool, out=args.out, workers=args.workers, max_steps=args.max_steps,
                        seeds=args.seeds)
    store, not_ranked = submit_all(results, args.store or f"{args.out}/leaderboard.sqlite", args.tier)
    print(leaderboard_table(store, args.tier))
    if not_ranked:
        raise not_ranked_error(not_ranked, len(results), args.max_steps, get_tier(args.tier))
    return 0
