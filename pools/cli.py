"""`dcbench pool ...`: get a pool of documents to curate.

`dcbench pool toy` also trains a quality classifier and writes the toy
evaluation suite, so it crosses stages: `dcbench.flows.cli` adds it to the
group `add_commands` returns.
"""

from __future__ import annotations

import argparse

from dcbench.cliargs import non_negative_int, positive_int
from dcbench.errors import ConfigError
from dcbench.pools.download import download
from dcbench.pools.ingest import ingest
from dcbench.pools.tiers import format_table
from dcbench.pools.toy_sources import build_toy_sources

EPILOG = """\
examples:
  dcbench pool toy --out pool/                     # the embedded default pool (no download)
  dcbench pool toy --out pool/ --docs 20000 --seed 7
  dcbench pool toy-sources --out sources/          # web / reference / foreign sources for mixing
  dcbench pool ingest crawl/*.warc.gz --out pool/  # WARC/WET -> DCLM-Pool jsonl.gz shards
  dcbench pool download manifest.json pool/        # fetch, verify sha256, resume
  dcbench pool tiers                               # DCLM's pool for each scale tier
"""


def add_commands(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Add `pool` and its stage-only subcommands; return the group, for the flows' `pool toy`."""
    pool = sub.add_parser(
        "pool",
        help="get a pool: toy, toy mixing sources, ingest WARC/WET, download by manifest, list tiers",
        description="Pools are sharded DCLM-Pool documents (text, url, WARC metadata) with a manifest.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    psub = pool.add_subparsers(dest="pool_command", metavar="POOL_COMMAND")
    psub.required = True

    ts = psub.add_parser(
        "toy-sources",
        help="generate three toy sources (web, reference, foreign) for data-mixing experiments",
        description=(
            "Generate, deterministically from a seed, three sources in DCLM-Pool form for data-mixing\n"
            "experiments, each a pool directory with its own manifest:\n"
            "  web        ordinary clean English web prose\n"
            "  reference  encyclopedic and instructional English prose\n"
            "  foreign    German, French, Spanish and Italian pages\n"
            "plus held-out validation sets valid/<source>/ from a separate random stream (no document\n"
            "shared with the training sources), and uniform.yaml, a mixture file with equal token shares\n"
            "for `dcbench tokenize --mix`."
        ),
        epilog="example:\n  dcbench pool toy-sources --out sources/\n"
               "  dcbench tokenize --mix sources/uniform.yaml --tier toy-250k-1x -o runs/tokens-uniform",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ts.add_argument("--out", required=True, help="output directory (<source>/, valid/<source>/, uniform.yaml)")
    ts.add_argument("--docs", type=positive_int, default=1500, help="documents per source (default 1500)")
    ts.add_argument("--valid-docs", type=non_negative_int, default=150,
                    help="held-out documents per source (default 150)")
    ts.add_argument("--shards", type=positive_int, default=2, help="shards per source (default 2)")
    ts.add_argument("--seed", type=non_negative_int, default=0, help="generator seed (default 0)")
    ts.set_defaults(func=_toy_sources)

    ingest = psub.add_parser(
        "ingest",
        help="turn WARC/WET files into DCLM-Pool jsonl.gz shards",
        description=(
            "Read WARC (HTML responses -> resiliparse main-content text) and WET (text as is) files and "
            "write DCLM-Pool records: text, url, and the WARC headers in metadata. A bad record is "
            "quarantined with its reason and the run goes on."
        ),
    )
    ingest.add_argument("inputs", nargs="+", help="WARC/WET files (.warc, .warc.gz, .wet.gz)")
    ingest.add_argument("--out", required=True, help="output directory")
    ingest.add_argument("--docs-per-shard", type=positive_int, default=10000, help="documents per output shard")
    ingest.set_defaults(func=_ingest)

    dl = psub.add_parser(
        "download",
        help="download a pool by manifest, verify sha256, resume partial downloads",
        description="Fetch every shard in MANIFEST into DIR through fsspec (file://, s3://, https://, hf://).",
    )
    dl.add_argument("manifest", help="pool manifest (JSON) path or URI")
    dl.add_argument("dir", help="destination directory")
    dl.add_argument("--workers", type=positive_int, default=4, help="parallel downloads (default 4)")
    dl.set_defaults(func=_download)

    tiers = psub.add_parser("tiers", help="show DCLM's pool for each scale tier")
    tiers.set_defaults(func=_tiers)
    return psub


def _toy_sources(args: argparse.Namespace) -> int:
    if min(args.docs, args.valid_docs, args.shards) < 1:
        raise ConfigError("--docs, --valid-docs and --shards must be at least 1")
    built = build_toy_sources(args.out, docs_per_source=args.docs, valid_docs=args.valid_docs,
                              n_shards=args.shards, seed=args.seed)
    for name, m in built.sources.items():
        print(f"{name:>9}: {m.documents:,} documents in {len(m.shards)} shards ({m.bytes / 1e6:.2f} MB), "
              f"{built.valid[name].documents:,} held out in valid/{name}")
    print(f"sources -> {args.out}; equal-weight mixture -> {built.mixture} (dcbench tokenize --mix ...)")
    return 0


def _ingest(args: argparse.Namespace) -> int:
    report = ingest(args.inputs, args.out, docs_per_shard=args.docs_per_shard)
    print(report.summary())
    return 0


def _download(args: argparse.Namespace) -> int:
    report = download(args.manifest, args.dir, workers=args.workers)
    print(report.summary())
    return 0


def _tiers(args: argparse.Namespace) -> int:
    print(format_table())
    return 0
