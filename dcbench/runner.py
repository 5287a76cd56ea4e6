"""The Ray runner: a recipe over every shard of a pool.

One stateless Ray task per shard and stage (as DCLM's process.py), run by
the spine's task loop (`dcbench.taskloop`: a bound on tasks in flight, one
retry policy), and resume: a shard whose stats file exists is done and is
skipped. Each shard's output depends only on that shard, the recipe and
(for global steps) the decisions, so the output is byte-identical however
many workers run it.

The recipe is anything that is a `dcbench.contracts.Recipe` (in practice
`baselines.recipe.Recipe`); its stages are planned once per run and each
shard task is handed its `Stage`. With a `DocLabels` plug-in (a pool's
ground truth), every step is also counted per label.

Output directory: the last stage's `data/ quarantine/ stats/` (see
`dcbench.shardwork`), earlier stages under `stages/NN/`, and
    run.json        which recipe, pool and format this directory belongs to
    stats.json      all shards and stages added up, plus timing and the corpus
                    histograms before and after the recipe (`dcbench.corpusstats`)
    manifest.json   the dataset: shards, sha256, counts, content id (written once every shard is done)
    failures.json   while shards fail after every retry: which, in which stage, how often, and why

Before the first shard, a small sample of the pool goes through the local steps
and every global step that can tell its memory need (`dcbench.estimate`) is
checked against the memory Ray reports: a Bloom filter that cannot fit is
refused (exit 2) before any work. The driver's memory does not grow with the
pool: a shard's task returns a small summary, its full stats stay in its stats
file, and stats.json adds them up reading one file at a time.

A shard that fails after every retry does not stop the others: each stage
finishes every shard it can (a global step, which needs them all, waits),
the failures are written down, and the run ends with a RunError (exit 4).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from dcbench.contracts import DocLabels, GlobalStep, Mapper, Recipe, StepInfo, StepKind
from dcbench.corpusstats import Histograms, before_after
from dcbench.errors import ConfigError, DataError, RunError
from dcbench.estimate import check_before_run, human_bytes, manifest_of
from dcbench.manifest import MANIFEST_NAME, Manifest, ShardEntry
from dcbench.poolref import PoolRef, pool_dir, resolve_pool
from dcbench.shardwork import built_steps, exists, process_shard, read_json, write_json
from dcbench.shards import FORMATS, shard_stem
from dcbench.stages import GlobalContext, Stage, plan_stages
from dcbench.stepstats import StepStats
from dcbench.taskloop import MAX_RETRIES, TaskOutcome, ray_session, run_tasks, task_limit

__all__ = ["Progress", "RunResult", "run", "stage_dir"]

Progress = Callable[[int, int, "dict[str, Any] | None"], None]  # done, total, a finished shard's summary
FAILURES_NAME = "failures.json"  # the shards that failed after every retry in the last run, and why


@dataclass
class RunResult:
    out_dir: str
    manifest: Manifest
    stats: dict[str, Any]  # as written to stats.json
    skipped: int = 0


def stage_dir(out_dir: str, stage: Stage, n_stages: int) -> str:
    return out_dir if stage.index == n_stages - 1 else f"{out_dir}/stages/{stage.index:02d}"


def run(recipe: Recipe, pool: str, out_dir: str, *, workers: int | None = None, address: str | None = None,
        fmt: str = "jsonl.gz", max_retries: int = MAX_RETRIES, max_quarantine: float = 0.05,
        progress: Progress | None = None, labels: DocLabels | None = None) -> RunResult:
    """Process `pool` with `recipe` into `out_dir` on Ray; resumes a previous run there."""
    if fmt not in FORMATS:
        raise ConfigError(f"output format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if workers is not None and workers < 1:
        raise ConfigError("--workers must be at least 1")
    _check_out_outside_pool(out_dir, pool)
    pool_ref = resolve_pool(pool)
    built = built_steps(recipe)  # fails on missing models or word lists before any work starts
    _check_built(built)
    stages = plan_stages([step.kind for step in recipe.steps])
    out_dir = out_dir.rstrip("/")
    _claim_out_dir(out_dir, recipe, pool_ref, fmt)
    stems = [shard_stem(u) for u in pool_ref.uris]
    done = _finished_shards(out_dir, stages, stems)  # per stage, the stems whose stats are written
    skipped = sum(map(len, done))
    total_tasks = len(stems) * len(stages)
    counter = [skipped]
    if progress:
        progress(skipped, total_tasks, None)

    def finished(stage: Stage, stats: dict[str, Any]) -> None:
        done[stage.index].add(stats["shard"])  # the stats stay on disk: the driver holds no shard's stats
        counter[0] += 1
        if progress:
            progress(counter[0], total_tasks, stats)

    _forget_failures(out_dir)  # this run finds out afresh which shards fail
    started = time.perf_counter()
    if skipped < total_tasks:
        with ray_session(workers, address):
            limit = task_limit(workers)
            _check_memory(recipe, pool_ref, pool, limit)
            inputs = list(pool_ref.uris)
            failed: set[str] = set()  # shards that failed in an earlier stage go no further
            for stage in stages:
                sdir = stage_dir(out_dir, stage, len(stages))
                if stage.global_step is not None and len(done[stage.index]) < len(stems):
                    if failed:
                        break  # a global step's analysis needs every shard
                    info, global_step = built[stage.global_step]
                    _analyze(global_step, info, inputs, stems, sdir, limit, max_retries)
                todo = [(u, s) for u, s in zip(inputs, stems) if s not in done[stage.index] and s not in failed]
                outcome = run_tasks(shard_task, [(u, sdir, recipe, fmt, stage, s, labels) for u, s in todo],
                                    limit=limit, max_retries=max_retries, names=[u for u, _ in todo],
                                    on_result=lambda _, stats: finished(stage, stats))
                if outcome.failures:
                    failed.update(shard_stem(f.what) for f in outcome.failures)
                    _record_failures(out_dir, stage, len(stages), outcome, stems, done)
                inputs = [f"{sdir}/data/{s}.{fmt}" for s in stems]
            if failed:
                _raise_failures(out_dir, stages, stems, done, failed)
    wall = time.perf_counter() - started

    result = _finish(out_dir, recipe, pool_ref, stages, done, fmt, wall, workers, skipped, labels)
    t = result.stats["totals"]
    if t["records"] and t["quarantined"] / t["records"] > max_quarantine:
        raise DataError(
            f"quarantined {t['quarantined']} of {t['records']} records ({t['quarantined'] / t['records']:.1%}), "
            f"over the budget of {max_quarantine:.1%}; see {out_dir}/quarantine/ for each record and its reason "
            f"(raise --max-quarantine to accept)")
    return result


# What a shard's task sends back to the driver (the full stats stay in the stage's stats/ folder):
# the task loop keeps every result of a stage, so they must not grow with the steps or the samples.
SUMMARY_KEYS = ("shard", "input", "records", "unreadable", "kept", "quarantined", "text_bytes", "secs")


def shard_task(*args: Any) -> dict[str, Any]:
    """`process_shard` as a Ray task: writes the shard's outputs, returns its summary."""
    stats = process_shard(*args)
    return {k: stats[k] for k in SUMMARY_KEYS}


