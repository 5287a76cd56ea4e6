"""Run an evaluation suite on one model and write its results file.

`run_suite(model_path, suite, tasks_dir=..., out_path=...)` loads the model
(`eval.model.load_model`), and for each task of the suite reads its jsonl from
`tasks_dir` (a task whose file is absent is recorded as missing, not an
error), builds its `TaskConfig`, scores it (`eval.scoring.score_task`),
then aggregates: CORE / EXTENDED / MMLU centered accuracies for the DCLM
suites (`eval.aggregate.aggregate`), TOY for the toy suite
(`eval.toy.toy_aggregate`). The results JSON is written atomically:

    {"suite", "version", "model": {path, id_chain: {dataset, tokens, model}, ...},
     "tasks": {name: {accuracy, n, skipped, total, seconds, type, num_fewshot, random_baseline[, per_category],
                      p_correct, p_chance, bpb, margin, proxy}},
     "items": {name: {index, correct, p_correct, bpb, margin}},
     "aggregates": {..., "<HEADLINE>-proxy", "proxy": {task: proxy}}, "missing": [...], "errors": {...},
     "skipped": {task: items},
     "complete": bool, "incomplete_reasons": [...], "partial": bool, "partial_reasons": [...],
     "precision": "fp32" | "bf16", "fewshot_seed": int,
     "threads": {threads, interop_threads, source}, "id": "eval-...", "dcbench": version
     [, "clean_subset": {report, report_id, ngram, excluded: {task: items}, unchecked: [...]}]}

`clean_subset` appears with `--exclude-contaminated REPORT` (`dcbench contamination`): each task's
contaminated items were left out (its record says how many under `excluded`), and the scores are partial.

`precision` is fp32 unless `--precision bf16` asked otherwise (DCLM evaluates in
fp32; the leaderboard rejects other precisions on official tiers).

`complete` is true only when every task was scored on every item. Otherwise
`incomplete_reasons` says what is missing (task files absent, tasks failed,
items skipped: `dcbench eval` then exits 4) and `partial` marks scores that
are not real suite scores (`--limit`, skipped items).

Accuracies are fractions in [0, 1]; random baselines are in percent, as DCLM
writes them. Beside each accuracy, from the same forward pass, the continuous
proxies (`eval.scoring`): per task their means, per item their values in
`items` (lists aligned by item order, which is the same in every run: file
order, category by category for tasks with categories; `index` is the item's
row in the task file, `correct` 0/1; `p_correct` and `margin` are null for
language-modeling and generation tasks). Each task's standardised `proxy` and
the `<HEADLINE>-proxy` means are `eval.aggregate.task_proxy` / `proxy_aggregate`.
Tasks with categories (MMLU subjects, Jeopardy categories) are scored per
category and their accuracy is the macro average over categories, as DCLM's
`mmlu_fewshot` is.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from dcbench import __version__, table
from dcbench.atomic import write_atomic
from dcbench.errors import ConfigError, DataError
from dcbench.eval.aggregate import aggregate, proxy_aggregate, task_proxy
from dcbench.eval.suites import core_task_names, get_suite, task_names
from dcbench.eval.tasks import TaskConfig, load_task
from dcbench.eval.toy import load_toy_suite, toy_aggregate, toy_task_specs
from dcbench.manifest import content_id
from dcbench.progress import Progress

DEFAULT_TASKS_DIR = Path("~/.cache/dcbench/eval/local_data")
TOY_SUITE = "toy"


def default_tasks_dir() -> Path:
    """`$DCBENCH_EVAL_DATA`, else ~/.cache/dcbench/eval/local_data."""
    env = os.environ.get("DCBENCH_EVAL_DATA")
    return Path(env).expanduser() if env else DEFAULT_TASKS_DIR.expanduser()


# ------------------------------------------------------------------ suite plans


def _plan(suite: str, version: str, tasks_dir: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Task plans [{name, path, type, num_fewshot, baseline, prompt, category}] and suite facts."""
    if suite.lower() == TOY_SUITE:
        defined = load_toy_suite(tasks_dir)
        specs = defined["tasks"] if defined else toy_task_specs()
        plans = [{"name": s["label"], "path": tasks_dir / s["dataset_uri"], "type": s["icl_task_type"],
                  "num_fewshot": int(s.get("num_fewshot", 0)), "baseline": float(s["random_baseline"]),
                  "prompt": {"continuation_delimiter": s.get("continuation_delimiter", " ")},
                  "category": s.get("category", "toy")} for s in specs]
        facts = {"suite_id": defined.get("id") if defined else None, "specs": specs}
        if defined is None:
            facts["hint"] = f"no toy suite in {tasks_dir}: write one with `dcbench eval toy-suite --out {tasks_dir}`"
        return plans, facts
    spec_suite = get_suite(suite, version)
    plans = []
    for t in spec_suite.tasks:
        plans.append({"name": t.name, "path": _task_path(tasks_dir, t.dataset_root, t.dataset), "type": t.type,
                      "num_fewshot": t.num_fewshot, "baseline": t.baseline(version), "prompt": dict(t.prompt),
                      "category": t.category, "available_upstream": t.dataset_available})
    return plans, {}


