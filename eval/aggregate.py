"""DCLM-compatible aggregation of per-task ICL accuracies (CORE, EXTENDED, MMLU, ...).

Reproduces DCLM's ``eval/aggregated_metrics.py`` bit for bit, including its floating
point summation order:

* centered accuracy ``(acc - 0.01*b) / (1.0 - 0.01*b)`` with ``b`` the random baseline in
  percent (v2 or v1 table);
* CORE = mean centered accuracy over the 22 ``low_variance_datasets``; EXTENDED = mean over
  all 53 tasks.  DCLM takes these means with pandas, i.e. numpy's pairwise summation over the
  tasks in ``eval_meta_data.csv`` order with missing tasks contributing 0.0 and the divisor
  being the number of present tasks; we replicate that order exactly (``_numpy_sum``);
* per-category means come from a pandas ``groupby().mean()``, which uses Kahan-compensated
  summation (``_kahan_sum``);
* a missing CORE (EXTENDED) task turns ``Core_<v>`` (``Extended_<v>``) into the string
  ``"N/A due to missing tasks: [...]"``; every other DCLM key (``low_variance_datasets*``,
  ``rw_small*``, ``*_CI_above*``, ``aggregated_*``) silently averages what is present - we keep
  that for exact compatibility, and add strict versions plus a ``missing`` list of our own.

Beside them, the continuous proxies (issue 15; ours, not DCLM's). Each task gets one
standardised proxy, 0 at chance and 1 when perfect, from its per-item means
(`task_proxy`):

* multiple_choice / schema: centred probability of the correct choice,
  ``(mean p_correct - c) / (1 - c)`` with ``c`` = mean over items of 1/choices (the
  p_correct of a model indifferent between the choices), CORE's centring with the
  continuous chance level in place of the random baseline;
* language_modeling / generation: the answer's per-byte probability,
  ``2^-bpb`` with ``bpb`` the mean over items of the answer's bits per byte,
  centred on uniform bytes: ``(2^-bpb - 2^-8) / (1 - 2^-8)``.

``<HEADLINE>-proxy`` (CORE-proxy, EXTENDED-proxy, MMLU-proxy, TOY-proxy) is the plain mean of
these over the headline's tasks (`proxy_aggregate`), or DCLM's N/A string when any is missing.
Unlike accuracy they move before a model beats chance, so small runs can be told apart.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping

from dcbench.eval.suites import CURRENT_VERSION, VERSIONS, TaskSpec, aggregation_lists, mmlu_subjects, task_table

NA_PREFIX = "N/A due to missing tasks: "
CORE_KEY = "low_variance_datasets"
# Keys DCLM writes next to eval_metrics in exp_data/evals/*.json.
DCLM_AGGREGATE_KEYS = (
    "missing tasks", "aggregated_task_categories_centered", "aggregated_centered_results", "aggregated_results",
    "low_variance_datasets", "low_variance_datasets_centered", "rw_small", "rw_small_centered",
    "95%_CI_above", "95%_CI_above_centered", "99%_CI_above", "99%_CI_above_centered",
    "Core", "Extended", "Core_v1", "Extended_v1", "Core_v2", "Extended_v2", "eval_version",
)


# --------------------------------------------------------------------------------------------
# arithmetic, in the same order as numpy / pandas


def centered(acc: float, baseline_percent: float) -> float:
    """Accuracy rescaled so that random guessing is 0 and a perfect score is 1."""
    b = 0.01 * float(baseline_percent)
    return (float(acc) - b) / (1.0 - b)


def _numpy_sum(values: list[float]) -> float:
    """Sum in numpy's pairwise order for a contiguous float64 array (8-way unrolled blocks)."""
    n = len(values)
    if n < 8:
        total = 0.0
        for v in values:
            total += v
        return total
    if n <= 128:
        acc = list(values[:8])
        i = 8
        stop = n - n % 8
        while i < stop:
            for j in range(8):
                acc[j] += values[i + j]
            i += 8
        total = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
        while i < n:
            total += values[i]
            i += 1
        return total
    half = n // 2
    half -= half % 8
    return _numpy_sum(values[:half]) + _numpy_sum(values[half:])


def _kahan_sum(values: Iterable[float]) -> float:
    total = 0.0
    comp = 0.0
    for v in values:
        y = v - comp
        t = total + y
        comp = (t - total) - y
        total = t
    return total


def _present(v: float | None) -> bool:
    return v is not None and not math.isnan(v)


def _nanmean(values: list[float | None]) -> float:
    """pandas ``Series.mean()``: NaN/None skipped, but summed in place as 0.0."""
    count = sum(1 for v in values if _present(v))
    if count == 0:
        return math.nan
    return _numpy_sum([v if _present(v) else 0.0 for v in values]) / count


