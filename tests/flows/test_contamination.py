"""`dcbench contamination`: evaluation items planted into toy pages are found with their task and
row, a clean pool has none, and `dcbench eval --exclude-contaminated` scores exactly the other items."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from dcbench.cli import main
from dcbench.errors import ConfigError, DataError
from dcbench.eval.runner import run_suite
from dcbench.eval.suites import get_suite
from dcbench.eval.tasks import GenExample, LMExample, MCExample, SchemaExample, TaskConfig
from dcbench.flows.contamination import contamination_report, item_text, ngram_tokens
from dcbench.flows.toy_suite import build_toy_suite
from dcbench.leaderboard.html import render_leaderboard
from dcbench.leaderboard.submission import build_submission
from dcbench.pools.toy import build_toy_pool
from dcbench.shards import read_shard, write_shard
from tests.eval.test_toy_suite import make_run
from tests.leaderboard.test_html import make_row
from tests.leaderboard.test_submission import pipeline  # noqa: F401  (its toy pipeline fixture)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A small toy pool (2 shards) and a toy suite of 12 items a task."""
    root = tmp_path_factory.mktemp("contam")
    build_toy_pool(str(root / "pool"), n_docs=120, n_shards=2, seed=3)
    build_toy_suite(root / "eval", seed=3, n_items=12, heldout_pages=2)
    return root


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _lm_text(row: dict) -> str:
    return row["context"] + " " + row["continuation"]


def _long(texts: list[str], count: int, tokens: int = 20) -> list[int]:
    """The first `count` positions whose text has at least `tokens` n-gram tokens."""
    return [i for i, t in enumerate(texts) if len(ngram_tokens(t)) >= tokens][:count]


def _plant(pool: Path, out: Path, plants: dict[tuple[int, int], str]) -> Path:
    """A copy of the pool's pages (no manifest) with text inserted mid-page: {(shard, line): text}."""
    out.mkdir()
    for s, shard in enumerate(sorted(pool.glob("shard_*.jsonl.gz"))):
        docs = [d for d in read_shard(str(shard))]
        for (ps, line), text in plants.items():
            if ps == s:
                words = docs[line]["text"].split(" ")
                docs[line]["text"] = " ".join(words[:20] + [text] + words[20:])
        write_shard(str(out / f"shard_{s:05d}.jsonl"), docs)
    return out


def test_item_text_is_context_and_gold_answer_as_the_format_writes_them():
    cfg = TaskConfig(label="t", dataset_uri="x", icl_task_type="multiple_choice", continuation_delimiter="\nAnswer: ")
    assert item_text(cfg, MCExample(" Q? ", ("a", "b"), 1)) == "Q?\nAnswer: b"
    cfg = TaskConfig(label="t", dataset_uri="x", icl_task_type="schema")
    assert item_text(cfg, SchemaExample(("one", "two"), "end.", 0)) == "one end."
    cfg = TaskConfig(label="t", dataset_uri="x", icl_task_type="language_modeling")
    assert item_text(cfg, LMExample("The cat", "sat")) == "The cat sat"
    cfg = TaskConfig(label="t", dataset_uri="x", icl_task_type="generation_task_with_answers")
    assert item_text(cfg, GenExample("Q: 2+2?", "4", chain_of_thought="two and two")) == "Q: 2+2? 4"
    assert ngram_tokens("Hello,  World!\nNew line") == ["hello", ",", "world", "!", "new", "line"]


