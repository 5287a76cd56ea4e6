"""`dcbench process` (run a recipe over a pool on Ray) and `dcbench steps`."""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

import fsspec
from tqdm import tqdm

from dcbench.baselines.diff import diff_runs, format_diff, write_html
from dcbench.baselines.plugins import load_plugin
from dcbench.baselines.quality.fasttext_quality import train
from dcbench.baselines.recipe import load_recipe
from dcbench.baselines.registry import all_steps, get
from dcbench.cliargs import fraction, non_negative_int, positive_float, positive_int
from dcbench.contracts import DocLabels
from dcbench.errors import ConfigError
from dcbench.poolref import pool_dir
from dcbench.report import format_precision_recall, format_summary, render_html
from dcbench.runner import run
from dcbench.stepstats import describe_targets
from dcbench.table import format_table

PROCESS_EPILOG = """\
examples:
  dcbench process baselines/recipes/refinedweb.yaml --pool pool/ --out runs/rw
  dcbench process baselines/recipes/dclm_baseline.yaml --pool s3://bucket/pool/manifest.json \\
      --out s3://bucket/runs/dclm --address auto
  dcbench process dclm_baseline_refinedweb.yaml --source-name cc ...   # DCLM's own YAML works too
  dcbench process my_recipe.yaml --plugin my_filters.py --pool pool/ --out runs/mine   # your own steps

Re-running the same command resumes: finished shards are skipped, failed ones redone.
Outputs: data/ (kept documents), quarantine/ (bad records with reasons), removed/ (every
removed page: pool shard, position, url, step and why), stats/, stats.json, manifest.json
(with the dataset's content id) and report.html. `dcbench diff RUN_A RUN_B` compares two runs.
"""


