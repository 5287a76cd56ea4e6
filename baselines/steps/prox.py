"""ProX refinement steps: `prox_doc` keeps or drops a page by its doc-level
program, then `prox_chunk` runs its chunk-level program (line removal and
string normalization) under ProX's post-rules. Executor and rules:
`baselines.prox.program`.

Where a page's program comes from, in order:

1. a program stored in the page under `program_key` (a string; for the chunk
   stage also a list of per-chunk programs, joined in order), so recorded
   programs replay with no model at all;
2. otherwise the local refining model in `model` (a directory; needs
   `transformers`, nothing is downloaded);
3. otherwise `if_missing`: "quarantine" (default) raises, so the runner
   quarantines the page and a wrong `program_key` cannot pass pages through
   unnoticed; "keep" keeps the page unchanged with outcome "no_program".

What ran and what came of it is kept in ``page[meta_key]`` (default "prox"):
doc_program, doc_source, doc_outcome (doc stage); chunk_program,
chunk_source, errors (count), error_messages, words_before, words_after
(chunk stage); and outcome, set by whichever stage ran last. The runner's
step stats count kept/removed/modified pages; parse errors and reverts are
only in this metadata.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from dcbench.baselines.prox.generate import ProxGenerator, chunk_program, doc_program
from dcbench.baselines.prox.program import doc_keeps, execute_chunk_program
from dcbench.baselines.registry import AT_LEAST_ONE, NON_NEGATIVE, Mapper, Page, Range, step
from dcbench.errors import ConfigError


@functools.lru_cache(maxsize=4)
def _generator(model: str, device: str | None, batch_size: int) -> Any:
    return ProxGenerator(model, device=device, batch_size=batch_size)


def _positive(**values: int | float) -> None:
    for name, value in values.items():
        if value <= 0:
            raise ConfigError(f"ProX step parameter {name} must be positive, got {value}")


def _meta(page: Page, key: str) -> dict[str, Any]:
    meta = page.setdefault(key, {})
    if not isinstance(meta, dict):
        raise ValueError(f"page[{key!r}] is not a mapping; choose another meta_key")
    return meta


def _stored(page: Page, key: str, allow_list: bool) -> str | None:
    value = page.get(key)
    if value is None or isinstance(value, str):
        return value
    if allow_list and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    raise ValueError(f"page[{key!r}] must be a program string{' or a list of them' if allow_list else ''}")


def _missing(page: Page, meta: dict[str, Any], if_missing: str, key: str, stage: str) -> list[Page]:
    if if_missing == "quarantine":
        raise ValueError(f"no stored ProX {stage} program in page[{key!r}] and no model given")
    if stage == "doc":
        meta["doc_outcome"] = "no_program"
    meta["outcome"] = "no_program"
    return [page]


@step("filter", files=("model",), ranges={"max_input_tokens": AT_LEAST_ONE, "max_new_tokens": AT_LEAST_ONE})
def prox_doc(*, model: str | None = None, program_key: str = "prox_doc_program", max_input_tokens: int = 2000,
             max_new_tokens: int = 2000, if_missing: Literal["quarantine", "keep"] = "quarantine",
             meta_key: str = "prox", device: str | None = None) -> Mapper:
    """ProX doc stage: drop a page whose doc-level program says "drop" (drop_doc()), keep it otherwise.

    The program is the one stored in `program_key`, else the output of the
    local refining model `model` on the raw text cut to `max_input_tokens`
    tokens (greedy, at most `max_new_tokens`). With neither: `if_missing`
    ("quarantine" raises, "keep" keeps the page with outcome "no_program").
    Program and outcome go to page[meta_key].
    """
    _positive(max_input_tokens=max_input_tokens, max_new_tokens=max_new_tokens)
    generator = _generator(model, device, 1) if model else None

    def keep(page: Page) -> list[Page]:
        meta = _meta(page, meta_key)
        program, source = _stored(page, program_key, allow_list=False), "stored"
        if program is None and generator is not None:
            program = doc_program(page["text"], generator, max_input_tokens=max_input_tokens,
                                  max_new_tokens=max_new_tokens)
            source = "model"
        if program is None:
            return _missing(page, meta, if_missing, program_key, "doc")
        kept = doc_keeps(program)
        outcome = "kept" if kept else "dropped_doc"
        meta.update(doc_program=program, doc_source=source, doc_outcome=outcome, outcome=outcome)
        return [page] if kept else []

    return keep


@step("modifier", files=("model",),
      ranges={"chunk_tokens": AT_LEAST_ONE, "max_new_tokens": AT_LEAST_ONE, "max_errors": AT_LEAST_ONE,
              "batch_size": AT_LEAST_ONE, "remove_threshold": Range(0, 1, low_open=True), "min_words": NON_NEGATIVE})
def prox_chunk(*, model: str | None = None, program_key: str = "prox_chunk_program", chunk_tokens: int = 1500,
               max_new_tokens: int = 256, remove_threshold: float = 0.95, min_words: int = 10, max_errors: int = 2,
               if_missing: Literal["quarantine", "keep"] = "quarantine", meta_key: str = "prox",
               device: str | None = None, batch_size: int = 8) -> Mapper:
    """ProX chunk stage: run the page's chunk-level program (remove_lines, normalize) and ProX's post-rules.

    The program is the one stored in `program_key` (a string, or a list of
    per-chunk programs), else the local refining model's programs for the
    page's `[NNN]`-tagged chunks of at most `chunk_tokens` tokens (greedy, at
    most `max_new_tokens` each, `batch_size` chunks at a time), joined. Post-
    rules: with >= `max_errors` bad operations the original text is kept
    ("reverted"); else removing >= `remove_threshold` of the words drops the
    page; a result of <= `min_words` words drops it. With no program:
    `if_missing` as in prox_doc. Program, error count and outcome go to
    page[meta_key].
    """
    _positive(chunk_tokens=chunk_tokens, max_new_tokens=max_new_tokens, max_errors=max_errors,
              batch_size=batch_size)
    if not 0.0 < remove_threshold <= 1.0:
        raise ConfigError(f"prox_chunk: remove_threshold must be in (0, 1], got {remove_threshold}")
    if min_words < 0:
        raise ConfigError(f"prox_chunk: min_words must be >= 0, got {min_words}")
    generator = _generator(model, device, batch_size) if model else None

    def refine(page: Page) -> list[Page]:
        meta = _meta(page, meta_key)
        program, source = _stored(page, program_key, allow_list=True), "stored"
        if program is None and generator is not None:
            program = chunk_program(page["text"], generator, chunk_tokens=chunk_tokens, max_new_tokens=max_new_tokens)
            source = "model"
        if program is None:
            return _missing(page, meta, if_missing, program_key, "chunk")
        result = execute_chunk_program(page["text"], program, remove_threshold=remove_threshold,
                                       min_words=min_words, max_errors=max_errors)
        meta.update(chunk_program=program, chunk_source=source, errors=len(result.errors),
                    error_messages=result.errors, words_before=result.words_before,
                    words_after=result.words_after, outcome=result.outcome)
        if result.text is None:
            return []
        page["text"] = result.text
        return [page]

    return refine
