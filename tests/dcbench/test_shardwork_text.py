"""Text shapes through the chain: a page's text is a str, except between steps
registered with `any_text` (DCLM's split_lines_modifier makes it a list of
lines, join_lines_modifier joins it back; before key_name_modifier it may be
absent). A page whose text is not a str is quarantined before any other step,
and when it leaves the recipe's last step so, with a reason naming the step
to add; every step still conserves its pages."""

from __future__ import annotations

import json

import pytest

from dcbench.baselines.recipe import parse_recipe
from dcbench.contracts import StepKind
from dcbench.corpusstats import MEASURES, ShardCorpus
from dcbench.runner import run
from dcbench.shards import read_shard, records_sha256, write_shard
from dcbench.shardwork import run_chain, text_bytes
from dcbench.stepstats import StepStats, sample


class Step:
    def __init__(self, label: str, kind: StepKind = StepKind.MODIFIER, any_text: bool = False):
        self.label, self.kind, self.targets, self.any_text = label, kind, (), any_text


def split(page):
    return [{**page, "text": page["text"].split("\n")}] if page["text"] else []


def join(page):
    text = page["text"]
    return [page] if isinstance(text, str) else [{**page, "text": "\n".join(text)}] if text else []


def rename(page):
    page = dict(page)
    if "content" in page:
        page["text"] = page.pop("content")
    return [page]


def upper(page):
    return [{**page, "text": page["text"].upper()}]


SPLIT = (Step("01 split_lines_modifier", any_text=True), split)
JOIN = (Step("03 join_lines_modifier", any_text=True), join)
UPPER = (Step("02 upper"), upper)


def through(chain, docs, final=True):
    steps = [StepStats.of(info) for info, _ in chain]
    quarantine: list[dict] = []
    kept = [p for d in docs for p in run_chain(d, chain, steps, quarantine, "s", final=final)]
    for st in steps:  # every step conserves its pages
        assert st.pages_in == st.kept + st.removed + st.quarantined, st.name
    return kept, steps, quarantine


def test_lines_pass_the_steps_that_handle_them_and_come_back_as_a_string():
    chain = [SPLIT, (Step("02 keep", any_text=True), lambda p: [p]), JOIN]
    kept, steps, quarantine = through(chain, [{"text": "a\nb"}, {"text": ""}])
    assert kept == [{"text": "a\nb"}] and not quarantine
    assert [s.removed for s in steps] == [1, 0, 0]


def test_a_list_before_a_step_that_needs_a_string_is_quarantined_naming_join_lines_modifier():
    kept, steps, quarantine = through([SPLIT, UPPER, JOIN], [{"text": "a\nb"}, {"text": "c"}])
    assert kept == [] and [s.quarantined for s in steps] == [0, 2, 0]
    (entry, _) = quarantine
    assert entry["step"] == "02 upper"
    assert entry["reason"] == ("'text' is a list of lines, not a string: step 02 upper needs a string; "
                               "add join_lines_modifier before it")
    assert json.loads(entry["record"]) == {"text": ["a", "b"]}  # the page as it reached the step


def test_a_missing_text_names_key_name_modifier_and_a_step_handling_it_is_reached():
    chain = [(Step("01 move_url_modifier", any_text=True), lambda p: [p]), UPPER]
    kept, steps, quarantine = through(chain, [{"content": "x", "url": "u"}, {"text": 3}, {"text": "ok"}])
    assert kept == [{"text": "OK"}]
    assert steps[0].kept == 3 and steps[1].quarantined == 2
    reasons = [q["reason"] for q in quarantine]
    assert reasons[0] == ("missing 'text' field: step 02 upper needs a string; add key_name_modifier (which "
                          "renames the key holding the text) before it")
    assert reasons[1] == "'text' is int, not a string: step 02 upper needs a string"


def test_key_name_modifier_first_makes_content_records_usable():
    chain = [(Step("01 key_name_modifier", any_text=True), rename), UPPER]
    kept, _, quarantine = through(chain, [{"content": "x"}])
    assert kept == [{"text": "X"}] and not quarantine