def _check_out_outside_pool(out_dir: str, pool: str) -> None:
    """`--out` equal to or inside the pool's folder would write data and a manifest into the pool."""
    pool_fs, pool_path = fsspec.core.url_to_fs(pool)
    out_fs, out_path = fsspec.core.url_to_fs(out_dir)
    if type(pool_fs) is not type(out_fs):
        return
    if not pool_fs.exists(pool_path) and not any(c in pool_path for c in "*?["):
        return  # no such pool: resolving it says so (exit 3)
    is_shard = pool_fs.isfile(pool_path) and not pool_path.endswith(".json")
    root = pool_path if is_shard else fsspec.core.url_to_fs(pool_dir(pool))[1]
    if isinstance(out_fs, LocalFileSystem):
        root, out_path = os.path.realpath(root), os.path.realpath(out_path)
    root, out_path = root.rstrip("/"), out_path.rstrip("/")
    if out_path == root or out_path.startswith(root + "/"):
        raise ConfigError(f"--out {out_dir} is {'the pool' if out_path == root else 'inside the pool'} "
                          f"(--pool {pool}): the run would write its data and manifest.json into the pool and "
                          f"change it; choose an --out outside {root}")


def _record_failures(out_dir: str, stage: Stage, n_stages: int, outcome: TaskOutcome, stems: list[str],
                     done: list[set[str]]) -> None:
    """Add a stage's failed shards to `failures.json`, so the output says what is missing and why."""
    path = f"{out_dir}/{FAILURES_NAME}"
    record = read_json(path) if exists(path) else {"failed": []}
    record["failed"] += [{"shard": shard_stem(f.what), "input": f.what, "stage": stage.index + 1,
                          "stages": n_stages, "attempts": f.attempts, "error": f.error_line(),
                          "same_every_time": f.same_every_time} for f in outcome.failures]
    record["finished"] = {"shards": len(stems), "per_stage": [len(d) for d in done]}
    write_json(path, record)