def add_commands(sub: argparse._SubParsersAction, labels: DocLabels | None = None) -> None:
    """`labels`: a pool's ground truth for `process` to count each step against (see `dcbench.contracts`)."""
    p = sub.add_parser(
        "process",
        help="apply a filtering recipe to a pool on Ray",
        description="Run a recipe's steps over every shard of a pool, one Ray task per shard.",
        epilog=PROCESS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("recipe", help="recipe YAML (ours, or DCLM's baselines_configs format)")
    p.add_argument("--pool", required=True, help="directory of shards, manifest.json, glob, or shard; any fsspec URI")
    p.add_argument("--out", required=True, help="output directory (local or fsspec URI)")
    p.add_argument("--workers", type=positive_int, default=None, help="shards processed at once (default: all CPUs)")
    p.add_argument("--address", default=None, help="join an existing Ray cluster (e.g. 'auto' or 'ray://host:10001')")
    p.add_argument("--format", default="jsonl.gz", choices=["jsonl", "jsonl.gz", "jsonl.zst", "parquet"],
                   help="output shard format (default jsonl.gz)")
    p.add_argument("--source-name", default=None, help="which source block of a DCLM-format recipe to run")
    p.add_argument("--max-retries", type=non_negative_int, default=2, help="retries of a failed shard (default 2)")
    p.add_argument("--max-quarantine", type=fraction, default=0.05,
                   help="fail when more than this fraction of records is quarantined (default 0.05)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_plugin_option(p)
    p.set_defaults(func=_process, labels=labels)

    q = sub.add_parser(
        "quality", help="train a fastText quality classifier (DCLM's settings)",
        description="Quality classifiers for the classify_fasttext_hq_prob_enricher step.")
    qsub = q.add_subparsers(dest="quality_command", metavar="QUALITY_COMMAND")
    qsub.required = True
    t = qsub.add_parser(
        "train", help="train POS (high quality) against NEG (raw pool) documents",
        description=("Train a supervised fastText classifier with DCLM's settings: word bigrams, lr 0.1, dim 100, "
                     "epoch 5, minCount 1, seed 42. POS and NEG are shards (jsonl[.gz|.zst], parquet; field text), "
                     "directories of shards, or fastText-format .txt files (lines '__label__x text')."),
        epilog="example:\n  dcbench quality train toy_pool/reference/hq.jsonl toy_pool -o hq_vs_pool.bin --bucket 100000",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("pos", nargs="+", help="high-quality documents (label __label__hq)")
    t.add_argument("neg", help="raw pool documents (label __label__cc): a shard, .txt or directory")
    t.add_argument("-o", "--output", required=True, help="model path (.bin)")
    t.add_argument("--epoch", type=positive_int, default=5)
    t.add_argument("--lr", type=positive_float, default=0.1)
    t.add_argument("--dim", type=positive_int, default=100)
    t.add_argument("--word-ngrams", type=positive_int, default=2)
    t.add_argument("--bucket", type=positive_int, default=2_000_000,
                   help="hash buckets (default 2M as DCLM: an 800 MB model; 100k gives ~40 MB)")
    t.add_argument("--seed", type=non_negative_int, default=42)
    t.add_argument("--valid", default=None, help="a held-out file to report precision@1 on")
    t.set_defaults(func=_quality_train)

    s = sub.add_parser("steps", help="list the registered recipe steps and their parameters",
                       description=("Every step a recipe may name, with its parameters, types, defaults, accepted ranges "
                                    "and rules."))
    s.add_argument("name", nargs="?", help="show one step in full")
    _add_plugin_option(s)
    s.set_defaults(func=_steps)

    d = sub.add_parser(
        "diff", help="documents one processing run kept and another removed, by the step that removed them",
        description=("Compare two `dcbench process` outputs of the same pool: the documents kept by one run and "
                     "removed by the other (matched by pool shard and position), grouped by the step that removed "
                     "them, with counts and samples: url, why the step removed it (the rule's measured value "
                     "against its threshold, for steps that say) and the start of its text."),
        epilog="example:\n  dcbench diff runs/rw runs/rw_no_stopwords --html diff.html",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("run_a", metavar="RUN_A", help="a `dcbench process` --out folder")
    d.add_argument("run_b", metavar="RUN_B", help="another, of the same pool")
    d.add_argument("--html", metavar="FILE", default=None, help="also write the diff as an HTML page")
    d.add_argument("--samples", type=non_negative_int, default=3, help="samples shown per step (default 3)")
    d.set_defaults(func=_diff)


def _add_plugin_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="load your own steps: an importable module or a .py file that registers steps with "
                        "@step (repeatable; installed packages can use the 'dcbench.steps' entry point instead)")


def _process(args: argparse.Namespace) -> int:
    recipe = load_recipe(args.recipe, source_name=args.source_name, variables={"pool": pool_dir(args.pool)},
                         plugins=tuple(args.plugin))
    for plugin in recipe.plugins:
        print(f"plugin {plugin.origin or plugin.module} (sha256 {plugin.digest[:12]}): steps "
              f"{', '.join(s.func for s in recipe.steps if s.spec.module == plugin.module)}", file=sys.stderr)
    bar = None
    docs = [0]

    def progress(done: int, total: int, stats: dict | None) -> None:
        nonlocal bar
        if args.quiet:
            return
        if bar is None:
            bar = tqdm(total=total, initial=done, unit="shard", desc=f"process {recipe.name}", file=sys.stderr)
            return
        docs[0] += stats["records"] if stats else 0
        bar.update(1)
        bar.set_postfix(docs=f"{docs[0]:,}", refresh=False)

    try:
        result = run(recipe, args.pool, args.out, workers=args.workers, address=args.address, fmt=args.format,
                     max_retries=args.max_retries, max_quarantine=args.max_quarantine, progress=progress,
                     labels=args.labels)
    finally:
        if bar is not None:
            bar.close()
    print(format_summary(result.stats))
    pr = format_precision_recall(result.stats)
    if pr:
        print("\n" + pr)
    with fsspec.open(f"{result.out_dir}/report.html", "w", encoding="utf-8") as f:
        f.write(render_html(result.stats, f"dcbench: {recipe.name} on {result.manifest.extra['pool_name']}"))
    print(f"\ndataset {result.manifest.id}: {result.manifest.documents:,} documents -> {result.out_dir}/ "
          f"(report.html, manifest.json)")
    return 0


def _diff(args: argparse.Namespace) -> int:
    result = diff_runs(args.run_a, args.run_b, samples=args.samples)
    print(format_diff(result))
    if args.html:
        write_html(result, args.html)
        print(f"\nwrote {args.html}")
    return 0


def _expand_inputs(paths: list[str]) -> list[str]:
    out: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out.extend(str(f) for f in sorted(path.rglob("*")) if f.is_file() and f.name != "manifest.json"
                       and any(f.name.endswith(x) for x in (".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet")))
        else:
            out.append(p)
    return out


def _quality_train(args: argparse.Namespace) -> int:
    pos, neg = _expand_inputs(args.pos), _expand_inputs([args.neg])
    if not pos or not neg:
        raise ConfigError("quality train: no input documents found in POS or NEG")
    report = train(pos, neg, args.output, lr=args.lr, dim=args.dim, epoch=args.epoch, word_ngrams=args.word_ngrams,
                   bucket=args.bucket, seed=args.seed, valid=args.valid)
    counts = ", ".join(f"{k} {v:,}" for k, v in report.label_counts.items())
    print(f"trained {report.model_path} on {report.train_examples:,} examples ({counts}) in {report.seconds:.1f} s; "
          f"train precision@1 {report.train_precision_at_1:.3f}"
          + (f"; valid precision@1 {report.precision_at_1:.3f} on {report.valid_examples:,}" if report.valid_examples else "")
          + (f"; skipped {report.skipped_empty} empty, {report.skipped_bad} unreadable" if report.skipped_empty or report.skipped_bad else ""))
    return 0


def _steps(args: argparse.Namespace) -> int:
    for spec in args.plugin:
        load_plugin(spec)
    if args.name:
        spec = get(args.name, "dcbench steps")
        print(f"{spec.name} ({spec.kind})\n\n{inspect.getdoc(spec.factory) or ''}\n\nparameters:")
        for p in spec.params.values():
            print(f"  {p.describe()}")
        if spec.rules:
            print("\nrules:\n" + "\n".join(f"  {r.text}" for r in spec.rules))
        print("\ntext: " + ("any shape (a string, a list of lines, or absent)" if spec.any_text else
                            "a string; pages whose text is a list or absent are quarantined before this step"))
        if spec.targets:
            print(f"\ntargets (toy-pool labels): {describe_targets(spec.targets)}")
        if not spec.builtin:
            print(f"\nfrom plugin {spec.module}")
        return 0
    rows = [(spec.name if spec.builtin else f"{spec.name} (plugin)", spec.kind, spec.summary)
            for spec in all_steps().values()]
    print(format_table(("step", "kind", "summary"), rows))
    print("\nparameters, their defaults and accepted values: dcbench steps NAME")
    return 0
