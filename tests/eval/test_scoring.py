"""Scoring rules on hand-built logits, and one real run on copa and lambada."""

from __future__ import annotations

import math

import pytest
import torch

from dcbench.eval.prompts import ScoredItem
from dcbench.eval.scoring import (continuation_scores, evaluate_task, extract_answer, generation_correct, greedy_generate,
                          normalize_answer, pick_choice, score_items)
from dcbench.eval.tasks import GenExample, LMExample, MCExample, SchemaExample, TaskConfig, load_task

V = 8


def bigram(table):
    """logits[b, t] = table[ids[b, t]]: the next token depends on the current one only."""
    table = torch.as_tensor(table, dtype=torch.float32)
    return lambda ids: table[ids]


def log_probs(rows: dict[int, dict[int, float]], v=V):
    """A [v, v] table of log-probabilities; unspecified mass spread evenly."""
    table = torch.full((v, v), 0.0)
    for cur, dist in rows.items():
        rest = (1 - sum(dist.values())) / (v - len(dist))
        table[cur] = torch.tensor([math.log(dist.get(t, rest)) for t in range(v)])
    return table


def cfg(kind, shots=0, **kw):
    return TaskConfig(label="t", dataset_uri="-", icl_task_type=kind, num_fewshot=shots, **kw)


class IdTok:
    """Text is space-separated integer ids (other words are 7); " 3" is one token (prefix-space style)."""

    def encode(self, text):
        return [int(t) if t.isdigit() else 7 for t in text.split()]

    def decode(self, ids):
        return "".join(f" {i}" for i in ids)


def test_uniform_logits_give_log_vocab_and_ties_pick_first():
    ce, exact = continuation_scores(lambda ids: torch.zeros(*ids.shape, V), [([1, 2], [3, 4, 5]), ([1], [2])])
    assert ce == pytest.approx([math.log(V), math.log(V)])
    assert pick_choice(ce) == 0
    item = ScoredItem(0, [([1], [2]), ([1], [3])], gold=1)
    assert score_items(lambda ids: torch.zeros(*ids.shape, V), [item]) == [False]  # tie -> choice 0


def test_multiple_choice_uses_mean_not_sum():
    # after token 1: P(2)=0.3, P(3)=0.6; after 3: P(3)=0.6.
    # choice 0 = [2]: mean CE -log .3 = 1.20; choice 1 = [3,3,3]: mean .51 (sum 1.53 > 1.20)
    model = bigram(log_probs({1: {2: 0.3, 3: 0.6}, 3: {3: 0.6}}))
    ce, _ = continuation_scores(model, [([5, 1], [2]), ([5, 1], [3, 3, 3])])
    assert ce == pytest.approx([-math.log(0.3), -math.log(0.6)], rel=1e-5)
    items = [ScoredItem(0, [([5, 1], [2]), ([5, 1], [3, 3, 3])], gold=1)]
    assert score_items(model, items) == [True]


def test_batching_and_padding_do_not_change_scores():
    torch.manual_seed(0)
    table = torch.randn(V, V)
    pairs = [([1, 2, 3, 4], [5]), ([6], [7, 1]), ([2, 2], [3, 3, 3, 3]), ([4], [4])]
    ref, _ = continuation_scores(bigram(table), pairs, batch_size=1)
    for bs in (2, 3, 8):
        got, _ = continuation_scores(bigram(table), pairs, batch_size=bs, pad_id=7)
        assert got == pytest.approx(ref, rel=1e-6)


def test_language_modeling_needs_every_token():
    succ = bigram(10 * torch.eye(V).roll(1, dims=1))  # argmax after t is t + 1
    items = [ScoredItem(0, [([1, 2], [3, 4])], 0), ScoredItem(1, [([1, 2], [3, 5])], 0),
             ScoredItem(2, [([6], [7])], 0)]
    assert score_items(succ, items, lm=True) == [True, False, True]
    exs = [LMExample("0 1", "2 3"), LMExample("4", "5 6 7"), LMExample("2", "4")]
    out = evaluate_task(succ, IdTok(), cfg("language_modeling"), exs, batch_size=2)
    assert out["accuracy"] == pytest.approx(2 / 3) and out["n"] == 3


def test_schema_scores_the_shared_continuation():
    # continuation token 4; after option-final token 1 P(4)=0.7, after 2 P(4)=0.1
    model = bigram(log_probs({1: {4: 0.7}, 2: {4: 0.1}}))
    exs = [SchemaExample(("6 1", "6 2"), "4", 0), SchemaExample(("5 2", "5 1"), "4", 0)]
    out = evaluate_task(model, IdTok(), cfg("schema"), exs)
    assert out["accuracy"] == 0.5 and out["n"] == 2


def test_multiple_choice_per_category_and_limit():
    model = bigram(log_probs({1: {2: 0.5, 3: 0.2}}))  # always prefers choice "2"
    exs = [MCExample("1", ("2", "3"), 0, "x"), MCExample("1", ("3", "2"), 0, "y"),
           MCExample("1", ("2", "3"), 0, "y"), MCExample("1", ("2", "3"), 1, "x")]
    out = evaluate_task(model, IdTok(), cfg("multiple_choice", has_categories=True), exs)
    assert out["accuracy"] == 0.5 and out["n"] == 4
    assert out["per_category"] == {"x": 0.5, "y": 0.5} and out["per_category_n"] == {"x": 2, "y": 2}
    out = evaluate_task(model, IdTok(), cfg("multiple_choice", has_categories=True), exs, limit=3)
    assert out["n"] == 3 and out["per_category"] == {"x": 1.0, "y": 0.5}
    out = evaluate_task(model, IdTok(), cfg("multiple_choice"), exs, limit=1)
    assert out == {"label": "t", "num_fewshot": 0, "accuracy": 1.0, "n": 1, "skipped": 0}


