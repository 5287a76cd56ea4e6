"""Recipes: shipped ones load, DCLM's YAML loads unchanged, and every mistake
fails before work starts with a message naming the step and the parameter."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dcbench.baselines.recipe import load_recipe, parse_recipe
from dcbench.baselines.registry import KINDS, all_steps, get, step
from dcbench.cli import main
from dcbench.contracts import GlobalStep, StepKind
from dcbench.errors import ConfigError
from dcbench.runner import run

RECIPES = Path(__file__).resolve().parents[2] / "baselines" / "recipes"


def parse(data):
    return parse_recipe(data, source="t.yaml", text="", default_name="t")


def test_shipped_recipes_load_and_build():
    dclm = load_recipe(RECIPES / "dclm_baseline.yaml")
    rw = load_recipe(RECIPES / "refinedweb.yaml")
    assert len(dclm.steps) == 29 and len(rw.steps) == 27
    assert [s.func for s in dclm.steps[26:]] == ["bff_dedup", "classify_fasttext_hq_prob_enricher",
                                                  "top_fraction_filter"]
    assert len(dclm.before_first_global().build()) == 26 and len(rw.build()) == 27
    # The quality model path names the pool's directory, filled in per run.
    filled = load_recipe(RECIPES / "dclm_baseline.yaml", variables={"pool": "/data/pool"})
    assert filled.steps[27].params["model_filename"] == "/data/pool/quality/fasttext_hq_vs_pool.bin"


def test_dclm_yaml_runs_unchanged(shared_data):
    dclm_yaml = shared_data / "reference" / "dclm_baselines_configs" / "dclm_baseline_refinedweb.yaml"
    theirs = load_recipe(dclm_yaml, source_name="cc")
    ours = load_recipe(RECIPES / "dclm_baseline.yaml").before_first_global()
    assert [s.func for s in theirs.steps] == [s.func for s in ours.steps]
    # Same parameters wherever they do not name a file.
    for a, b in zip(theirs.steps, ours.steps):
        strip = lambda p: {k: v for k, v in p.items() if k not in ("banlist_from_fname", "if_missing")}
        assert strip(a.params) == strip(b.params), a.func


def test_every_registered_step_has_help_and_a_kind():
    steps = all_steps()
    assert len(steps) >= 21  # the distinct functions behind DCLM's 26 heuristic steps
    for spec in steps.values():
        assert spec.summary, f"{spec.name} has no one-line help"
        assert isinstance(spec.kind, StepKind)
    assert KINDS == ("filter", "modifier", "enricher", "global") == tuple(StepKind)
    with pytest.raises(ValueError, match="kind must be one of"):
        step("mapper")


def test_a_recipe_gives_the_runner_kinds_targets_and_global_steps():
    dclm = load_recipe(RECIPES / "dclm_baseline.yaml", variables={"pool": "/nowhere"})
    assert [s.kind for s in dclm.steps].count(StepKind.GLOBAL) == 2
    bff = dclm.steps[26]
    assert (bff.label, bff.kind) == ("27 bff_dedup", StepKind.GLOBAL)
    assert bff.targets == ("exact_duplicate", "near_duplicate")
    built = parse({"steps": [{"func": "exact_dedup"}, {"func": "page_length_filter", "min_length": 3}]}).build()
    assert isinstance(built[0][1], GlobalStep) and not isinstance(built[1][1], GlobalStep)


def test_unknown_step_suggests_and_points_to_the_list():
    with pytest.raises(ConfigError, match=r"t.yaml: step 1: unknown step 'page_length_filtr'.*dcbench steps"):
        parse({"steps": [{"func": "page_length_filtr"}]})


def test_unknown_parameter_lists_the_accepted_ones():
    with pytest.raises(ConfigError) as e:
        parse({"steps": [{"func": "page_length_filter", "min_lenght": 50}]})
    msg = str(e.value)
    assert "step 'page_length_filter'" in msg and "'min_lenght'" in msg and "min_length" in msg


def test_wrong_type_and_wrong_choice():
    with pytest.raises(ConfigError, match=r"parameter 'min_length' must be .*got 'fifty'"):
        parse({"steps": [{"func": "page_length_filter", "min_length": "fifty"}]})
    with pytest.raises(ConfigError, match=r"parameter 'location' must be one of"):
        parse({"steps": [{"func": "substring_line_modifier", "banlist": "x", "location": "middle"}]})
    with pytest.raises(ConfigError, match="a step is a mapping with a 'func'"):
        parse({"steps": [["page_length_filter"]]})


def test_ints_are_accepted_where_floats_are_asked():
    r = parse({"steps": [{"func": "ellipsis_count_filter", "max_ellipsis_end_ratio": 1}]})
    value = r.steps[0].params["max_ellipsis_end_ratio"]
    assert value == 1.0 and isinstance(value, float)


def test_dclm_markers_are_ignored_and_sources_are_chosen():
    data = [{"source": "cc", "steps": ["commit", {"func": "move_url_modifier", "_aggregate": {"x": 1}}]},
            {"source": "other", "steps": [{"func": "newline_removal_modifier"}]}]
    with pytest.raises(ConfigError, match="choose one with --source-name"):
        parse(data)
    r = parse_recipe(data, source="t", text="", default_name="t", source_name="cc")
    assert [(s.func, s.params) for s in r.steps] == [("move_url_modifier", {})]


def test_yaml_is_read_safely(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("steps:\n  - !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_recipe(path)


def test_recipe_id_follows_what_it_does_not_how_it_is_written():
    a = parse({"steps": [{"func": "newline_removal_modifier", "max_consecutive": 2}]})
    b = parse({"name": "other", "steps": [{"func": "newline_removal_modifier", "max_consecutive": 2}]})
    c = parse({"steps": [{"func": "newline_removal_modifier", "max_consecutive": 3}]})
    assert a.id == b.id != c.id


def test_missing_resource_fails_at_build_time(tmp_path):
    r = parse({"steps": [{"func": "url_substring_filter", "banlist_from_fname": str(tmp_path / "none.txt")}]})
    with pytest.raises(ConfigError, match="url_substring_filter"):
        r.build()


def test_registry_lookup_message():
    with pytest.raises(ConfigError, match="unknown step 'nope'"):
        get("nope")


# ------------------------------------------------------------------ content ids: files by digest, never by path


def test_file_parameters_enter_the_id_by_content_not_path(tmp_path):
    def lists(path: str):
        return parse({"steps": [{"func": "url_substring_filter", "banlist_from_fname": path}]})

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d in ("a", "b"):
        (tmp_path / d / "ban.txt").write_text("casino\n")
    assert lists(str(tmp_path / "a" / "ban.txt")).id == lists(str(tmp_path / "b" / "ban.txt")).id
    (tmp_path / "b" / "ban.txt").write_text("casino\npoker\n")
    assert lists(str(tmp_path / "a" / "ban.txt")).id != lists(str(tmp_path / "b" / "ban.txt")).id
    # DCLM's path and our stem name the same shipped list; a bloom filter's state folder is no content.
    tlds = [parse({"steps": [{"func": "url_removal_modifier", "tlds_filepath": p}]}).id
            for p in ("baselines/mappers/iana_tlds.txt", "iana_tlds")]
    assert tlds[0] == tlds[1] == parse({"steps": ["url_removal_modifier"]}).id
    bff = [parse({"steps": [{"func": "bff_dedup", "bloom_filter_dir": str(tmp_path / d)}]}).id for d in "ab"]
    assert bff[0] == bff[1]


@pytest.fixture(scope="module")
def two_copies(tmp_path_factory):
    """The toy pool with its quality classifier, built once and copied to a second folder."""
    root = tmp_path_factory.mktemp("copies")
    assert main(["pool", "toy", "--out", str(root / "a"), "--docs", "300", "--shards", "2"]) == 0
    shutil.copytree(root / "a", root / "b")
    return root


def test_the_same_pool_in_two_folders_gives_the_same_dataset_id(two_copies, ray_session, tmp_path):
    recipe_yaml = tmp_path / "q.yaml"
    recipe_yaml.write_text("steps:\n  - func: classify_fasttext_hq_prob_enricher\n"
                           "    model_filename: '{pool}/quality/fasttext_hq_vs_pool.bin'\n"
                           "  - func: quality_filter\n    key: fasttext_hq_prob\n    threshold: 0.3\n")

    def process(copy: str, out: str):
        recipe = load_recipe(recipe_yaml, variables={"pool": str(two_copies / copy)})
        return recipe, run(recipe, str(two_copies / copy), str(tmp_path / out), workers=2)

    ra, a = process("a", "out_a")
    rb, b = process("b", "out_b")
    assert ra.to_dict() != rb.to_dict()  # the paths differ ...
    assert (ra.id, a.manifest.id) == (rb.id, b.manifest.id)  # ... the ids do not
    # Another classifier is another recipe, whatever its path.
    model = two_copies / "b" / "quality" / "fasttext_hq_vs_pool.bin"
    model.write_bytes(model.read_bytes() + b"\0")
    rc, c = process("b", "out_c")
    assert rc.id != ra.id and c.manifest.id != a.manifest.id
