"""`dcbench diff RUN_A RUN_B`: which documents one processing run kept and the other removed, and why.

Both runs must have read the same pool (their stats.json name the same pool id), so a document is
known in both by its input identity: the pool shard's stem and its position in that shard, which
every `removed/<shard>.jsonl` record carries (`dcbench.shardwork`; a stage after the first maps its
positions back through the previous stage's `origins/`). A document is "removed" by a run when one
of its steps removed it, and "kept" otherwise. The two one-sided sets are grouped by the step that
removed them, with counts and a few samples (url, the step's why string, the start of the text).

One shard at a time is held in memory (both runs' removals of that shard), never the whole pool.
Pages a run quarantined carry no position and are not compared: the text says how many there were.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import fsspec

from dcbench.atomic import write_atomic
from dcbench.errors import ConfigError, DataError
from dcbench.pages import SPINE, render
from dcbench.shardwork import exists, read_json
from dcbench.table import format_table

SAMPLES = 3  # per step, by default
SAMPLE_TEXT_CHARS = 160  # of each sample's text, in the text output


@dataclass
class Side:
    """What one run removed that the other kept, grouped by its step (in the recipe's order)."""

    counts: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    unexplained: int = 0  # removals whose step does not explain itself

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, record: dict[str, Any], samples: int) -> None:
        step = record["step"]
        self.counts[step] = self.counts.get(step, 0) + 1
        self.unexplained += not record.get("why")
        group = self.samples.setdefault(step, [])
        if len(group) < samples:
            group.append(record)


@dataclass
class Run:
    """A finished `dcbench process` output, as the diff reads it."""

    out_dir: str
    stats: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.out_dir} (recipe {self.stats['recipe']})"

    def stage_dirs(self) -> list[str]:
        n = int(self.stats.get("stages", 1))
        return [f"{self.out_dir}/stages/{i:02d}" for i in range(n - 1)] + [self.out_dir]

    def removed(self, stem: str) -> dict[tuple[str, int], dict[str, Any]]:
        """This run's removals of one pool shard, by (shard, position) (every stage's)."""
        found: dict[tuple[str, int], dict[str, Any]] = {}
        for sdir in self.stage_dirs():
            uri = f"{sdir}/removed/{stem}.jsonl"
            if not exists(uri):
                continue
            with fsspec.open(uri, "r", encoding="utf-8") as f:
                for line in f:
                    record = json.loads(line)
                    if record.get("position") is not None:
                        found.setdefault((record["shard"], record["position"]), record)
        return found


@dataclass
class Diff:
    a: Run
    b: Run
    only_a: Side  # removed by A, kept by B
    only_b: Side  # removed by B, kept by A
    both: int  # removed by both runs (by whichever steps)
    shards: int

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a.out_dir, "b": self.b.out_dir, "pool": self.a.stats["pool"], "shards": self.shards,
                "removed_by_both": self.both,
                "removed_by_a_kept_by_b": {"total": self.only_a.total, "by_step": self.only_a.counts},
                "removed_by_b_kept_by_a": {"total": self.only_b.total, "by_step": self.only_b.counts}}


def open_run(out_dir: str) -> Run:
    """A finished run's output folder; refuses one that is not (exit 3)."""
    out_dir = out_dir.rstrip("/")
    if not exists(f"{out_dir}/stats.json"):
        raise DataError(f"{out_dir}: no stats.json; give the --out folder of a finished `dcbench process` run")
    run = Run(out_dir, read_json(f"{out_dir}/stats.json"))
    if not any(exists(f"{d}/removed") for d in run.stage_dirs()):
        raise DataError(f"{out_dir}: no removed/ records (written by an older dcbench); run the same "
                        f"`dcbench process` command into a new --out folder to record why each page was removed")
    return run


