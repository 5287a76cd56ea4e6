"""`dcbench process` (run a recipe over a pool on Ray) and `dcbench steps`."""

from __future__ import annotations

import argparse
import sys

PROCESS_EPILOG = """\
examples:
  dcbench process baselines/recipes/refinedweb.yaml --pool pool/ --out runs/rw
  dcbench process baselines/recipes/dclm_baseline.yaml --pool s3://bucket/pool/manifest.json \\
      --out s3://bucket/runs/dclm --address auto
  dcbench process dclm_baseline_refinedweb.yaml --source-name cc ...   # DCLM's own YAML works too

Re-running the same command resumes: finished shards are skipped, failed ones redone.
Outputs: data/ (kept documents), quarantine/ (bad records with reasons), stats/,
stats.json, manifest.json (with the dataset's content id) and report.html.
"""


def add_commands(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--workers", type=int, default=None, help="shards processed at once (default: all CPUs)")
    p.add_argument("--address", default=None, help="join an existing Ray cluster (e.g. 'auto' or 'ray://host:10001')")
    p.add_argument("--format", default="jsonl.gz", choices=["jsonl", "jsonl.gz", "jsonl.zst", "parquet"],
                   help="output shard format (default jsonl.gz)")
    p.add_argument("--source-name", default=None, help="which source block of a DCLM-format recipe to run")
    p.add_argument("--max-retries", type=int, default=2, help="retries of a failed shard (default 2)")
    p.add_argument("--max-quarantine", type=float, default=0.05,
                   help="fail when more than this fraction of records is quarantined (default 0.05)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_process)

    s = sub.add_parser("steps", help="list the registered recipe steps and their parameters",
                       description="Every step a recipe may name, with its parameters, types and defaults.")
    s.add_argument("name", nargs="?", help="show one step in full")
    s.set_defaults(func=_steps)


def _process(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from baselines.recipe import load_recipe
    from dcbench.report import format_precision_recall, format_summary, render_html
    from dcbench.runner import run

    recipe = load_recipe(args.recipe, source_name=args.source_name)
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
                     max_retries=args.max_retries, max_quarantine=args.max_quarantine, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    print(format_summary(result.stats))
    pr = format_precision_recall(result.stats)
    if pr:
        print("\n" + pr)
    import fsspec

    with fsspec.open(f"{result.out_dir}/report.html", "w", encoding="utf-8") as f:
        f.write(render_html(result.stats, f"dcbench: {recipe.name} on {result.manifest.extra['pool_name']}"))
    print(f"\ndataset {result.manifest.id}: {result.manifest.documents:,} documents -> {result.out_dir}/ "
          f"(report.html, manifest.json)")
    return 0


def _steps(args: argparse.Namespace) -> int:
    from baselines.registry import all_steps, get

    if args.name:
        spec = get(args.name, "dcbench steps")
        import inspect

        print(f"{spec.name} ({spec.kind})\n\n{inspect.getdoc(spec.factory) or ''}\n\nparameters:")
        for p in spec.params.values():
            print(f"  {p.describe()}")
        if spec.targets:
            print(f"\ntargets (toy-pool labels): {', '.join(spec.targets)}")
        return 0
    for spec in all_steps().values():
        params = ", ".join(p.describe() for p in spec.params.values())
        print(f"{spec.name} [{spec.kind}]\n    {spec.summary}\n    params: {params or '-'}")
    return 0
