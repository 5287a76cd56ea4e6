"""The Ray runner: a recipe over every shard of a pool.

One stateless Ray task per shard and stage (as DCLM's process.py), with a
bound on tasks in flight, retries, and resume: a shard whose stats file
exists is done and is skipped. Each shard's output depends only on that
shard, the recipe and (for global steps) the decisions, so the output is
byte-identical however many workers run it.

Output directory: the last stage's `data/ quarantine/ stats/` (see
`dcbench.shardwork`), earlier stages under `stages/NN/`, and
    run.json        which recipe, pool and format this directory belongs to
    stats.json      all shards and stages added up, plus timing
    manifest.json   the dataset: shards, sha256, counts, content id

The recipe is anything with `.id`, `.name`, `.to_dict()` and `.build()`
returning `[(step_config, mapper_or_global_step)]` where step_config has
`.label`, `.spec.kind` and `.spec.targets` — in practice `baselines.recipe.Recipe`.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable

from dcbench.errors import ConfigError, DataError, RunError
from dcbench.manifest import MANIFEST_NAME, Manifest, ShardEntry
from dcbench.poolref import PoolRef, resolve_pool
from dcbench.shardwork import built_steps, exists, process_shard, read_json, write_json
from dcbench.shards import FORMATS, shard_stem
from dcbench.stages import GlobalContext, Stage, plan_stages
from dcbench.stepstats import merge

Progress = Callable[[int, int, "dict[str, Any] | None"], None]


@dataclass
class RunResult:
    out_dir: str
    manifest: Manifest
    stats: dict[str, Any]
    skipped: int = 0


def ray_init(workers: int | None, address: str | None) -> bool:
    """Start a private local Ray (or join `address`); True if we started it."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray

    if ray.is_initialized():
        return False
    common = dict(include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    if address:
        ray.init(address=address, **common)
    else:
        temp = os.environ.get("DCBENCH_RAY_TMP") or os.path.join(tempfile.gettempdir(), f"dcbench-ray-{os.getuid()}")
        ray.init(num_cpus=workers or os.cpu_count(), object_store_memory=256 * 1024**2, _temp_dir=temp, **common)
    return True


def stage_dir(out_dir: str, stage: Stage, n_stages: int) -> str:
    return out_dir if stage.index == n_stages - 1 else f"{out_dir}/stages/{stage.index:02d}"


def run(recipe: Any, pool: str, out_dir: str, *, workers: int | None = None, address: str | None = None,
        fmt: str = "jsonl.gz", max_retries: int = 2, max_quarantine: float = 0.05,
        progress: Progress | None = None) -> RunResult:
    """Process `pool` with `recipe` into `out_dir` on Ray; resumes a previous run there."""
    if fmt not in FORMATS:
        raise ConfigError(f"output format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if workers is not None and workers < 1:
        raise ConfigError("--workers must be at least 1")
    pool_ref = resolve_pool(pool)
    built = built_steps(recipe)  # fails on missing models or word lists before any work starts
    stages = plan_stages([cfg.spec.kind for cfg, _ in built])
    out_dir = out_dir.rstrip("/")
    _claim_out_dir(out_dir, recipe, pool_ref, fmt)
    stems = [shard_stem(u) for u in pool_ref.uris]
    total_tasks = len(stems) * len(stages)

    done: list[dict[str, Any]] = [{} for _ in stages]
    for stage in stages:
        sdir = stage_dir(out_dir, stage, len(stages))
        for stem in stems:
            if exists(f"{sdir}/stats/{stem}.json"):
                done[stage.index][stem] = read_json(f"{sdir}/stats/{stem}.json")
    skipped = sum(map(len, done))
    counter = [skipped]
    if progress:
        progress(skipped, total_tasks, None)

    def tick(stats: dict[str, Any]) -> None:
        counter[0] += 1
        if progress:
            progress(counter[0], total_tasks, stats)

    started = time.perf_counter()
    if skipped < total_tasks:
        ours = ray_init(workers, address)
        try:
            import ray

            limit = workers or int(ray.cluster_resources().get("CPU", 1))
            inputs = list(pool_ref.uris)
            for stage in stages:
                sdir = stage_dir(out_dir, stage, len(stages))
                if stage.global_step is not None and len(done[stage.index]) < len(stems):
                    _analyze(built[stage.global_step][1], inputs, stems, sdir, limit)
                todo = [(u, s) for u, s in zip(inputs, stems) if s not in done[stage.index]]
                failed = _dispatch(todo, sdir, recipe, fmt, stage.index, limit, max_retries, done[stage.index], tick)
                if failed:
                    raise RunError(
                        f"{len(failed)} of {len(stems)} shards failed after {max_retries} retries"
                        + (f" in stage {stage.index + 1} of {len(stages)}" if len(stages) > 1 else "")
                        + ":\n  " + "\n  ".join(failed)
                        + "\nfinished shards are kept; re-run the same command to redo only the failed ones")
                inputs = [f"{sdir}/data/{s}.{fmt}" for s in stems]
        finally:
            if ours:
                import ray

                ray.shutdown()
    wall = time.perf_counter() - started

    result = _finish(out_dir, recipe, pool_ref, stages, done, fmt, wall, workers, skipped)
    t = result.stats["totals"]
    if t["records"] and t["quarantined"] / t["records"] > max_quarantine:
        raise DataError(
            f"quarantined {t['quarantined']} of {t['records']} records ({t['quarantined'] / t['records']:.1%}), "
            f"over the budget of {max_quarantine:.1%}; see {out_dir}/quarantine/ for each record and its reason "
            f"(raise --max-quarantine to accept)")
    return result


def _analyze(global_step: Any, inputs: list[str], stems: list[str], sdir: str, workers: int) -> None:
    """Run a global step's analysis once; its decisions are saved so a resumed run reuses them."""
    marker = f"{sdir}/decisions/_complete.json"
    if exists(marker):
        return
    start = time.perf_counter()
    decisions = global_step.analyze(inputs, GlobalContext(workers, f"{sdir}/work"))
    missing = [s for s in stems if s not in decisions]
    if missing:
        raise RunError(f"global step returned no decision for shards {missing[:5]}")
    for stem in stems:
        write_json(f"{sdir}/decisions/{stem}.json", decisions[stem])
    secs = time.perf_counter() - start
    write_json(marker, {"shards": len(stems), "secs": secs})


def _dispatch(todo: list[tuple[str, str]], sdir: str, recipe: Any, fmt: str, stage: int, limit: int,
              max_retries: int, done: dict[str, Any], tick: Callable[[dict[str, Any]], None]) -> list[str]:
    import ray

    task = ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=True)(process_shard)
    pending: dict[Any, str] = {}
    queue = list(todo)
    failed: list[str] = []
    while queue or pending:
        while queue and len(pending) < limit:
            uri, stem = queue.pop(0)
            pending[task.remote(uri, sdir, recipe, fmt, stage, stem)] = uri
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            uri = pending.pop(ref)
            try:
                stats = ray.get(ref)
            except Exception as e:  # the task failed after its retries
                cause = getattr(e, "cause", None) or e
                first_line = (str(cause).splitlines() or [""])[0].removeprefix(f"{uri}: ")
                failed.append(f"{uri}: {type(cause).__name__}: {first_line}")
                continue
            done[stats["shard"]] = stats
            tick(stats)
    return failed


def _claim_out_dir(out_dir: str, recipe: Any, pool_ref: PoolRef, fmt: str) -> None:
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


def _finish(out_dir: str, recipe: Any, pool_ref: PoolRef, stages: list[Stage], done: list[dict[str, Any]],
            fmt: str, wall: float, workers: int | None, skipped: int) -> RunResult:
    stems = sorted(done[-1])
    steps: list[dict[str, Any]] = []
    totals = {"records": 0, "unreadable": 0, "quarantined": 0, "kept": 0, "secs": 0.0, "text_bytes": 0}
    for stage in stages:
        stage_steps = None
        for stem in stems:
            st = done[stage.index][stem]
            stage_steps = merge(stage_steps, st["steps"])
            totals["quarantined"] += st["quarantined"]
            totals["secs"] += st["secs"]
            if stage.index == 0:
                for k in ("records", "unreadable", "text_bytes"):
                    totals[k] += st[k]
        if stage.global_step is not None and stage_steps:
            # The analysis of the whole dataset is most of a global step's cost.
            analysis = read_json(f"{stage_dir(out_dir, stage, len(stages))}/decisions/_complete.json")["secs"]
            stage_steps[0]["analyze_secs"] = analysis
            stage_steps[0]["secs"] += analysis
            totals["secs"] += analysis
        steps.extend(stage_steps or [])
    totals["kept"] = sum(done[-1][s]["kept"] for s in stems)
    shards = [ShardEntry(**done[-1][s]["output"]) for s in stems]
    step_counts = [{k: s[k] for k in ("name", "in", "kept", "removed", "quarantined", "out", "modified")} for s in steps]
    manifest = Manifest(kind="dataset", name=recipe.name, shards=shards,
                        inputs={"pool": pool_ref.id, "recipe": recipe.id, "format": fmt},
                        extra={"recipe": recipe.to_dict(), "pool_name": pool_ref.name, "steps": step_counts,
                               "records": totals["records"], "quarantined": totals["quarantined"]})
    manifest.save(f"{out_dir}/{MANIFEST_NAME}")
    stats = {"dataset": manifest.id, "recipe": recipe.name, "pool": pool_ref.id, "shards": len(stems),
             "stages": len(stages), "skipped_shards": skipped, "wall_secs": wall, "workers": workers,
             "totals": totals,
             "steps": [{**s, **{k: dict(s[k]) for k in ("labels_in", "labels_removed", "labels_modified")}}
                       for s in steps]}
    write_json(f"{out_dir}/stats.json", stats)
    return RunResult(out_dir, manifest, stats, skipped)
