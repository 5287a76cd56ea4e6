"""In-context scoring with LLM-Foundry's metrics over a logits callable.

`model` is any callable ``logits_fn(ids: LongTensor[B, T]) -> FloatTensor[B, T, V]``
(causal, so right padding never changes the logits of real positions); an
``nn.Module`` is put in eval mode and fed on its parameters' device.

* multiple_choice / schema (``InContextLearningMultipleChoiceAccuracy``): per
  choice the MEAN cross-entropy of the continuation tokens (exp of it is the
  per-token perplexity; same order), lowest wins, ties go to the first choice.
* language_modeling (``InContextLearningLMAccuracy``): correct only when the
  argmax at every continuation position is the continuation token.
* generation_task_with_answers (``InContextLearningGenerationAccuracy``,
  called ...ExactMatchAccuracy in older releases): greedy decoding until end
  of text, a stop string or the token budget; the output is cut at the first
  stop string (``re.split("|".join(stops))[0]``, stops used as a regular
  expression, as LLM-Foundry does), then the text after the LAST
  ``cot_delimiter`` is kept; with ``do_normalization`` output and labels are
  TriviaQA-normalised, without it only stripped of surrounding whitespace;
  correct when the output ``startswith`` any label. Decoding drops special
  tokens only (end of text), so NeoX's 50256, an ordinary token there, stays
  in the text as in LLM-Foundry's ``batch_decode(skip_special_tokens=True)``.

Continuous proxies, per item, from the same forward pass as accuracy (issue 15):

* ``p_correct`` (multiple_choice, schema): the correct choice's share of
  ``softmax(-mean CE)`` over the choices: the per-choice log-likelihoods the
  accuracy rule ranks, normalised over the choices (argmax = the chosen one).
* ``margin`` (multiple_choice, schema): ``-mean CE`` of the correct choice minus the
  best wrong one's (> 0: correct; < 0: wrong; 0 only on a tie).
* ``bpb``: the correct continuation's summed negative log-likelihood in bits per
  UTF-8 byte of the continuation text (its leading space included, as it is
  scored). For generation tasks it is the answer under teacher forcing, one
  extra forward over context + ``{delimiter's trailing whitespace}{answer}``
  as the shots write it.
"""

from __future__ import annotations

import contextlib
import math
import re
import string
from typing import Any, Callable, Collection, Sequence

import torch
import torch.nn.functional as F

from dcbench.errors import DataError

from dcbench.eval.prompts import (ContinuationTooLong, GenerationItem, ScoredItem, answer_in_context, build_items,
                                  encode, strip_example, trim_left)
from dcbench.eval.tasks import GENERATION, LANGUAGE_MODELING, TaskConfig
from dcbench.training.model import KVCache, OpenLM

LogitsFn = Callable[[torch.Tensor], torch.Tensor]
OnDone = Callable[[float], None]  # told how many items (fractions of one, too) a batch finished


# ---------------------------------------------------------------- plumbing


def _device_of(model: Any) -> torch.device:
    if isinstance(model, torch.nn.Module):
        for p in model.parameters():
            return p.device
    return torch.device("cpu")


