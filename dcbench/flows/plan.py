"""`dcbench plan`: what a recipe will cost on a pool, before it runs.

A sample of the pool (the first documents of a few shards spread over it) goes
through the recipe in this process, stage by stage, with the runner's own code
(`dcbench.estimate.measure`); the figures are scaled to the whole pool and to
the workers given (`dcbench.estimate.project`): documents, core-hours and
wall-clock per stage, disk per stage output, the peak memory of a worker and of
the driver, and what every global step holds (a Bloom filter sized for the
projected n-grams, scores, signatures). The table ends in a verdict; a run
that would not fit the memory there is (this machine's, the Ray cluster's at
`--address`, or a cluster shape named with `--nodes`/`--node-memory`) exits 2
with the figure and the setting to change.

The plan never touches a step's state: a recipe's state directories (a saved
Bloom filter) are redirected to a scratch folder for the sample.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from dcbench.baselines.recipe import Recipe, load_recipe
from dcbench.cliargs import positive_int
from dcbench.errors import ConfigError
from dcbench.estimate import (PoolScale, Projection, Room, check_fits, current_room, human_bytes, manifest_of,
                              measure, pool_scale, problems, project)
from dcbench.poolref import pool_dir, resolve_pool
from dcbench.table import format_table
from dcbench.taskloop import ray_session, task_limit

DEFAULT_SAMPLE_DOCS = 2000
PLAN_EPILOG = """\
examples:
  dcbench plan baselines/recipes/dclm_baseline.yaml --pool pool/ --workers 2
  dcbench plan baselines/recipes/dclm_baseline.yaml --pool s3://bucket/pool/manifest.json --address auto
  dcbench plan my_recipe.yaml --pool pool/ --nodes 8 --node-memory 256GiB --workers 512   # a cluster you plan

Exit codes: 0 the run fits; 2 it would not fit (the figure and the setting to change are printed),
or a bad recipe or option; 3 the pool is unusable.
"""


@dataclass(frozen=True)
class _SampleRecipe:
    """The recipe as the sample runs it: its own id, so its built steps (state redirected) never
    stand in for a real run's in this process."""

    inner: Recipe

    @property
    def id(self) -> str:
        return f"{self.inner.id}+plan"

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def steps(self) -> Sequence[Any]:
        return self.inner.steps

    def to_dict(self) -> dict[str, Any]:
        return self.inner.to_dict()

    def build(self) -> Sequence[Any]:
        return self.inner.build()


def add_plan_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="project a recipe's cost on a pool (time, memory, disk) before running it",
                       description=("Run a sample of the pool through the recipe and project, for the whole pool: "
                                    "documents, core-hours and wall-clock per stage, disk per stage output, peak "
                                    "memory of a worker and of the driver, and what each global step holds. Exits 2 "
                                    "when the run would not fit in memory, naming the setting to change."),
                       epilog=PLAN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", help="recipe YAML (as `dcbench process` takes it)")
    p.add_argument("--pool", required=True, help="directory of shards, manifest.json, glob, or shard; any fsspec URI")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--address", default=None, help="plan for this Ray cluster (e.g. 'auto'): its memory and CPUs")
    where.add_argument("--nodes", type=positive_int, default=None,
                       help="plan for a cluster of this many nodes (with --node-memory) instead of this machine")
    p.add_argument("--node-memory", default=None, metavar="SIZE",
                   help="memory per node of the cluster planned with --nodes, e.g. 64GiB or 500MB")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="shards processed at once (default: this machine's CPUs, or the cluster's)")
    p.add_argument("--sample-docs", type=positive_int, default=DEFAULT_SAMPLE_DOCS,
                   help=f"documents in the sample (default {DEFAULT_SAMPLE_DOCS}; more is slower and closer)")
    p.add_argument("--pool-docs", type=positive_int, default=None, metavar="N",
                   help="project for a pool of N documents of which --pool holds a sample (a tier you have not "
                        "downloaded: DCLM's 400M-1x pool from one of its shards)")
    p.add_argument("--pool-shards", type=positive_int, default=None, metavar="N",
                   help="with --pool-docs: the number of shards that pool has (default: as many documents a shard "
                        "as the sample)")
    p.add_argument("--format", default="jsonl.gz", choices=["jsonl", "jsonl.gz", "jsonl.zst", "parquet"],
                   help="output shard format the run will write (default jsonl.gz)")
    p.add_argument("--source-name", default=None, help="which source block of a DCLM-format recipe to plan")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="load your own steps, as `dcbench process --plugin` does (repeatable)")
    p.set_defaults(func=_plan)


def _plan(args: argparse.Namespace) -> int:
    if args.pool_shards is not None and args.pool_docs is None:
        raise ConfigError("--pool-shards goes with --pool-docs: give the pool's document count too")
    if (args.nodes is None) != (args.node_memory is None):
        raise ConfigError("--nodes and --node-memory go together: give both to plan for a cluster shape")
    recipe = load_recipe(args.recipe, source_name=args.source_name, variables={"pool": pool_dir(args.pool)},
                         plugins=tuple(args.plugin))
    pool_ref = resolve_pool(args.pool)
    with tempfile.TemporaryDirectory(prefix="dcbench-plan-state-") as scratch:
        sample_recipe = _SampleRecipe(_state_redirected(recipe, scratch))
        projection = plan(sample_recipe, pool_ref.uris, manifest_of(args.pool), args)
    print(format_plan(projection, recipe.name, pool_ref.name))
    if args.address is None and args.nodes is None:
        print(f"timed on this machine at load average {projection.background:.1f} on {os.cpu_count()} cores: the "
              f"wall-clock assumes it stays as busy while the run goes on")
    check_fits(projection, "dcbench plan")
    print(f"\nverdict: fits. {_fit_line(projection)}")
    return 0


