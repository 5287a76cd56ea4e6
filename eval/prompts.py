"""Prompt construction as LLM-Foundry's ICL datasets build it (DCLM pins llm-foundry 0.9.0).

The rules, per test example at index ``i`` of a dataset of ``n`` rows:

* String fields are stripped first (``strip_data``); list fields (choices,
  context options, aliases) are not.
* Few-shot: ONE ``random.Random(fewshot_random_seed)`` per dataset, consumed
  in row order (rows are mapped sequentially), and only when shots > 0.
  ``k = min(n - 1, shots)`` indices come from ``rng.sample(range(n), k)``
  held in a Python ``set``; if ``i`` is among them it is removed and
  ``rng.choice(range(n))`` is drawn until a new index other than ``i`` comes
  up. The shots are written in the set's iteration order (not draw order).
  With ``has_categories`` each category is its own dataset (rows in file
  order, categories sorted) with its own fresh generator.
* A shot is ``[example_delimiter]{prelimiter}{context}{continuation_delimiter}{answer}``,
  the delimiter only when something (prompt string or earlier shots) precedes
  it; the answer is written without any added space. The test context is
  built the same way without the answer, then right-stripped.
* The preamble (prompt string + shots), the test context and the
  continuation are tokenized separately and concatenated. A continuation
  gets a leading space unless it has one, when the tokenizer encodes " a"
  as one token (GPT-2/NeoX style BPE).
* Schema: each context option replaces the context; with a preamble the test
  contexts are ``{prelimiter}{example_delimiter}{option}{continuation_delimiter.rstrip()}``,
  without one just ``{prelimiter}{option}`` (no delimiter); the shared
  continuation is the scored part. Shots are
  ``{prelimiter}[example_delimiter]{gold option}{continuation_delimiter}{continuation}``
  (prelimiter before the delimiter, as LLM-Foundry writes it).
* Generation: the answer of a shot is ``{chain_of_thought}{cot_delimiter}{answer}``
  when the file has a ``chain_of_thought`` field, else the answer. The
  context is left-truncated to ``max_seq_len - max_answer_len`` where
  ``max_answer_len`` is the longest tokenized (cot +) answer or alias in the
  dataset, plus 10 when ``cot_delimiter`` is set; that is also the number of
  new tokens generated.
* Truncation: contexts lose tokens from the left so that context +
  continuation fit in ``max_seq_len`` (LLM-Foundry's ``trim_context``). A
  continuation that leaves no room for even one context token has no rule
  there (LLM-Foundry raises and the whole evaluation stops): such an item is
  skipped instead, and the builders report its index in ``skipped`` so the
  caller can count it. A multiple-choice or schema question is skipped whole
  when any of its choices does not fit.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from dcbench.errors import DataError

from dcbench.eval.tasks import (GENERATION, LANGUAGE_MODELING, MULTIPLE_CHOICE, SCHEMA, GenExample, LMExample, MCExample,
                        SchemaExample, TaskConfig)

ANSWER_BUFFER = 10  # LLM-Foundry's _MAX_ANSWER_BUFFER_LENGTH (added when cot_delimiter is set)


# ------------------------------------------------------------------ items


@dataclass
class ScoredItem:
    """One multiple-choice / schema / LM question ready for scoring.

    `pairs[j]` is (context_ids, continuation_ids) for choice j (one pair for
    LM); context_ids are already truncated. `texts[j]` holds the same as
    strings (preamble + context, continuation) for inspection.
    """

    index: int
    pairs: list[tuple[list[int], list[int]]]
    gold: int
    category: str | None = None
    texts: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class GenerationItem:
    """One generation question: prompt ids, accepted answers, new-token budget."""

    index: int
    context_ids: list[int]
    labels: list[str]
    max_new_tokens: int
    category: str | None = None
    text: str = ""


# -------------------------------------------------------------- tokenizer


def encode(tokenizer: Any, text: str) -> list[int]:
    """`tokenizer.encode(text)` as a list of ids (a `tokenizers.Encoding` gives its `.ids`)."""
    if text == "":
        return []
    out = tokenizer.encode(text)
    ids = getattr(out, "ids", out)
    return [int(t) for t in ids]


def needs_prefix_space(tokenizer: Any) -> bool:
    """LLM-Foundry's test: a tokenizer that encodes " a" as one token wants a space before continuations."""
    return len(encode(tokenizer, " a")) == 1