def test_planted_toy_items_are_found_with_task_and_index(toy, tmp_path):
    lm = _rows(toy / "eval" / "toy" / "toy_lm.jsonl")
    hq = _rows(toy / "eval" / "toy" / "toy_hq_style.jsonl")
    spam = _rows(toy / "eval" / "toy" / "toy_spam.jsonl")
    (a,), (w, v) = _long([_lm_text(r) for r in lm], 1), _long([r["query"] for r in spam], 2, 16)
    window = ngram_tokens(spam[w]["query"])  # a 13-token window of one item's query: found at n=13
    short = ngram_tokens(spam[v]["query"])  # a 12-token window of another: too short for n=13
    plants = {(0, 4): _lm_text(lm[a]),
              (1, 7): hq[5]["query"] + " " + hq[5]["choices"][hq[5]["gold"]],
              (1, 20): " ".join(window[1:14]), (0, 30): " ".join(short[:12])}
    dirty = _plant(toy / "pool", tmp_path / "dirty", plants)
    report = contamination_report(str(dirty), "toy", toy / "eval", workers=1, progress=False,
                                  out_path=tmp_path / "c.json")

    found = {name: t["indices"] for name, t in report["tasks"].items() if t["indices"]}
    assert found == {"toy_lm": [a], "toy_hq_style": [5], "toy_spam": [w]}
    assert json.loads((tmp_path / "c.json").read_text())["id"] == report["id"]
    ex = report["tasks"]["toy_lm"]["examples"][0]
    assert ex["index"] == a and ex["shard"].endswith("shard_00000.jsonl") and ex["line"] == 4
    assert ex["ngram"] in " ".join(ngram_tokens(plants[(0, 4)]))
    assert report["tasks"]["toy_hq_style"]["examples"][0]["line"] == 7
    assert report["tasks"]["toy_lm"]["share"] == pytest.approx(1 / 12)
    assert report["bloom"]["candidate_shards"] == 2 and report["dataset"]["documents"] == 120

    shorter = contamination_report(str(dirty), "toy", toy / "eval", n=12, workers=1, progress=False)
    assert shorter["tasks"]["toy_spam"]["indices"] == [w, v]  # --ngram 12 finds the 12-token window too


def test_a_clean_pool_has_no_contamination(toy):
    report = contamination_report(str(toy / "pool"), "toy", toy / "eval", workers=1, progress=False)
    assert report["tasks"] and all(t["contaminated"] == 0 and not t["examples"] for t in report["tasks"].values())
    assert report["dataset"]["id"].startswith("pool-") and report["dataset"]["ngrams"] > 10_000


def test_a_real_task_file_planted_in_toy_pages(toy, shared_data, tmp_path):
    spec = next(t for t in get_suite("core").tasks if t.name == "arc_easy")
    source = shared_data / "eval" / "local_data" / spec.dataset
    if not source.is_file():
        pytest.skip(f"{source} is absent")
    tasks_dir = tmp_path / "local_data"
    (tasks_dir / spec.dataset).parent.mkdir(parents=True)
    shutil.copy(source, tasks_dir / spec.dataset)
    rows = _rows(source)
    # questions of 16+ tokens: item text is "Question: ... Answer: <gold>", so the match lies in the question
    picks = random.Random(0).sample(_long([r["query"].removeprefix("Question: ") for r in rows], 10**6, 16), 2)
    plants = {(s, 10 + s): rows[i]["query"].removeprefix("Question: ") + " " + rows[i]["choices"][rows[i]["gold"]]
              for s, i in enumerate(picks)}  # as a web page would quote it: no "Question:" / "Answer:"
    dirty = _plant(toy / "pool", tmp_path / "dirty", plants)
    report = contamination_report(str(dirty), "core", tasks_dir, workers=1, progress=False)
    assert report["tasks"]["arc_easy"]["indices"] == sorted(picks)
    assert list(report["tasks"]) == ["arc_easy"] and "hellaswag" in report["missing"]