def test_a_recipe_ending_with_lines_quarantines_them_at_its_last_step():
    kept, steps, quarantine = through([SPLIT], [{"text": "a\nb"}])
    assert kept == [] and steps[0].quarantined == 1 and steps[0].pages_out == 0
    assert quarantine[0]["step"] == "01 split_lines_modifier"
    assert quarantine[0]["reason"] == ("'text' is a list of lines, not a string after the recipe's last step "
                                       "01 split_lines_modifier; a recipe's output text is a string: add "
                                       "join_lines_modifier")
    # A stage that does not end the recipe hands the lines on to the next stage.
    kept, steps, quarantine = through([SPLIT], [{"text": "a\nb"}], final=False)
    assert kept == [{"text": ["a", "b"]}] and not quarantine


def test_text_bytes_stats_and_samples_accept_every_shape():
    assert text_bytes("é") == 2 and text_bytes(["é", "ab", 5]) == 4 and text_bytes(None) == 0
    words = MEASURES[0]
    assert words.value({"text": ["a b", "c"]}) == 3.0 and words.value({}) is None
    corpus = ShardCorpus.empty()
    corpus.enter({"text": ["a b"]})
    corpus.leave({"content": "x"})
    assert sample({"text": ["a", "b"]}, None)["text"] == "a\nb" and sample({"text": None}, None)["chars"] == 0


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "parquet"])
def test_a_stage_output_mixing_strings_and_lines_round_trips(tmp_path, fmt):
    docs = [{"text": "plain", "url": "a"}, {"text": ["l1", "", "l3"], "url": "b"}, {"text": [], "url": "c"},
            {"text": "ünï\u00a0code", "url": "d"}]
    info = write_shard(f"{tmp_path}/s.{fmt}", docs)
    assert list(read_shard(f"{tmp_path}/s.{fmt}", require_text=False)) == docs
    only_lines = [{"text": ["x", "y"]}, {"text": ["z"]}]
    write_shard(f"{tmp_path}/l.{fmt}", only_lines)
    assert list(read_shard(f"{tmp_path}/l.{fmt}", require_text=False)) == only_lines
    if fmt == "parquet":
        assert records_sha256(f"{tmp_path}/s.{fmt}") == info.records


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_lines_cross_a_global_step_in_stage_outputs_of_either_format(tmp_path, ray_session, fmt):
    """split_lines -> exact_dedup over lines -> join_lines: the stage before the global step writes
    lists of lines (and strings, for a page split_lines left alone), the global step reads them back."""
    pool = tmp_path / "pool"
    pool.mkdir()
    write_shard(str(pool / "a.jsonl"), [{"text": "Menu\nalpha one"}, {"text": "menu \nbeta two"}, {"text": ""}])
    write_shard(str(pool / "b.jsonl"), [{"text": "MENU"}, {"text": "gamma\nalpha one"}, {"content": "x"}])
    recipe = parse_recipe({"name": "lines", "steps": [
        {"func": "split_lines_modifier"},
        {"func": "exact_dedup", "normalize": "normalize_whitespace_and_lowercase"},
        {"func": "join_lines_modifier"}]}, source="t", text="", default_name="t")
    result = run(recipe, str(pool), str(tmp_path / "out"), workers=2, fmt=fmt, max_quarantine=1.0)
    stage0 = [d for f in sorted((tmp_path / "out" / "stages" / "00" / "data").iterdir())
              for d in read_shard(str(f), require_text=False)]
    assert {json.dumps(d["text"]) for d in stage0} == {'["Menu", "alpha one"]', '["menu ", "beta two"]', '["MENU"]',
                                                      '["gamma", "alpha one"]'}
    out = [d["text"] for f in sorted((tmp_path / "out" / "data").iterdir()) for d in read_shard(str(f))]
    assert out == ["Menu\nalpha one", "beta two", "gamma"]
    steps = {s["name"]: s for s in result.stats["steps"]}
    assert (steps["02 exact_dedup"]["removed"], steps["02 exact_dedup"]["modified"]) == (1, 2)
    assert steps["01 split_lines_modifier"]["removed"] == 1  # the empty page, as DCLM drops it
    assert result.stats["totals"]["quarantined"] == 1  # the page with no text, at the step that needs one