def suite_plans(suite: str, version: str, tasks_dir: str | Path) -> list[dict[str, Any]]:
    """The suite's task plans ({name, path, type, num_fewshot, baseline, prompt, category}), as `run_suite` reads
    them (`dcbench contamination` reads the same items)."""
    return _plan(suite, version, Path(tasks_dir))[0]


def read_exclusions(path: str | Path) -> dict[str, Any]:
    """A `dcbench contamination` report, for `--exclude-contaminated`: {"path", "id", "ngram", "tasks": {task:
    {"indices": set of item positions, "sha256": of the task file it was computed on}}}."""
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"--exclude-contaminated {path}: cannot read it ({e})") from e
    if not isinstance(report, dict) or report.get("kind") != "contamination" or not isinstance(report.get("tasks"),
                                                                                               dict):
        raise ConfigError(f"--exclude-contaminated {path}: not a report of `dcbench contamination`")
    tasks = {name: {"indices": set(t.get("indices") or ()), "sha256": t.get("sha256")}
             for name, t in report["tasks"].items()}
    return {"path": str(path), "id": report.get("id"), "ngram": report.get("ngram"), "tasks": tasks}


def _check_exclusions(plans: list[dict[str, Any]], exclude: dict[str, Any]) -> list[str]:
    """Refuse a report computed on other task files; return the tasks it did not check (scored whole)."""
    unchecked = []
    for plan in plans:
        entry = exclude["tasks"].get(plan["name"])
        if entry is None or not Path(plan["path"]).is_file():
            unchecked.append(plan["name"])
            continue
        if entry["sha256"] and entry["sha256"] != hashlib.sha256(Path(plan["path"]).read_bytes()).hexdigest():
            raise ConfigError(f"--exclude-contaminated {exclude['path']} was computed on another copy of task "
                              f"{plan['name']} than {plan['path']}: re-run `dcbench contamination` with this "
                              f"--tasks-dir")
    return unchecked


def _clean_subset(exclude: dict[str, Any], tasks: dict[str, dict[str, Any]], unchecked: list[str]) -> dict[str, Any]:
    return {"report": exclude["path"], "report_id": exclude["id"], "ngram": exclude["ngram"],
            "excluded": {k: t.get("excluded", 0) for k, t in tasks.items()}, "unchecked": unchecked}


def _task_path(tasks_dir: Path, root: str, rel: str) -> Path:
    """A task file: `tasks_dir/rel` for local_data tasks; other roots (gpqa_data) sit beside
    local_data, or inside tasks_dir."""
    if root == "local_data":
        return tasks_dir / rel
    beside = tasks_dir.parent / root / rel
    return beside if beside.is_file() else tasks_dir / root / rel


