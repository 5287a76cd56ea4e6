"""The toy evaluation suite for the small tiers: its tasks, its files and its aggregate.

A toy suite directory holds LLM-Foundry-format jsonl task files
(`toy/<task>.jsonl`) and `suite.json`, the task specs with their random
baselines, the generator's inputs and the suite's content id; beside them
`heldout/<source>.jsonl`, fresh pages for the held-out suite (`eval.heldout`),
which the suite's id does not cover. The items are
drawn from the toy pool's language (held out from every pool) by
`dcbench.flows.toy_suite` (`dcbench eval toy-suite --out DIR`); this module only
defines the tasks and reads, writes and aggregates suites, so the evaluator
knows nothing about how the toy pool is made.

Tasks (all zero-shot):

* `toy_lm` (language_modeling, baseline 0): a few clean sentences cut at a word;
  greedy decoding must produce the next word exactly.
* `toy_boilerplate`, `toy_spam`, `toy_word_salad`, `toy_non_english`
  (multiple_choice, 4 choices, baseline 25): after a clean context, the right
  choice is the clean, grammatical next sentence; the three distractors are what
  a curation recipe should remove: page chrome (cart/sign-in lines, navigation,
  upper-case menus, like counters), keyword and hashtag spam, the gold sentence's
  own words shuffled, and sentences in German/French/Spanish/Italian.
* `toy_hq_style` (multiple_choice, baseline 25): after encyclopedic context in
  the reference set's style, the right choice continues in that style; the
  distractors are ordinary web-blog sentences.

Why it moves with curation: the model's token budget is fixed by the tier, so
every junk document a recipe keeps displaces clean prose. A model trained on
junk learns it well enough to find page chrome, spam and foreign text cheap
(low loss per token) and picks it over a novel clean sentence; a model
trained on clean prose learns the grammar (word order beats its own shuffle)
and the continuation of the context; a quality filter that keeps the
reference-like documents shifts the model toward the encyclopedic style.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dcbench.atomic import write_atomic
from dcbench.manifest import content_id

SUITE_FILE = "suite.json"
N_CHOICES = 4

# label -> (icl_task_type, random baseline %, what it measures)
TOY_TASKS: dict[str, tuple[str, float, str]] = {
    "toy_lm": ("language_modeling", 0.0, "greedy next word of clean held-out prose"),
    "toy_boilerplate": ("multiple_choice", 100 / N_CHOICES, "clean next sentence vs page chrome lines"),
    "toy_spam": ("multiple_choice", 100 / N_CHOICES, "clean next sentence vs keyword/hashtag spam"),
    "toy_word_salad": ("multiple_choice", 100 / N_CHOICES, "clean next sentence vs its words shuffled"),
    "toy_non_english": ("multiple_choice", 100 / N_CHOICES, "clean next sentence vs non-English sentences"),
    "toy_hq_style": ("multiple_choice", 100 / N_CHOICES, "encyclopedic continuation vs web-blog sentences"),
}


def toy_task_specs() -> list[dict[str, Any]]:
    """The suite's task specs; `dataset_uri` is relative to the suite directory."""
    return [{"label": name, "dataset_uri": f"toy/{name}.jsonl", "icl_task_type": kind, "num_fewshot": 0,
             "continuation_delimiter": " ", "random_baseline": baseline, "category": "toy", "description": what}
            for name, (kind, baseline, what) in TOY_TASKS.items()]


def write_toy_suite(out_dir: str | os.PathLike, items: dict[str, list[dict[str, Any]]],
                    inputs: dict[str, Any]) -> dict[str, Any]:
    """Write `toy/<task>.jsonl` for every task and `suite.json` under `out_dir`; return the suite.

    `items` holds each task's LLM-Foundry records; `inputs` says what generated
    them (they and the specs make the suite's content id). `out_dir` then serves
    as `tasks_dir` for `run_suite(..., suite="toy")`.
    """
    out = Path(out_dir)
    specs = toy_task_specs()
    missing = [s["label"] for s in specs if s["label"] not in items]
    if missing:
        raise ValueError(f"toy suite: no items for {missing}")
    for spec in specs:
        task_items = items[spec["label"]]
        text = "".join(json.dumps(it, ensure_ascii=False) + "\n" for it in task_items)
        write_atomic(out / spec["dataset_uri"], text)
        spec["n"] = len(task_items)
    suite = {"suite": "toy", "id": content_id("evalsuite", {"inputs": inputs, "tasks": specs}), "inputs": inputs,
             "aggregate": "TOY = mean over tasks of (acc - baseline) / (1 - baseline), baselines in %",
             "tasks": specs}
    write_atomic(out / SUITE_FILE, json.dumps(suite, indent=2, ensure_ascii=False) + "\n")
    return suite


def load_toy_suite(tasks_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The `suite.json` a toy suite directory holds, or None."""
    path = Path(tasks_dir) / SUITE_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def toy_aggregate(per_task_acc: dict[str, float], specs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """TOY: the mean centered accuracy over the toy tasks (accuracies as fractions), like CORE;
    the string "N/A due to missing tasks: ..." when any is missing."""
    specs = specs or toy_task_specs()
    missing = [s["label"] for s in specs if s["label"] not in per_task_acc]
    centered = {}
    for s in specs:
        if s["label"] in per_task_acc:
            b = s["random_baseline"] / 100
            centered[s["label"]] = (per_task_acc[s["label"]] - b) / (1 - b)
    out: dict[str, Any] = {"centered": centered, "missing": missing}
    out["TOY"] = f"N/A due to missing tasks: {', '.join(missing)}" if missing else \
        sum(centered.values()) / len(centered)
    return out
