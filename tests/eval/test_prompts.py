"""Prompt construction against hand-worked LLM-Foundry prompts."""

from __future__ import annotations

import json
import random
import re

import pytest

from dcbench.errors import ConfigError, DataError
from dcbench.eval.prompts import (build_generation, build_items, build_language_modeling, build_multiple_choice, build_schema,
                          fewshot_indices, needs_prefix_space, trim_left)
from dcbench.eval.tasks import (GenExample, LMExample, MCExample, SchemaExample, TaskConfig, load_examples, load_generation,
                        load_multiple_choice)


class WordTok:
    """Tokens are `\\s?\\S+` or a whitespace run, so " a" is one token (BPE-like: wants a prefix space)."""

    PAT = re.compile(r"\s?[^\s]+|\s+")

    def __init__(self):
        self.vocab: dict[str, int] = {"<eot>": 0}
        self.inv = ["<eot>"]

    def encode(self, text: str) -> list[int]:
        out = []
        for piece in self.PAT.findall(text):
            if piece not in self.vocab:
                self.vocab[piece] = len(self.inv)
                self.inv.append(piece)
            out.append(self.vocab[piece])
        return out

    def decode(self, ids) -> str:
        return "".join(self.inv[i] for i in ids if i != 0)


class CharTok:
    """One token per character: " a" is two tokens, so no prefix space (sentencepiece-like)."""

    def encode(self, text):
        return [ord(c) for c in text]


def cfg(kind, shots=0, **kw):
    return TaskConfig(label="t", dataset_uri="-", icl_task_type=kind, num_fewshot=shots, **kw)


def texts(items, j=None):
    return [it.texts if j is None else it.texts[j] for it in items]


# ------------------------------------------------------------------ few-shot


def test_fewshot_indices_follow_llm_foundry_rule():
    # Derived from the rule: one Random(1234) for the dataset; per example
    # sample(range(4), 2) -> set; drop the example itself and redraw with
    # choice(range(4)); shots in the set's order. Draws with seed 1234:
    #   ex0: sample [3, 0] -> {3}, choice 0,0,0,0,0,2 -> {2, 3}
    #   ex1: sample [1, 0] -> {0}, choice 0,0,2 -> {0, 2}
    #   ex2: sample [3, 2] -> {3}, choice 3,1 -> {1, 3} (set order, not draw order 3, 1)
    #   ex3: sample [0, 3] -> {0}, choice 0,0,3,1 -> {0, 1}
    rng = random.Random(1234)
    assert [fewshot_indices(4, 2, i, rng) for i in range(4)] == [[2, 3], [0, 2], [1, 3], [0, 1]]
    # more shots than other rows: everything but the example itself
    rng = random.Random(1234)
    assert [sorted(fewshot_indices(3, 5, i, rng)) for i in range(3)] == [[1, 2], [0, 2], [0, 1]]


def test_multiple_choice_prompts_with_shots():
    exs = [MCExample(f"Q{i}?", ("yes", "no"), i % 2) for i in range(4)]
    c = cfg("multiple_choice", 2, continuation_delimiter="\nAnswer: ")
    items = build_multiple_choice(c, exs, WordTok())
    # example 0 gets shots 2 then 3 (see above); 1 -> 0, 2; 2 -> 1, 3; 3 -> 0, 1
    assert items[0].texts == [("Q2?\nAnswer: yes\nQ3?\nAnswer: no\nQ0?\nAnswer:", " yes"),
                              ("Q2?\nAnswer: yes\nQ3?\nAnswer: no\nQ0?\nAnswer:", " no")]
    assert items[2].texts[0][0] == "Q1?\nAnswer: no\nQ3?\nAnswer: no\nQ2?\nAnswer:"
    assert items[3].texts[1][0] == "Q0?\nAnswer: yes\nQ1?\nAnswer: no\nQ3?\nAnswer:"
    assert [it.gold for it in items] == [0, 1, 0, 1]


def test_multiple_choice_zero_shot_prelimiter_and_strip():
    tok = WordTok()
    exs = [MCExample("  The man turned on the faucet, therefore ", ("the toilet filled.", " water flowed."), 1)]
    items = build_multiple_choice(cfg("multiple_choice", prelimiter="Question: "), exs, tok)
    (ctx0, cont0), (ctx1, cont1) = items[0].texts
    assert ctx0 == ctx1 == "Question: The man turned on the faucet, therefore"
    assert (cont0, cont1) == (" the toilet filled.", " water flowed.")  # space added once, never twice
    ids_ctx, ids_cont = items[0].pairs[0]
    assert ids_ctx == tok.encode("Question: The man turned on the faucet, therefore")
    assert ids_cont == tok.encode(" the toilet filled.")
    # a sentencepiece-like tokenizer gets no added space
    items = build_multiple_choice(cfg("multiple_choice"), exs, CharTok())
    assert items[0].texts[0][1] == "the toilet filled."
    assert needs_prefix_space(WordTok()) and not needs_prefix_space(CharTok())


