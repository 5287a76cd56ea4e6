"""The contamination report: which evaluation items a curated dataset already contains.

`contamination_report(dataset, suite, tasks_dir)` measures, per task of an
evaluation suite, the share of its items that share at least one n-gram
(13 words by default, `--ngram`) with the dataset, and writes
`contamination.json`. It lives among the flows because it joins the dedup
machinery (`baselines.dedup`), the pools' shards and the evaluator's tasks.

What is compared:

* An item's text is what the task asks and its gold answer, as the task format
  writes them (fields stripped as LLM-Foundry does): multiple choice
  ``query + continuation_delimiter + gold choice``; schema ``gold context option
  + continuation_delimiter + continuation``; language modeling ``context +
  continuation_delimiter + continuation``; generation ``context +
  continuation_delimiter + answer``. Few-shot examples, the prompt string and
  the prelimiter are not part of it.
* Text is lower-cased and split into tokens as BFF dedup splits it
  (`baselines.dedup.bff.default_tokenizer`: Unicode word segments, punctuation
  kept, whitespace and newlines dropped); an n-gram is any n consecutive tokens
  of the whole text, hashed with `baselines.dedup.bloom` (xxh3 tokens, a
  polynomial over them). An item with fewer than n tokens cannot be checked
  and is counted as `short`.

How (one pass plus a pass over the few shards that matter):

1. Per shard, one Ray task (the spine's task loop; in-process with
   `--workers 1` or one shard) reads the shard once to total its text bytes,
   sizes a Bloom filter from them (BYTES_PER_NGRAM text bytes per n-gram, an
   overestimate for prose, so the real false-positive rate is at most
   `--fp-rate`; by default the rate that expects 0.01 false hits among all the
   items' n-grams, at most 0.001), inserts every n-gram of every document, and
   asks it which of the items' n-grams it holds.
2. The shards whose filter held any item n-gram are read again, exactly: each
   held n-gram is looked for in the documents' token windows and kept only
   where the tokens are equal, with the first document holding it (shard,
   line, id or url). This rules out the Bloom filters' false positives; the
   report counts an item as contaminated only on an exact match, and says how
   many items the filters alone flagged. Records that are not documents (no
   string `text`) are skipped and counted (`dataset.unreadable_records`).

Exit codes: 0 the report is written; 2 a bad option; 3 unusable dataset or task
files; 4 shards failed part way.
"""

from __future__ import annotations

import hashlib
import json
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dcbench import __version__
from dcbench.atomic import write_atomic
from dcbench.baselines.dedup.bff import default_tokenizer
from dcbench.baselines.dedup.bloom import BloomFilter, sliding_hashes, token_hashes
from dcbench.errors import ConfigError, DataError
from dcbench.eval.prompts import answer_in_context, strip_example
from dcbench.eval.runner import default_tasks_dir, suite_plans, task_config
from dcbench.eval.tasks import MCExample, SchemaExample, load_task
from dcbench.manifest import content_id
from dcbench.poolref import resolve_pool
from dcbench.progress import Progress
from dcbench.shards import Bad, read_shard
from dcbench.table import format_table
from dcbench.taskloop import ray_session, run_tasks, task_limit

DEFAULT_NGRAM = 13
DEFAULT_FP_RATE = 0.001
DEFAULT_EXAMPLES = 3
# Filter sizing: text bytes per n-gram, below the measured 4.97 of ../shared/data/web (2,000 pages) and 5.5 of the
# toy pool, so filters are never undersized. At the default rate for CORE's 2M item n-grams (5e-9) a shard's
# filter takes ~1.25 bytes per text byte; --fp-rate 0.001 takes ~0.45 (and re-reads more shards).
BYTES_PER_NGRAM = 4
REPORT_NAME = "contamination.json"
REPORT_KIND = "contamination"
TOKENIZATION = ("lower-cased; BFF dedup tokens (Unicode word segments, punctuation kept, whitespace dropped); "
                "n-grams over the whole text")


# ------------------------------------------------------------------ n-grams


def ngram_tokens(text: str) -> list[str]:
    """The tokens n-grams are made of (module doc)."""
    return default_tokenizer(text.lower())


def ngram_hashes(tokens: Sequence[str], n: int) -> np.ndarray:
    """Hashes of every window of `n` tokens (none when there are fewer)."""
    return sliding_hashes(token_hashes(tokens), n)


