"""One shard through one stage: read, run the steps, write data, quarantine
and stats. This is what a Ray task executes; it can also run in-process.

A stage directory holds:
    data/<shard>.<fmt>          kept documents
    quarantine/<shard>.jsonl    records that could not be processed, with reasons (the folder is
                                always there; a shard with nothing quarantined has no file)
    removed/<shard>.jsonl       one line per page a step removed: its input identity (shard, position),
                                url, the step's label, why (the filter's measured value against its
                                threshold, where it explains itself: `dcbench.contracts.explained_by`) and
                                the start of its text (the folder is always there)
    origins/<shard>.jsonl       stages before the last: per output record, its position in the pool shard,
                                so a later stage's removals name the page as it entered the recipe
    stats/<shard>.json          per-step counts and corpus histograms (written last: the "done" mark)
    decisions/<shard>.json      a global step's per-shard decision (stages that have one)

A page's "text" is normally a str. Some steps handle other shapes (DCLM's
split_lines_modifier makes it a list of lines, join_lines_modifier joins them
back; before key_name_modifier it may be absent): those are registered with
`any_text`. A page whose text is not a str is quarantined, with a reason naming
the step to add, before any step without `any_text`, and when it leaves the
recipe's last step so. Records are read whatever their text, so a stage after
split_lines_modifier reads the lists the previous stage wrote.
"""

from __future__ import annotations

import glob
import itertools
import json
import time
from collections.abc import Collection, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Union

import fsspec
from fsspec.implementations.local import LocalFileSystem

from dcbench.atomic import TEMP_MARK, open_atomic
from dcbench.contracts import DocLabels, GlobalStep, Mapper, Page, Recipe, StepInfo, why_removed
from dcbench.corpusstats import ShardCorpus
from dcbench.shards import Bad, dumps, read_shard, shard_stem, write_shard
from dcbench.stages import Stage
from dcbench.stepstats import SAMPLES_PER_STEP, StepStats, hits_target, sample

Chain = list[tuple[StepInfo, Mapper]]
Quarantine = Union["SideFile", list[dict[str, Any]]]  # where run_chain puts the pages a step raised on
Removals = Union["SideFile", list[dict[str, Any]]]  # where run_chain notes the pages a step removed
REMOVED_TEXT_CHARS = 200  # the start of a removed page's text, in its removed/ record
FULL_TEXT_CHARS = 20_000  # a report sample's whole text, up to this many characters
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
    final = bool(stage.steps) and stage.steps[-1] == len(recipe.steps) - 1  # the chain ends the recipe
    steps = [StepStats.of(info) for info, _ in chain]
    remove_stale_temps(stage_dir, stem, fmt)
    counts = {"records": 0, "unreadable": 0, "kept": 0, "text_bytes": 0}
    corpus = ShardCorpus.empty()

    def kept_pages() -> Iterator[Page]:
        for rec, position in zip(read_shard(shard_uri, require_text=False), positions):
            counts["records"] += 1
            if isinstance(rec, Bad):
                counts["unreadable"] += 1
                quarantine.append({"shard": stem, "index": rec.index, "step": "read", "reason": rec.reason,
                                   "record": rec.raw})
                continue
            counts["text_bytes"] += text_bytes(rec.get("text"))
            for page in run_chain(rec, chain, steps, quarantine, stem, labels, corpus, final=final,
                                  removals=removals, position=position):
                counts["kept"] += 1
                corpus.leave(page)
                if origins is not None:
                    origins.append(position)
                yield page

    with ExitStack() as files:
        quarantine = files.enter_context(SideFile(f"{stage_dir}/quarantine/{stem}.jsonl"))
        removals = files.enter_context(SideFile(f"{stage_dir}/removed/{stem}.jsonl"))
        origins = None if final else files.enter_context(SideFile(f"{stage_dir}/origins/{stem}.jsonl"))
        positions = files.enter_context(input_positions(shard_uri, stem, stage))
        info = write_shard(f"{stage_dir}/data/{stem}.{fmt}", kept_pages())
    stats = {"shard": stem, "input": shard_uri, **counts, "quarantined": len(quarantine),
             "output": {"path": f"data/{stem}.{fmt}", "bytes": info.bytes, "sha256": info.sha256,
                        "documents": info.documents, "records": info.records},
             "secs": time.perf_counter() - start, "steps": [s.to_dict() for s in steps],
             "corpus": corpus.to_dict()}
    write_json(f"{stage_dir}/stats/{stem}.json", stats)
    return stats


@contextmanager
def input_positions(shard_uri: str, stem: str, stage: Stage) -> Iterator[Iterator[int | None]]:
    """Each input record's position in the pool shard it came from: its own index in the first stage;
    later, what the previous stage wrote to its origins/ file beside the data it reads (read as the
    records are, so a shard's positions never sit in memory). Without that file (a stage written
    before there were origins), the record's index in this stage's input."""
    uri = f"{shard_uri.rsplit('/', 2)[0]}/origins/{stem}.jsonl"
    if stage.index == 0 or not exists(uri):
        yield itertools.count()
        return
    with fsspec.open(uri, "r", encoding="utf-8") as f:  # past its end (never, unless edited): unknown
        yield itertools.chain((int(line) for line in f), itertools.repeat(None))


def page_text(page: Page) -> str:
    """A page's text as one string (lines joined; "" when it has none)."""
    text = page.get("text")
    if isinstance(text, list):  # lines, between DCLM's split_lines_modifier and join_lines_modifier
        return "\n".join(t for t in text if isinstance(t, str))
    return text if isinstance(text, str) else ""


