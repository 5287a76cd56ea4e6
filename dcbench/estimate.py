"""What a run will cost, found out before it runs: a sample of the pool through the recipe,
scaled up to the whole pool, and checked against the memory there is.

`measure` takes the first documents of a few shards spread over the pool, writes them as
a small pool and runs the recipe over it in this process with the runner's own code
(`process_shard` per shard, a global step's `analyze` with an in-process context), timing
each stage and keeping its counts and output bytes. `project` scales that to the pool
(`pool_scale`: the manifest's document counts, or one shard counted and the others
sized by their bytes): documents and core-seconds per stage, wall-clock on W workers,
disk per stage output, and memory: a worker's peak, the driver's, and what each global
step holds.

A global step says how much memory it needs by having `memory_needs` (the
`MemoryEstimable` protocol): given the data that reaches it (`DataScale`) and the
memory there is (`Room`), it names each thing it holds, where (the driver, each worker,
or Ray actors), and the recipe setting that shrinks it. A global step without it is
measured instead: the Python and numpy memory its analysis of the sample allocated at
its peak, scaled with the documents. `check_fits` compares every need with the room
and raises a ConfigError (exit 2) with the figures and the setting to change;
`dcbench plan` prints the whole projection, and `dcbench process` runs the check on a
small sample before its first shard.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import fsspec

from dcbench.contracts import GlobalStep, Recipe
from dcbench.errors import ConfigError
from dcbench.manifest import MANIFEST_NAME, Manifest
from dcbench.shards import Bad, read_shard, shard_stem, write_shard
from dcbench.shardwork import built_steps, process_shard, write_json
from dcbench.stages import GlobalContext, Stage, plan_stages

Where = Literal["driver", "worker", "actor"]

# The peak resident memory of a Ray process before it builds a recipe's steps (VmHWM, Ray 2.x,
# Python 3.11, measured on this machine): a worker that imported dcbench's runner and its built-in
# steps, 105 MiB; a `dcbench process` driver (every stage's CLI imported, Ray started), 150 MiB.
# A plan adds what building the steps and running the sample through them grew this process by.
RAY_WORKER_BASE = 105 * 2**20
RAY_DRIVER_BASE = 150 * 2**20
RAY_START_SECS = 4.0  # start-up, a private local Ray session, the report at the end (measured 3-5 s)
FIT_SHARE = 0.9  # the share of the reported memory a plan lets a run use


@dataclass(frozen=True)
class DataScale:
    """The data that reaches a step, as a plan projects it."""

    documents: int
    text_bytes: int
    shards: int


@dataclass(frozen=True)
class Room:
    """Memory there is: free on the driver's machine, and what Ray lets tasks and actors use per node."""

    driver: int
    nodes: tuple[int, ...]
    source: str  # where the figures come from, for the user


@dataclass(frozen=True)
class MemoryNeed:
    """One thing a step holds in memory: `count` holders of `bytes` each, `where`."""

    what: str
    bytes: int
    where: Where
    count: int = 1
    setting: str = ""  # the recipe setting (or option) that makes it smaller, as the user writes it


@runtime_checkable
class MemoryEstimable(Protocol):
    """A global step that can tell its memory need before it runs (see the module docstring)."""

    def memory_needs(self, scale: DataScale, room: Room) -> list[MemoryNeed]: ...


# ------------------------------------------------------------------ memory there is


def available_memory_bytes() -> int | None:
    """Memory this process can still take: MemAvailable (or sysconf's available pages),
    capped by a cgroup limit when one is set; None when it cannot be told."""
    avail = _meminfo_available()
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = None
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < 1 << 60:
            room = max(limit - usage, 0)
            avail = room if avail is None else min(avail, room)
            break
    return avail


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def current_room() -> Room:
    """The room now: Ray's `memory` per alive node when Ray is running here, else this machine's free memory."""
    driver = available_memory_bytes() or 0
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        nodes = tuple(int(n["Resources"].get("memory", 0)) for n in ray.nodes() if n.get("Alive"))
        return Room(driver, nodes, f"the Ray cluster ({len(nodes)} node(s), memory as Ray reports it)")
    return Room(driver, (driver,), "this machine (free memory)")


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def peak_rss() -> int:
    """This process's peak resident memory (VmHWM) in bytes; 0 where /proc does not say."""
    return _status("VmHWM:")