def _spaced(text: str, prefix_space: bool) -> str:
    return f" {text}" if prefix_space and not text.startswith(" ") else text


class ContinuationTooLong(DataError):
    """A continuation that leaves no room for context in the model's max_seq_len."""


def trim_left(context: list[int], continuation: list[int], max_seq_len: int) -> list[int]:
    """Drop tokens from the start of `context` so context + continuation fit in `max_seq_len`."""
    if len(context) + len(continuation) <= max_seq_len:
        return list(context)
    room = max_seq_len - len(continuation)
    if room <= 0:
        # LLM-Foundry raises for room < 0 (and fails later for room == 0)
        raise ContinuationTooLong(f"continuation of {len(continuation)} tokens does not fit in "
                                  f"max_seq_len {max_seq_len}")
    return list(context[-room:])


def _skip(skipped: list[int] | None, index: int, error: ContinuationTooLong) -> None:
    """Record an item that cannot fit, or raise when the caller does not collect skips."""
    if skipped is None:
        raise error
    skipped.append(index)


# ---------------------------------------------------------------- few-shot


def fewshot_indices(dataset_size: int, num_fewshot: int, example_idx: int, rng: random.Random) -> list[int]:
    """The shot indices for `example_idx`, in the order LLM-Foundry writes them (a set's order)."""
    k = min(dataset_size - 1, num_fewshot)
    if k <= 0:
        # LLM-Foundry still calls rng.sample(range(n), 0), which draws nothing
        return []
    chosen = set(rng.sample(range(dataset_size), k))
    if example_idx in chosen:
        chosen.remove(example_idx)
        if len(chosen) < dataset_size - 1:
            extra = rng.choice(range(dataset_size))
            while extra in chosen or extra == example_idx:
                extra = rng.choice(range(dataset_size))
            chosen.add(extra)
    return list(chosen)


def strip_example(ex):
    """LLM-Foundry's strip_data: strip every string field, leave lists alone."""
    changes = {name: getattr(ex, name).strip() for name in ex.__dataclass_fields__
               if isinstance(getattr(ex, name), str) and name != "category"}
    return replace(ex, **changes)


def _has_cot(examples: Sequence[Any]) -> bool:
    return any(isinstance(ex, GenExample) and ex.chain_of_thought is not None for ex in examples)


def _context_of(ex) -> str:
    if isinstance(ex, MCExample):
        return ex.query
    return ex.context


def answer_in_context(cfg: TaskConfig, ex, *, has_cot: bool = False) -> str:
    """The answer as written after a shot's context (never with an added space)."""
    if isinstance(ex, MCExample):
        return ex.choices[ex.gold]
    if isinstance(ex, LMExample):
        return ex.continuation
    if isinstance(ex, GenExample):
        if has_cot:
            return f"{ex.chain_of_thought or ''}{cfg.cot_delimiter}{ex.answer}"
        return ex.answer
    raise TypeError(f"no in-context answer for {type(ex).__name__}")


def shot_text(cfg: TaskConfig, ex, preceding: str, *, has_cot: bool = False) -> str:
    """One filled-in example as it appears in the few-shot preamble."""
    delim = cfg.example_delimiter if preceding else ""
    if isinstance(ex, SchemaExample):
        option = ex.context_options[ex.gold]
        return f"{cfg.prelimiter}{delim}{option}{cfg.continuation_delimiter}{ex.continuation}"
    return (f"{delim}{cfg.prelimiter}{_context_of(ex)}{cfg.continuation_delimiter}"
            f"{answer_in_context(cfg, ex, has_cot=has_cot)}")


def fewshot_preamble(cfg: TaskConfig, examples: Sequence[Any], example_idx: int, rng: random.Random, *,
                     has_cot: bool | None = None) -> str:
    """Prompt string + the shots for `example_idx` (examples already stripped)."""
    text = cfg.prompt_string
    if cfg.num_fewshot > 0:
        if has_cot is None:
            has_cot = _has_cot(examples)
        for j in fewshot_indices(len(examples), cfg.num_fewshot, example_idx, rng):
            text += shot_text(cfg, examples[j], text, has_cot=has_cot)
    return text


def test_context_text(cfg: TaskConfig, ex, preceding: str) -> str:
    """The test example's context (MC, LM, generation), right-stripped."""
    delim = cfg.example_delimiter if preceding else ""
    return f"{delim}{cfg.prelimiter}{_context_of(ex)}{cfg.continuation_delimiter}".rstrip()


