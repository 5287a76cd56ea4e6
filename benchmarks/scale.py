"""How cost and memory grow with the pool: DCLM-Baseline, tokenize+shuffle and BFF over 2 actors.

For each pool size (toy pools of --sizes documents, --docs-per-shard each
shard, so the shard count grows with the pool and a shard's work stays the
same), runs as a user would, each job a fresh `dcbench` process with its own
local Ray:

  1. `dcbench pool toy --no-classifier` (the generator alone; the quality
     classifier of the smallest pool is copied into the others, so every size
     filters with the same model);
  2. `dcbench process baselines/recipes/dclm_baseline.yaml` (DCLM-Baseline);
  3. `dcbench tokenize` of the raw pool with GPT-NeoX-20B, seq_len 2048
     (tokenize + two-stage shuffle);
  4. `dcbench process` of a one-step recipe: BFF global dedup, `partitions: 2`
     (the filter split over 2 Ray actors).

and prints per job: wall-clock, documents/s (wall) and per core (documents over
the CPU seconds of the whole process tree: driver, Ray's own processes, task
workers, actors), peak RSS (VmHWM) of the driver, of the largest task worker
and of the largest actor, and each figure's ratio to the smallest size's run.
Linear cost shows as per-core ratios near 1.00; flat memory as memory ratios
near 1.00. The load average is printed with every job: the figures are only
comparable on a machine as quiet as the one they were taken on.

    python benchmarks/scale.py                      # 10,000 and 100,000 documents
    python benchmarks/scale.py --sizes 10000,100000,1000000 --workers 2 --json scale.json

The 1,000,000-document run writes ~4 GB of pool and takes tens of minutes on 2 cores.
Pools are kept in --root (default: a `dcbench-scale` folder in the temp dir) and reused
when present; job outputs are removed after each job.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dcbench.table import format_table  # noqa: E402

NEOX = REPO.parent / "shared" / "data" / "tokenizers" / "gpt-neox-20b.json"
RECIPE = REPO / "baselines" / "recipes" / "dclm_baseline.yaml"
CLASSIFIER = "quality/fasttext_hq_vs_pool.bin"
BFF_RECIPE = """\
name: bff_two_actors
steps:
  - func: bff_dedup
    ngram_size: 13
    min_ngram_size: 13
    filtering_threshold: 0.8
    fp_rate: 0.01
    partitions: 2
"""


# ------------------------------------------------------------------ process-tree sampling (Linux /proc)


def _proc_table() -> dict[int, int]:
    """pid -> parent pid of every process."""
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
            except OSError:
                continue
            out[int(name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, ppid in _proc_table().items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _sample(pid: int) -> tuple[int, float, str] | None:
    """(peak RSS bytes, CPU seconds, process title) of a live process."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return None
    hwm = next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmHWM:")), 0)
    cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return hwm, cpu, title


@dataclass
class Tree:
    """What a process tree used: peak RSS and CPU seconds per process, by role."""

    root: int
    peak: dict[int, int] = field(default_factory=dict)
    cpu: dict[int, float] = field(default_factory=dict)
    role: dict[int, str] = field(default_factory=dict)

    def poll(self) -> None:
        for pid in _descendants(self.root):
            got = _sample(pid)
            if got is None:
                continue
            hwm, cpu, title = got
            self.peak[pid] = max(self.peak.get(pid, 0), hwm)
            self.cpu[pid] = max(self.cpu.get(pid, 0.0), cpu)
            if pid == self.root:
                self.role[pid] = "driver"
            elif title.startswith("ray::"):
                name = title[5:]
                # an actor's title is its class (`ray::RayPartition`); a task worker's, the task or IDLE;
                # Ray's own agents (`ray::DashboardAgent`, `ray::RuntimeEnvAgent`) count as Ray
                if name.endswith("Agent"):
                    self.role[pid] = "ray"
                elif self.role.get(pid) != "actor":
                    self.role[pid] = "actor" if name[:1].isupper() and name != "IDLE" else "worker"
            else:
                self.role.setdefault(pid, "ray")

    def max_peak(self, role: str) -> int:
        return max((p for pid, p in self.peak.items() if self.role.get(pid) == role), default=0)

    def count(self, role: str) -> int:
        return sum(1 for r in self.role.values() if r == role)


@dataclass
class Job:
    size: int
    name: str
    documents: int
    wall_s: float
    cpu_s: float
    driver_mb: float
    worker_mb: float
    workers: int
    actor_mb: float
    actors: int
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]

    @property
    def docs_per_s(self) -> float:
        return self.documents / self.wall_s

    @property
    def docs_per_core_s(self) -> float:
        return self.documents / max(self.cpu_s, 1e-9)


def run_job(cmd: list[str], size: int, name: str, documents: int, interval: float = 0.2) -> Job:
    """Run `cmd`, sampling its process tree every `interval` seconds."""
    print(f"  {name}: {' '.join(cmd)}", flush=True)
    load_before = os.getloadavg()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tree = Tree(proc.pid)
    done = threading.Event()

    def sampler() -> None:
        while not done.is_set():
            tree.poll()
            done.wait(interval)

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    output = proc.communicate()[0]
    wall = time.perf_counter() - started
    done.set()
    thread.join()
    if proc.returncode:
        sys.exit(f"{name} failed (exit {proc.returncode}):\n{output[-4000:]}")
    mb = 1 / 2**20
    cpu = max(sum(tree.cpu.values()), 0.0)
    return Job(size, name, documents, wall, cpu, tree.max_peak("driver") * mb, tree.max_peak("worker") * mb,
               tree.count("worker"), tree.max_peak("actor") * mb, tree.count("actor"), load_before, os.getloadavg())