def _group_mean(values: list[float | None]) -> float:
    """pandas ``groupby().mean()``: Kahan sum of the present values over their count."""
    present = [v for v in values if _present(v)]
    if not present:
        return math.nan
    return _kahan_sum(present) / len(present)


def macro_average(per_category: Mapping[str, float]) -> float:
    """Mean over categories (DCLM's eval_openlm_ckpt.py: plain ``sum(...) / len(...)``)."""
    vals = [float(per_category[k]) for k in sorted(per_category)]
    if not vals:
        raise ValueError("no per-category results to average")
    return sum(vals) / len(vals)


def na_string(missing: list[str]) -> str:
    """DCLM's marker for an incomplete aggregate, e.g. ``N/A due to missing tasks: ['squad']``."""
    return NA_PREFIX + str(list(missing))


def as_percent(value: float | str, ndigits: int = 1) -> float | str:
    """Aggregates as DCLM's README/leaderboard print them: ``round(100 * x, 1)``."""
    return value if isinstance(value, str) else round(100.0 * value, ndigits)


# --------------------------------------------------------------------------------------------
# input normalisation


def normalize_accuracies(per_task_acc: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, list[str]], list[str]]:
    """Collapse per-category results of ``has_categories`` tasks into one macro average.

    Accepts ``{"mmlu_fewshot": 0.51}``, ``{"mmlu_fewshot": {"anatomy": 0.4, ...}}`` or
    ``{"mmlu_fewshot/anatomy": 0.4, ...}``.  For MMLU all 57 subjects are required; a task with
    missing subjects is left out (so it shows up as missing).  Returns
    ``(accuracies, missing_subjects_by_task, unused_keys)``.
    """
    specs = {t.name: t for t in task_table()}
    grouped: dict[str, dict[str, float]] = {}
    out: dict[str, float] = {}
    unused: list[str] = []
    for key, value in per_task_acc.items():
        if isinstance(value, Mapping):
            grouped.setdefault(key, {}).update({str(k): float(v) for k, v in value.items()})
        elif "/" in key and key.split("/", 1)[0] in specs:
            task, sub = key.split("/", 1)
            grouped.setdefault(task, {})[sub] = float(value)
        elif key in specs:
            out[key] = float(value) if value is not None else math.nan
        else:
            unused.append(key)
    missing_subjects: dict[str, list[str]] = {}
    subjects = mmlu_subjects()
    for task, cats in grouped.items():
        if task not in specs:
            unused.append(task)
            continue
        if task in out:  # an explicit value wins over its parts
            continue
        if task.startswith("mmlu_"):
            lacking = [s for s in subjects if s not in cats]
            if lacking:
                missing_subjects[task] = lacking
                continue
        out[task] = macro_average(cats)
    return out, missing_subjects, sorted(unused)


# --------------------------------------------------------------------------------------------
# aggregation


def _versioned(acc: Mapping[str, float], specs: list[TaskSpec], version: str) -> dict[str, Any]:
    lists = aggregation_lists()
    results = [acc.get(t.name) for t in specs]
    cents = [centered(a, t.baseline(version)) if _present(a) else None for a, t in zip(results, specs)]
    missing = [t.name for t, a in zip(specs, results) if t.name not in acc]
    out: dict[str, Any] = {"missing tasks": str(missing)}
    cats: dict[str, list[float | None]] = {}
    for t, c in zip(specs, cents):
        cats.setdefault(t.category, []).append(c)
    out["aggregated_task_categories_centered"] = {k: _group_mean(v) for k, v in sorted(cats.items())}
    out["aggregated_centered_results"] = _nanmean(cents)
    out["aggregated_results"] = _nanmean(results)
    for key, names in lists.items():
        chosen = set(names)
        out[key] = _nanmean([a for t, a in zip(specs, results) if t.name in chosen])
        out[f"{key}_centered"] = _nanmean([c for t, c in zip(specs, cents) if t.name in chosen])
    core_names = set(lists[CORE_KEY])
    missing_core = [t.name for t in specs if t.name in core_names and t.name not in acc]
    out[f"Core_{version}"] = na_string(missing_core) if missing_core else out[f"{CORE_KEY}_centered"]
    out[f"Extended_{version}"] = na_string(missing) if missing else out["aggregated_centered_results"]
    # strict per-category means for our own reports
    strict: dict[str, Any] = {}
    for cat in sorted(cats):
        lacking = [t.name for t in specs if t.category == cat and t.name not in acc]
        strict[cat] = na_string(lacking) if lacking else out["aggregated_task_categories_centered"][cat]
    out["_missing"] = missing
    out["_missing_core"] = missing_core
    out["_categories"] = strict
    return out