def _raise_failures(out_dir: str, stages: list[Stage], stems: list[str], done: list[set[str]],
                    failed: set[str]) -> None:
    """Every shard that could finish has; say which failed, why, and what re-running can do."""
    record = read_json(f"{out_dir}/{FAILURES_NAME}")
    failures = record["failed"]
    lines = [f"{f['input']} (stage {f['stage']} of {f['stages']}, {f['attempts']} attempts): {f['error']}"
             if f["stages"] > 1 else f"{f['input']} ({f['attempts']} attempts): {f['error']}" for f in failures]
    finished = (f"{len(done[0])} of {len(stems)}" if len(stages) == 1 else
                ", ".join(f"stage {i + 1}: {len(d)} of {len(stems)}" for i, d in enumerate(done)))
    blocked = "" if len(done[-1]) + len(failed) == len(stems) else "; a global step needs every shard, so it waits"
    if all(f["same_every_time"] for f in failures):
        advice = ("each failed the same way on every attempt, so re-running will fail again until the cause is "
                  "fixed: once the shard is restored, re-run the same command (it redoes only unfinished shards); a "
                  "changed shard, recipe or --format needs a new --out")
    else:
        advice = "re-run the same command to redo only the unfinished shards"
    raise RunError(f"{len(failed)} of {len(stems)} shards failed after all retries:\n  " + "\n  ".join(lines)
                   + f"\nshards finished and kept under {out_dir}: {finished}{blocked}; {out_dir}/"
                   f"{FAILURES_NAME} lists the failures; no {MANIFEST_NAME} is written until every shard is done; "
                   f"{advice}")


def _forget_failures(out_dir: str) -> None:
    """Clear the failures an earlier run recorded."""
    fs, path = fsspec.core.url_to_fs(f"{out_dir}/{FAILURES_NAME}")
    if fs.exists(path):
        fs.rm(path)


def _check_built(built: list[tuple[StepInfo, Mapper | GlobalStep]]) -> None:
    """A global step must build a `GlobalStep`, any other a mapper: the plan depends on it."""
    for info, step in built:
        if (info.kind == StepKind.GLOBAL) != isinstance(step, GlobalStep):
            raise TypeError(f"step {info.label} is registered as {info.kind} but built a {type(step).__name__}; "
                            f"a global step has analyze() and apply(), any other step is a mapper")


def _finished_shards(out_dir: str, stages: list[Stage], stems: list[str]) -> list[set[str]]:
    """Per stage, the shards a previous run finished (their stats file is written last): one listing
    of each stage's stats folder."""
    wanted = set(stems)
    done: list[set[str]] = []
    for stage in stages:
        fs, path = fsspec.core.url_to_fs(f"{stage_dir(out_dir, stage, len(stages))}/stats")
        names = fs.ls(path, detail=False) if fs.isdir(path) else []
        done.append({n.rsplit("/", 1)[-1].removesuffix(".json") for n in names if n.endswith(".json")} & wanted)
    return done


def _check_memory(recipe: Recipe, pool_ref: PoolRef, pool: str, workers: int) -> None:
    """`dcbench plan`'s memory check on a small sample, before the first shard (see `dcbench.estimate`)."""
    checked = check_before_run(recipe, pool_ref.uris, manifest_of(pool), workers)
    for stage in checked.stages if checked else []:
        for need in stage.needs:
            size = human_bytes(need.bytes) if need.count == 1 else f"{need.count} x {human_bytes(need.bytes)}"
            print(f"memory check: {stage.name}: {need.what}: {size} in the {need.where}"
                  f"{'s' if need.count > 1 else ''}; fits {checked.room.source}", file=sys.stderr)


def _analyze(global_step: GlobalStep, info: StepInfo, inputs: list[str], stems: list[str], sdir: str, workers: int,
             max_retries: int) -> None:
    """Run a global step's analysis once; its decisions are saved so a resumed run reuses them."""
    marker = f"{sdir}/decisions/_complete.json"
    if exists(marker):
        return
    start = time.perf_counter()
    decisions = global_step.analyze(inputs, GlobalContext(workers, f"{sdir}/work", max_retries, step=info.label))
    missing = [s for s in stems if s not in decisions]
    if missing:
        raise RunError(f"global step {info.label} returned no decision for shards {missing[:5]}")
    for stem in stems:
        write_json(f"{sdir}/decisions/{stem}.json", decisions[stem])
    secs = time.perf_counter() - start
    write_json(marker, {"shards": len(stems), "secs": secs})


