"""Continuous proxies (p_correct, bpb, margin) and the CORE-proxy: exact values on hand-built
logits, then ranges, relations and hand computations on a toy model really trained on the toy
pool (the `trained` fixture, tests/eval/conftest.py), with the toy suite and the real task files
from ../shared/data/eval where present."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from dcbench.eval.aggregate import BYTE_CHANCE, proxy_aggregate, task_proxy
from dcbench.eval.prompts import ScoredItem, build_items, encode
from dcbench.eval.runner import run_suite, task_config
from dcbench.eval.scoring import (choice_proxies, continuation_stats, evaluate_task, pick_choice, score_items_proxies,
                                  score_task, teacher_forced_bpb)
from dcbench.eval.suites import get_task
from dcbench.eval.tasks import MCExample, TaskConfig, load_task
from dcbench.eval.toy import TOY_TASKS

from tests.eval.test_scoring import IdTok, bigram, log_probs

# ------------------------------------------------------------------ hand-built logits


def test_choice_proxies_by_hand():
    # after token 1: P(2) = .5, P(3) = .2; choices " 2" and " 3" (one token each)
    model = bigram(log_probs({1: {2: 0.5, 3: 0.2}}))
    items = [ScoredItem(0, [([1], [2]), ([1], [3])], 0, texts=[("1", " 2"), ("1", " 3")]),
             ScoredItem(1, [([1], [2]), ([1], [3])], 1, texts=[("1", " 2"), ("1", " 3")])]
    correct, px = score_items_proxies(model, items)
    assert correct == [True, False]
    assert px["p_correct"] == pytest.approx([0.5 / 0.7, 0.2 / 0.7], rel=1e-5)
    assert px["margin"] == pytest.approx([math.log(2.5), -math.log(2.5)], rel=1e-5)
    # -ln .5 nats = 1 bit over the two bytes of " 2"; -ln .2 = 2.32 bits over " 3"
    assert px["bpb"] == pytest.approx([0.5, -math.log2(0.2) / 2], rel=1e-5)
    lm_correct, lm = score_items_proxies(model, items[:1], lm=True)
    assert lm["p_correct"] is None and lm["margin"] is None and lm["bpb"] == pytest.approx([0.5], rel=1e-5)


def test_score_task_items_align_and_accuracy_is_unchanged():
    model = bigram(log_probs({1: {2: 0.5, 3: 0.2}}))
    exs = [MCExample("1", ("2", "3"), 0, "x"), MCExample("1", ("3", "2"), 0, "y"),
           MCExample("1", ("2", "3"), 0, "y"), MCExample("1", ("2", "3"), 1, "x")]
    cfg = TaskConfig(label="t", dataset_uri="-", icl_task_type="multiple_choice", has_categories=True)
    result, px = score_task(model, IdTok(), cfg, exs)
    assert result == evaluate_task(model, IdTok(), cfg, exs)  # the accuracy half is evaluate_task's
    items = px["items"]
    assert items["index"] == [0, 3, 1, 2]  # category x, then y: the order accuracy scores them in
    assert items["correct"] == [1, 0, 0, 1] and result["accuracy"] == sum(items["correct"]) / result["n"]
    assert all(len(v) == result["n"] for v in items.values())
    assert px["p_chance"] == 0.5 and px["p_correct"] == pytest.approx(0.5, rel=1e-6)  # (5 + 2 + 2 + 5) / 7 / 4


def test_task_proxy_is_zero_at_chance_one_when_perfect():
    assert task_proxy({"p_correct": 0.25, "p_chance": 0.25}) == 0.0
    assert task_proxy({"p_correct": 1.0, "p_chance": 0.25}) == 1.0
    assert task_proxy({"p_correct": 0.1, "p_chance": 0.25}) < 0
    assert task_proxy({"p_correct": None, "p_chance": None, "bpb": 8.0}) == pytest.approx(0.0, abs=1e-12)
    assert task_proxy({"bpb": 0.0}) == 1.0
    assert task_proxy({"bpb": 1.0}) == pytest.approx((0.5 - BYTE_CHANCE) / (1 - BYTE_CHANCE))
    assert task_proxy({}) is None
    assert proxy_aggregate({"a": 0.2, "b": 0.4}, ["a", "b"]) == pytest.approx(0.3)
    assert proxy_aggregate({"a": 0.2, "b": None}, ["a", "b"]) == "N/A due to missing tasks: ['b']"


# ------------------------------------------------------------------ a really trained toy model


@pytest.fixture(scope="module")
def toy_results(trained) -> dict:
    out = trained["root"] / "toy.json"
    run_suite(trained["root"] / "model", "toy", tasks_dir=trained["suite"], out_path=out, model=trained["model"],
              progress=False)
    return json.loads(out.read_text())


@pytest.mark.slow
def test_toy_suite_proxies_ranges_relations_and_alignment(toy_results):
    res = toy_results
    assert set(res["items"]) == set(res["tasks"]) == set(TOY_TASKS)
    for name, t in res["tasks"].items():
        items = res["items"][name]
        assert all(len(items[k]) == t["n"] for k in ("index", "correct", "bpb"))
        assert items["index"] == list(range(t["n"]))  # file order, the same every run
        assert t["accuracy"] == sum(items["correct"]) / t["n"]  # the accuracy the items carry
        assert all(b > 0 for b in items["bpb"]) and t["bpb"] == pytest.approx(sum(items["bpb"]) / t["n"])
        assert t["proxy"] == task_proxy(t) and -1 <= t["proxy"] <= 1
        if TOY_TASKS[name][0] == "language_modeling":
            assert items["p_correct"] is None and items["margin"] is None and t["p_correct"] is None
            continue
        assert len(items["p_correct"]) == len(items["margin"]) == t["n"] and t["p_chance"] == 0.25
        for ok, p, m in zip(items["correct"], items["p_correct"], items["margin"]):
            assert 0.0 <= p <= 1.0
            assert (m > 0) == bool(ok) or m == 0  # the correct choice has the highest likelihood
            if ok:
                assert p >= 0.25  # the argmax of four shares is at least a quarter
            if p > 0.5:
                assert ok
    agg = res["aggregates"]
    assert agg["TOY-proxy"] == pytest.approx(sum(t["proxy"] for t in res["tasks"].values()) / len(TOY_TASKS))
    assert agg["proxy"] == {k: t["proxy"] for k, t in res["tasks"].items()}


@pytest.mark.slow
def test_argmax_p_is_the_chosen_choice_and_bpb_is_the_hand_computation(trained, toy_results):
    model = trained["model"]
    cfg = task_config({"name": "toy_boilerplate", "path": trained["suite"] / "toy" / "toy_boilerplate.jsonl",
                       "type": "multiple_choice", "num_fewshot": 0, "prompt": {}}, model.max_seq_len)
    items = build_items(cfg, load_task(cfg), model)
    pairs = [p for it in items for p in it.pairs]
    ce, _, _ = continuation_stats(model, pairs)
    k = 0
    for it in items:
        losses = ce[k:k + len(it.pairs)]
        k += len(it.pairs)
        shares = [choice_proxies(losses, j)[0] for j in range(len(losses))]
        assert sum(shares) == pytest.approx(1.0)
        assert max(range(len(shares)), key=lambda j: (shares[j], -j)) == pick_choice(losses)
    # bits per byte of item 0's correct continuation, from the model's logits by hand
    it = items[0]
    ctx, cont = it.pairs[it.gold]
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ctx + cont]))[0].double(), dim=-1)
    nll = -sum(logp[len(ctx) - 1 + t, tok].item() for t, tok in enumerate(cont))
    by_hand = nll / math.log(2) / len(it.texts[it.gold][1].encode("utf-8"))
    assert toy_results["items"]["toy_boilerplate"]["bpb"][0] == pytest.approx(by_hand, rel=1e-5)
    p0 = toy_results["items"]["toy_boilerplate"]["p_correct"][0]
    mean_ll = []
    for c, t in it.pairs:
        with torch.no_grad():
            lp = torch.log_softmax(model(torch.tensor([c + t]))[0].double(), dim=-1)
        mean_ll.append(sum(lp[len(c) - 1 + i, tok].item() for i, tok in enumerate(t)) / len(t))
    assert p0 == pytest.approx(math.exp(mean_ll[it.gold]) / sum(math.exp(v) for v in mean_ll), rel=1e-5)


@pytest.mark.slow
def test_training_lowers_bpb_and_raises_the_proxy(trained, toy_results, tmp_path):
    raw = run_suite(trained["root"] / "untrained" / "model", "toy", tasks_dir=trained["suite"],
                    model=trained["untrained"], progress=False)
    for name in TOY_TASKS:
        assert toy_results["tasks"][name]["bpb"] < raw["tasks"][name]["bpb"], name
    assert toy_results["aggregates"]["TOY-proxy"] > raw["aggregates"]["TOY-proxy"]


def _real_task(shared_data: Path, name: str) -> tuple[Path, dict]:
    spec = get_task(name)
    path = shared_data / "eval" / "local_data" / spec.dataset
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path, {"name": name, "path": path, "type": spec.type, "num_fewshot": spec.num_fewshot,
                  "prompt": dict(spec.prompt)}


@pytest.mark.slow
def test_margin_is_positive_iff_correct_on_copa(trained, shared_data):
    path, plan = _real_task(shared_data, "copa")
    model = trained["model"]
    cfg = task_config(plan, model.max_seq_len)
    result, px = score_task(model, model, cfg, load_task(cfg), limit=40)
    items = px["items"]
    assert len(items["margin"]) == result["n"] == 40 and px["p_chance"] == 0.5
    assert {len(v) for v in items.values()} == {40}
    for ok, m, p in zip(items["correct"], items["margin"], items["p_correct"]):
        assert (m > 0) == bool(ok) and (p > 0.5) == bool(ok)  # two choices: no tie in float logits


@pytest.mark.slow
def test_generation_bpb_under_teacher_forcing_by_hand(trained, shared_data):
    path, plan = _real_task(shared_data, "triviaqa_sm_sub")
    model = trained["model"]
    cfg = task_config(plan, model.max_seq_len)
    examples = load_task(cfg)
    result, px = score_task(model, model, cfg, examples, limit=3)
    assert px["p_correct"] is None and px["items"]["margin"] is None and len(px["items"]["bpb"]) == 3
    items = build_items(cfg, examples, model, limit=3)
    answer = cfg.continuation_delimiter[len(cfg.continuation_delimiter.rstrip()):] + examples[0].answer.strip()
    cont = encode(model, answer)
    ctx = items[0].context_ids[-(model.max_seq_len - len(cont)):]
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ctx + cont]))[0].double(), dim=-1)
    nll = -sum(logp[len(ctx) - 1 + t, tok].item() for t, tok in enumerate(cont))
    assert px["items"]["bpb"][0] == pytest.approx(nll / math.log(2) / len(answer.encode()), rel=1e-5)
    assert teacher_forced_bpb(model, model, cfg, examples, items) == pytest.approx(px["items"]["bpb"])


@pytest.mark.slow
def test_core_proxy_on_the_real_task_files(trained, shared_data, tmp_path):
    local = shared_data / "eval" / "local_data"
    if not local.is_dir():
        pytest.skip(f"{local} is absent")
    out = tmp_path / "core.json"
    run_suite(trained["root"] / "model", "core", tasks_dir=local, out_path=out, limit=2, model=trained["model"],
              progress=False)
    saved = json.loads(out.read_text())
    for name, t in saved["tasks"].items():
        items = saved["items"][name]
        assert all(v is None or len(v) == t["n"] for v in items.values()), name
        assert t["proxy"] is not None and t["bpb"] > 0, name
    core = saved["aggregates"]["CORE-proxy"]
    assert isinstance(core, str) == bool(saved["missing"]) == isinstance(saved["aggregates"]["CORE"], str)