def schema_context_texts(cfg: TaskConfig, ex: SchemaExample, preceding: str) -> list[str]:
    if preceding:
        tail = cfg.continuation_delimiter.rstrip()
        return [f"{cfg.prelimiter}{cfg.example_delimiter}{c}{tail}" for c in ex.context_options]
    return [f"{cfg.prelimiter}{c}" for c in ex.context_options]


# ---------------------------------------------------------------- builders


def _prepared(cfg: TaskConfig, examples: Sequence[Any], kind: type) -> list:
    out = []
    for i, ex in enumerate(examples):
        if not isinstance(ex, kind):
            raise DataError(f"task {cfg.label!r}: example {i} is a {type(ex).__name__}, "
                            f"expected {kind.__name__} for {cfg.icl_task_type}")
        out.append(strip_example(ex))
    return out


def build_multiple_choice(cfg: TaskConfig, examples: Sequence[MCExample], tokenizer: Any, *,
                          count: int | None = None, skipped: list[int] | None = None) -> list[ScoredItem]:
    """One item per question, one (context, continuation) pair per choice."""
    exs = _prepared(cfg, examples, MCExample)
    rng = random.Random(cfg.fewshot_random_seed)
    space = needs_prefix_space(tokenizer)
    items = []
    for i, ex in enumerate(exs[:count]):
        pre = fewshot_preamble(cfg, exs, i, rng, has_cot=False)
        ctx = test_context_text(cfg, ex, pre)
        ctx_ids = encode(tokenizer, pre) + encode(tokenizer, ctx)
        pairs, texts = [], []
        try:
            for choice in ex.choices:
                cont = _spaced(choice, space)
                cont_ids = encode(tokenizer, cont)
                pairs.append((trim_left(ctx_ids, cont_ids, cfg.max_seq_len), cont_ids))
                texts.append((pre + ctx, cont))
        except ContinuationTooLong as e:
            _skip(skipped, i, e)
            continue
        items.append(ScoredItem(i, pairs, ex.gold, ex.category, texts))
    return items


def build_schema(cfg: TaskConfig, examples: Sequence[SchemaExample], tokenizer: Any, *,
                 count: int | None = None, skipped: list[int] | None = None) -> list[ScoredItem]:
    """One item per question, one pair per context option, all sharing the continuation."""
    exs = _prepared(cfg, examples, SchemaExample)
    rng = random.Random(cfg.fewshot_random_seed)
    space = needs_prefix_space(tokenizer)
    items = []
    for i, ex in enumerate(exs[:count]):
        pre = fewshot_preamble(cfg, exs, i, rng, has_cot=False)
        pre_ids = encode(tokenizer, pre)
        cont = _spaced(ex.continuation, space)
        cont_ids = encode(tokenizer, cont)
        pairs, texts = [], []
        try:
            for ctx in schema_context_texts(cfg, ex, pre):
                ctx_ids = pre_ids + encode(tokenizer, ctx)
                pairs.append((trim_left(ctx_ids, cont_ids, cfg.max_seq_len), cont_ids))
                texts.append((pre + ctx, cont))
        except ContinuationTooLong as e:
            _skip(skipped, i, e)
            continue
        items.append(ScoredItem(i, pairs, ex.gold, ex.category, texts))
    return items


def build_language_modeling(cfg: TaskConfig, examples: Sequence[LMExample], tokenizer: Any, *,
                            count: int | None = None, skipped: list[int] | None = None) -> list[ScoredItem]:
    """One item per row with a single (context, continuation) pair; gold is 0."""
    exs = _prepared(cfg, examples, LMExample)
    rng = random.Random(cfg.fewshot_random_seed)
    space = needs_prefix_space(tokenizer)
    items = []
    for i, ex in enumerate(exs[:count]):
        pre = fewshot_preamble(cfg, exs, i, rng, has_cot=False)
        ctx = test_context_text(cfg, ex, pre)
        ctx_ids = encode(tokenizer, pre) + encode(tokenizer, ctx)
        cont = _spaced(ex.continuation, space)
        cont_ids = encode(tokenizer, cont)
        try:
            pair = (trim_left(ctx_ids, cont_ids, cfg.max_seq_len), cont_ids)
        except ContinuationTooLong as e:
            _skip(skipped, i, e)
            continue
        items.append(ScoredItem(i, [pair], 0, ex.category, [(pre + ctx, cont)]))
    return items