def task_config(plan: dict[str, Any], max_seq_len: int, seed: int | None = None):
    """The scorer's `TaskConfig` for one task plan; `seed` (`--seed`) replaces the task's
    few-shot seed (1234), as DCLM's evaluator does for every task when given `--seed`."""
    p = plan["prompt"]
    known = {"continuation_delimiter", "example_delimiter", "prelimiter", "question_prelimiter", "cot_delimiter",
             "stop_strings", "has_categories", "do_normalization", "prompt_string"}
    return TaskConfig(
        label=plan["name"], dataset_uri=str(plan["path"]), icl_task_type=plan["type"],
        num_fewshot=int(plan["num_fewshot"]),
        continuation_delimiter=p.get("continuation_delimiter", " "),
        example_delimiter=p.get("example_delimiter", "\n"),
        prelimiter=p.get("question_prelimiter") or p.get("prelimiter") or "",
        prompt_string=p.get("prompt_string", ""),
        cot_delimiter=p.get("cot_delimiter", ""),
        early_stopping_criteria=tuple(p.get("stop_strings") or ()),
        do_normalization=bool(p.get("do_normalization", True)),
        has_categories=bool(p.get("has_categories", False)),
        max_seq_len=int(max_seq_len),
        **({"fewshot_random_seed": int(seed)} if seed is not None else {}),
        extra={k: v for k, v in p.items() if k not in known},
    )


# ------------------------------------------------------------------ running


def _macro(per_category: dict[str, Any]) -> float | None:
    accs = [_acc_of(v) for v in per_category.values()]
    accs = [a for a in accs if a is not None]
    return sum(accs) / len(accs) if accs else None


def _acc_of(v: Any) -> float | None:
    if isinstance(v, dict):
        v = v.get("accuracy")
    return float(v) if isinstance(v, (int, float)) else None