def plan(recipe: Any, uris: Sequence[str], manifest_uri: str | None, args: argparse.Namespace) -> Projection:
    """Measure the sample and project it for the workers and memory `args` name."""
    start, load = time.perf_counter(), os.getloadavg()[0]
    print(f"sampling {args.sample_docs:,} documents from {min(4, len(uris))} of {len(uris)} shards ...",
          file=sys.stderr)
    sample = measure(recipe, uris, docs=args.sample_docs, fmt=args.format)
    pool = pool_scale(uris, manifest_uri)
    if args.pool_docs is not None:
        pool = scaled_pool(pool, args.pool_docs, args.pool_shards)
    print(f"sample measured in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    names = [s.label for s in recipe.steps]
    if args.nodes is not None:
        mem = parse_size(args.node_memory)
        room = Room(mem, (mem,) * args.nodes, f"the planned cluster ({args.nodes} x {human_bytes(mem)})")
        return project(sample, pool, args.workers or args.nodes, room, names)
    if args.address:
        with ray_session(None, args.address):
            room, workers = current_room(), args.workers or task_limit(None)
        return project(sample, pool, workers, room, names)
    cpus = os.cpu_count() or 1
    return project(sample, pool, args.workers or cpus, current_room(), names, cpus=cpus, background=load)


def scaled_pool(sample: PoolScale, docs: int, shards: int | None) -> PoolScale:
    """A pool of `docs` documents like the `sample` (its bytes per document and per shard), held elsewhere."""
    per_doc = sample.bytes / max(sample.documents, 1)
    shards = shards or max(1, round(sample.shards * docs / max(sample.documents, 1)))
    return PoolScale(docs, shards, round(per_doc * docs), sample.counted, given=True)


def _state_redirected(recipe: Recipe, scratch: str) -> Recipe:
    """The recipe with every state directory a step names moved under `scratch`."""
    steps = tuple(replace(s, params={**s.params, **{k: f"{scratch}/{s.index:02d}-{k}" for k in s.spec.state
                                                     if s.params.get(k) is not None}}) for s in recipe.steps)
    return replace(recipe, steps=steps)


_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_size(text: str) -> int:
    """`64GiB`, `500MB`, `2G` -> bytes."""
    t = text.strip().upper().replace(" ", "")
    number = t.rstrip("KMGTIB")
    unit = t[len(number):]
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if unit not in _UNITS or not value > 0:
        raise ConfigError(f"--node-memory {text!r}: write a size such as 64GiB, 500MB or 2G")
    return int(value * _UNITS[unit])


# ------------------------------------------------------------------ the table


def _secs(s: float) -> str:
    return f"{s:,.1f} s" if s < 120 else f"{s / 60:,.1f} min" if s < 7200 else f"{s / 3600:,.1f} h"


def format_plan(p: Projection, recipe: str, pool: str) -> str:
    rows = [[f"{s.index + 1}", s.name, f"{s.docs_in:,}", f"{s.docs_out:,}", f"{s.core_secs / 3600:.3g}",
             _secs(s.wall_secs), human_bytes(s.disk_bytes)] for s in p.stages]
    stages = format_table(["stage", "steps", "docs in", "docs out", "core-h", "wall", "disk out"], rows,
                          title=f"plan: {recipe} on {pool}", align="llrrrrr")
    mem_rows = [["-", "a worker (peak, each)", "worker", "1" if p.workers else "-", human_bytes(p.worker_peak)],
                ["-", "the driver (peak)", "driver", "1", human_bytes(p.driver_peak)]]
    mem_rows += [[f"{s.index + 1}", n.what, n.where, f"{n.count:,}", human_bytes(n.bytes)]
                 for s in p.stages for n in s.needs]
    memory = format_table(["stage", "memory for", "where", "count", "each"], mem_rows, align="lllrr")
    counted = ("as given, like the sample" if p.pool.given else
               "from its manifest" if p.pool.counted else "estimated from shard sizes")
    lines = [stages, "", memory, "",
             f"pool: {p.pool.documents:,} documents ({counted}) in {p.pool.shards:,} shards, "
             f"{human_bytes(p.pool.bytes)}; sample: {p.sample_docs:,} documents",
             f"total: {p.core_hours:.3g} core-hours, wall {_secs(p.wall_secs)} on {p.workers} workers, "
             f"disk {human_bytes(p.disk_bytes)} for every stage's output",
             f"memory: {p.room.source}: {human_bytes(p.room.driver)} for the driver"
             + (f"; nodes {', '.join(human_bytes(n) for n in p.room.nodes[:4])}"
                f"{' ...' if len(p.room.nodes) > 4 else ''}" if p.room.nodes != (p.room.driver,) else "")]
    return "\n".join(lines)


def _fit_line(p: Projection) -> str:
    assert not problems(p)
    return (f"Peaks: driver {human_bytes(p.driver_peak)}, each worker {human_bytes(p.worker_peak)}. "
            f"Projected from a sample; dedup finds fewer duplicates in a sample than in the pool, so later stages "
            f"may see a few percent fewer documents than shown.")
