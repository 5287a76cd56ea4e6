"""Everything in a recipe and on the command line is checked before work starts: parameter
ranges and cross-parameter rules (shown by `dcbench steps NAME`), global steps' parameters and
memory needs, step order, duplicate and unknown keys, YAML alias bombs, and CLI numbers."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from dcbench.baselines.recipe import MAX_RECIPE_NODES, load_recipe, parse_recipe
from dcbench.baselines.registry import Range, all_steps, get
from dcbench.errors import ConfigError

NAN = float("nan")


def parse(*steps):
    return parse_recipe({"steps": list(steps)}, source="t.yaml", text="", default_name="t")


def dcbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dcbench.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("step, value, accepted", [
    ({"func": "bff_dedup", "fp_rate": 0}, "0.0", r"in \(0, 1\)"),
    ({"func": "bff_dedup", "fp_rate": 2}, "2.0", r"in \(0, 1\)"),
    ({"func": "bff_dedup", "expected_ngram_count": 0}, "0", ">= 1"),
    ({"func": "bff_dedup", "batch_size": 0}, "0", ">= 1"),
    ({"func": "minhash_dedup", "num_perm": 0}, "0", ">= 1"),
    ({"func": "minhash_dedup", "num_buckets": 0}, "0", ">= 1"),
    ({"func": "exact_dedup", "num_buckets": 0}, "0", ">= 1"),
    ({"func": "top_fraction_filter", "key": "s", "fraction": 0}, "0.0", r"in \(0, 1\]"),
    ({"func": "page_length_filter", "min_length": -1}, "-1", ">= 0"),
    ({"func": "symbol_ratio_filter", "max_symbol_to_word_ratio": -0.1}, "-0.1", ">= 0"),
    ({"func": "bullet_count_filter", "max_bullet_start_ratio": 1.5}, "1.5", r"in \[0, 1\]"),
    ({"func": "uppercase_ratio_line_modifier", "max_ratio": -1}, "-1", r"in \[0, 1\]"),
])
def test_a_value_out_of_range_names_step_parameter_and_range(step, value, accepted):
    param = next(k for k in step if k not in ("func", "key"))
    expected = rf"step '{step['func']}' parameter '{param}' must be {accepted}, got {value}"
    with pytest.raises(ConfigError, match=expected):
        parse(step)


def test_nan_and_a_language_threshold_above_one_are_refused():
    enricher = {"func": "detect_lang_whole_page_enricher"}
    with pytest.raises(ConfigError, match=r"'threshold' must be in \[0, 1\], got 7.5"):
        parse(enricher, {"func": "language_filter", "threshold": 7.5})
    with pytest.raises(ConfigError, match="'threshold' must be"):
        parse(enricher, {"func": "language_filter", "threshold": NAN})
    with pytest.raises(ConfigError, match="'filtering_threshold' must be"):
        parse({"func": "bff_dedup", "filtering_threshold": NAN})


def test_cross_parameter_rules():
    with pytest.raises(ConfigError, match=r"'page_length_filter' needs min_length <= max_length, got min_length=50, "
                                          r"max_length=10"):
        parse({"func": "page_length_filter", "min_length": 50, "max_length": 10})
    with pytest.raises(ConfigError, match="'word_length_filter' needs min_length <= max_length"):
        parse({"func": "word_length_filter", "min_length": 3, "max_length": 2})
    with pytest.raises(ConfigError, match="'bff_dedup' needs scope 'shard' with partitions 1"):
        parse({"func": "bff_dedup", "scope": "shard", "partitions": 2})


def test_a_bloom_filter_that_cannot_fit_is_refused_up_front_with_the_figure():
    with pytest.raises(ConfigError, match=r"step 'bff_dedup': .*10,000,000,000,000,000 n-grams .*needs .*[TP]iB "
                                          r"\([\d,]+ bytes\) of memory but only"):
        parse({"func": "bff_dedup", "expected_ngram_count": 10**16})
    parse({"func": "bff_dedup", "expected_ngram_count": 10**6})  # 1.2 MB fits


def test_valid_edges_and_the_shipped_recipes_still_load():
    parse({"func": "page_length_filter", "min_length": 0, "max_length": 0},
          {"func": "bff_dedup", "fp_rate": 1e-9, "filtering_threshold": 1},
          {"func": "top_fraction_filter", "key": "s", "fraction": 1})
    for name in ("dclm_baseline", "refinedweb", "prox"):
        load_recipe(f"baselines/recipes/{name}.yaml")


def test_ranges_are_declared_on_every_step_that_takes_numbers():
    # any finite score; a seed that must stay null (DCLM); the bounded ones are checked above
    unbounded = {("quality_filter", "threshold"), ("detect_lang_whole_page_enricher", "seed")}
    missing = [(s.name, p.name) for s in all_steps().values() if s.builtin for p in s.params.values()
               if p.annotation in (int, float, int | float, int | None, float | None, int | float | None)
               and p.range is None and p.annotation is not bool and (s.name, p.name) not in unbounded]
    assert missing == [], missing
    assert "1" in Range(1, None).describe() and 0.5 in Range(0, 1) and NAN not in Range(None, None)


def test_dcbench_steps_shows_ranges_and_rules():
    out = dcbench("steps", "page_length_filter")
    assert out.returncode == 0, out.stderr
    assert "min_length: int or float = 1  (accepted: >= 0)" in out.stdout
    assert "rules:\n  min_length <= max_length" in out.stdout


def test_language_filter_needs_an_enricher_before_it():
    with pytest.raises(ConfigError, match="step 01 language_filter reads the language id .*no "
                                          "detect_lang_whole_page_enricher before it"):
        parse({"func": "language_filter"})
    with pytest.raises(ConfigError, match="before it"):  # after it does not count
        parse({"func": "language_filter"}, {"func": "detect_lang_whole_page_enricher"})
    with pytest.raises(ConfigError, match="'lid'"):  # nor one that writes another key
        parse({"func": "detect_lang_whole_page_enricher"}, {"func": "language_filter", "key": "lid"})
    parse({"func": "detect_lang_whole_page_enricher", "key_prefix": "lid"},
          {"func": "language_filter", "key": "lid_fasttext"})


def test_unknown_underscore_keys_are_refused_but_dclm_aggregate_is_ignored():
    with pytest.raises(ConfigError, match=r"unknown keys \['_threshold'\]; .*\['_aggregate'\]"):
        parse({"func": "move_url_modifier", "_threshold": 3})
    assert parse({"func": "move_url_modifier", "_aggregate": {"x": 1}}).steps[0].params == {}


def test_duplicate_yaml_keys_are_refused(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("steps:\n  - func: page_length_filter\n    min_length: 5\n    min_length: 50\n")
    with pytest.raises(ConfigError, match="duplicate key 'min_length'"):
        load_recipe(path)
    merged = tmp_path / "merge.yaml"  # YAML merge keys may still be overridden
    merged.write_text("base: &b {func: page_length_filter, min_length: 5}\n"
                      "steps:\n  - <<: *b\n    min_length: 7\n")
    with pytest.raises(ConfigError, match="unknown recipe keys"):  # `base` is not a recipe key; merge itself parses
        load_recipe(merged)


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path):
    lines = ['l0: &l0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    bomb = "\n".join(lines) + "\nsteps:\n  - func: move_url_modifier\n    _aggregate: *l8\n"
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb)
    assert len(bomb) < 1000  # 9**9 = 387 million strings once expanded
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=f"more than {MAX_RECIPE_NODES:,} values once its YAML aliases"):
        load_recipe(path)
    assert time.perf_counter() - start < 5
    path.write_text("a: &a [*a]\nsteps: [move_url_modifier]\n")  # a self-reference is bounded too
    with pytest.raises(ConfigError, match="YAML aliases"):
        load_recipe(path)


def test_an_oversized_recipe_is_refused(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("description: " + "x" * (2 << 20) + "\nsteps: [move_url_modifier]\n")
    with pytest.raises(ConfigError, match="a recipe is at most"):
        load_recipe(path)


PROCESS = ["process", "r.yaml", "--pool", "p", "--out", "o"]


@pytest.mark.parametrize("args, message", [
    ([*PROCESS, "--max-retries", "-1"], "--max-retries: expected an integer >= 0"),
    ([*PROCESS, "--max-quarantine", "nan"], "--max-quarantine: expected a number in [0, 1], got 'nan'"),
    ([*PROCESS, "--max-quarantine", "1.5"], "--max-quarantine: expected a number in"),
    ([*PROCESS, "--workers", "0"], "--workers: expected an integer >= 1"),
    (["quality", "train", "a", "b", "-o", "m.bin", "--lr", "inf"], "--lr: expected a finite number > 0"),
    (["train", "--tier", "t", "--data", "d", "--out", "o", "--max-steps", "0"],
     "--max-steps: expected an integer >= 1"),
    (["tokenize", "d", "-o", "o", "--tier", "t", "--workers", "0"], "--workers: expected an integer >= 1"),
    (["eval", "run", "m", "--suite", "toy", "--batch-size", "0"], "--batch-size: expected an integer >= 1"),
    (["pool", "toy", "--docs", "0"], "--docs: expected an integer >= 1"),
    (["pool", "download", "m.json", "--workers", "-2"], "--workers: expected an integer >= 1"),
    (["reproduce", "baseline", "--max-steps", "-5"], "--max-steps: expected an integer >= 1"),
])
def test_cli_numbers_are_validated(args, message):
    out = dcbench(*args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert message in out.stderr
