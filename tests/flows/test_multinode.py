"""DCLM-Baseline on a real two-node Ray cluster gives the dataset a local run gives.

The cluster is started on this machine as on any other: `ray start --head` and
`ray start --address` (one CPU each, private temp dirs and ports, so no other
Ray on the machine is touched), each kept in the foreground with `--block` and
stopped by its own PID. `dcbench process --address` runs in a subprocess (the
test session may hold its own Ray), with a pass-through plugin step first that
writes the Ray node id of every worker process that runs a shard: both node
ids must show up. The dataset's content id must equal a local run's.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from dcbench.flows.toy_setup import train_toy_classifier
from dcbench.pools.toy import build_toy_pool

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "baselines" / "recipes" / "dclm_baseline.yaml"
START_TIMEOUT = 120

pytestmark = pytest.mark.slow  # a cluster, a toy pool and two runs: about a minute on 2 cores

PLUGIN = textwrap.dedent('''
    """A pass-through step that records which Ray node ran it."""
    from pathlib import Path

    from dcbench.baselines.registry import step


    @step("filter", state=("record_dir",))
    def record_node(*, record_dir: str):
        """Keep every page; a worker process's first page writes its Ray node id to `record_dir`."""
        done = []

        def keep(page):
            if not done:
                import ray

                Path(record_dir, ray.get_runtime_context().get_node_id()).touch()
                done.append(True)
            return [page]

        return keep
''')

NODES = """
import json, sys, ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
print(json.dumps(sorted(n["NodeID"] for n in ray.nodes() if n["Alive"])))
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return {**env, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", **extra}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ports(head: bool) -> list[str]:
    names = ["--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
             "--dashboard-agent-grpc-port", "--metrics-export-port", "--runtime-env-agent-port"]
    names += ["--dashboard-port"] if head else []
    return [a for n in names for a in (n, str(_free_port()))]


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name: [state, ppid, ...]; None when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _descendants(pid: int) -> dict[int, str]:
    """Every process below `pid`, with its start time (so a reused PID is never taken for it)."""
    stats = {int(n): st for n in os.listdir("/proc") if n.isdigit() and (st := _stat(int(n)))}
    out: dict[int, str] = {}
    todo = [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, st in stats.items() if int(st[1]) == p]
        out.update({c: stats[c][19] for c in kids})
        todo += kids
    return out


class TwoNodeCluster:
    """A head and a worker node, one CPU each, in private temp dirs; stopped by their PIDs."""

    def __init__(self, root: Path):
        self.root = root
        self.procs: list[subprocess.Popen] = []
        self.logs: list = []
        self.address = f"127.0.0.1:{_free_port()}"

    def _start(self, name: str, args: list[str]) -> Path:
        temp = self.root / name
        temp.mkdir()
        log = (self.root / f"{name}.log").open("w")
        self.logs.append(log)
        ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
        assert ray, "the `ray` command (installed with ray) is not on PATH"
        cmd = [ray, "start", "--block", "--num-cpus", "1",
               "--object-store-memory", str(100 * 2**20), "--temp-dir", str(temp), "--disable-usage-stats", *args]
        self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=_env()))
        return temp

    def start(self) -> list[str]:
        """Start both nodes; return the ids of the two live nodes."""
        port = self.address.split(":")[1]
        head = self._start("head", ["--head", "--port", port, "--include-dashboard", "false", *_ports(True)])
        self._wait(lambda: (head / "ray_current_cluster").exists(), "the head node")
        self._start("worker", ["--address", self.address, *_ports(False)])
        nodes: list[str] = []

        def two_nodes() -> bool:
            nonlocal nodes
            out = subprocess.run([sys.executable, "-c", NODES, self.address], capture_output=True, text=True,
                                 env=_env(), timeout=60)
            nodes = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else []
            return len(nodes) == 2

        self._wait(two_nodes, "both nodes")
        return nodes

    def _wait(self, ready, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            dead = [p for p in self.procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                logs = "\n".join(p.read_text()[-2000:] for p in sorted(self.root.glob("*.log")))
                raise AssertionError(f"{what} did not come up{' (a ray start exited)' if dead else ''}:\n{logs}")
            time.sleep(1)

    def stop(self) -> None:
        """SIGTERM each `ray start --block` (it stops its node's processes), then SIGKILL whatever of
        ours is left, each by its own PID."""
        ours = {pid: start for p in self.procs for pid, start in _descendants(p.pid).items()}
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        time.sleep(1)
        for pid, start in ours.items():  # whatever of the nodes' processes outlived them
            st = _stat(pid)
            if st is not None and st[19] == start:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for log in self.logs:
            log.close()


@pytest.fixture(scope="module")
def cluster():
    root = Path(tempfile.mkdtemp(prefix="dcbn"))  # short: Ray's socket paths live under it
    c = TwoNodeCluster(root)
    try:
        nodes = c.start()
        yield c.address, nodes, root
    finally:
        c.stop()
        shutil.rmtree(root, ignore_errors=True)


def _recipe(tmp_path: Path, record_dir: Path) -> Path:
    recipe = yaml.safe_load(RECIPE.read_text())
    recipe["steps"].insert(0, {"func": "record_node", "record_dir": str(record_dir)})
    path = tmp_path / f"{record_dir.name}.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def _process(recipe: Path, plugin: Path, pool: Path, out: Path, *where: str, **env: str) -> dict:
    cmd = [sys.executable, "-m", "dcbench.cli", "process", str(recipe), "--plugin", str(plugin), "--pool", str(pool),
           "--out", str(out), "--quiet", *where]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=_env(**env), timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads((out / "manifest.json").read_text())


def test_dclm_baseline_on_two_nodes_matches_a_local_run(cluster, tmp_path):
    address, nodes, root = cluster
    pool = tmp_path / "pool"
    manifest = build_toy_pool(str(pool), n_docs=400, n_shards=4, seed=3)
    train_toy_classifier(str(pool), manifest, 3)
    plugin = tmp_path / "where_it_ran.py"
    plugin.write_text(PLUGIN)
    on_cluster, local = tmp_path / "on_cluster", tmp_path / "local"
    on_cluster.mkdir()
    local.mkdir()

    remote = _process(_recipe(tmp_path, on_cluster), plugin, pool, tmp_path / "run-cluster", "--address", address)
    assert sorted(p.name for p in on_cluster.iterdir()) == nodes  # shards ran on both nodes, nowhere else

    here = _process(_recipe(tmp_path, local), plugin, pool, tmp_path / "run-local", "--workers", "2",
                    DCBENCH_RAY_TMP=str(root / "local-ray"))
    assert len(list(local.iterdir())) == 1 and not {p.name for p in local.iterdir()} & set(nodes)
    assert remote["id"] == here["id"] and remote["documents"] == here["documents"] > 0
    assert [s["sha256"] for s in remote["shards"]] == [s["sha256"] for s in here["shards"]]
