"""One shard through one stage: read, run the steps, write data, quarantine
and stats. This is what a Ray task executes; it can also run in-process.

A stage directory holds:
    data/<shard>.<fmt>          kept documents
    quarantine/<shard>.jsonl    records that could not be processed, with reasons (the folder is
                                always there; a shard with nothing quarantined has no file)
    stats/<shard>.json          per-step counts and corpus histograms (written last: the "done" mark)
    decisions/<shard>.json      a global step's per-shard decision (stages that have one)
"""

from __future__ import annotations

import glob
import json
import time
from collections.abc import Collection, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Union

import fsspec
from fsspec.implementations.local import LocalFileSystem

from dcbench.atomic import TEMP_MARK, open_atomic
from dcbench.contracts import DocLabels, GlobalStep, Mapper, Page, Recipe, StepInfo
from dcbench.corpusstats import ShardCorpus
from dcbench.shards import Bad, dumps, read_shard, shard_stem, write_shard
from dcbench.stages import Stage
from dcbench.stepstats import SAMPLES_PER_STEP, StepStats, hits_target, sample

Chain = list[tuple[StepInfo, Mapper]]
Quarantine = Union["QuarantineWriter", list[dict[str, Any]]]  # where run_chain puts the pages a step raised on
_BUILT: dict[str, list[tuple[StepInfo, Mapper | GlobalStep]]] = {}


def built_steps(recipe: Recipe) -> list[tuple[StepInfo, Mapper | GlobalStep]]:
    """Build every step once per worker process (models and word lists load once)."""
    if recipe.id not in _BUILT:
        _BUILT[recipe.id] = list(recipe.build())
    return _BUILT[recipe.id]


def stage_chain(recipe: Recipe, stage: Stage, decision: Any = None) -> Chain:
    """The (step, mapper) pairs one shard runs through in a stage."""
    built = built_steps(recipe)
    chain: Chain = [built[i] for i in stage.local_steps]  # local steps build mappers
    if stage.global_step is not None:
        info, global_step = built[stage.global_step]
        assert isinstance(global_step, GlobalStep)  # the runner checks this before any work
        chain.insert(0, (info, global_step.apply(decision)))
    return chain


def process_shard(shard_uri: str, stage_dir: str, recipe: Recipe, fmt: str, stage: Stage, stem: str | None = None,
                  labels: DocLabels | None = None) -> dict[str, Any]:
    """Run one stage over one shard and write its outputs. Returns the shard's stats (JSON form)."""
    start = time.perf_counter()
    stem = stem or shard_stem(shard_uri)
    decision = read_json(f"{stage_dir}/decisions/{stem}.json") if stage.global_step is not None else None
    chain = stage_chain(recipe, stage, decision)
    steps = [StepStats.of(info) for info, _ in chain]
    remove_stale_temps(stage_dir, stem, fmt)
    counts = {"records": 0, "unreadable": 0, "kept": 0, "text_bytes": 0}
    corpus = ShardCorpus.empty()

    def kept_pages() -> Iterator[Page]:
        for rec in read_shard(shard_uri):
            counts["records"] += 1
            if isinstance(rec, Bad):
                counts["unreadable"] += 1
                quarantine.append({"shard": stem, "index": rec.index, "step": "read", "reason": rec.reason,
                                   "record": rec.raw})
                continue
            counts["text_bytes"] += len(rec["text"].encode("utf-8", "surrogatepass"))
            for page in run_chain(rec, chain, steps, quarantine, stem, labels, corpus):
                counts["kept"] += 1
                corpus.leave(page)
                yield page

    with QuarantineWriter(f"{stage_dir}/quarantine/{stem}.jsonl") as quarantine:
        info = write_shard(f"{stage_dir}/data/{stem}.{fmt}", kept_pages())
    stats = {"shard": stem, "input": shard_uri, **counts, "quarantined": len(quarantine),
             "output": {"path": f"data/{stem}.{fmt}", "bytes": info.bytes, "sha256": info.sha256,
                        "documents": info.documents, "records": info.records},
             "secs": time.perf_counter() - start, "steps": [s.to_dict() for s in steps],
             "corpus": corpus.to_dict()}
    write_json(f"{stage_dir}/stats/{stem}.json", stats)
    return stats