def reset_peak_rss() -> int:
    """Start this process's peak (VmHWM) afresh from its current memory where Linux allows it
    (/proc/self/clear_refs); returns the peak to measure growth from."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return peak_rss()


def _status(key: str) -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


# ------------------------------------------------------------------ the pool's size


@dataclass(frozen=True)
class PoolScale:
    documents: int
    shards: int
    bytes: int  # on disk
    counted: bool  # documents from a manifest (True) or estimated from shard sizes (False)
    given: bool = False  # named on the command line: the shards are a sample of a pool held elsewhere


def pool_scale(uris: Sequence[str], manifest_uri: str | None = None) -> PoolScale:
    """Documents in the pool: its manifest's counts, else the first shard counted and the rest
    estimated from their sizes on disk."""
    sizes = [_size(u) for u in uris]
    if manifest_uri is not None:
        m = Manifest.load(manifest_uri)
        return PoolScale(m.documents, len(uris), m.bytes, True)
    first = sum(1 for _ in read_shard(uris[0], require_text=False))
    docs = round(first * sum(sizes) / sizes[0]) if sizes[0] else first * len(uris)
    return PoolScale(docs, len(uris), sum(sizes), False)


def manifest_of(pool: str) -> str | None:
    """The manifest a pool spec names or holds, if any."""
    fs, path = fsspec.core.url_to_fs(pool)
    if path.endswith(".json") and fs.isfile(path):
        return pool
    if fs.isdir(path) and fs.isfile(f"{path.rstrip('/')}/{MANIFEST_NAME}"):
        return f"{pool.rstrip('/')}/{MANIFEST_NAME}"
    return None


def _size(uri: str) -> int:
    fs, path = fsspec.core.url_to_fs(uri)
    return int(fs.size(path) or 0)


# ------------------------------------------------------------------ measuring a sample


@dataclass
class StageSample:
    """What one stage did to the sample."""

    stage: Stage
    docs_in: int = 0
    docs_out: int = 0
    text_bytes_in: int = 0
    text_bytes_out: int = 0
    out_bytes: int = 0  # output shards on disk
    core_secs: float = 0.0  # the shards' tasks, reading and writing included
    serial_secs: float = 0.0  # a global step's analysis outside its fan-out (runs once, in the driver)
    parallel_secs: float = 0.0  # its fan-out over shards (runs on the workers)
    decisions_bytes: int = 0  # the decisions it returned, as Python objects
    traced_peak: int = 0  # a global step without memory_needs: its analysis' peak allocations
    needs_at_sample: int = 0  # a global step with memory_needs: its driver needs at the sample's scale
    global_step: Any = None


@dataclass
class Sample:
    docs: int
    shards: int
    build_secs: float  # building the recipe's steps (models, word lists): once per worker process
    build_growth: int  # what building the steps added to this process's peak memory (the driver builds them too)
    worker_growth: int  # what building them and running local steps added: a worker's share
    stages: list[StageSample] = field(default_factory=list)


def is_sample(ctx: GlobalContext) -> bool:
    """Whether a global step's analysis runs on a plan's sample: it then sizes what it holds for the
    sample (a Bloom filter), keeps no state, and uses no Ray; its needs for the pool are asked of
    `memory_needs` apart."""
    return isinstance(ctx, _InProcessContext)


class _InProcessContext(GlobalContext):
    """A global step's context that maps over shards in this process and times the fan-out."""

    def __init__(self, work_dir: str, step: str):
        super().__init__(1, work_dir, 0, step=step)
        self.fanout_secs = 0.0

    def map_shards(self, fn: Any, shards: list[str], *args: Any) -> list[Any]:
        start = time.perf_counter()
        try:
            return [fn(uri, *args) for uri in shards]
        finally:
            self.fanout_secs += time.perf_counter() - start