def diff_runs(dir_a: str, dir_b: str, samples: int = SAMPLES) -> Diff:
    """Compare two finished runs of the same pool, shard by shard."""
    a, b = open_run(dir_a), open_run(dir_b)
    if a.stats.get("pool") != b.stats.get("pool"):
        raise ConfigError(f"dcbench diff: the runs read different pools ({dir_a}: pool {a.stats.get('pool')}, "
                          f"{dir_b}: pool {b.stats.get('pool')}); documents can be matched only between runs "
                          f"of one pool: process the same --pool with both recipes")
    only_a, only_b, both = Side(), Side(), 0
    stems = _stems(a) & _stems(b)
    for stem in sorted(stems):
        removed_a, removed_b = a.removed(stem), b.removed(stem)
        for key, record in removed_a.items():
            if key in removed_b:
                both += 1
            else:
                only_a.add(record, samples)
        for key, record in removed_b.items():
            if key not in removed_a:
                only_b.add(record, samples)
    return Diff(a, b, _in_recipe_order(only_a, a), _in_recipe_order(only_b, b), both, len(stems))


def _stems(run: Run) -> set[str]:
    """The pool shards a run finished (its last stage's stats)."""
    fs, path = fsspec.core.url_to_fs(f"{run.out_dir}/stats")
    return {p.rsplit("/", 1)[-1].removesuffix(".json") for p in fs.glob(f"{path}/*.json")}


def _in_recipe_order(side: Side, run: Run) -> Side:
    order = {s["name"]: i for i, s in enumerate(run.stats["steps"])}
    steps = sorted(side.counts, key=lambda s: (order.get(s, len(order)), s))
    return Side({s: side.counts[s] for s in steps}, {s: side.samples[s] for s in steps}, side.unexplained)


# ------------------------------------------------------------------ output

def _sides(d: Diff) -> Iterator[tuple[str, Side]]:
    yield f"kept by B, removed by A ({d.a.name})", d.only_a
    yield f"kept by A, removed by B ({d.b.name})", d.only_b


def format_diff(d: Diff) -> str:
    """The diff as text: per side, a table of steps and counts, then samples per step."""
    lines = [f"A: {d.a.name}: {d.a.stats['totals']['kept']:,} documents kept",
             f"B: {d.b.name}: {d.b.stats['totals']['kept']:,} documents kept",
             f"pool {d.a.stats['pool']}, {d.shards} shards compared; removed by both: {d.both:,}"]
    quarantined = {r.out_dir: r.stats["totals"]["quarantined"] for r in (d.a, d.b) if r.stats["totals"]["quarantined"]}
    if quarantined:
        lines.append("not compared (quarantined, no position): "
                     + ", ".join(f"{n:,} in {where}" for where, n in quarantined.items()))
    for title, side in _sides(d):
        lines += ["", f"{title}: {side.total:,} documents"]
        if not side.total:
            continue
        lines.append(format_table(("step", "documents"), [(s, f"{n:,}") for s, n in side.counts.items()]))
        for step, records in side.samples.items():
            lines.append(f"\n  {step}, e.g.:")
            for r in records:
                lines.append(f"    {r.get('url') or '(no url)'}: {r.get('why') or '(the step does not say why)'}")
                lines.append(f"      {_start(r.get('text', ''))!r}")
    return "\n".join(lines)


def _start(text: str) -> str:
    return text[:SAMPLE_TEXT_CHARS] + ("..." if len(text) > SAMPLE_TEXT_CHARS else "")


def render_diff_html(d: Diff) -> str:
    """The diff as a page (`dcbench/templates/report_diff.html.j2`, no scripts)."""
    sides = [{"title": title, "side": side} for title, side in _sides(d)]
    return render(SPINE, "report_diff.html.j2", plotly=False, title=f"dcbench diff: {d.a.name} vs {d.b.name}",
                  diff=d, sides=sides, kept={"a": d.a.stats["totals"]["kept"], "b": d.b.stats["totals"]["kept"]})


def write_html(d: Diff, path: str) -> None:
    write_atomic(path, render_diff_html(d))