# ------------------------------------------------------------------ evaluation items


def item_text(cfg, ex) -> str:
    """An item's context and gold answer as the task format writes them (module doc)."""
    ex = strip_example(ex)
    if isinstance(ex, SchemaExample):
        return f"{ex.context_options[ex.gold]}{cfg.continuation_delimiter}{ex.continuation}"
    context = ex.query if isinstance(ex, MCExample) else ex.context
    return f"{context}{cfg.continuation_delimiter}{answer_in_context(cfg, ex)}"


@dataclass
class TaskItems:
    """One task's items: their texts, tokens and n-gram hashes (item i owns hashes[offsets[i]:offsets[i+1]])."""

    name: str
    path: str
    sha256: str
    tokens: list[list[str]]
    hashes: np.ndarray
    offsets: np.ndarray
    examples: list[dict[str, Any]] = field(default_factory=list)


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_suite_items(suite: str, tasks_dir: str | Path | None, n: int,
                     version: str = "v2") -> tuple[list[TaskItems], list[str]]:
    """Every task of the suite whose file is in `tasks_dir`, with its items' n-grams; and the missing tasks."""
    tasks_dir = Path(tasks_dir).expanduser() if tasks_dir is not None else default_tasks_dir()
    if not tasks_dir.is_dir():
        raise ConfigError(f"--tasks-dir {tasks_dir} does not exist: write the toy suite with `dcbench eval "
                          f"toy-suite --out DIR` or fetch task files with `dcbench eval download`")
    tasks, missing = [], []
    for plan in suite_plans(suite, version, tasks_dir):
        if not Path(plan["path"]).is_file():
            missing.append(plan["name"])
            continue
        cfg = task_config(plan, max_seq_len=2048)
        toks = [ngram_tokens(item_text(cfg, ex)) for ex in load_task(cfg)]
        parts = [ngram_hashes(t, n) for t in toks]
        offsets = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum([len(p) for p in parts], out=offsets[1:])
        hashes = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)
        tasks.append(TaskItems(plan["name"], str(plan["path"]), file_sha256(plan["path"]), toks, hashes, offsets))
    if not tasks:
        raise DataError(f"none of the {len(missing)} task files of suite {suite!r} is in {tasks_dir}: point "
                        f"--tasks-dir at the folder `dcbench eval` reads")
    return tasks, missing


# ------------------------------------------------------------------ shard passes (Ray tasks)


def _documents(uri: str):
    for i, rec in enumerate(read_shard(uri)):
        if not isinstance(rec, Bad):
            yield i, rec


