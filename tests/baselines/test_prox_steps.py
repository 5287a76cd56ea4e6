"""ProX recipe steps: stored programs through the registry, the shipped recipe
through the runner's chain, metadata, missing programs and the model path."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from dcbench.baselines.prox.chunking import make_chunks, truncate_words
from dcbench.baselines.prox.generate import chunk_program, doc_program
from dcbench.baselines.recipe import load_recipe
from dcbench.baselines.registry import get
from dcbench.errors import ConfigError
from dcbench.shardwork import run_chain
from dcbench.stepstats import StepStats

RECIPE = Path(__file__).resolve().parents[2] / "baselines" / "recipes" / "prox.yaml"
BODY = ["A long article sentence that carries the useful content of the page, line %d." % i for i in range(8)]
TEXT = "\n".join(["Home | Blog | Contact", "Menu"] + BODY + ["Copyright 2024 Example Inc. | Privacy"])


def page(doc: str | None = "keep_doc()", chunk: str | list[str] | None = "keep_chunk()", text: str = TEXT) -> dict:
    p = {"text": text, "url": "https://example.com/a"}
    if doc is not None:
        p["prox_doc_program"] = doc
    if chunk is not None:
        p["prox_chunk_program"] = chunk
    return p


def test_kinds_and_defaults():
    doc, chunk = get("prox_doc"), get("prox_chunk")
    assert doc.kind == "filter" and chunk.kind == "modifier"
    assert {k: p.default for k, p in doc.params.items()} == {
        "model": None, "program_key": "prox_doc_program", "max_input_tokens": 2000, "max_new_tokens": 2000,
        "if_missing": "quarantine", "meta_key": "prox", "device": None}
    assert {k: p.default for k, p in chunk.params.items()} == {
        "model": None, "program_key": "prox_chunk_program", "chunk_tokens": 1500, "max_new_tokens": 256,
        "remove_threshold": 0.95, "min_words": 10, "max_errors": 2, "if_missing": "quarantine",
        "meta_key": "prox", "device": None, "batch_size": 8}


def test_doc_step_drops_on_drop_and_records_the_program():
    keep = get("prox_doc").build({})
    p = page(doc="keep_doc()")
    assert keep(p) == [p] and p["text"] == TEXT
    assert p["prox"] == {"doc_program": "keep_doc()", "doc_source": "stored", "doc_outcome": "kept", "outcome": "kept"}
    assert keep(page(doc="drop_doc()")) == []


def test_chunk_step_refines_and_records_the_outcome():
    refine = get("prox_chunk").build({})
    p = page(chunk="remove_lines(line_start=0, line_end=1)\nremove_lines(10, 10)")
    assert refine(p) == [p] and p["text"] == "\n".join(BODY)
    assert p["prox"] == {"chunk_program": "remove_lines(line_start=0, line_end=1)\nremove_lines(10, 10)",
                         "chunk_source": "stored", "errors": 0, "error_messages": [], "words_before": 124,
                         "words_after": 112, "outcome": "kept"}


def test_chunk_step_accepts_a_list_of_per_chunk_programs():
    refine = get("prox_chunk").build({"program_key": "programs"})
    p = {"text": TEXT, "programs": ["remove_lines(0, 1)", "keep_chunk()", "remove_lines(10, 10)"]}
    assert refine(p) == [p] and p["text"] == "\n".join(BODY)


def test_chunk_step_post_rules_and_their_parameters():
    refine = get("prox_chunk").build({})
    p = page(chunk="remove_lines(0, 1)\nnot python(\nrm -rf /")
    assert refine(p) == [p] and p["text"] == TEXT and p["prox"]["outcome"] == "reverted"
    assert p["prox"]["errors"] == 2 and len(p["prox"]["error_messages"]) == 2
    assert refine(page(chunk="remove_lines(all=True)")) == []
    p = page(chunk="remove_lines(0, 8)")  # the last body line and the footer: 20 of 124 words remain
    assert refine(p) == [p] and (p["prox"]["words_before"], p["prox"]["words_after"]) == (124, 20)
    strict = get("prox_chunk").build({"remove_threshold": 0.8, "max_errors": 1})
    assert strict(page(chunk="remove_lines(0, 8)")) == []
    only_footer = "remove_lines(0, 9)"  # 6 words remain
    assert get("prox_chunk").build({"remove_threshold": 1.0})(page(chunk=only_footer)) == []
    p = page(chunk=only_footer)
    assert get("prox_chunk").build({"remove_threshold": 1.0, "min_words": 5})(p) == [p]
    assert p["prox"]["outcome"] == "kept" and p["text"] == TEXT.split("\n")[-1]
    p = page(chunk="oops(")
    assert strict(p) == [p] and p["prox"]["outcome"] == "reverted"


def test_missing_program_quarantines_by_default_or_keeps_the_page():
    with pytest.raises(ValueError, match="no stored ProX doc program"):
        get("prox_doc").build({})(page(doc=None))
    with pytest.raises(ValueError, match="no stored ProX chunk program"):
        get("prox_chunk").build({})(page(chunk=None))
    p = page(doc=None, chunk=None)
    assert get("prox_doc").build({"if_missing": "keep"})(p) == [p]
    assert get("prox_chunk").build({"if_missing": "keep"})(p) == [p]
    assert p["text"] == TEXT and p["prox"] == {"doc_outcome": "no_program", "outcome": "no_program"}


def test_bad_stored_values_raise():
    with pytest.raises(ValueError, match="must be a program string"):
        get("prox_doc").build({})(page(doc=["keep_doc()"]))
    with pytest.raises(ValueError, match="or a list of them"):
        get("prox_chunk").build({})(page(chunk=3))
    with pytest.raises(ValueError, match="not a mapping"):
        get("prox_chunk").build({})({**page(), "prox": "x"})


@pytest.mark.parametrize("name, params", [
    ("prox_chunk", {"remove_threshold": 1.5}), ("prox_chunk", {"chunk_tokens": 0}),
    ("prox_chunk", {"min_words": -1}), ("prox_chunk", {"if_missing": "skip"}),
    ("prox_doc", {"max_input_tokens": 0}), ("prox_doc", {"model": 3}),
])
def test_bad_parameters_fail_at_build(name, params):
    with pytest.raises(ConfigError):
        get(name).build(params)


@pytest.mark.skipif(importlib.util.find_spec("transformers") is not None, reason="transformers is installed")
@pytest.mark.parametrize("name", ["prox_doc", "prox_chunk"])
def test_a_model_without_transformers_is_a_clear_config_error(name, tmp_path):
    with pytest.raises(ConfigError, match="pip install transformers"):
        get(name).build({"model": str(tmp_path)})


def test_the_shipped_recipe_runs_through_the_runner_chain():
    recipe = load_recipe(RECIPE)
    assert [s.func for s in recipe.steps] == ["prox_doc", "prox_chunk"]
    chain = recipe.build()
    stats = [StepStats.of(cfg) for cfg, _ in chain]
    quarantine: list = []
    docs = [page(doc="drop_doc()"),
            page(chunk="remove_lines(0, 1)\nremove_lines(10, 10)\nnormalize('line ', 'line no. ')"),
            page(),
            page(chunk="remove_lines(all=True)"),
            page(chunk=None)]
    out = [p for d in docs for p in run_chain(d, chain, stats, quarantine, "shard")]
    assert [p["prox"]["outcome"] for p in out] == ["kept", "kept"]
    assert out[0]["text"] == "\n".join(BODY).replace("line ", "line no. ") and out[1]["text"] == TEXT
    doc, chunk = stats
    assert (doc.pages_in, doc.kept, doc.removed) == (5, 4, 1)
    assert (chunk.pages_in, chunk.kept, chunk.removed, chunk.quarantined, chunk.modified) == (4, 2, 1, 1, 1)
    assert len(quarantine) == 1 and "no stored ProX chunk program" in quarantine[0]["reason"]


# ------------------------------------------------ programs from a generator
# A scripted stand-in for the refining model (only the model is replaced):
# it removes the first line of every chunk it is shown, by its [NNN] tag.


class ScriptedModel:
    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def truncate(self, text: str, max_tokens: int) -> str:
        return truncate_words(text, max_tokens)

    def generate(self, bodies: list[str], max_new_tokens: int) -> list[str]:
        self.seen.extend((b, max_new_tokens) for b in bodies)
        return [f"remove_lines({int(m.group(1))}, {int(m.group(1))})" if (m := re.search(r"^\[(\d+)\]", b, re.M))
                else "drop_doc()" for b in bodies]


def test_chunk_programs_from_a_model_use_global_tags_and_join_in_order():
    model = ScriptedModel()
    program = chunk_program(TEXT, model, chunk_tokens=30, max_new_tokens=256)
    firsts = [c.first_line for c in make_chunks(TEXT, 30)]
    assert len(firsts) > 2 and program == "\n".join(f"remove_lines({n}, {n})" for n in firsts)
    assert all(b.startswith("[doc]\n[") and b.endswith("\n[/doc]") and n == 256 for b, n in model.seen)


def test_doc_program_from_a_model_sees_the_raw_text_truncated():
    model = ScriptedModel()
    assert doc_program(TEXT, model, max_input_tokens=6, max_new_tokens=2000) == "drop_doc()"
    assert model.seen == [("Home | Blog | Contact\nMenu", 2000)]
