"""The Ray runner: a chain of local steps over every shard of a pool.

One stateless Ray task per shard (as DCLM's process.py), with a bound on
tasks in flight, retries, and resume: a shard whose stats file exists is
done and is skipped. Each shard's output depends only on that shard and the
chain, so the output is byte-identical however many workers run it.

Output directory:
    data/<shard>.<fmt>          kept documents
    quarantine/<shard>.jsonl    records that could not be processed, with reasons
    stats/<shard>.json          per-step counts for the shard (written last: the "done" mark)
    stats.json                  all shards added up, plus timing
    manifest.json               the dataset: shards, sha256, counts, content id
    report.html                 per-step summary, precision/recall, removed samples

The chain is anything with `.id`, `.name`, `.to_dict()` and `.build()`
returning `[(step_config, mapper)]` where step_config has `.label`,
`.spec.kind` and `.spec.targets` — in practice a `baselines.recipe.Recipe`.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import fsspec

from dcbench.errors import ConfigError, DataError, RunError
from dcbench.manifest import MANIFEST_NAME, Manifest, ShardEntry
from dcbench.shards import FORMATS, Bad, dumps, read_shard, shard_format, shard_stem, write_shard
from dcbench.stepstats import SAMPLES_PER_STEP, merge, new_step_stats, sample

# ------------------------------------------------------------------ pools


@dataclass(frozen=True)
class PoolRef:
    uris: tuple[str, ...]
    id: str
    name: str


def resolve_pool(spec: str) -> PoolRef:
    """A pool is a manifest file, a directory (with or without manifest.json),
    a glob, or one shard; local or any fsspec URI."""
    fs, path = fsspec.core.url_to_fs(spec)
    proto = spec.split("://", 1)[0] + "://" if "://" in spec else ""

    def uri(p: str) -> str:
        return p if not proto or p.startswith(proto) else proto + p

    if path.endswith(".json") and fs.isfile(path):
        return _from_manifest(spec, spec.rsplit("/", 1)[0] if "/" in spec else ".")
    if fs.isdir(path):
        if fs.isfile(f"{path.rstrip('/')}/{MANIFEST_NAME}"):
            return _from_manifest(f"{spec.rstrip('/')}/{MANIFEST_NAME}", spec.rstrip("/"))
        found = sorted(p for p in fs.find(path) if _is_shard(p))
    elif any(c in path for c in "*?["):
        found = sorted(p for p in fs.glob(path) if _is_shard(p))
    elif fs.isfile(path) and _is_shard(path):
        found = [path]
    else:
        raise DataError(f"pool {spec!r} not found: give a directory of shards, a manifest.json, a glob or a shard")
    if not found:
        raise DataError(f"pool {spec!r} holds no shards (.jsonl, .jsonl.gz, .jsonl.zst, .parquet)")
    _check_unique_stems(found, spec)
    # Without a manifest the pool is identified by its shards' names and sizes.
    from dcbench.manifest import content_id

    ident = content_id("pool", sorted((Path(p).name, fs.size(p)) for p in found))
    return PoolRef(tuple(uri(p) for p in found), ident, Path(path.rstrip("/")).name or spec)


def _from_manifest(manifest_uri: str, base: str) -> PoolRef:
    m = Manifest.load(manifest_uri)
    uris = m.shard_uris(base)
    _check_unique_stems(uris, manifest_uri)
    return PoolRef(tuple(uris), m.id, m.name)


def _is_shard(path: str) -> bool:
    if ".tmp-" in path.rsplit("/", 1)[-1]:
        return False
    try:
        shard_format(path)
        return True
    except DataError:
        return False


def _check_unique_stems(uris: list[str], spec: str) -> None:
    stems: dict[str, str] = {}
    for u in uris:
        s = shard_stem(u)
        if s in stems:
            raise DataError(f"pool {spec}: shards {stems[s]} and {u} share the name {s!r}; outputs would collide")
        stems[s] = u


# ------------------------------------------------------------------ one shard


_CHAIN_CACHE: dict[str, list] = {}


def _chain(recipe: Any) -> list:
    """Build the chain once per worker process (models and word lists load once)."""
    if recipe.id not in _CHAIN_CACHE:
        _CHAIN_CACHE[recipe.id] = recipe.build()
    return _CHAIN_CACHE[recipe.id]


def process_shard(shard_uri: str, out_dir: str, recipe: Any, fmt: str) -> dict[str, Any]:
    """Run the chain over one shard; write its data, quarantine and stats. Returns the stats."""
    start = time.perf_counter()
    chain = _chain(recipe)
    stem = shard_stem(shard_uri)
    steps = [new_step_stats(cfg.label, cfg.spec.kind, cfg.spec.targets) for cfg, _ in chain]
    quarantine: list[dict[str, Any]] = []
    counts = {"records": 0, "unreadable": 0, "kept": 0, "text_bytes": 0}

    def kept_pages() -> Iterator[dict[str, Any]]:
        for rec in read_shard(shard_uri):
            counts["records"] += 1
            if isinstance(rec, Bad):
                counts["unreadable"] += 1
                quarantine.append({"shard": stem, "index": rec.index, "step": "read", "reason": rec.reason, "record": rec.raw})
                continue
            counts["text_bytes"] += len(rec["text"].encode("utf-8", "surrogatepass"))
            for page in _run_chain(rec, chain, steps, quarantine, stem):
                counts["kept"] += 1
                yield page

    data_uri = f"{out_dir}/data/{stem}.{fmt}"
    info = write_shard(data_uri, kept_pages())
    _write_quarantine(f"{out_dir}/quarantine/{stem}.jsonl", quarantine)
    for s in steps:
        s["samples"] = s["samples"][:SAMPLES_PER_STEP]
    stats = {"shard": stem, "input": shard_uri, **counts, "quarantined": len(quarantine),
             "output": {"path": f"data/{stem}.{fmt}", "bytes": info.bytes, "sha256": info.sha256,
                        "documents": info.documents},
             "secs": time.perf_counter() - start, "steps": steps}
    _write_json(f"{out_dir}/stats/{stem}.json", stats)
    return stats


def _run_chain(doc: dict[str, Any], chain: list, steps: list[dict[str, Any]],
               quarantine: list[dict[str, Any]], stem: str) -> list[dict[str, Any]]:
    pages = [doc]
    planted = doc.get("planted") or ()
    for (cfg, mapper), st in zip(chain, steps):
        if not pages:
            break
        st["in"] += len(pages)
        hit = any(t in planted for t in st["targets"])
        for _ in pages:
            st["labels_in"].update(planted)
        st["target_in"] += len(pages) if hit else 0
        out: list[dict[str, Any]] = []
        t0 = time.perf_counter()
        for page in pages:
            before = page.get("text")
            try:
                result = mapper(page)
            except Exception as e:  # a step that raises quarantines the page, never the shard
                st["quarantined"] += 1
                quarantine.append({"shard": stem, "step": cfg.label, "reason": f"{type(e).__name__}: {e}",
                                   "record": dumps(page)})
                continue
            if not result:
                st["removed"] += 1
                st["labels_removed"].update(planted)
                st["target_acted"] += hit and st["kind"] != "modifier"
                if len(st["samples"]) < SAMPLES_PER_STEP:
                    st["samples"].append(sample(page))
                continue
            st["kept"] += 1
            if len(result) == 1 and result[0].get("text") != before:
                st["modified"] += 1
                st["labels_modified"].update(planted)
                st["target_acted"] += hit and st["kind"] == "modifier"
            out.extend(result)
        st["secs"] += time.perf_counter() - t0
        st["out"] += len(out)
        pages = out
    return pages


def _write_quarantine(uri: str, entries: list[dict[str, Any]]) -> None:
    fs, path = fsspec.core.url_to_fs(uri)
    if entries:
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        tmp = path + ".tmp"
        with fs.open(tmp, "w", encoding="utf-8") as f:
            f.writelines(dumps(e) + "\n" for e in entries)
        fs.mv(tmp, path)
    elif fs.exists(path):
        fs.rm(path)  # a stale file from an earlier, different run


def _write_json(uri: str, data: Any) -> None:
    fs, path = fsspec.core.url_to_fs(uri)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    tmp = path + ".tmp"
    with fs.open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
    fs.mv(tmp, path)


def _read_json(uri: str) -> Any:
    with fsspec.open(uri, "r", encoding="utf-8") as f:
        return json.load(f)


# ------------------------------------------------------------------ the run


@dataclass
class RunResult:
    out_dir: str
    manifest: Manifest
    stats: dict[str, Any]
    skipped: int = 0
    failed: list[str] = field(default_factory=list)


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


def run(recipe: Any, pool: str, out_dir: str, *, workers: int | None = None, address: str | None = None,
        fmt: str = "jsonl.gz", max_retries: int = 2, max_quarantine: float = 0.05,
        progress: Callable[[int, int, dict[str, Any] | None], None] | None = None) -> RunResult:
    """Process `pool` with `recipe` into `out_dir` on Ray; resumes a previous run there."""
    if fmt not in FORMATS:
        raise ConfigError(f"output format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if workers is not None and workers < 1:
        raise ConfigError("--workers must be at least 1")
    pool_ref = resolve_pool(pool)
    recipe.build()  # fail on missing models or word lists before any work starts
    out_dir = out_dir.rstrip("/")
    _claim_out_dir(out_dir, recipe, pool_ref, fmt)

    todo, done = [], {}
    for uri in pool_ref.uris:
        stats_uri = f"{out_dir}/stats/{shard_stem(uri)}.json"
        if _exists(stats_uri):
            done[shard_stem(uri)] = _read_json(stats_uri)
        else:
            todo.append(uri)
    skipped = len(done)
    if progress:
        progress(len(done), len(pool_ref.uris), None)

    started = time.perf_counter()
    failed: list[str] = []
    if todo:
        ours = ray_init(workers, address)
        try:
            failed = _dispatch(todo, out_dir, recipe, fmt, workers, max_retries, done, len(pool_ref.uris), progress)
        finally:
            if ours:
                import ray

                ray.shutdown()
    wall = time.perf_counter() - started

    if failed:
        raise RunError(
            f"{len(failed)} of {len(pool_ref.uris)} shards failed after {max_retries} retries:\n  "
            + "\n  ".join(failed)
            + f"\nfinished shards are kept; re-run the same command to redo only the failed ones"
        )
    result = _finish(out_dir, recipe, pool_ref, done, fmt, wall, workers, skipped)
    q = result.stats["totals"]
    if q["records"] and q["quarantined"] / q["records"] > max_quarantine:
        raise DataError(
            f"quarantined {q['quarantined']} of {q['records']} records ({q['quarantined'] / q['records']:.1%}), "
            f"over the budget of {max_quarantine:.1%}; see {out_dir}/quarantine/ for each record and its reason "
            f"(raise --max-quarantine to accept)"
        )
    return result


def _dispatch(todo: list[str], out_dir: str, recipe: Any, fmt: str, workers: int | None, max_retries: int,
              done: dict[str, Any], total: int, progress: Callable | None) -> list[str]:
    import ray

    limit = workers or int(ray.cluster_resources().get("CPU", 1))
    task = ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=True)(process_shard)
    pending: dict[Any, str] = {}
    queue = list(todo)
    failed: list[str] = []
    while queue or pending:
        while queue and len(pending) < limit:
            uri = queue.pop(0)
            pending[task.remote(uri, out_dir, recipe, fmt)] = uri
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            uri = pending.pop(ref)
            try:
                stats = ray.get(ref)
            except Exception as e:  # the task failed after its retries
                cause = getattr(e, "cause", None) or e
                failed.append(f"{uri}: {type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}")
                continue
            done[stats["shard"]] = stats
            if progress:
                progress(len(done), total, stats)
    return failed


def _claim_out_dir(out_dir: str, recipe: Any, pool_ref: PoolRef, fmt: str) -> None:
    """Refuse to mix runs: an output directory belongs to one (recipe, pool, format)."""
    marker = f"{out_dir}/run.json"
    claim = {"recipe": recipe.id, "recipe_name": recipe.name, "pool": pool_ref.id, "format": fmt}
    if _exists(marker):
        previous = _read_json(marker)
        if {k: previous.get(k) for k in claim} != claim:
            raise ConfigError(
                f"{out_dir} holds a run of recipe {previous.get('recipe_name')} ({previous.get('recipe')}) on pool "
                f"{previous.get('pool')} in {previous.get('format')}; use a new --out for a different recipe, pool or format"
            )
        return
    _write_json(marker, {**claim, "recipe_spec": recipe.to_dict()})


def _exists(uri: str) -> bool:
    fs, path = fsspec.core.url_to_fs(uri)
    return fs.exists(path)


def _finish(out_dir: str, recipe: Any, pool_ref: PoolRef, done: dict[str, Any], fmt: str, wall: float,
            workers: int | None, skipped: int) -> RunResult:
    stems = sorted(done)
    steps = None
    totals = {"records": 0, "unreadable": 0, "quarantined": 0, "kept": 0, "secs": 0.0, "text_bytes": 0}
    for stem in stems:
        st = done[stem]
        steps = merge(steps, st["steps"])
        for k in totals:
            totals[k] += st[k]
    shards = [ShardEntry(**done[s]["output"]) for s in stems]
    step_counts = [{k: s[k] for k in ("name", "in", "kept", "removed", "quarantined", "out", "modified")} for s in steps or []]
    manifest = Manifest(kind="dataset", name=recipe.name, shards=shards,
                        inputs={"pool": pool_ref.id, "recipe": recipe.id, "format": fmt},
                        extra={"recipe": recipe.to_dict(), "pool_name": pool_ref.name, "steps": step_counts,
                               "records": totals["records"], "quarantined": totals["quarantined"]})
    manifest.save(f"{out_dir}/{MANIFEST_NAME}")
    stats = {"dataset": manifest.id, "recipe": recipe.name, "pool": pool_ref.id, "shards": len(stems),
             "skipped_shards": skipped, "wall_secs": wall, "workers": workers, "totals": totals,
             "steps": [{**s, **{k: dict(s[k]) for k in ("labels_in", "labels_removed", "labels_modified")}}
                       for s in steps or []]}
    _write_json(f"{out_dir}/stats.json", stats)
    return RunResult(out_dir, manifest, stats, skipped)