def _claim_out_dir(out_dir: str, recipe: Recipe, pool_ref: PoolRef, fmt: str) -> None:
    """Refuse to mix runs: an output directory belongs to one (recipe, pool, format)."""
    marker = f"{out_dir}/run.json"
    claim = {"recipe": recipe.id, "recipe_name": recipe.name, "pool": pool_ref.id, "format": fmt}
    if exists(marker):
        previous = read_json(marker)
        if {k: previous.get(k) for k in claim} != claim:
            raise ConfigError(
                f"{out_dir} holds a run of recipe {previous.get('recipe_name')} ({previous.get('recipe')}) on pool "
                f"{previous.get('pool')} in {previous.get('format')}; use a new --out for a different recipe, "
                f"pool or format")
        return
    write_json(marker, {**claim, "recipe_spec": recipe.to_dict()})


def _finish(out_dir: str, recipe: Recipe, pool_ref: PoolRef, stages: list[Stage], done: list[set[str]],
            fmt: str, wall: float, workers: int | None, skipped: int, labels: DocLabels | None) -> RunResult:
    stems = sorted(done[-1])
    steps: list[StepStats] = []
    totals = {"records": 0, "unreadable": 0, "quarantined": 0, "kept": 0, "secs": 0.0, "text_bytes": 0}
    shards: list[ShardEntry] = []
    corpus: list[list[dict[str, Any]]] = []
    for stage in stages:
        sdir = stage_dir(out_dir, stage, len(stages))
        stage_steps, stage_corpus = _add_up_stage(sdir, stems, totals, first=stage.index == 0,
                                                  last=stage.index == len(stages) - 1, shards=shards)
        if stage.global_step is not None and stage_steps:
            # The analysis of the whole dataset is most of a global step's cost.
            analysis = read_json(f"{sdir}/decisions/_complete.json")["secs"]
            stage_steps[0].add_analysis(analysis)
            totals["secs"] += analysis
        steps.extend(stage_steps)
        corpus.append([stage_corpus])
    step_dicts = [s.to_dict() for s in steps]
    step_counts = [{k: s[k] for k in ("name", "in", "kept", "removed", "quarantined", "out", "modified")}
                   for s in step_dicts]
    manifest = Manifest(kind="dataset", name=recipe.name, shards=shards,
                        inputs={"pool": pool_ref.id, "recipe": recipe.id, "format": fmt},
                        extra={"recipe": recipe.to_dict(), "pool_name": pool_ref.name, "steps": step_counts,
                               "records": totals["records"], "quarantined": totals["quarantined"]})
    manifest.save(f"{out_dir}/{MANIFEST_NAME}")
    stats = {"dataset": manifest.id, "recipe": recipe.name, "pool": pool_ref.id, "shards": len(stems),
             "stages": len(stages), "skipped_shards": skipped, "wall_secs": wall, "workers": workers,
             "labels": None if labels is None else labels.name, "totals": totals, "steps": step_dicts,
             "corpus": before_after(corpus)}
    write_json(f"{out_dir}/stats.json", stats)
    return RunResult(out_dir, manifest, stats, skipped)


def _add_up_stage(sdir: str, stems: list[str], totals: dict[str, Any], *, first: bool, last: bool,
                  shards: list[ShardEntry]) -> tuple[list[StepStats], dict[str, Any]]:
    """One stage's shard stats added up, read one file at a time in sorted order (the totals never depend
    on scheduling, and the driver never holds every shard's stats): its steps and its corpus histograms;
    `totals` and, for the last stage, `shards` (the manifest's entries) are filled in as it goes."""
    steps: list[StepStats] | None = None
    parts = {part: Histograms.empty() for part in ("entering", "scored", "leaving")}
    for stem in stems:
        st = read_json(f"{sdir}/stats/{stem}.json")
        totals["quarantined"] += st["quarantined"]
        totals["secs"] += st["secs"]
        if first:
            for k in ("records", "unreadable", "text_bytes"):
                totals[k] += st[k]
        if last:
            totals["kept"] += st["kept"]
            shards.append(ShardEntry(**st["output"]))
        these = [StepStats.from_dict(d) for d in st["steps"]]
        steps = these if steps is None else [a + b for a, b in zip(steps, these)]
        for part, hist in parts.items():
            parts[part] = hist + Histograms.from_dict((st.get("corpus") or {}).get(part))
    return steps or [], {part: hist.to_dict() for part, hist in parts.items()}