def aggregate(per_task_acc: Mapping[str, Any], version: str = CURRENT_VERSION) -> dict[str, Any]:
    """Aggregate per-task accuracies (fractions in [0, 1]) the way DCLM does.

    Returns DCLM's keys (see ``DCLM_AGGREGATE_KEYS``; the unversioned ones computed with
    ``version``'s baselines, ``Core_v1/_v2`` and ``Extended_v1/_v2`` always both, and ``Core`` /
    ``Extended`` aliasing v2 as DCLM does) plus our own:

    ``CORE``, ``EXTENDED`` (for ``version``; float or the N/A string), ``MMLU`` (= ``mmlu_fewshot``
    or an N/A string), ``mmlu_fewshot``, ``categories`` (strict per-category centered means),
    ``missing`` (all missing task names), ``missing_core``, ``missing_subjects``, ``unused``
    (input keys that are not DCLM tasks, e.g. old ``gsm8k``), ``complete`` and ``version``.
    """
    if version not in VERSIONS:
        raise ValueError(f"unknown DCLM eval version {version!r}; expected one of {VERSIONS}")
    acc, missing_subjects, unused = normalize_accuracies(per_task_acc)
    specs = task_table()
    per_version = {v: _versioned(acc, specs, v) for v in VERSIONS}
    main = per_version[version]
    out: dict[str, Any] = {k: v for k, v in main.items() if not k.startswith("_")}
    for v in VERSIONS:
        out[f"Core_{v}"] = per_version[v][f"Core_{v}"]
        out[f"Extended_{v}"] = per_version[v][f"Extended_{v}"]
    out["Core"] = out[f"Core_{CURRENT_VERSION}"]
    out["Extended"] = out[f"Extended_{CURRENT_VERSION}"]
    out["eval_version"] = version
    out["CORE"] = out[f"Core_{version}"]
    out["EXTENDED"] = out[f"Extended_{version}"]
    mmlu = acc.get("mmlu_fewshot")
    out["mmlu_fewshot"] = mmlu
    out["MMLU"] = mmlu if mmlu is not None else na_string(["mmlu_fewshot"])
    out["categories"] = main["_categories"]
    out["missing"] = list(main["_missing"])
    out["missing_core"] = list(main["_missing_core"])
    out["missing_subjects"] = missing_subjects
    out["unused"] = unused
    out["complete"] = not out["missing"]
    out["version"] = version
    return out


# --------------------------------------------------------------------------------------------
# DCLM exp_data/evals JSON


def import_dclm_eval(path: str | Path) -> dict[str, Any]:
    """Read one DCLM ``exp_data/evals`` result file.

    Returns ``{"per_task": {task: acc}, "published": {aggregate key: value present in the file},
    "name", "model", "uuid", "model_uuid", "creation_date", "eval_version", "extra_tasks": [icl keys that
    are not in our 53-task table], "raw": the whole document}``.
    """
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    metrics = doc.get("eval_metrics") or {}
    icl = metrics.get("icl") or {}
    per_task = {k: (float(v) if v is not None else None) for k, v in icl.items()}
    known = {t.name for t in task_table()}
    return {
        "per_task": per_task,
        "published": {k: doc[k] for k in DCLM_AGGREGATE_KEYS if k in doc},
        "name": doc.get("name"),
        "model": doc.get("model"),
        "uuid": doc.get("uuid"),
        "model_uuid": doc.get("model_uuid"),
        "creation_date": doc.get("creation_date"),
        "eval_version": doc.get("eval_version"),
        "extra_tasks": sorted(k for k in icl if k not in known),
        "raw": doc,
    }


def to_dclm_json(result: Mapping[str, Any]) -> dict[str, Any]:
    """Just the DCLM-named keys of an ``aggregate`` result (to write next to ``eval_metrics``)."""
    return {k: result[k] for k in DCLM_AGGREGATE_KEYS if k in result}


# --------------------------------------------------------------------------------------------
# continuous proxies (ours)

BYTE_CHANCE = 2.0 ** -8  # per-byte probability of a uniform guess over bytes


def task_proxy(record: Mapping[str, Any]) -> float | None:
    """One task's standardised proxy (module doc) from its record's ``p_correct`` / ``p_chance``
    (choice tasks) or ``bpb`` (LM, generation); None when the record has neither."""
    p, chance = record.get("p_correct"), record.get("p_chance")
    if p is not None and chance is not None and chance < 1:
        return (float(p) - chance) / (1.0 - chance)
    bpb = record.get("bpb")
    if bpb is not None:
        return (2.0 ** -float(bpb) - BYTE_CHANCE) / (1.0 - BYTE_CHANCE)
    return None


def proxy_aggregate(proxies: Mapping[str, float | None], names: Iterable[str]) -> float | str:
    """Mean standardised proxy over `names`, or DCLM's N/A string naming the tasks without one."""
    names = list(names)
    missing = [n for n in names if proxies.get(n) is None]
    if missing:
        return na_string(missing)
    if not names:
        return na_string([])
    return sum(float(proxies[n]) for n in names) / len(names)