def _autocast(device: torch.device, precision: str):
    """bf16 autocast ("bf16") or none ("fp32", DCLM's). An `EvalModel` applies its own
    precision (`dcbench eval --precision`); this one is for bare modules."""
    if precision not in ("bf16", "fp32"):
        raise ValueError(f"precision must be fp32 or bf16, got {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _pad_batch(seqs: Sequence[Sequence[int]], pad_id: int, device) -> torch.Tensor:
    width = max(len(s) for s in seqs)
    out = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    for r, s in enumerate(seqs):
        out[r, :len(s)] = torch.as_tensor(list(s), dtype=torch.long)
    return out.to(device)


# ------------------------------------------------------ continuation scores


@torch.no_grad()
def continuation_stats(model: Any, pairs: Sequence[tuple[Sequence[int], Sequence[int]]], *, pad_id: int = 0,
                       batch_size: int = 8, precision: str = "fp32",
                       on_batch: Callable[[list[int]], None] | None = None
                       ) -> tuple[list[float], list[bool], list[float]]:
    """Per (context, continuation): mean cross-entropy, "argmax reproduces every token", and the
    summed cross-entropy (nats) of the continuation, all from one forward.

    Sequences are run longest first in right-padded batches of `batch_size`;
    `on_batch(rows)` hears which pairs each batch finished.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    for ctx, cont in pairs:
        if not ctx:
            raise DataError("a scored example has an empty context: the first continuation token has no prediction")
        if not cont:
            raise DataError("a scored example has an empty continuation")
    device = _device_of(model)
    if isinstance(model, torch.nn.Module):
        model.eval()
    order = sorted(range(len(pairs)), key=lambda i: -(len(pairs[i][0]) + len(pairs[i][1])))
    ce = [0.0] * len(pairs)
    exact = [False] * len(pairs)
    nll = [0.0] * len(pairs)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        seqs = [list(pairs[i][0]) + list(pairs[i][1]) for i in rows]
        ids = _pad_batch(seqs, pad_id, device)
        with _autocast(device, precision):
            logits = model(ids)
        for r, i in enumerate(rows):
            n_ctx, n_cont = len(pairs[i][0]), len(pairs[i][1])
            # position t predicts token t + 1
            pred = logits[r, n_ctx - 1:n_ctx + n_cont - 1].float()
            target = ids[r, n_ctx:n_ctx + n_cont]
            ce[i] = F.cross_entropy(pred, target).item()
            nll[i] = F.cross_entropy(pred, target, reduction="sum").item()
            exact[i] = bool((pred.argmax(dim=-1) == target).all())
        if on_batch is not None:
            on_batch(rows)
    return ce, exact, nll


def continuation_scores(model: Any, pairs: Sequence[tuple[Sequence[int], Sequence[int]]], *, pad_id: int = 0,
                        batch_size: int = 8, precision: str = "fp32",
                        on_batch: Callable[[list[int]], None] | None = None) -> tuple[list[float], list[bool]]:
    """Mean continuation cross-entropy and "argmax reproduces every token" per (context, continuation)."""
    ce, exact, _ = continuation_stats(model, pairs, pad_id=pad_id, batch_size=batch_size, precision=precision,
                                      on_batch=on_batch)
    return ce, exact


def pick_choice(losses: Sequence[float]) -> int:
    """Index of the lowest mean cross-entropy; the first one on ties (list.index(min))."""
    return min(range(len(losses)), key=lambda j: (losses[j], j))


def bits_per_byte(nll_nats: float, text: str) -> float | None:
    """Summed negative log-likelihood (nats) as bits per UTF-8 byte of `text`; None without text."""
    n_bytes = len(text.encode("utf-8"))
    return nll_nats / math.log(2) / n_bytes if n_bytes else None


def choice_proxies(losses: Sequence[float], gold: int) -> tuple[float, float | None]:
    """(p_correct, margin) from per-choice mean cross-entropies: log-likelihood -CE per choice,
    normalised over the choices; margin None for a single choice."""
    ll = [-c for c in losses]
    top = max(ll)
    z = sum(math.exp(v - top) for v in ll)
    p_correct = math.exp(ll[gold] - top) / z
    wrong = [v for j, v in enumerate(ll) if j != gold]
    return p_correct, (ll[gold] - max(wrong) if wrong else None)


def _continuation_text(item: ScoredItem) -> str:
    """The gold continuation as scored (its leading space included); "" for hand-built items."""
    return item.texts[item.gold][1] if item.texts else ""


def score_items_proxies(model: Any, items: Sequence[ScoredItem], *, lm: bool = False, pad_id: int = 0,
                        batch_size: int = 8, precision: str = "fp32",
                        on_done: OnDone | None = None) -> tuple[list[bool], dict[str, list | None]]:
    """Correctness per item (see `score_items`) and its proxies, from the same forward pass:
    ``{"p_correct": [...] | None, "bpb": [...], "margin": [...] | None}`` (None lists for `lm`).

    `on_done(n)` hears progress in items: each scored choice counts 1/len(choices).
    """
    flat, owner = [], []
    for k, item in enumerate(items):
        for pair in item.pairs:
            flat.append(pair)
            owner.append(k)
    on_batch = None
    if on_done is not None:
        def on_batch(rows: list[int]) -> None:
            on_done(sum(1.0 / len(items[owner[r]].pairs) for r in rows))
    ce, exact, nll = continuation_stats(model, flat, pad_id=pad_id, batch_size=batch_size, precision=precision,
                                        on_batch=on_batch)
    per_item: list[list[int]] = [[] for _ in items]
    for r, k in enumerate(owner):
        per_item[k].append(r)
    bpb = [bits_per_byte(nll[rows[item.gold]], _continuation_text(item)) for rows, item in zip(per_item, items)]
    if lm:
        return [all(exact[r] for r in rows) for rows in per_item], {"p_correct": None, "bpb": bpb, "margin": None}
    losses = [[ce[r] for r in rows] for rows in per_item]
    correct = [pick_choice(c) == item.gold for c, item in zip(losses, items)]
    pm = [choice_proxies(c, item.gold) for c, item in zip(losses, items)]
    return correct, {"p_correct": [p for p, _ in pm], "bpb": bpb, "margin": [m for _, m in pm]}


def score_items(model: Any, items: Sequence[ScoredItem], *, lm: bool = False, pad_id: int = 0,
                batch_size: int = 8, precision: str = "fp32", on_done: OnDone | None = None) -> list[bool]:
    """Correctness per item: lowest-loss choice == gold (MC, schema) or all-argmax (`lm`).

    `on_done(n)` hears progress in items: each scored choice counts 1/len(choices).
    """
    return score_items_proxies(model, items, lm=lm, pad_id=pad_id, batch_size=batch_size, precision=precision,
                               on_done=on_done)[0]


# ---------------------------------------------------------------- generation


def normalize_answer(text: str) -> str:
    """TriviaQA normalisation as LLM-Foundry applies it.

    Underscores -> spaces, lowercase, punctuation (plus ‘ ’ ´ `) -> spaces,
    the words a/an/the -> spaces, whitespace collapsed, stripped.
    """
    text = text.replace("_", " ").lower()
    punct = set(string.punctuation + "\u2018\u2019\u00b4`")
    text = "".join(" " if ch in punct else ch for ch in text)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split()).strip()


def extract_answer(output: str, *, stop_strings: Sequence[str] = (), cot_delimiter: str = "") -> str:
    """Cut at the first stop string, then keep what follows the last cot delimiter."""
    if stop_strings:
        output = re.split("|".join(stop_strings), output)[0]
    if cot_delimiter:
        output = output.split(cot_delimiter)[-1]
    return output


def generation_correct(output: str, labels: Sequence[str], *, stop_strings: Sequence[str] = (),
                       cot_delimiter: str = "", do_normalization: bool = True) -> bool:
    answer = extract_answer(output, stop_strings=stop_strings, cot_delimiter=cot_delimiter)
    if do_normalization:
        answer = normalize_answer(answer)
        labels = {normalize_answer(label) for label in labels}
    else:  # LLM-Foundry still strips surrounding whitespace from both (a " 42" answer matches "42")
        answer = answer.strip()
        labels = {label.strip() for label in labels}
    return any(answer.startswith(label) for label in labels)


def _decode(tokenizer: Any, ids: Sequence[int]) -> str:
    try:
        return tokenizer.decode(list(ids), skip_special_tokens=True)
    except TypeError:
        return tokenizer.decode(list(ids))


def _cached_forward(model: Any) -> Callable[[torch.Tensor, KVCache], torch.Tensor] | None:
    """`(ids, cache) -> logits` for a model that takes a key/value cache (ours), else None."""
    if isinstance(model, OpenLM):
        return lambda ids, cache: model(ids, cache=cache)
    fn = getattr(model, "forward_cached", None)
    return fn if callable(fn) else None


class _Rows:
    """One batch's generation state: tokens so far, and which rows still decode."""

    def __init__(self, prompts, rows: list[int], budgets: list[int], eos_id, stop_strings, tokenizer):
        for i in rows:
            if not prompts[i]:
                raise DataError("a generation prompt is empty")
        self.seqs = {i: list(prompts[i]) for i in rows}
        self.new: dict[int, list[int]] = {i: [] for i in rows}
        self.active = [i for i in rows if budgets[i] > 0]
        self.budgets, self.eos_id, self.stops, self.tokenizer = budgets, eos_id, stop_strings, tokenizer

    def take(self, tokens: list[int]) -> list[int]:
        """Append each active row's next token; returns the positions (in `active`) that go on."""
        still, keep = [], []
        for pos, (i, tok) in enumerate(zip(self.active, tokens)):
            if self.eos_id is not None and tok == self.eos_id:
                continue
            self.seqs[i].append(tok)
            self.new[i].append(tok)
            if len(self.new[i]) >= self.budgets[i]:
                continue
            if self.stops and any(s in _decode(self.tokenizer, self.new[i]) for s in self.stops):
                continue
            still.append(i)
            keep.append(pos)
        self.active = still
        return keep


def _argmax_at(logits: torch.Tensor, last: Sequence[int]) -> list[int]:
    at = torch.as_tensor(list(last), device=logits.device)
    return logits[torch.arange(len(last), device=logits.device), at].float().argmax(dim=-1).tolist()


def _decode_uncached(model, state: _Rows, pad_id: int, device, precision: str) -> None:
    """Re-run the whole right-padded batch for every new token."""
    while state.active:
        ids = _pad_batch([state.seqs[i] for i in state.active], pad_id, device)
        with _autocast(device, precision):
            logits = model(ids)
        state.take(_argmax_at(logits, [len(state.seqs[i]) - 1 for i in state.active]))


def _decode_cached(forward, state: _Rows, pad_id: int, device, precision: str) -> None:
    """Run the prompts once, then one token per row against the key/value cache."""
    if not state.active:
        return
    lengths = [len(state.seqs[i]) for i in state.active]
    cache = KVCache(torch.as_tensor(lengths, device=device),
                    capacity=max(lengths) + max(state.budgets[i] for i in state.active))
    with _autocast(device, precision):
        logits = forward(_pad_batch([state.seqs[i] for i in state.active], pad_id, device), cache)
    keep = state.take(_argmax_at(logits, [n - 1 for n in lengths]))
    while state.active:
        cache.keep(torch.as_tensor(keep, device=device))
        ids = torch.as_tensor([[state.seqs[i][-1]] for i in state.active], device=device)
        with _autocast(device, precision):
            logits = forward(ids, cache)
        keep = state.take(logits[:, 0].float().argmax(dim=-1).tolist())


@torch.no_grad()
def greedy_generate(model: Any, tokenizer: Any, prompts: Sequence[Sequence[int]],
                    max_new_tokens: int | Sequence[int], *, eos_id: int | None, stop_strings: Sequence[str] = (),
                    pad_id: int = 0, batch_size: int = 8, precision: str = "fp32", use_cache: bool = True,
                    on_done: OnDone | None = None) -> list[str]:
    """Greedy continuations (decoded text, end-of-text excluded) of each prompt.

    A row stops at end of text, when its decoded text contains a stop string,
    or after its token budget. Rows run longest first in right-padded batches.
    Our models decode with a key/value cache (token-identical to re-running the
    batch, which `use_cache=False` and other models do).
    """
    budgets = [max_new_tokens] * len(prompts) if isinstance(max_new_tokens, int) else list(max_new_tokens)
    device = _device_of(model)
    if isinstance(model, torch.nn.Module):
        model.eval()
    cached = _cached_forward(model) if use_cache else None
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    outputs = [""] * len(prompts)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        state = _Rows(prompts, rows, budgets, eos_id, stop_strings, tokenizer)
        if cached is not None:
            _decode_cached(cached, state, pad_id, device, precision)
        else:
            _decode_uncached(model, state, pad_id, device, precision)
        for i in rows:
            outputs[i] = _decode(tokenizer, state.new[i])
        if on_done is not None:
            on_done(len(rows))
    return outputs


def score_generation(model: Any, tokenizer: Any, cfg: TaskConfig, items: Sequence[GenerationItem], *,
                     eos_id: int | None, pad_id: int = 0, batch_size: int = 8, precision: str = "fp32",
                     use_cache: bool = True, on_done: OnDone | None = None) -> tuple[list[bool], list[str]]:
    outputs = greedy_generate(model, tokenizer, [it.context_ids for it in items], [it.max_new_tokens for it in items],
                              eos_id=eos_id, stop_strings=cfg.stop_strings, pad_id=pad_id, batch_size=batch_size,
                              precision=precision, use_cache=use_cache, on_done=on_done)
    correct = [generation_correct(out, it.labels, stop_strings=cfg.stop_strings, cot_delimiter=cfg.cot_delimiter,
                                  do_normalization=cfg.do_normalization) for out, it in zip(outputs, items)]
    return correct, outputs


# ---------------------------------------------------------------- one task


def _special_id(tokenizer: Any, attr: str, token: str) -> int | None:
    value = getattr(tokenizer, attr, None)
    if isinstance(value, int):
        return value
    lookup = getattr(tokenizer, "token_to_id", None)
    if callable(lookup):
        return lookup(token)
    return None


def teacher_forced_bpb(model: Any, tokenizer: Any, cfg: TaskConfig, examples: Sequence[Any],
                       items: Sequence[GenerationItem], *, pad_id: int = 0, batch_size: int = 8,
                       precision: str = "fp32") -> list[float | None]:
    """Bits per byte of each generation item's answer given its prompt, as the shots write an answer
    (``{chain_of_thought}{cot_delimiter}{answer}`` when the file has chains of thought) after the
    whitespace the prompt's right-strip took off the continuation delimiter. None for an answer
    that cannot fit beside any context."""
    has_cot = any(getattr(ex, "chain_of_thought", None) is not None for ex in examples)
    gap = cfg.continuation_delimiter[len(cfg.continuation_delimiter.rstrip()):]
    pairs, texts, rows = [], [], []
    for k, item in enumerate(items):
        text = gap + answer_in_context(cfg, strip_example(examples[item.index]), has_cot=has_cot)
        cont = encode(tokenizer, text)
        try:
            ctx = trim_left(item.context_ids, cont, cfg.max_seq_len)
        except ContinuationTooLong:
            continue
        if ctx and cont:
            pairs.append((ctx, cont))
            texts.append(text)
            rows.append(k)
    _, _, nll = continuation_stats(model, pairs, pad_id=pad_id, batch_size=batch_size, precision=precision)
    out: list[float | None] = [None] * len(items)
    for k, text, v in zip(rows, texts, nll):
        out[k] = bits_per_byte(v, text)
    return out


def _mean(values: Sequence[float | None] | None) -> float | None:
    present = [v for v in values or () if v is not None]
    return sum(present) / len(present) if present else None


def _item_record(items: Sequence[Any], correct: Sequence[bool], proxies: dict[str, list | None]) -> dict[str, Any]:
    """The per-item lists the results JSON keeps (aligned by item order; `index` = row in the task file)."""
    return {"index": [it.index for it in items], "correct": [int(c) for c in correct],
            "p_correct": proxies["p_correct"], "bpb": proxies["bpb"], "margin": proxies["margin"]}


def _proxy_means(items: Sequence[Any], proxies: dict[str, list | None]) -> dict[str, float | None]:
    """Per-task means of the proxies and, for choice tasks, the p_correct of indifference (mean 1/choices)."""
    out = {k: _mean(v) for k, v in proxies.items()}
    out["p_chance"] = _mean([1 / len(it.pairs) for it in items]) if proxies["p_correct"] is not None else None
    return out


def evaluate_task(model: Any, tokenizer: Any, cfg: TaskConfig, examples: Sequence[Any], *, batch_size: int = 8,
                  limit: int | None = None, pad_id: int | None = None, eos_id: int | None = None,
                  precision: str = "fp32", on_done: OnDone | None = None) -> dict:
    """Accuracy of `model` on one task: `score_task`'s first half (without the extra teacher-forced
    pass a generation task's bpb needs)."""
    return score_task(model, tokenizer, cfg, examples, batch_size=batch_size, limit=limit, pad_id=pad_id,
                      eos_id=eos_id, precision=precision, on_done=on_done, teacher_forcing=False)[0]


def score_task(model: Any, tokenizer: Any, cfg: TaskConfig, examples: Sequence[Any], *, batch_size: int = 8,
               limit: int | None = None, pad_id: int | None = None, eos_id: int | None = None,
               precision: str = "fp32", on_done: OnDone | None = None,
               teacher_forcing: bool = True, exclude: Collection[int] = ()) -> tuple[dict, dict]:
    """Accuracy of `model` on one task, and its continuous proxies: (result, proxies).

    Returns ``{"accuracy", "n", "skipped"}`` and, with ``cfg.has_categories``,
    ``"per_category": {category: accuracy}`` and ``"per_category_n"``; then
    ``"accuracy"`` is the micro average over all scored examples (DCLM's
    MMLU headline is the MACRO average of ``per_category``, which the
    aggregator computes). `limit` scores the first `limit` examples, each
    prompted exactly as in a full run. `eos_id` (generation) defaults to the
    tokenizer's ``eos_token_id`` or ``<|endoftext|>``; `pad_id` to 0 (any id
    works: padding is on the right and never scored). ``n`` counts the scored
    items; ``skipped`` those whose continuation alone fills ``cfg.max_seq_len``
    (see `eval.prompts`), which are not scored. `on_done(n)` hears progress in items.
    Without `teacher_forcing` a generation task's bpb is left None (no extra pass).
    Items whose example position is in `exclude` (contaminated ones) are not scored; the
    few-shot pool stays the whole file, so the others are prompted exactly as in a full run.

    `proxies` (module doc): ``"p_correct"``, ``"bpb"``, ``"margin"``, the per-task means (None
    where the task type has none), ``"p_chance"``, the mean of 1/choices (choice tasks), and
    ``"items"``, the per-item lists ``{"index", "correct", "p_correct", "bpb", "margin"}``.
    """
    if limit is not None and limit < 1:
        raise ValueError("limit must be >= 1")
    if not examples:
        raise DataError(f"task {cfg.label!r}: no examples")
    skipped: list[int] = []
    items = build_items(cfg, examples, tokenizer, limit=limit, skipped=skipped)
    if exclude:
        items = [it for it in items if it.index not in exclude]
        if not items:
            raise DataError(f"task {cfg.label!r}: every item is excluded as contaminated; nothing to score")
    if not items:
        raise DataError(f"task {cfg.label!r}: all {len(skipped)} items have continuations longer than the model's "
                        f"max_seq_len {cfg.max_seq_len}; nothing to score")
    if pad_id is None:
        pad_id = 0
    if cfg.icl_task_type == GENERATION:
        if eos_id is None:
            eos_id = _special_id(tokenizer, "eos_token_id", "<|endoftext|>")
        correct, _ = score_generation(model, tokenizer, cfg, items, eos_id=eos_id, pad_id=pad_id,
                                      batch_size=batch_size, precision=precision, on_done=on_done)
        bpb = teacher_forced_bpb(model, tokenizer, cfg, examples, items, pad_id=pad_id, batch_size=batch_size,
                                 precision=precision) if teacher_forcing else [None] * len(items)
        proxies: dict[str, list | None] = {"p_correct": None, "bpb": bpb, "margin": None}
    else:
        correct, proxies = score_items_proxies(model, items, lm=cfg.icl_task_type == LANGUAGE_MODELING,
                                               pad_id=pad_id, batch_size=batch_size, precision=precision,
                                               on_done=on_done)
    n = len(correct)
    result: dict = {"label": cfg.label, "num_fewshot": cfg.num_fewshot, "accuracy": sum(correct) / n, "n": n,
                    "skipped": len(skipped)}
    if cfg.has_categories:
        hits: dict[str, list[bool]] = {}
        for item, ok in zip(items, correct):
            hits.setdefault(item.category, []).append(ok)
        result["per_category"] = {c: sum(v) / len(v) for c, v in sorted(hits.items())}
        result["per_category_n"] = {c: len(v) for c, v in sorted(hits.items())}
    return result, {**_proxy_means(items, proxies), "items": _item_record(items, correct, proxies)}
