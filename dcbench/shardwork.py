"""One shard through one stage: read, run the steps, write data, quarantine
and stats. This is what a Ray task executes; it can also run in-process.

A stage directory holds:
    data/<shard>.<fmt>          kept documents
    quarantine/<shard>.jsonl    records that could not be processed, with reasons
    stats/<shard>.json          per-step counts (written last: the "done" mark)
    decisions/<shard>.json      a global step's per-shard decision (stages that have one)
"""

from __future__ import annotations

import json
import time
from typing import Any, Iterator

import fsspec

from dcbench.shards import Bad, dumps, read_shard, shard_stem, write_shard
from dcbench.stages import plan_stages
from dcbench.stepstats import SAMPLES_PER_STEP, new_step_stats, sample

_CHAIN_CACHE: dict[str, list] = {}


def built_steps(recipe: Any) -> list:
    """Build every step once per worker process (models and word lists load once)."""
    if recipe.id not in _CHAIN_CACHE:
        _CHAIN_CACHE[recipe.id] = recipe.build()
    return _CHAIN_CACHE[recipe.id]


def stage_chain(recipe: Any, stage_index: int, decision: Any = None) -> list:
    """The (step config, mapper) pairs one shard runs through in a stage."""
    built = built_steps(recipe)
    stage = plan_stages([cfg.spec.kind for cfg, _ in built])[stage_index]
    chain = [built[i] for i in stage.local_steps]
    if stage.global_step is not None:
        cfg, global_step = built[stage.global_step]
        chain.insert(0, (cfg, global_step.apply(decision)))
    return chain


def process_shard(shard_uri: str, stage_dir: str, recipe: Any, fmt: str, stage_index: int = 0,
                  stem: str | None = None) -> dict[str, Any]:
    """Run one stage over one shard and write its outputs. Returns the shard's stats."""
    start = time.perf_counter()
    stem = stem or shard_stem(shard_uri)
    decision = None
    if plan_stages([c.spec.kind for c, _ in built_steps(recipe)])[stage_index].global_step is not None:
        decision = read_json(f"{stage_dir}/decisions/{stem}.json")
    chain = stage_chain(recipe, stage_index, decision)
    steps = [new_step_stats(cfg.label, cfg.spec.kind, cfg.spec.targets) for cfg, _ in chain]
    quarantine: list[dict[str, Any]] = []
    counts = {"records": 0, "unreadable": 0, "kept": 0, "text_bytes": 0}

    def kept_pages() -> Iterator[dict[str, Any]]:
        for rec in read_shard(shard_uri):
            counts["records"] += 1
            if isinstance(rec, Bad):
                counts["unreadable"] += 1
                quarantine.append({"shard": stem, "index": rec.index, "step": "read", "reason": rec.reason,
                                   "record": rec.raw})
                continue
            counts["text_bytes"] += len(rec["text"].encode("utf-8", "surrogatepass"))
            for page in run_chain(rec, chain, steps, quarantine, stem):
                counts["kept"] += 1
                yield page

    info = write_shard(f"{stage_dir}/data/{stem}.{fmt}", kept_pages())
    write_quarantine(f"{stage_dir}/quarantine/{stem}.jsonl", quarantine)
    stats = {"shard": stem, "input": shard_uri, **counts, "quarantined": len(quarantine),
             "output": {"path": f"data/{stem}.{fmt}", "bytes": info.bytes, "sha256": info.sha256,
                        "documents": info.documents},
             "secs": time.perf_counter() - start, "steps": steps}
    write_json(f"{stage_dir}/stats/{stem}.json", stats)
    return stats


def run_chain(doc: dict[str, Any], chain: list, steps: list[dict[str, Any]],
              quarantine: list[dict[str, Any]], stem: str) -> list[dict[str, Any]]:
    """One document through the chain, counting into `steps`; returns what survives."""
    pages = [doc]
    planted = doc.get("planted") or ()
    for (cfg, mapper), st in zip(chain, steps):
        if not pages:
            break
        removal_acts = st["kind"] != "modifier"
        change_acts = st["kind"] in ("modifier", "global")
        hit = any(t in planted for t in st["targets"])
        st["in"] += len(pages)
        st["target_in"] += len(pages) if hit else 0
        for _ in pages:
            st["labels_in"].update(planted)
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
                st["target_acted"] += hit and removal_acts
                if len(st["samples"]) < SAMPLES_PER_STEP:
                    st["samples"].append(sample(page))
                continue
            st["kept"] += 1
            if len(result) == 1 and result[0].get("text") != before:
                st["modified"] += 1
                st["labels_modified"].update(planted)
                st["target_acted"] += hit and change_acts
            out.extend(result)
        st["secs"] += time.perf_counter() - t0
        st["out"] += len(out)
        pages = out
    return pages


def write_quarantine(uri: str, entries: list[dict[str, Any]]) -> None:
    fs, path = fsspec.core.url_to_fs(uri)
    if entries:
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        tmp = path + ".tmp"
        with fs.open(tmp, "w", encoding="utf-8") as f:
            f.writelines(dumps(e) + "\n" for e in entries)
        fs.mv(tmp, path)
    elif fs.exists(path):
        fs.rm(path)  # a stale file from an earlier attempt


def write_json(uri: str, data: Any) -> None:
    """Atomic JSON write (temporary name, then rename)."""
    fs, path = fsspec.core.url_to_fs(uri)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    tmp = path + ".tmp"
    with fs.open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
    fs.mv(tmp, path)


def read_json(uri: str) -> Any:
    with fsspec.open(uri, "r", encoding="utf-8") as f:
        return json.load(f)


def exists(uri: str) -> bool:
    fs, path = fsspec.core.url_to_fs(uri)
    return fs.exists(path)