def bloom_pass(uri: str, n: int, fp_rate: float, queries: np.ndarray) -> dict[str, Any]:
    """One shard: a Bloom filter of its n-grams, sized from its text bytes; which `queries` it holds."""
    text_bytes = unreadable = 0
    for rec in read_shard(uri):
        if isinstance(rec, Bad):
            unreadable += 1
        else:
            text_bytes += len(rec["text"].encode("utf-8", "surrogatepass"))
    bloom = BloomFilter(max(1, text_bytes // BYTES_PER_NGRAM), fp_rate)
    docs = ngrams = 0
    for _, rec in _documents(uri):
        h = ngram_hashes(ngram_tokens(rec["text"]), n)
        bloom.insert(h)
        docs += 1
        ngrams += len(h)
    held = np.flatnonzero(bloom.contains(queries)) if len(queries) else np.empty(0, dtype=np.int64)
    return {"uri": uri, "documents": docs, "unreadable": unreadable, "text_bytes": text_bytes, "ngrams": ngrams,
            "bloom_bytes": bloom.nbytes, "estimated_fp_rate": bloom.stats()["estimated_fp_rate"], "held": held.tolist()}


def exact_pass(uri: str, n: int, candidates: np.ndarray) -> dict[int, dict[str, Any]]:
    """One shard, exactly: for each candidate hash found in a document, the first document and its n-gram text."""
    found: dict[int, dict[str, Any]] = {}
    for line, rec in _documents(uri):
        toks = ngram_tokens(rec["text"])
        h = ngram_hashes(toks, n)
        seen: set[int] = set()
        for j in np.flatnonzero(np.isin(h, candidates)).tolist():
            key = int(h[j])
            if key in seen:
                continue
            seen.add(key)
            if key in found:
                found[key]["documents"] += 1
                continue
            found[key] = {"ngram": " ".join(toks[j:j + n]), "shard": uri, "line": line, "documents": 1,
                          "doc_id": rec.get("id") or rec.get("url")}
    return found


def _map(fn, calls: list[tuple], workers: int | None, use_ray: bool, bar: Progress, noun: str,
         shared: tuple = ()) -> list[Any]:
    """`fn(*call, *shared)` for each call: Ray tasks (the task loop) with `shared` (the items' n-grams,
    megabytes) put in Ray's object store once for all of them, or in this process."""
    if not use_ray or len(calls) <= 1:
        out = []
        for call in calls:
            out.append(fn(*call, *shared))
            bar.update(1)
        return out
    import ray  # deferred: ray costs ~0.33 s to import (measured); only the Ray path needs it

    refs = tuple(ray.put(x) for x in shared)
    outcome = run_tasks(fn, [(*call, *refs) for call in calls], limit=task_limit(workers),
                        names=[str(call[0]) for call in calls], on_result=lambda i, r: bar.update(1))
    outcome.raise_failures(noun, hint="re-run `dcbench contamination` once the shards can be read")
    return outcome.results


# ------------------------------------------------------------------ the report


def _task_report(t: TaskItems, uq: np.ndarray, bloom_held: np.ndarray, exact: dict[int, dict[str, Any]], n: int,
                 max_examples: int) -> dict[str, Any]:
    """Per task: items, how many have n-grams, how many the filters and the exact pass flag, examples."""
    held_set = set(uq[bloom_held].tolist())
    contaminated, flagged, short, examples = [], 0, 0, []
    for i, toks in enumerate(t.tokens):
        hs = t.hashes[t.offsets[i]:t.offsets[i + 1]].tolist()
        if not hs:
            short += 1
            continue
        flagged += any(h in held_set for h in hs)
        match = next((j for j, h in enumerate(hs) if h in exact and exact[h]["ngram"] == " ".join(toks[j:j + n])),
                     None)
        if match is None:
            continue
        contaminated.append(i)
        if len(examples) < max_examples:
            hit = exact[hs[match]]
            examples.append({"index": i, "ngram": hit["ngram"], "shard": hit["shard"], "line": hit["line"],
                             "doc_id": hit["doc_id"], "documents_in_shard": hit["documents"]})
    items = len(t.tokens)
    return {"items": items, "checked": items - short, "short": short, "bloom_flagged": flagged,
            "contaminated": len(contaminated), "share": len(contaminated) / items if items else 0.0,
            "indices": contaminated, "examples": examples, "file": t.path, "sha256": t.sha256}


def contamination_report(dataset: str, suite: str, tasks_dir: str | Path | None = None, *, n: int = DEFAULT_NGRAM,
                         fp_rate: float | None = None, out_path: str | Path | None = None,
                         workers: int | None = None, address: str | None = None,
                         max_examples: int = DEFAULT_EXAMPLES, version: str = "v2",
                         progress: bool = True) -> dict[str, Any]:
    """Measure every task's contaminated share in `dataset` (a pool or `dcbench process` output; module doc).

    `fp_rate` None sizes each shard's filter for about 0.01 false hits among the items' n-grams (at most
    DEFAULT_FP_RATE). Writes the report to `out_path` when given and returns it.
    """
    if n < 1:
        raise ConfigError(f"--ngram must be at least 1 (got {n})")
    if fp_rate is not None and not 0.0 < fp_rate < 1.0:
        raise ConfigError(f"--fp-rate must be in (0, 1) (got {fp_rate})")
    t0 = time.perf_counter()
    pool = resolve_pool(str(dataset))
    tasks, missing = load_suite_items(suite, tasks_dir, n, version)
    everything = [t.hashes for t in tasks]
    uq = np.unique(np.concatenate(everything)) if everything else np.empty(0, dtype=np.uint64)
    uris = list(pool.uris)
    if fp_rate is None:  # about 0.01 false item hits per shard, so few shards are re-read for nothing
        fp_rate = min(DEFAULT_FP_RATE, 0.01 / max(1, len(uq)))
    use_ray = len(uris) > 1 and workers != 1
    with ray_session(workers, address) if use_ray else nullcontext():
        with Progress(len(uris), "contamination: n-gram filters", "shards", enabled=progress) as bar:
            shards = _map(bloom_pass, [(u, n, fp_rate) for u in uris], workers, use_ray, bar, "shards", (uq,))
        held = np.unique(np.concatenate([np.asarray(s["held"], dtype=np.int64) for s in shards] or
                                        [np.empty(0, dtype=np.int64)]))
        candidates = [(s["uri"], n, uq[np.asarray(s["held"], dtype=np.int64)]) for s in shards if s["held"]]
        with Progress(len(candidates), "contamination: exact check", "shards", enabled=progress) as bar:
            found = _map(exact_pass, candidates, workers, use_ray, bar, "candidate shards")
    exact: dict[int, dict[str, Any]] = {}
    for part in found:  # shards in pool order: the first shard holding an n-gram names it
        for h, hit in part.items():
            exact.setdefault(h, hit)
    report = {
        "kind": REPORT_KIND, "suite": suite.lower(), "version": version, "ngram": n, "tokenization": TOKENIZATION,
        "dataset": {"path": str(dataset), "id": pool.id, "name": pool.name, "shards": len(uris),
                    "documents": sum(s["documents"] for s in shards),
                    "unreadable_records": sum(s["unreadable"] for s in shards),
                    "text_bytes": sum(s["text_bytes"] for s in shards), "ngrams": sum(s["ngrams"] for s in shards)},
        "bloom": {"fp_rate": fp_rate, "bytes_per_ngram_sizing": BYTES_PER_NGRAM,
                  "bytes": sum(s["bloom_bytes"] for s in shards),
                  "max_estimated_fp_rate": max((s["estimated_fp_rate"] for s in shards), default=0.0),
                  "item_ngrams": int(len(uq)), "held": int(len(held)), "candidate_shards": len(candidates),
                  "confirmed_ngrams": len(exact)},
        "tasks": {t.name: _task_report(t, uq, held, exact, n, max_examples) for t in tasks},
        "missing": missing, "tasks_dir": str(tasks_dir) if tasks_dir is not None else str(default_tasks_dir()),
        "seconds": time.perf_counter() - t0, "dcbench": __version__,
    }
    report["id"] = content_id("contamination", {
        "dataset": pool.id, "suite": report["suite"], "ngram": n, "code": __version__,
        "tasks": {k: [v["sha256"], v["indices"]] for k, v in report["tasks"].items()}})
    if out_path is not None:
        write_atomic(out_path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return report


def format_report(report: dict[str, Any]) -> str:
    """The per-task table and a summary line, as `dcbench contamination` prints them."""
    rows = []
    for name, t in report["tasks"].items():
        ex = t["examples"][0] if t["examples"] else None
        rows.append((name, f"{t['items']:,}", f"{t['contaminated']:,}", f"{100 * t['share']:.2f}",
                     f"{t['bloom_flagged']:,}", f"{t['short']:,}",
                     f"#{ex['index']}: {ex['ngram'][:60]}" if ex else ""))
    lines = [format_table(("task", "items", "contaminated", "share %", "bloom flagged", "short", "example"), rows,
                          title=f"{report['ngram']}-gram overlap of {report['dataset']['name']} "
                                f"({report['dataset']['documents']:,} documents) with suite {report['suite']}")]
    total = sum(t["items"] for t in report["tasks"].values())
    dirty = sum(t["contaminated"] for t in report["tasks"].values())
    lines.append(f"{dirty:,} of {total:,} items contaminated ({100 * dirty / total if total else 0:.2f}%); "
                 f"{report['bloom']['candidate_shards']} of {report['dataset']['shards']} shards checked exactly")
    if report["missing"]:
        lines.append(f"not checked ({len(report['missing'])} task files absent): " + ", ".join(report["missing"][:8])
                     + (" ..." if len(report["missing"]) > 8 else ""))
    return "\n".join(lines)


def default_output(dataset: str) -> str:
    """DATASET/contamination.json for a local dataset directory (where `dcbench submit` finds it), else ./"""
    path = Path(dataset)
    return str(path / REPORT_NAME) if path.is_dir() else REPORT_NAME