def test_cli_writes_the_report_into_the_dataset_and_refuses_bad_options(toy, tmp_path, capsys):
    pool = tmp_path / "pool"
    shutil.copytree(toy / "pool", pool)
    assert main(["contamination", str(pool), "--suite", "toy", "--tasks-dir", str(toy / "eval"),
                 "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "toy_lm" in out and "0 of 72 items contaminated" in out
    assert json.loads((pool / "contamination.json").read_text())["kind"] == "contamination"
    assert main(["contamination", str(pool), "--suite", "toy", "--tasks-dir", str(toy / "eval"),
                 "--fp-rate", "0"]) == 2
    assert "--fp-rate" in capsys.readouterr().err
    assert main(["contamination", str(pool), "--suite", "toy", "--tasks-dir", str(tmp_path / "nowhere")]) == 2


def test_eval_scores_exactly_the_clean_items(toy, tmp_path):
    lm = _rows(toy / "eval" / "toy" / "toy_lm.jsonl")
    spam = _rows(toy / "eval" / "toy" / "toy_spam.jsonl")
    a, b = _long([_lm_text(r) for r in lm], 2)
    plants = {(0, 1): _lm_text(lm[a]), (0, 2): _lm_text(lm[b]),
              (1, 3): spam[4]["query"] + " " + spam[4]["choices"][spam[4]["gold"]]}
    dirty = _plant(toy / "pool", tmp_path / "dirty", plants)
    report_path = tmp_path / "contamination.json"
    contamination_report(str(dirty), "toy", toy / "eval", workers=1, progress=False, out_path=report_path)
    run, _, _ = make_run(tmp_path / "model")
    tok = run.parent / "tokens" / "tokenizer.json"
    full = run_suite(run, "toy", tasks_dir=toy / "eval", tokenizer=tok, progress=False)
    clean = run_suite(run, "toy", tasks_dir=toy / "eval", tokenizer=tok, progress=False,
                      exclude_contaminated=report_path, out_path=tmp_path / "clean.json")

    dropped = {"toy_lm": {a, b}, "toy_spam": {4}}
    for name, items in full["items"].items():
        keep = [k for k, i in enumerate(items["index"]) if i not in dropped.get(name, set())]
        assert clean["items"][name]["index"] == [items["index"][k] for k in keep]
        assert clean["items"][name]["bpb"] == pytest.approx([items["bpb"][k] for k in keep])
        assert clean["tasks"][name]["n"] == len(keep)
        assert clean["tasks"][name]["excluded"] == len(dropped.get(name, ()))
    assert clean["partial"] and not clean["complete"] and "clean subset: 3 contaminated" in clean["partial_reasons"][0]
    assert clean["clean_subset"]["excluded"]["toy_lm"] == 2 and clean["clean_subset"]["unchecked"] == []
    assert clean["id"] != full["id"] and not full["partial"]

    other = tmp_path / "other_eval"  # a report computed on other task files is refused
    shutil.copytree(toy / "eval", other)
    (other / "toy" / "toy_lm.jsonl").write_text("\n".join(json.dumps(r) for r in lm[:6]) + "\n")
    with pytest.raises(ConfigError, match="another copy of task toy_lm"):
        run_suite(run, "toy", tasks_dir=other, tokenizer=tok, progress=False, exclude_contaminated=report_path)


def test_the_leaderboard_page_shows_each_tasks_contaminated_share():
    row = make_row("s1", "mine", "toy-1m-1x", None, toy=0.3, tasks={"toy_lm": {"accuracy": 0.4},
                                                                       "toy_spam": {"accuracy": 0.6}})
    row["submission"]["contamination"] = {"id": "contamination-0", "ngram": 13, "suite": "toy", "tasks": {
        "toy_lm": {"items": 200, "contaminated": 5, "share": 0.025},
        "toy_spam": {"items": 200, "contaminated": 0, "share": 0.0}}}
    page = render_leaderboard([row, make_row("s2", "other", "toy-1m-1x", None, toy=0.2)])
    assert page.count("\u26a02.5%") == 1  # only the contaminated task is marked, only for its submission
    assert "5 of 200 items (2.5%) share an n-gram" in page
    assert "13-gram overlap of the dataset" in page and "0 of 200 items (0.0%)" in page


@pytest.mark.slow
def test_submit_attaches_the_datasets_report_and_refuses_another_datasets(pipeline, tmp_path):
    dataset = pipeline / "dataset"
    report = contamination_report(str(dataset), "toy", pipeline.parent / "toy_eval", workers=1, progress=False,
                                  out_path=dataset / "contamination.json")
    sub = build_submission(pipeline)
    assert sub["contamination"]["id"] == report["id"] and sub["contamination"]["ngram"] == 13
    assert sub["contamination"]["tasks"]["toy_lm"] == {"items": 6, "contaminated": 0, "share": 0.0}
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**report, "dataset": {**report["dataset"], "id": "dataset-0000000000000000"}}))
    with pytest.raises(DataError, match="measured dataset dataset-0000000000000000"):
        build_submission(pipeline, contamination=other)
    (dataset / "contamination.json").unlink()
    assert build_submission(pipeline)["contamination"] is None


@pytest.mark.slow
def test_ray_tasks_give_the_same_report_as_one_process(toy, tmp_path, ray_session):
    lm = _rows(toy / "eval" / "toy" / "toy_lm.jsonl")
    (a,) = _long([_lm_text(r) for r in lm], 1)
    dirty = _plant(toy / "pool", tmp_path / "dirty", {(1, 5): _lm_text(lm[a])})
    here = contamination_report(str(dirty), "toy", toy / "eval", workers=1, progress=False)
    on_ray = contamination_report(str(dirty), "toy", toy / "eval", workers=2, progress=False)
    assert on_ray["tasks"] == here["tasks"] and on_ray["id"] == here["id"]
    assert on_ray["tasks"]["toy_lm"]["indices"] == [a]