def sample_pool(uris: Sequence[str], docs: int, out_dir: str, shards: int = 4) -> list[str]:
    """The first records of up to `shards` shards spread over the pool, `docs` in all, written
    under `out_dir` as jsonl shards named after their source; returns their paths."""
    picks = [uris[round(i * (len(uris) - 1) / max(shards - 1, 1))] for i in range(min(shards, len(uris)))]
    picks = list(dict.fromkeys(picks))
    each = math.ceil(docs / len(picks))
    out = []
    for uri in picks:
        path = f"{out_dir}/{shard_stem(uri)}.jsonl"
        write_shard(path, _first(uri, each))
        out.append(path)
    return out


def _first(uri: str, n: int) -> Iterator[dict[str, Any]]:
    for i, rec in enumerate(read_shard(uri, require_text=False)):
        if i >= n:
            return
        if not isinstance(rec, Bad):
            yield rec


def measure(recipe: Recipe, uris: Sequence[str], *, docs: int = 2000, shards: int = 4, fmt: str = "jsonl.gz",
            local_only: bool = False, work_dir: str | None = None) -> Sample:
    """Run `recipe` over a sample of the pool in this process (see the module docstring).
    `local_only` stops before the first global step (nothing a global step keeps is touched)."""
    with tempfile.TemporaryDirectory(prefix="dcbench-plan-", dir=work_dir) as tmp:
        inputs = sample_pool(uris, docs, f"{tmp}/pool", shards)
        rss0, start = reset_peak_rss(), time.perf_counter()
        built = built_steps(recipe)
        sample = Sample(0, len(inputs), time.perf_counter() - start, peak_rss() - rss0, peak_rss() - rss0)
        for stage in plan_stages([step.kind for step in recipe.steps]):
            if stage.global_step is not None and local_only:
                break
            sdir = f"{tmp}/stages/{stage.index:02d}"
            st = StageSample(stage)
            if stage.global_step is not None:
                _analyze_sample(built[stage.global_step], inputs, sdir, st)
            inputs = _process_sample(recipe, inputs, sdir, fmt, stage, st)
            if stage.global_step is None:  # a worker's peak: before any analysis grows this process
                sample.worker_growth = max(sample.worker_growth, peak_rss() - rss0)
            sample.stages.append(st)
        sample.docs = sample.stages[0].docs_in if sample.stages else 0
        return sample


def _process_sample(recipe: Recipe, inputs: list[str], sdir: str, fmt: str, stage: Stage,
                    st: StageSample) -> list[str]:
    outputs = []
    for uri in inputs:
        stats = process_shard(uri, sdir, recipe, fmt, stage)
        st.docs_in += stats["records"]
        st.docs_out += stats["kept"]
        st.text_bytes_in += stats["text_bytes"]
        st.out_bytes += stats["output"]["bytes"]
        st.core_secs += stats["secs"]
        out = f"{sdir}/{stats['output']['path']}"
        st.text_bytes_out += sum(len(d["text"].encode("utf-8", "surrogatepass")) for d in read_shard(out)
                                 if not isinstance(d, Bad))
        outputs.append(out)
    return outputs


def _analyze_sample(built: tuple[Any, Any], inputs: list[str], sdir: str, st: StageSample) -> None:
    """A global step's analysis of the sample: timed (serial and fan-out apart); its memory from
    `memory_needs` when it has it, else traced; its decisions written for the stage to apply."""
    info, step = built
    assert isinstance(step, GlobalStep)
    st.global_step = step
    ctx = _InProcessContext(f"{sdir}/work", info.label)
    start = time.perf_counter()
    decisions = step.analyze(inputs, ctx)
    st.parallel_secs = ctx.fanout_secs
    st.serial_secs = time.perf_counter() - start - ctx.fanout_secs
    st.decisions_bytes = deep_size(decisions)
    if not isinstance(step, MemoryEstimable):
        tracemalloc.start()
        try:
            step.analyze(inputs, _InProcessContext(f"{sdir}/work2", info.label))
            st.traced_peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    for uri in inputs:
        write_json(f"{sdir}/decisions/{shard_stem(uri)}.json", decisions[shard_stem(uri)])


def deep_size(obj: Any) -> int:
    """Bytes a tree of dicts, lists and scalars takes as Python objects (shared small ints counted once each)."""
    seen: set[int] = set()
    stack, total = [obj], 0
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, (list, tuple, set)):
            stack.extend(o)
    return total