def test_context_preamble_and_continuation_are_tokenized_separately():
    tok = WordTok()
    exs = [LMExample("aa", "bb"), LMExample("cc", "dd")]
    items = build_language_modeling(cfg("language_modeling", 1), exs, tok)
    # example 0's only possible shot is 1: preamble "cc dd", context "\naa" (the " " delimiter is stripped)
    assert items[0].texts == [("cc dd\naa", " bb")]
    assert items[0].pairs[0] == (tok.encode("cc dd") + tok.encode("\naa"), tok.encode(" bb"))


def test_schema_prompts_zero_and_few_shot():
    exs = [SchemaExample(("A went", "B went"), "home.", 1),
           SchemaExample(("C ran", "D ran"), "away.", 0)]
    items = build_schema(cfg("schema"), exs, WordTok())
    assert items[0].texts == [("A went", " home."), ("B went", " home.")]
    assert items[0].gold == 1
    items = build_schema(cfg("schema", 1, prelimiter="P: "), exs, WordTok())
    # shot (example 1, gold option 0) then the options with delimiter; prelimiter precedes the delimiter
    assert items[0].texts == [("P: C ran away.P: \nA went", " home."), ("P: C ran away.P: \nB went", " home.")]
    assert items[1].texts[1] == ("P: B went home.P: \nD ran", " away.")


def test_generation_prompt_with_cot_and_budget():
    tok = WordTok()
    exs = [GenExample("Q: 1+1?", "2", (), "one plus one"), GenExample("Q: 2+2?", "4", ("four",), "two plus two")]
    c = cfg("generation_task_with_answers", 1, continuation_delimiter="\nA:", cot_delimiter=" #### ",
            early_stopping_criteria=["\n\n"])
    items = build_generation(c, exs, tok)
    assert items[0].text == "Q: 2+2?\nA:two plus two #### 4\nQ: 1+1?\nA:"
    assert items[0].labels == ["2"] and items[1].labels == ["4", "four"]
    # longest answer: "two plus two #### four" = 5 tokens; + 10 because cot_delimiter is set
    assert items[0].max_new_tokens == 15
    assert items[0].context_ids == tok.encode("Q: 2+2?\nA:two plus two #### 4") + tok.encode("\nQ: 1+1?\nA:")


def test_generation_without_cot_field_uses_plain_answers():
    exs = [GenExample("Who?", "Bob", ("Robert",)), GenExample("Where?", "Paris")]
    items = build_generation(cfg("generation_task_with_answers", 1), exs, WordTok())
    assert items[1].text == "Who? Bob\nWhere?"
    assert items[0].max_new_tokens == 1


def test_truncation_is_from_the_left():
    assert trim_left([1, 2, 3, 4, 5], [8, 9], 4) == [4, 5]
    assert trim_left([1, 2], [9], 4) == [1, 2]
    with pytest.raises(DataError):
        trim_left([1], [1, 2, 3], 2)
    tok = WordTok()
    exs = [MCExample("w1 w2 w3 w4 w5", ("x y",), 0)]
    (ctx, cont), = build_multiple_choice(cfg("multiple_choice", max_seq_len=5), exs, tok)[0].pairs
    assert ctx == tok.encode(" w3 w4 w5") and cont == tok.encode(" x y")
    gen = build_generation(cfg("generation_task_with_answers", max_seq_len=4), [GenExample("a b c d e", "z")], tok)
    assert gen[0].context_ids == tok.encode(" c d e")  # 4 - 1 answer token


def test_categories_partition_the_fewshot_pool():
    exs = [MCExample(f"{c}{i}", ("x", "y"), 0, c) for i in range(3) for c in ("b", "a")]
    items = build_items(cfg("multiple_choice", 1, has_categories=True), exs, WordTok())
    assert [it.category for it in items] == ["a"] * 3 + ["b"] * 3
    for it in items:
        shot = it.texts[0][0].split("\n")[0]
        assert shot.startswith(it.category)  # shots only from the example's own category
    # each category is its own dataset with a fresh Random(1234): same shot pattern in both
    assert [it.texts[0][0].replace("a", "b") for it in items[:3]] == [it.texts[0][0] for it in items[3:]]
    # limit keeps the first rows and builds them exactly as the full run does
    limited = build_items(cfg("multiple_choice", 1, has_categories=True), exs, WordTok(), limit=3)
    assert sorted(it.index for it in limited) == [0, 1, 2]
    full = {it.index: it.texts for it in items}
    assert all(full[it.index] == it.texts for it in limited)