# ------------------------------------------------------------------ the jobs


def dcbench(*args: str) -> list[str]:
    return [sys.executable, "-m", "dcbench.cli", *args]


def ensure_pool(root: Path, size: int, per_shard: int, classifier_from: Path | None) -> tuple[Path, Job | None]:
    """The toy pool of `size` documents (built, timed, unless already there) with a quality classifier."""
    pool = root / f"pool-{size}"
    manifest = pool / "manifest.json"
    job = None
    if not (manifest.is_file() and json.loads(manifest.read_text())["inputs"].get("docs") == size):
        shutil.rmtree(pool, ignore_errors=True)
        shards = max(1, -(-size // per_shard))
        job = run_job(dcbench("pool", "toy", "--out", str(pool), "--docs", str(size), "--shards", str(shards),
                              "--no-classifier"), size, "toy pool", size)
    if not (pool / CLASSIFIER).is_file():
        if classifier_from is None:  # the smallest pool trains its own, as `dcbench pool toy` does
            subprocess.run(dcbench("quality", "train", str(pool / "reference" / "hq.jsonl"), str(pool),
                                   "-o", str(pool / CLASSIFIER), "--bucket", "100000"), cwd=REPO, check=True,
                           stdout=subprocess.DEVNULL)
        else:
            (pool / CLASSIFIER).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(classifier_from / CLASSIFIER, pool / CLASSIFIER)
    return pool, job


def jobs_for(size: int, pool: Path, work: Path, workers: int, which: set[str]) -> list[Job]:
    out = []
    w = str(workers)
    if "dclm" in which:
        out.append(run_job(dcbench("process", str(RECIPE), "--pool", str(pool), "--out", str(work / "dclm"),
                                   "--workers", w, "--quiet"), size, "DCLM-Baseline", size))
    if "tokenize" in which:
        out.append(run_job(dcbench("tokenize", str(pool), "--tier", "400M-1x", "--tokenizer", str(NEOX),
                                   "-o", str(work / "tokens"), "--workers", w), size, "tokenize+shuffle", size))
    if "bff" in which:
        recipe = work / "bff.yaml"
        recipe.write_text(BFF_RECIPE)
        out.append(run_job(dcbench("process", str(recipe), "--pool", str(pool), "--out", str(work / "bff"),
                                   "--workers", w, "--quiet"), size, "BFF, 2 actors", size))
    return out


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}" if base else "-"


def report(jobs: list[Job]) -> str:
    base = {j.name: j for j in sorted(jobs, key=lambda j: j.size, reverse=True)}  # the smallest size wins
    rows = []
    for j in jobs:
        b = base[j.name]
        rows.append([j.name, f"{j.size:,}", f"{j.wall_s:.1f}", f"{j.cpu_s:.1f}", f"{j.docs_per_s:,.0f}",
                     f"{j.docs_per_core_s:,.0f}",
                     f"{j.driver_mb:,.0f}", f"{j.worker_mb:,.0f}" if j.workers else "-",
                     f"{j.actor_mb:,.0f}" if j.actors else "-",
                     ratio(j.wall_s / j.size, b.wall_s / b.size), ratio(j.docs_per_core_s, b.docs_per_core_s),
                     ratio(j.driver_mb, b.driver_mb), ratio(j.worker_mb, b.worker_mb) if j.workers else "-",
                     ratio(j.actor_mb, b.actor_mb) if j.actors else "-",
                     " ".join(f"{x:.2f}" for x in j.load_before)])
    head = ["job", "docs", "wall s", "CPU s", "docs/s", "docs/s/core", "driver MB", "worker MB", "actor MB",
            "x wall/doc", "x per core", "x driver", "x worker", "x actor", "load before (1/5/15 min)"]
    return format_table(head, rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000", help="pool sizes in documents, comma-separated")
    ap.add_argument("--docs-per-shard", type=int, default=2500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--jobs", default="dclm,tokenize,bff", help="which of dclm, tokenize, bff to run")
    ap.add_argument("--root", default=os.path.join(tempfile.gettempdir(), "dcbench-scale"))
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(","))
    which = set(args.jobs.split(","))
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}; pools in {root}", flush=True)
    jobs: list[Job] = []
    smallest = None
    for size in sizes:
        print(f"{size:,} documents", flush=True)
        pool, built = ensure_pool(root, size, args.docs_per_shard, smallest)
        smallest = smallest or pool
        jobs += [built] if built else []
        work = root / f"run-{size}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        try:
            jobs += jobs_for(size, pool, work, args.workers, which)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(report(jobs), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(j) for j in jobs], indent=1))


def reprint(path: str) -> None:
    """The table again from a --json file."""
    print(report([Job(**{**j, "load_before": tuple(j["load_before"]), "load_after": tuple(j["load_after"])})
                  for j in json.loads(Path(path).read_text())]))


if __name__ == "__main__":
    main()