# ------------------------------------------------------------------ projecting to the pool


@dataclass
class StagePlan:
    """One stage of the run, projected for the whole pool."""

    index: int
    name: str
    docs_in: int
    docs_out: int
    core_secs: float
    wall_secs: float
    disk_bytes: int
    needs: list[MemoryNeed] = field(default_factory=list)


@dataclass
class Projection:
    pool: PoolScale
    sample_docs: int
    workers: int
    room: Room
    stages: list[StagePlan]
    worker_peak: int  # bytes one worker process peaks at
    driver_peak: int
    wall_secs: float
    background: float = 0.0  # other busy processes on this machine when the sample ran (its load average)

    @property
    def core_hours(self) -> float:
        return sum(s.core_secs for s in self.stages) / 3600

    @property
    def disk_bytes(self) -> int:
        return sum(s.disk_bytes for s in self.stages)

    def needs(self, where: Where) -> list[tuple[StagePlan, MemoryNeed]]:
        return [(s, n) for s in self.stages for n in s.needs if n.where == where]


def project(sample: Sample, pool: PoolScale, workers: int, room: Room, names: Sequence[str],
            cpus: int | None = None, background: float = 0.0) -> Projection:
    """Scale `sample` up to `pool` on `workers` workers. `cpus`: the cores they share, when they run on
    this machine, with `background` other busy processes (the load average before the sample): the
    sample ran as one process among them, the workers will be `workers` (more than the cores run
    slower). `names`: each recipe step's label."""
    if not sample.docs:
        raise ConfigError("the pool's sample holds no readable documents, so nothing can be projected")
    f = pool.documents / sample.docs
    slow = _crowding(background + workers, cpus) / _crowding(background + 1, cpus) if cpus else 1.0
    stages = [_project_stage(st, f, pool.shards, workers, slow, room, names) for st in sample.stages]
    if stages:
        stages[0].wall_secs += sample.build_secs  # each worker builds the steps on its first shard
    worker_extra = max((sum(n.bytes for n in s.needs if n.where == "worker") for s in stages), default=0)
    driver_extra = max((sum(n.bytes for n in s.needs if n.where == "driver") for s in stages), default=0)
    wall = sample.build_secs + RAY_START_SECS + sum(s.wall_secs for s in stages)
    return Projection(pool, sample.docs, workers, room, stages, RAY_WORKER_BASE + sample.worker_growth + worker_extra,
                      RAY_DRIVER_BASE + sample.build_growth + driver_extra, wall, background)


def _crowding(processes: float, cpus: int) -> float:
    """How much slower each of `processes` busy processes runs on `cpus` cores than alone on one."""
    return max(1.0, processes / cpus)


def _project_stage(st: StageSample, f: float, shards: int, workers: int, slow: float, room: Room,
                   names: Sequence[str]) -> StagePlan:
    local = [names[i] for i in st.stage.local_steps]
    name = (names[st.stage.global_step] if st.stage.global_step is not None else
            f"{local[0]} .. {local[-1]}" if len(local) > 1 else local[0] if local else "-")
    per_shard = st.core_secs * f / shards
    wall = st.serial_secs * f + slow * (st.parallel_secs * f / workers + math.ceil(shards / workers) * per_shard)
    plan = StagePlan(st.stage.index, name, round(st.docs_in * f), round(st.docs_out * f),
                     (st.core_secs + st.parallel_secs + st.serial_secs) * f, wall, round(st.out_bytes * f))
    if st.global_step is not None:
        plan.needs = _global_needs(st, f, shards, room)
    return plan


def _global_needs(st: StageSample, f: float, shards: int, room: Room) -> list[MemoryNeed]:
    step = st.global_step
    if isinstance(step, MemoryEstimable):
        scale = DataScale(round(st.docs_in * f), round(st.text_bytes_in * f), shards)
        return [*step.memory_needs(scale, room),
                MemoryNeed("its decisions for every document", round(st.decisions_bytes * f), "driver")]
    return [MemoryNeed("its analysis (measured on the sample, scaled with the documents)", round(st.traced_peak * f),
                       "driver")]


# ------------------------------------------------------------------ does it fit