def run_chain(doc: Page, chain: Chain, steps: list[StepStats], quarantine: Quarantine, stem: str,
              labels: DocLabels | None = None, corpus: ShardCorpus | None = None) -> list[Page]:
    """One document through the chain, counting into `steps`; returns what survives.
    With `labels`, the document's labels (as it enters) are counted at every step it reaches;
    with `corpus`, its length as it enters and each score where a step first adds it."""
    pages = [doc]
    doc_labels = None if labels is None else labels(doc)
    scored = corpus.enter(doc) if corpus is not None else set()
    for (info, mapper), st in zip(chain, steps):
        if not pages:
            break
        pages = _run_step(info, mapper, st, pages, doc_labels, quarantine, stem)
        if corpus is not None:
            corpus.note_scores(pages, scored)
    return pages


def _run_step(info: StepInfo, mapper: Mapper, st: StepStats, pages: list[Page], labels: Collection[str] | None,
              quarantine: Quarantine, stem: str) -> list[Page]:
    """The pages of one document through one step."""
    hit = labels is not None and hits_target(st.targets, labels)
    st.pages_in += len(pages)
    st.target_in += len(pages) if hit else 0
    if labels:
        for _ in pages:
            st.labels_in.update(labels)
    out: list[Page] = []
    t0 = time.perf_counter()
    for page in pages:
        before = page.get("text")
        try:
            result = mapper(page)
        except Exception as e:  # a step that raises quarantines the page, never the shard
            st.quarantined += 1
            quarantine.append({"shard": stem, "step": info.label, "reason": f"{type(e).__name__}: {e}",
                               "record": dumps(page)})
            continue
        if not result:
            st.removed += 1
            if labels:
                st.labels_removed.update(labels)
            st.target_acted += hit and st.kind.acts_by_removing
            if len(st.samples) < SAMPLES_PER_STEP:
                st.samples.append(sample(page, labels))
            continue
        st.kept += 1
        if len(result) == 1 and result[0].get("text") != before:
            st.modified += 1
            if labels:
                st.labels_modified.update(labels)
            st.target_acted += hit and st.kind.acts_by_changing
        out.extend(result)
    st.secs += time.perf_counter() - t0
    st.pages_out += len(out)
    return out


class QuarantineWriter:
    """A shard's quarantined records, streamed to their file as they come (a shard of bad records
    never sits in memory). The file appears, atomically, when the block ends without an error; the
    folder is made even when nothing was quarantined, so it is always there. Entries are written
    with undecodable characters backslash-escaped, so no record can fail the write."""

    def __init__(self, uri: str):
        self.uri, self.count = uri, 0
        self._files = ExitStack()
        self._file: Any = None

    def append(self, entry: dict[str, Any]) -> None:
        if self._file is None:
            self._file = self._files.enter_context(open_atomic(self.uri, "wb"))
        self._file.write((dumps(entry) + "\n").encode("utf-8", "backslashreplace"))
        self.count += 1

    def __len__(self) -> int:
        return self.count

    def __enter__(self) -> "QuarantineWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._files.__exit__(*exc)  # commits the file, or on an error removes its temporary
        if exc[0] is None and self._file is None:
            fs, path = fsspec.core.url_to_fs(self.uri)
            fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)  # a no-op on object stores, which have no folders
            if fs.exists(path):
                fs.rm(path)  # a stale file from an earlier attempt


def remove_stale_temps(stage_dir: str, stem: str, fmt: str) -> None:
    """Remove the temporary files a killed attempt at this shard left (`dcbench.atomic` names them
    `<file>.tmp-<pid>-<hex>`). Safe: the task loop never runs two attempts of one shard at once.
    Object stores hold no temporaries (writes there are single uploads)."""
    fs, path = fsspec.core.url_to_fs(stage_dir)
    if not isinstance(fs, LocalFileSystem):
        return
    for folder, name in (("data", f"{stem}.{fmt}"), ("quarantine", f"{stem}.jsonl"), ("stats", f"{stem}.json")):
        for stale in glob.glob(glob.escape(f"{path}/{folder}/{name}") + TEMP_MARK + "*"):
            Path(stale).unlink(missing_ok=True)


def write_json(uri: str, data: Any) -> None:
    """Atomic JSON write (`dcbench.atomic`)."""
    with open_atomic(uri, "w") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)


def read_json(uri: str) -> Any:
    with fsspec.open(uri, "r", encoding="utf-8") as f:
        return json.load(f)


def exists(uri: str) -> bool:
    fs, path = fsspec.core.url_to_fs(uri)
    return fs.exists(path)