# ------------------------------------------------------------------ loaders


def write(tmp_path, rows, name="t.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_loaders_validate_with_file_and_line(tmp_path):
    ok = write(tmp_path, [{"query": "q", "choices": ["a", "b"], "gold": 1, "category": "c"}, ""])
    assert load_multiple_choice(ok) == [MCExample("q", ("a", "b"), 1, "c")]
    bad = write(tmp_path, [{"query": "q", "choices": ["a"], "gold": 0}, {"query": "q", "choices": ["a"], "gold": 3}])
    with pytest.raises(DataError, match=r"t\.jsonl:2: gold 3 is out of range"):
        load_multiple_choice(bad)
    with pytest.raises(DataError, match=r"t\.jsonl:1: .*lacks 'continuation'"):
        load_examples(write(tmp_path, [{"context": "x"}]), "language_modeling")
    with pytest.raises(DataError, match=r"t\.jsonl:2: invalid JSON"):
        load_examples(write(tmp_path, [{"context": "x", "continuation": "y"}, "{oops"]), "language_modeling")
    with pytest.raises(DataError, match=r"t\.jsonl:1: 'context_options' must be list"):
        load_examples(write(tmp_path, [{"context_options": "x", "continuation": "y", "gold": 0}]), "schema")
    gen = load_generation(write(tmp_path, [{"context": "c", "answer": "a"}]))  # aliases optional
    assert gen == [GenExample("c", "a", (), None)]
    with pytest.raises(ConfigError):
        load_examples(ok, "code_evaluation")


def test_task_config_from_yaml_entry(shared_data):
    import yaml

    tasks = yaml.safe_load((shared_data / "eval/llm-foundry-yamls/tasks_v0.3.yaml").read_text())["icl_tasks"]
    by = {t["label"]: t for t in tasks}
    svamp = TaskConfig.from_yaml_entry(by["svamp"], data_root=shared_data / "eval")
    assert svamp.prelimiter == "Question: " and svamp.cot_delimiter == "The answer is "
    assert svamp.stop_strings == ("\n\n", "Question:") and svamp.do_normalization is False
    assert svamp.num_fewshot == 5 and svamp.dataset_uri.endswith("eval/local_data/symbolic_problem_solving/svamp.jsonl")
    arc = TaskConfig.from_yaml_entry(by["arc_challenge"], num_fewshot=25)
    assert arc.num_fewshot == 25 and arc.continuation_delimiter == "\nAnswer: " and arc.example_delimiter == "\n"
    copa = TaskConfig.from_yaml_entry(by["copa"])
    assert copa.continuation_delimiter == " " and copa.fewshot_random_seed == 1234 and copa.max_seq_len == 2048
    with pytest.raises(ConfigError):
        TaskConfig(label="x", dataset_uri="-", icl_task_type="nope")


# ------------------------------------------------------------------ over-long items


def test_items_whose_continuation_fills_the_context_are_skipped_and_counted():
    """Contexts are left-truncated as LLM-Foundry does; a choice that alone fills max_seq_len has no
    LLM-Foundry rule (it raises), so its whole question is skipped and reported; the few-shot
    generator still advances, so the other items are exactly what a longer context would give them."""
    long_answer = " ".join(f"w{k}" for k in range(12))
    exs = [MCExample(f"q{i} is", ("yes", long_answer if i == 1 else "no"), 0) for i in range(4)]
    short, wide = cfg("multiple_choice", 2, max_seq_len=10), cfg("multiple_choice", 2, max_seq_len=1000)
    tok = WordTok()
    with pytest.raises(DataError, match="continuation of 12 tokens does not fit in max_seq_len 10"):
        build_items(short, exs, tok)
    skipped: list[int] = []
    items = build_items(short, exs, tok, skipped=skipped)
    assert skipped == [1] and [it.index for it in items] == [0, 2, 3]
    full = {it.index: it for it in build_items(wide, exs, tok)}
    for it in items:
        for (ctx, cont), (ctx_full, cont_full) in zip(it.pairs, full[it.index].pairs):
            assert cont == cont_full and len(ctx) + len(cont) <= 10
            assert ctx == ctx_full[-len(ctx):]  # left-truncated, never cut elsewhere


def test_skipped_indices_are_positions_in_the_file_across_categories():
    exs = [LMExample(f"c{i}", " ".join(["x"] * (20 if i in (2, 3) else 1)), category="ab"[i % 2]) for i in range(6)]
    skipped: list[int] = []
    items = build_items(cfg("language_modeling", 0, max_seq_len=8, has_categories=True), exs, WordTok(),
                        skipped=skipped)
    assert sorted(skipped) == [2, 3] and sorted(it.index for it in items) == [0, 1, 4, 5]