def removal_record(page: Page, stem: str, position: int | None, step: str, why: str) -> dict[str, Any]:
    """What removed/ holds of one removed page: enough to find it, and to show it."""
    text = page_text(page)
    return {"shard": stem, "position": position, "url": page_url(page), "step": step, "why": why,
            "chars": len(text), "text": text[:REMOVED_TEXT_CHARS]}


def page_url(page: Page) -> str | None:
    url = page.get("url") or (page.get("metadata") or {}).get("WARC-Target-URI")
    return url if isinstance(url, str) else None


def text_bytes(text: Any) -> int:
    """UTF-8 bytes of a page's text: a str, a list of lines (its str items), or 0 when absent."""
    if isinstance(text, str):
        return len(text.encode("utf-8", "surrogatepass"))
    if isinstance(text, list):
        return sum(len(t.encode("utf-8", "surrogatepass")) for t in text if isinstance(t, str))
    return 0


def run_chain(doc: Page, chain: Chain, steps: list[StepStats], quarantine: Quarantine, stem: str,
              labels: DocLabels | None = None, corpus: ShardCorpus | None = None, *,
              final: bool = False, removals: Removals | None = None, position: int | None = None) -> list[Page]:
    """One document through the chain, counting into `steps`; returns what survives.
    With `labels`, the document's labels (as it enters) are counted at every step it reaches;
    with `corpus`, its length as it enters and each score where a step first adds it.
    With `final` (the chain ends the recipe), a page the last step leaves without a str text is
    quarantined there. With `removals`, each removed page is noted there (`removal_record`), as the
    document at `position` of shard `stem`."""
    pages = [doc]
    doc_labels = None if labels is None else labels(doc)
    scored = corpus.enter(doc) if corpus is not None else set()
    for n, ((info, mapper), st) in enumerate(zip(chain, steps)):
        if not pages:
            break
        pages = _run_step(info, mapper, st, pages, doc_labels, quarantine, stem, final and n == len(chain) - 1,
                          removals, position)
        if corpus is not None:
            corpus.note_scores(pages, scored)
    return pages


def _run_step(info: StepInfo, mapper: Mapper, st: StepStats, pages: list[Page], labels: Collection[str] | None,
              quarantine: Quarantine, stem: str, last: bool = False, removals: Removals | None = None,
              position: int | None = None) -> list[Page]:
    """The pages of one document through one step (`last`: the recipe's last step)."""
    any_text = bool(getattr(info, "any_text", False))  # optional in `StepInfo`: False unless declared
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
        reason = None if any_text else text_problem(page, f"step {info.label}", before=True)
        if reason is None:
            try:
                result = mapper(page)
            except Exception as e:  # a step that raises quarantines the page, never the shard
                reason = f"{type(e).__name__}: {e}"
            else:
                if last:
                    reason = next(filter(None, (text_problem(p, f"the recipe's last step {info.label}", before=False)
                                                for p in result)), None)
        if reason is not None:
            st.quarantined += 1
            quarantine.append({"shard": stem, "step": info.label, "reason": reason, "record": dumps(page)})
            continue
        if not result:
            st.removed += 1
            if labels:
                st.labels_removed.update(labels)
            st.target_acted += hit and st.kind.acts_by_removing
            _note_removal(info, mapper, st, page, labels, removals, stem, position)
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


def _note_removal(info: StepInfo, mapper: Mapper, st: StepStats, page: Page, labels: Collection[str] | None,
                  removals: Removals | None, stem: str, position: int | None) -> None:
    """A removed page into the step's report samples (with its whole text) and the removed/ file,
    each with why the step removed it (asked only here: a filter pays nothing for the pages it keeps)."""
    sampled = len(st.samples) < SAMPLES_PER_STEP
    if not sampled and removals is None:
        return
    why = why_removed(mapper, page)
    if sampled:
        full = page_text(page)
        st.samples.append({**sample(page, labels), "why": why, "full_text": full[:FULL_TEXT_CHARS]})
    if removals is not None:
        removals.append(removal_record(page, stem, position, info.label, why))


def text_problem(page: Page, where: str, before: bool) -> str | None:
    """Why `page` cannot go on (None: its text is a str). `before`: it is about to enter the step
    `where` names, which needs a str; otherwise it leaves the recipe from `where`."""
    text = page.get("text")
    if isinstance(text, str):
        return None
    if "text" not in page:
        what, fix = "missing 'text' field", "key_name_modifier (which renames the key holding the text)"
    elif isinstance(text, list):
        what, fix = "'text' is a list of lines, not a string", "join_lines_modifier"
    else:
        return f"'text' is {type(text).__name__}, not a string" + (f": {where} needs a string" if before else
                                                                   f", after {where}")
    if before:
        return f"{what}: {where} needs a string; add {fix} before it"
    return f"{what} after {where}; a recipe's output text is a string: add {fix}"


class SideFile:
    """A shard's side records (quarantined records, removed pages, origins), one JSON value a line,
    streamed to their file as they come (a shard of bad records never sits in memory). The file
    appears, atomically, when the block ends without an error; the folder is made even when nothing
    was written, so it is always there. Entries are written with undecodable characters
    backslash-escaped, so no record can fail the write."""

    def __init__(self, uri: str):
        self.uri, self.count = uri, 0
        self._files = ExitStack()
        self._file: Any = None

    def append(self, entry: Any) -> None:
        if self._file is None:
            self._file = self._files.enter_context(open_atomic(self.uri, "wb"))
        self._file.write((dumps(entry) + "\n").encode("utf-8", "backslashreplace"))
        self.count += 1

    def __len__(self) -> int:
        return self.count

    def __enter__(self) -> "SideFile":
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
    for folder, name in (("data", f"{stem}.{fmt}"), ("quarantine", f"{stem}.jsonl"), ("removed", f"{stem}.jsonl"),
                         ("origins", f"{stem}.jsonl"), ("stats", f"{stem}.json")):
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