def max_answer_length(cfg: TaskConfig, examples: Sequence[GenExample], tokenizer: Any) -> int:
    """Longest tokenized (cot + delimiter +) answer or alias, + 10 when cot_delimiter is set.

    Computed on the file's text before stripping, as LLM-Foundry does.
    """
    has_cot = _has_cot(examples)
    longest = 0
    for ex in examples:
        for answer in (ex.answer, *ex.aliases):
            text = f"{ex.chain_of_thought or ''}{cfg.cot_delimiter}{answer}" if has_cot else answer
            longest = max(longest, len(encode(tokenizer, text)))
    return longest + (ANSWER_BUFFER if cfg.cot_delimiter else 0)


def build_generation(cfg: TaskConfig, examples: Sequence[GenExample], tokenizer: Any, *,
                     count: int | None = None, skipped: list[int] | None = None) -> list[GenerationItem]:
    """One prompt per row; labels are the answer and its aliases (unstripped, deduplicated).

    Nothing is skipped here: LLM-Foundry sizes the answer budget over the whole dataset, so
    either every context fits (left-truncated) or the task cannot run at this max_seq_len.
    """
    for i, ex in enumerate(examples):
        if not isinstance(ex, GenExample):
            raise DataError(f"task {cfg.label!r}: example {i} is a {type(ex).__name__}, expected GenExample")
    budget = max_answer_length(cfg, examples, tokenizer)
    room = cfg.max_seq_len - budget
    if room <= 0:
        raise DataError(f"task {cfg.label!r}: answers of up to {budget} tokens leave no room for a context "
                        f"in max_seq_len {cfg.max_seq_len}")
    exs = _prepared(cfg, examples, GenExample)
    rng = random.Random(cfg.fewshot_random_seed)
    items = []
    has_cot = _has_cot(exs)
    for i, (raw, ex) in enumerate(zip(examples[:count], exs[:count])):
        pre = fewshot_preamble(cfg, exs, i, rng, has_cot=has_cot)
        ctx = test_context_text(cfg, ex, pre)
        ctx_ids = trim_left(encode(tokenizer, pre) + encode(tokenizer, ctx), [], room)
        labels = list(dict.fromkeys((raw.answer, *raw.aliases)))
        items.append(GenerationItem(i, ctx_ids, labels, max(budget, 1), ex.category, pre + ctx))
    return items


_BUILDERS = {
    MULTIPLE_CHOICE: build_multiple_choice,
    SCHEMA: build_schema,
    LANGUAGE_MODELING: build_language_modeling,
    GENERATION: build_generation,
}


def partition(cfg: TaskConfig, examples: Sequence[Any]) -> list[tuple[str | None, list[int]]]:
    """(category, global indices) per dataset LLM-Foundry builds: one per sorted category, or one."""
    if not cfg.has_categories:
        return [(None, list(range(len(examples))))]
    groups: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        if ex.category is None:
            raise DataError(f"task {cfg.label!r} has has_categories but example {i} has no category")
        groups.setdefault(ex.category, []).append(i)
    return [(cat, groups[cat]) for cat in sorted(groups)]


def build_items(cfg: TaskConfig, examples: Sequence[Any], tokenizer: Any, *, limit: int | None = None,
                skipped: list[int] | None = None) -> list:
    """All items of a task, partitioned by category when `cfg.has_categories`.

    Each item's `index` is the example's position in `examples`. `limit`
    keeps the items of the first `limit` examples, built exactly as in a
    full run (the few-shot pool and the generator's sequence are the full
    dataset's). With a `skipped` list, items whose continuation cannot fit
    in ``cfg.max_seq_len`` are left out and their example positions appended
    to it; without one such an item raises `ContinuationTooLong`.
    """
    builder = _BUILDERS[cfg.icl_task_type]
    items = []
    for category, idxs in partition(cfg, examples):
        count = None if limit is None else sum(1 for i in idxs if i < limit)
        if count == 0:
            continue
        local: list[int] | None = None if skipped is None else []
        part = builder(cfg, [examples[i] for i in idxs], tokenizer, count=count, skipped=local)
        if local:
            skipped.extend(idxs[i] for i in local)
        for item in part:
            item.index = idxs[item.index]
            if category is not None:
                item.category = category
        items.extend(part)
    return items
