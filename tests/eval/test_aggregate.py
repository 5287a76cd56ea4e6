"""DCLM aggregation: CORE / EXTENDED / MMLU reproduce DCLM's published numbers exactly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from dcbench.eval import aggregate as agg
from dcbench.eval.suites import get_suite, random_baseline, task_table, aggregation_lists, mmlu_subjects

HEADLINE = ("Core_v1", "Core_v2", "Extended_v1", "Extended_v2", "Core", "Extended")


def _reference_files(shared_data: Path) -> list[Path]:
    folder = shared_data / "eval" / "dclm" / "reference_results"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    files = sorted(folder.glob("*.json"))
    if not files:
        pytest.skip(f"no reference results in {folder}")
    return files


@pytest.fixture(scope="module")
def references(shared_data):
    return [(p.name, agg.import_dclm_eval(p)) for p in _reference_files(shared_data)]


def _full(value: float = 0.5) -> dict[str, float]:
    return {t.name: value for t in task_table()}


# ---------------------------------------------------------------------------- published numbers


def test_reproduces_published_core_and_extended_exactly(references):
    checked = {k: 0 for k in HEADLINE}
    strings = 0
    for name, ref in references:
        ours = agg.aggregate(ref["per_task"])
        for key in HEADLINE:
            if key not in ref["published"]:
                continue
            checked[key] += 1
            want = ref["published"][key]
            if isinstance(want, str):
                strings += 1
            assert ours[key] == want, f"{name}: {key} ours={ours[key]!r} published={want!r}"
    assert checked["Core_v2"] > 0 and checked["Core_v1"] > 0
    print(f"\n{len(references)} reference files; headline keys checked: {checked}; N/A strings: {strings}")


def test_reproduces_every_published_aggregate_exactly(references):
    total = 0
    for name, ref in references:
        ours = agg.aggregate(ref["per_task"])
        for key, want in ref["published"].items():
            total += 1
            assert ours[key] == want, f"{name}: {key}"
    assert total >= len(references)


def test_incomplete_reference_files_are_na_not_averaged(references):
    incomplete = [(n, r) for n, r in references if isinstance(r["published"].get("Extended_v2"), str)]
    for name, ref in incomplete:
        ours = agg.aggregate(ref["per_task"])
        assert ours["EXTENDED"].startswith(agg.NA_PREFIX)
        assert ours["missing"] and all(m in ours["EXTENDED"] for m in ours["missing"])
        assert isinstance(ours["CORE"], float)  # CORE tasks were all there


README_7B = [  # (CORE v1, CORE v2, MMLU, EXT v1, EXT v2) from DCLM's README table
    ("DCLM-Baseline 7B-1x", 44.1, 42.0, 38.3, 25.0, 23.0),
    ("DCLM-Baseline 7B-2x", 48.9, 47.3, 50.8, 31.8, 30.3),
    ("DCLM-Baseline 2.6T", 57.1, 56.0, 63.7, 45.4, 44.3),
    ("FineWeb-edu 7B-1x", 38.7, 36.1, 26.3, 22.1, 19.7),
    ("FineWeb-edu 7B-2x", 41.9, 39.6, 37.3, 24.5, 22.4),
    ("MAP-Neo", 50.2, 49.0, 57.1, 40.4, 39.2),
    ("Llama3-8B", 57.6, 56.5, 66.2, 46.3, 45.2),
]


@pytest.mark.parametrize("row", README_7B, ids=[r[0] for r in README_7B])
def test_readme_numbers_match_a_reference_file(references, row):
    want = row[1:]
    for _, ref in references:
        ours = agg.aggregate(ref["per_task"])
        got = tuple(agg.as_percent(ours[k]) for k in ("Core_v1", "Core_v2", "MMLU", "Extended_v1", "Extended_v2"))
        if got == want:
            return
    pytest.fail(f"no reference file reproduces README row {row}")


# ---------------------------------------------------------------------------- hand cases


def test_centered_hand_cases():
    assert agg.centered(0.25, 25) == 0.0
    assert agg.centered(1.0, 25) == 1.0
    assert agg.centered(0.5, 0) == 0.5
    assert agg.centered(0.75, 50) == pytest.approx(0.5, abs=1e-15)
    assert agg.centered(0.2, 25) == pytest.approx(-0.05 / 0.75, abs=1e-15)
    assert agg.centered(0.403, 40.3) == pytest.approx(0.0, abs=1e-15)


def test_full_aggregate_hand_case():
    acc = _full(0.5)
    res = agg.aggregate(acc)
    core = [t for t in task_table() if t.core]
    want_core = sum(agg.centered(0.5, t.baseline("v2")) for t in core) / 22
    want_ext = sum(agg.centered(0.5, t.baseline("v2")) for t in task_table()) / 53
    assert res["CORE"] == pytest.approx(want_core, abs=1e-12) and res["Core"] == res["Core_v2"] == res["CORE"]
    assert res["EXTENDED"] == pytest.approx(want_ext, abs=1e-12)
    assert res["complete"] and res["missing"] == [] and res["missing tasks"] == "[]"
    assert res["rw_small"] == pytest.approx(0.5, abs=1e-15)
    assert res["MMLU"] == 0.5
    assert set(res["categories"]) == {t.category for t in task_table()}
    v1 = agg.aggregate(acc, version="v1")
    assert v1["CORE"] == v1["Core_v1"] == res["Core_v1"] and v1["Core"] == res["Core_v2"]
    assert v1["CORE"] != res["CORE"]  # commonsense_qa, language_identification, lsat_ar differ


def test_missing_task_gives_na_string_with_names():
    acc = _full(0.6)
    del acc["squad"], acc["gpqa_main"]
    res = agg.aggregate(acc)
    assert res["CORE"] == "N/A due to missing tasks: ['squad']"
    assert res["Core_v1"] == res["Core_v2"] == res["CORE"]
    assert res["EXTENDED"] == "N/A due to missing tasks: ['squad', 'gpqa_main']"  # table order
    assert res["missing"] == ["squad", "gpqa_main"] and res["missing_core"] == ["squad"]
    assert not res["complete"]
    assert res["missing tasks"] == "['squad', 'gpqa_main']"
    assert isinstance(res["categories"]["reading comprehension"], str)
    assert isinstance(res["categories"]["safety"], float)
    # DCLM's secondary keys average what is present (kept for compatibility)
    assert isinstance(res["low_variance_datasets_centered"], float)


def test_non_core_missing_keeps_core():
    acc = _full(0.6)
    del acc["bbq"]
    res = agg.aggregate(acc)
    assert isinstance(res["CORE"], float) and res["EXTENDED"].endswith("['bbq']")


def test_mmlu_macro_average_over_subjects():
    subjects = mmlu_subjects()
    assert len(subjects) == 57
    acc = _full(0.5)
    del acc["mmlu_fewshot"]
    per_subject = {s: (i % 4) / 4 for i, s in enumerate(subjects)}
    res = agg.aggregate({**acc, "mmlu_fewshot": per_subject})
    assert res["MMLU"] == pytest.approx(sum(per_subject.values()) / 57, abs=1e-15)
    flat = {**acc, **{f"mmlu_fewshot/{s}": v for s, v in per_subject.items()}}
    assert agg.aggregate(flat)["MMLU"] == res["MMLU"]
    partial = dict(list(per_subject.items())[:50])
    bad = agg.aggregate({**acc, "mmlu_fewshot": partial})
    assert bad["MMLU"].startswith(agg.NA_PREFIX) and len(bad["missing_subjects"]["mmlu_fewshot"]) == 7
    assert "mmlu_fewshot" in bad["missing"]


def test_unknown_keys_are_ignored_and_reported():
    res = agg.aggregate({**_full(0.5), "gsm8k": 0.1, "aqua": 0.2})
    assert res["unused"] == ["aqua", "gsm8k"] and res["complete"]


def test_numpy_summation_order_matters_and_is_reproduced():
    np = pytest.importorskip("numpy")
    import random
    rng = random.Random(0)
    for n in (1, 5, 8, 13, 22, 53, 130, 300):
        xs = [rng.random() for _ in range(n)]
        assert agg._numpy_sum(xs) == float(np.sum(np.array(xs, dtype=np.float64)))


# ---------------------------------------------------------------------------- suites and baselines


def test_suite_sizes():
    assert len(get_suite("core")) == 22
    assert len(get_suite("extended")) == 53
    assert get_suite("mmlu").task_names == ["mmlu_fewshot"]
    cm = get_suite("core+mmlu")
    assert len(cm) == 23 and "mmlu_fewshot" in cm
    assert set(get_suite("core").task_names) == set(aggregation_lists()["low_variance_datasets"])
    assert get_suite("core", version="v1").version == "v1"
    with pytest.raises(ValueError):
        get_suite("nope")


V1_TO_V2 = {
    "siqa": (33.3, 50), "commonsense_qa": (20, 40.3), "bigbench_novel_concepts": (20, 25),
    "bigbench_language_identification": (9.1, 25), "bigbench_conceptual_combinations": (25, 33),
    "bigbench_elementary_math_qa": (20, 25), "agi_eval_lsat_ar": (20, 25), "agi_eval_lsat_rc": (20, 25),
    "agi_eval_lsat_lr": (20, 25), "bigbench_logical_deduction": (20, 25),
    "bigbench_understanding_fables": (20, 25), "logi_qa": (27, 25),
}


def test_v1_v2_baselines_differ_exactly_on_listed_tasks():
    changed = {t.name: (random_baseline(t, "v1"), random_baseline(t, "v2"))
               for t in task_table() if random_baseline(t, "v1") != random_baseline(t, "v2")}
    assert changed == {k: (float(a), float(b)) for k, (a, b) in V1_TO_V2.items()}
    assert random_baseline("boolq", "v1") == random_baseline("boolq", "v2") == 62
    with pytest.raises(ValueError):
        random_baseline("copa", "v3")


def test_table_shape():
    table = task_table()
    assert len(table) == 53 and len({t.name for t in table}) == 53
    by = {t.name: t for t in table}
    assert by["copa"].dataset == "commonsense_reasoning/copa.jsonl" and by["copa"].dataset_root == "local_data"
    assert by["mmlu_fewshot"].num_fewshot == 5 and by["mmlu_fewshot"].prompt["has_categories"]
    assert by["mmlu_fewshot"].prompt["continuation_delimiter"] == "\nAnswer: "
    assert by["gsm8k_cot"].prompt["cot_delimiter"] == " #### "
    assert by["gsm8k_cot"].prompt["stop_strings"] == ["\n\n", "Q:", "Q: "]
    assert by["hellaswag"].prompt["continuation_delimiter"] == " "
    assert by["winograd"].type == "schema" and by["lambada_openai"].type == "language_modeling"
    assert not by["squad"].dataset_available and not by["coqa"].dataset_available
    assert by["gpqa_main"].dataset_root == "gpqa_data"


def test_import_dclm_eval(tmp_path):
    doc = {"name": "x", "uuid": "u", "eval_metrics": {"icl": {"copa": 0.7, "gsm8k": 0.1}}, "Core_v2": 0.3}
    p = tmp_path / "e.json"
    p.write_text(json.dumps(doc))
    got = agg.import_dclm_eval(p)
    assert got["per_task"] == {"copa": 0.7, "gsm8k": 0.1}
    assert got["published"] == {"Core_v2": 0.3} and got["extra_tasks"] == ["gsm8k"]
    res = agg.aggregate(got["per_task"])
    assert res["CORE"].startswith(agg.NA_PREFIX) and math.isclose(res["rw_small"], 0.7)