# ---------------------------------------------------------------- generation


def test_normalization_matches_triviaqa_rules():
    assert normalize_answer("The  Beatles!") == "beatles"
    assert normalize_answer("an_apple a day") == "apple day"
    assert normalize_answer("Rock‘n’Roll") == "rock n roll"
    assert normalize_answer("Theatre") == "theatre"  # articles only as whole words


def test_stop_strings_cot_and_startswith():
    out = "She has 9 eggs. The answer is 18\n\nQuestion: next one. The answer is 3"
    assert extract_answer(out, stop_strings=["\n\n", "Question:"], cot_delimiter="The answer is ") == "18"
    kw = dict(stop_strings=("\n\n", "Question:"), cot_delimiter="The answer is ", do_normalization=False)
    assert generation_correct(out, ["18"], **kw)
    assert generation_correct(out, ["1"], **kw)  # prefix rule: "18".startswith("1")
    assert not generation_correct(out, ["180"], **kw)
    assert extract_answer("The answer is 5. The answer is 7", cot_delimiter="The answer is ") == "7"
    assert generation_correct(" Paris, France\nQ: x", ["Paris"])
    assert not generation_correct(" Par", ["Paris"])
    assert generation_correct(" the Beatles were great", ["Beatles", "The Fab Four"])
    assert generation_correct(" fab four", ["Beatles", "The Fab Four"])
    assert generation_correct(" Beatles", ["Beatles"], do_normalization=False)  # stripped, as LLM-Foundry does
    assert not generation_correct(" beatles", ["Beatles"], do_normalization=False)


def test_greedy_generation_stops_at_eos_stop_strings_and_budget():
    succ = bigram(10 * torch.eye(V).roll(1, dims=1))  # 3 -> 4 -> 5 -> 6 -> 7 -> 0 (eos)
    tok = IdTok()
    outs = greedy_generate(succ, tok, [[1, 3], [5], [2]], [10, 10, 2], eos_id=0, batch_size=2)
    assert outs == [" 4 5 6 7", " 6 7", " 3 4"]
    outs = greedy_generate(succ, tok, [[1, 3], [2]], 10, eos_id=0, stop_strings=[" 5"])
    assert outs == [" 4 5", " 3 4 5"]


def test_generation_task_end_to_end():
    succ = bigram(10 * torch.eye(V).roll(1, dims=1))
    exs = [GenExample("2", "3 4"), GenExample("5", "9", ("6",)), GenExample("1", "3")]
    out = evaluate_task(succ, IdTok(), cfg("generation_task_with_answers"), exs, eos_id=0)
    assert out["accuracy"] == pytest.approx(2 / 3)  # "3 4 5 6 7" ok; "6 7" via alias; "2 3 ..." wrong


# ---------------------------------------------------------------- real data


@pytest.mark.slow
def test_real_copa_and_lambada_with_tiny_openlm(shared_data):
    from tokenizers import Tokenizer

    from dcbench.training.model import OpenLM
    from dcbench.training.scales import ModelConfig

    tok_path = shared_data / "tokenizers" / "gpt-neox-20b.json"
    if not tok_path.is_file():
        pytest.skip(f"{tok_path} is absent")
    tok = Tokenizer.from_file(str(tok_path))
    model = OpenLM(ModelConfig(d_model=64, n_layers=2, n_heads=4, vocab_size=50432, seq_len=256))
    local = shared_data / "eval" / "local_data"

    copa = TaskConfig(label="copa", dataset_uri=str(local / "commonsense_reasoning/copa.jsonl"),
                      icl_task_type="multiple_choice", max_seq_len=256)
    exs = load_task(copa, limit=20)
    out = evaluate_task(model, tok, copa, exs, batch_size=8)
    assert out["n"] == 20 and 0.0 <= out["accuracy"] <= 1.0

    from dcbench.eval.prompts import build_items

    first = build_items(copa, exs[:1], tok)[0]
    assert first.texts[1] == ("The man turned on the faucet, therefore", " water flowed from the spout.")
    assert first.pairs[1] == (tok.encode("The man turned on the faucet, therefore").ids,
                              tok.encode(" water flowed from the spout.").ids)

    lambada = TaskConfig(label="lambada_openai", dataset_uri=str(local / "language_understanding/lambada_openai.jsonl"),
                         icl_task_type="language_modeling", max_seq_len=256)
    exs = load_task(lambada, limit=20)
    out = evaluate_task(model, tok, lambada, exs, batch_size=8)
    assert out["n"] == 20 and 0.0 <= out["accuracy"] <= 1.0
    item = build_items(lambada, exs[:1], tok)[0]
    assert item.texts[0][1] == " signs" and len(item.pairs[0][0]) + len(item.pairs[0][1]) <= 256