def problems(p: Projection) -> list[str]:
    """Every way the projected run does not fit the room, each with the figure and what to change."""
    out = []
    share = FIT_SHARE
    local = p.room.nodes == (p.room.driver,)
    per_node = p.workers if local else max(1, math.ceil(p.workers / max(len(p.room.nodes), 1)))
    drivers = p.driver_peak + (per_node * p.worker_peak if local else 0)
    if drivers > p.room.driver * share:
        big = max(p.needs("driver"), key=lambda sn: sn[1].bytes, default=None)
        what = (f"; the largest part is stage {big[0].index + 1} ({big[0].name}): {big[1].what}, "
                f"{human_bytes(big[1].bytes)}" + (f"; change {big[1].setting}" if big[1].setting else "")
                if big else "")
        workers = f" and {per_node} workers of {human_bytes(p.worker_peak)}" if local else ""
        out.append(f"the driver ({human_bytes(p.driver_peak)}){workers} need {human_bytes(drivers)}, but "
                   f"{p.room.source} has {human_bytes(p.room.driver)} free (a plan uses at most "
                   f"{share:.0%}){what}" + ("; or run fewer --workers" if local and per_node > 1 else ""))
    if not local and p.room.nodes and per_node * p.worker_peak > min(p.room.nodes) * share:
        out.append(f"{per_node} workers per node need {human_bytes(per_node * p.worker_peak)}, but the smallest "
                   f"node has {human_bytes(min(p.room.nodes))}; run fewer --workers or add nodes")
    out += _actor_problems(p, share)
    return out


def _actor_problems(p: Projection, share: float) -> list[str]:
    out = []
    for stage, need in p.needs("actor"):
        biggest, total = max(p.room.nodes, default=0), sum(p.room.nodes)
        if need.bytes > biggest * share or need.count * need.bytes > total * share:
            out.append(f"stage {stage.index + 1} ({stage.name}): {need.count} {need.what}, "
                       f"{human_bytes(need.bytes)} each ({human_bytes(need.count * need.bytes)} in all), but "
                       f"{p.room.source} has {human_bytes(biggest)} on its largest node and "
                       f"{human_bytes(total)} in all (a plan uses at most {share:.0%}): Ray would wait for them "
                       f"forever" + (f"; change {need.setting}" if need.setting else ""))
    return out


def check_fits(p: Projection, command: str) -> None:
    """Raise ConfigError (exit 2) listing every problem, if there is one."""
    found = problems(p)
    if found:
        raise ConfigError(f"{command}: the run would not fit in memory:\n  " + "\n  ".join(found))


def check_before_run(recipe: Recipe, uris: Sequence[str], manifest_uri: str | None, workers: int,
                     docs: int = 300) -> Projection | None:
    """`dcbench process`'s check before its first shard: a small sample through the local steps
    before the first global step projects what reaches each global step that has `memory_needs`
    (later stages taken as keeping every document: an upper bound), and the driver's and actors'
    needs are checked against the room. Nothing is measured for a recipe without such a step."""
    built = built_steps(recipe)
    if not any(isinstance(step, MemoryEstimable) for _, step in built):
        return None
    sample = measure(recipe, uris, docs=docs, local_only=True)
    pool = pool_scale(uris, manifest_uri)
    f = pool.documents / max(sample.docs, 1)
    last = sample.stages[-1] if sample.stages else None
    reach = DataScale(round((last.docs_out if last else sample.docs) * f),
                      round((last.text_bytes_out if last else 0) * f), pool.shards)
    room = current_room()
    stages = [StagePlan(st.index, recipe.steps[st.global_step].label, reach.documents, reach.documents, 0, 0, 0,
                        built[st.global_step][1].memory_needs(reach, room))
              for st in plan_stages([s.kind for s in recipe.steps])
              if st.global_step is not None and isinstance(built[st.global_step][1], MemoryEstimable)]
    p = Projection(pool, sample.docs, workers, room, stages, 0, RAY_DRIVER_BASE + sample.build_growth
                   + max((sum(n.bytes for n in s.needs if n.where == "driver") for s in stages), default=0), 0.0)
    check_fits(p, "dcbench process")
    return p