def _aggregate(suite: str, version: str, accs: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    if suite.lower() == TOY_SUITE:
        return toy_aggregate(accs, facts.get("specs"))
    return aggregate(accs, version)


HEADLINES = {"core": ("CORE",), "extended": ("CORE", "EXTENDED", "MMLU"), "mmlu": ("MMLU",),
             "core+mmlu": ("CORE", "MMLU"), "toy": ("TOY",)}


def _headline_tasks(key: str, facts: dict[str, Any]) -> list[str]:
    if key == "TOY":
        return [s["label"] for s in (facts.get("specs") or toy_task_specs())]
    return {"CORE": core_task_names(), "EXTENDED": task_names(), "MMLU": ["mmlu_fewshot"]}[key]


def _proxy_aggregates(suite: str, tasks: dict[str, dict[str, Any]], facts: dict[str, Any]) -> dict[str, Any]:
    """``{"<HEADLINE>-proxy": mean standardised proxy or N/A, "proxy": {task: proxy}}`` (`eval.aggregate`)."""
    proxies = {name: t.get("proxy") for name, t in tasks.items()}
    out: dict[str, Any] = {f"{key}-proxy": proxy_aggregate(proxies, _headline_tasks(key, facts))
                           for key in HEADLINES.get(suite.lower(), ())}
    out["proxy"] = proxies
    return out


def _names(names: list[str], most: int = 8) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def _fmt_agg(key: str, v: Any, results: dict[str, Any]) -> str:
    """One headline, said once: a number (marked when partial) or why there is none."""
    if not isinstance(v, (int, float)):
        missing = results.get("missing") or []
        return f"{key}: N/A (missing: {_names(missing)})" if missing else f"{key}: {v}"
    text = f"{key}: {v:.4f}"
    if results.get("partial"):
        text += "  PARTIAL, not a real score: " + "; ".join(results.get("partial_reasons") or [])
    return text


def format_table(results: dict[str, Any]) -> str:
    """The per-task table and the suite's headline aggregates, as printed at the end of a run."""
    rows = []
    for name, t in results["tasks"].items():
        rows.append((name, t["type"], str(t["num_fewshot"]), f"{t['n']:,}", f"{t.get('skipped', 0):,}",
                     f"{100 * t['accuracy']:.2f}", f"{t['random_baseline']:g}", _num(t.get("p_correct"), 3),
                     _num(t.get("bpb"), 3), _num(t.get("proxy"), 4), f"{t['seconds']:.1f}"))
    for name in results["missing"]:
        rows.append((name, "error" if name in results.get("errors", {}) else "missing", *[""] * 9))
    lines = [table.format_table(("task", "type", "shots", "n", "skipped", "accuracy", "baseline", "p_correct", "bpb",
                                 "proxy", "seconds"), rows)]
    aggs = results.get("aggregates") or {}
    for key in HEADLINES.get(results.get("suite", ""), ("CORE", "EXTENDED", "MMLU", "TOY")):
        for shown in (key, f"{key}-proxy"):
            if shown in aggs:
                lines.append(_fmt_agg(shown, aggs[shown], results))
    reasons = results.get("incomplete_reasons") or []
    if reasons:
        lines.append("INCOMPLETE: " + "; ".join(reasons))
    return "\n".join(lines)


def _num(v: Any, digits: int) -> str:
    return f"{v:.{digits}f}" if isinstance(v, (int, float)) else "-"


def _expected(plan: dict[str, Any], limit: int | None) -> int:
    """Examples a task will score (its file's non-blank lines, at most `limit`); 0 when absent."""
    path = Path(plan["path"])
    if not path.is_file():
        return 0
    with open(path, "rb") as f:
        n = sum(1 for line in f if line.strip())
    return min(n, limit) if limit is not None else n


def _task_record(plan: dict[str, Any], cfg, out: dict[str, Any], proxies: dict[str, Any], seconds: float,
                 total: int) -> dict[str, Any]:
    rec: dict[str, Any] = {"accuracy": float(out["accuracy"]), "n": int(out["n"]), "skipped": int(out["skipped"]),
                           "seconds": seconds, "examples_per_s": int(out["n"]) / seconds if seconds > 0 else None,
                           "type": plan["type"], "num_fewshot": plan["num_fewshot"],
                           "random_baseline": plan["baseline"], "category": plan.get("category"), "total": total}
    cats = out.get("per_category") or {}
    if cfg.has_categories and cats:
        macro = _macro(cats)
        rec["per_category"] = cats
        rec["micro_accuracy"] = rec["accuracy"]
        if macro is not None:
            rec["accuracy"] = macro
    for k, v in out.items():
        if k not in ("accuracy", "n", "per_category", "label") and k not in rec:
            rec[k] = v
    rec.update(proxies)
    rec["proxy"] = task_proxy(rec)
    return rec


def _score_tasks(plans, model, limit, batch_size, bar: Progress, model_len: int, seed: int | None = None,
                 exclude: dict[str, Any] | None = None):
    """Score every plan; (task records, missing names, errors, accuracies for the aggregator, per-item lists)."""
    # deferred: the scorer imports torch (~2 s measured); `dcbench eval --help` must not pay it
    from dcbench.eval.scoring import score_task

    tasks: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    errors: dict[str, str] = {}
    accs: dict[str, Any] = {}
    items: dict[str, dict[str, Any]] = {}
    for plan in plans:
        name, expected = plan["name"], plan["expected"]
        bar.set_note(name)
        if not Path(plan["path"]).is_file():
            missing.append(name)
            bar.write(f"{name}: missing ({plan['path']} is absent)")
            continue
        cfg = task_config(plan, model_len, seed)
        t0, before = time.perf_counter(), bar.n
        try:
            examples = load_task(cfg)
            drop = (exclude["tasks"].get(name) or {}).get("indices", set()) if exclude else set()
            out, proxies = score_task(model, model, cfg, examples, batch_size=batch_size, limit=limit,
                                pad_id=getattr(model, "pad_id", None), eos_id=getattr(model, "eot_id", None),
                                on_done=bar.update, exclude=drop)
        except DataError as e:  # a bad file, or a task that cannot fit this model's context
            errors[name] = str(e)
            missing.append(name)
            bar.update(expected - (bar.n - before))
            bar.write(f"{name}: ERROR {e}")
            continue
        items[name] = proxies.pop("items")
        rec = _task_record(plan, cfg, out, proxies, time.perf_counter() - t0, len(examples))
        if exclude:
            limited = len(examples) if limit is None else min(limit, len(examples))
            rec["excluded"] = sum(1 for i in drop if i < limited)
        tasks[name] = rec
        cats = rec.get("per_category") or {}
        # a full run hands the aggregator the subjects, so it checks that all are there
        accs[name] = dict(cats) if (cfg.has_categories and cats and limit is None) else rec["accuracy"]
        bar.update(expected - (bar.n - before))  # the skipped items, and rounding
        skipped = f", {rec['skipped']:,} skipped (too long for max_seq_len {model_len})" if rec["skipped"] else ""
        proxies = ", ".join(f"{k} {rec[k]:.3f}" for k in ("p_correct", "bpb") if rec.get(k) is not None)
        bar.write(f"{name}: accuracy {100 * rec['accuracy']:.2f}% on {rec['n']:,}{skipped}"
                  f"{f' ({proxies})' if proxies else ''} in {rec['seconds']:.1f} s")
    return tasks, missing, errors, accs, items


def _completeness(tasks, all_missing, errors, limit, model_len) -> tuple[list[str], list[str]]:
    """(why the suite is incomplete, why its scores are partial): lists of sentences, empty when neither."""
    incomplete, partial = [], []
    absent = [n for n in all_missing if n not in errors]
    if absent:
        incomplete.append(f"{len(absent)} task(s) missing: {_names(absent)} (fetch them with `dcbench eval "
                          f"download`, or point --tasks-dir at a folder that has them)")
    if errors:
        incomplete.append(f"{len(errors)} task(s) failed: " + "; ".join(f"{k}: {v}" for k, v in errors.items()))
    skipped = {k: t["skipped"] for k, t in tasks.items() if t.get("skipped")}
    if skipped:
        what = ", ".join(f"{k} {v:,} of {v + tasks[k]['n']:,}" for k, v in skipped.items())
        incomplete.append(f"items skipped because their continuation alone fills max_seq_len {model_len}: {what}")
        partial.append(f"items skipped ({what})")
    if limit is not None and any(t["n"] + t.get("skipped", 0) < t["total"] for t in tasks.values()):
        scored = sum(t["n"] for t in tasks.values())
        total = sum(t["total"] for t in tasks.values())
        partial.append(f"--limit {limit} scored {scored:,} of {total:,} examples")
    return incomplete, partial


def run_suite(model_path, suite: str, *, tasks_dir=None, out_path=None, version: str = "v2",
              batch_size: int = 8, limit: int | None = None, tokenizer=None, device=None,
              progress: bool = True, model=None, threads: int | None = None, precision: str = "fp32",
              seed: int | None = None, exclude_contaminated: str | Path | None = None) -> dict[str, Any]:
    """Evaluate `model_path` on `suite` ("core", "extended", "mmlu", "core+mmlu" or "toy").

    `tasks_dir` holds the task files (LLM-Foundry's local_data layout; for "toy" the
    directory `dcbench eval toy-suite` wrote); default `default_tasks_dir()`. `limit` scores the
    first `limit` examples of each task (a smoke run: `complete` is then false, `partial` true).
    `model` is an already loaded `EvalModel` (then `model_path` is only recorded).
    A task whose file is absent, or that fails with a DataError (a malformed file, answers
    longer than the model's context), is listed in `missing` (the latter also in `errors`);
    items whose continuation alone fills the context are skipped and counted per task.
    `threads` sets torch's CPU threads (default: `training.trainer.default_threads()`).
    `precision` "fp32" (DCLM's, default) or "bf16" (`--precision bf16`: faster, not rankable on
    official tiers); the results record it. `seed` replaces every task's few-shot seed (DCLM's `--seed`).
    `exclude_contaminated` (a `dcbench contamination` report) scores only each task's clean items: the
    results then say `clean_subset` (the report, items excluded per task, tasks it did not check) and
    are `partial`, not real suite scores.
    `progress` shows per-task lines and a bar (lines with an ETA when stderr is not a terminal).
    Returns the results dict; writes it to `out_path` when given.
    """
    # deferred: the model imports torch (~2 s measured); `dcbench eval --help` must not pay it
    from dcbench.eval.model import load_model, use_threads

    tasks_dir = Path(tasks_dir).expanduser() if tasks_dir is not None else default_tasks_dir()
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1 (got {batch_size})")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be >= 1 (got {limit})")
    plans, facts = _plan(suite, version, tasks_dir)
    exclude = read_exclusions(exclude_contaminated) if exclude_contaminated is not None else None
    if not tasks_dir.is_dir():
        where = f"write it with `dcbench eval toy-suite --out {tasks_dir}`" if suite.lower() == TOY_SUITE else \
            "fetch the task files with `dcbench eval download`"
        raise ConfigError(f"task directory {tasks_dir} does not exist: {where}, or pass --tasks-dir "
                          f"(or set DCBENCH_EVAL_DATA)")
    unchecked = _check_exclusions(plans, exclude) if exclude else []
    thread_info = use_threads(threads)
    if model is None:
        model = load_model(model_path, device=device, tokenizer=tokenizer, precision=precision)

    for plan in plans:
        plan["expected"] = _expected(plan, limit)
    t_start = time.perf_counter()
    with Progress(sum(p["expected"] for p in plans), f"eval {suite}", "examples", enabled=progress) as bar:
        tasks, missing, errors, accs, items = _score_tasks(plans, model, limit, batch_size, bar, model.max_seq_len,
                                                           seed, exclude)

    aggregates = _aggregate(suite, version, accs, facts)
    aggregates.update(_proxy_aggregates(suite, tasks, facts))
    agg_missing = aggregates.get("missing") if isinstance(aggregates, dict) else None
    in_suite = {p["name"] for p in plans}  # the aggregate's own list spans all 53 tasks
    all_missing = [n for n in dict.fromkeys([*missing, *(agg_missing or [])]) if n in in_suite]
    if suite.lower() != TOY_SUITE:  # keep DCLM's task order
        order = {n: i for i, n in enumerate(task_names())}
        all_missing.sort(key=lambda n: order.get(n, len(order)))
    incomplete, partial = _completeness(tasks, all_missing, errors, limit, model.max_seq_len)
    if exclude:
        dropped = sum(t.get("excluded", 0) for t in tasks.values())
        partial.append(f"clean subset: {dropped:,} contaminated items excluded (--exclude-contaminated "
                       f"{exclude['path']})")
    describe = model.describe() if hasattr(model, "describe") else {"path": str(model_path)}
    describe["path"] = str(model_path) if model_path is not None else describe.get("path")
    results: dict[str, Any] = {
        "suite": suite.lower(), "version": version, "model": describe, "tasks": tasks, "items": items,
        "aggregates": aggregates,
        "missing": all_missing, "complete": not incomplete and not partial,
        "incomplete_reasons": incomplete, "partial": bool(partial), "partial_reasons": partial,
        "skipped": {k: t["skipped"] for k, t in tasks.items() if t.get("skipped")},
        "errors": errors, "limit": limit, "batch_size": batch_size, "tasks_dir": str(tasks_dir),
        "precision": getattr(model, "precision", "fp32"), "fewshot_seed": 1234 if seed is None else int(seed),
        "threads": thread_info, "seconds": time.perf_counter() - t_start, "dcbench": __version__,
    }
    if exclude:
        results["clean_subset"] = _clean_subset(exclude, tasks, unchecked)
    if facts.get("suite_id"):
        results["suite_id"] = facts["suite_id"]
    if facts.get("hint") and missing:
        results["hint"] = facts["hint"]
    results["id"] = content_id("eval", {
        "model": describe.get("id_chain", {}).get("model"), "suite": results["suite"], "version": version,
        "limit": limit, "tasks": {k: [v["accuracy"], v["n"]] for k, v in tasks.items()}, "code": __version__,
        # a precision other than DCLM's fp32 is part of what was measured (fp32 ids stay as they were)
        **({"precision": results["precision"]} if results["precision"] != "fp32" else {}),
        **({"clean_subset": exclude["id"]} if exclude else {})})
    if out_path is not None:
        write_atomic(out_path, json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
    if progress:
        print(format_table(results), flush=True)
    return results
