"""Researchers' own steps: a plugin file given to `dcbench process --plugin` runs
in the Ray workers (its source travels with the task), is validated like a
built-in step, and its source digest is part of the recipe id; an installed
package registers steps through the `dcbench.steps` entry point group."""

from __future__ import annotations

import hashlib
import json
import os
import textwrap
from pathlib import Path

import pytest

from dcbench.baselines.plugins import unload_plugin
from dcbench.baselines.recipe import load_recipe, parse_recipe
from dcbench.baselines.registry import all_steps, get, load_entry_points
from dcbench.cli import main
from dcbench.errors import ConfigError
from dcbench.pools.toy import build_toy_pool
from dcbench.shards import read_shard

PLUGIN = textwrap.dedent('''
    """Two steps of a researcher's own."""
    import os

    from dcbench.baselines.registry import step


    @step("filter", targets=("numeric_lines",))
    def digit_share_filter(*, max_share: float = 0.05):
        """Drop pages where more than `max_share` of the characters are digits."""
        def keep(page):
            text = page["text"]
            return [page] if sum(c.isdigit() for c in text) <= max_share * max(len(text), 1) else []
        return keep


    @step("enricher")
    def worker_pid_enricher(*, key: str = "pid"):
        """Record which process ran the page."""
        def enrich(page):
            page[key] = os.getpid()
            return [page]
        return enrich
''')

RECIPE = """\
name: mine
steps:
  - func: digit_share_filter
    max_share: 0.05
  - func: worker_pid_enricher
"""


@pytest.fixture
def plugin_file(tmp_path):
    path = tmp_path / "my_steps.py"
    path.write_text(PLUGIN)
    yield path
    unload_plugin("dcbench_plugin_my_steps")


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    out = tmp_path_factory.mktemp("pool")
    build_toy_pool(str(out), n_docs=300, n_shards=3, seed=11)
    return out


def digit_share(text: str) -> float:
    return sum(c.isdigit() for c in text) / max(len(text), 1)


def test_a_plugin_file_runs_through_dcbench_process_on_ray(plugin_file, pool, tmp_path, ray_session, capsys):
    recipe = tmp_path / "mine.yaml"
    recipe.write_text(RECIPE)
    out = tmp_path / "run"
    code = main(["process", str(recipe), "--plugin", str(plugin_file), "--pool", str(pool), "--out", str(out),
                 "--workers", "2", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "plugin" in captured.err and "digit_share_filter" in captured.err  # the user sees what was loaded

    docs = [d for p in sorted(pool.glob("*.jsonl*")) for d in read_shard(str(p))]
    expected = [d for d in docs if digit_share(d["text"]) <= 0.05]
    kept = [d for p in sorted((out / "data").iterdir()) for d in read_shard(str(p))]
    assert 0 < len(kept) == len(expected) < len(docs)
    # The steps ran in Ray's worker processes, which received the plugin with the task.
    assert all(d["pid"] != os.getpid() for d in kept)

    manifest = json.loads((out / "manifest.json").read_text())
    (record,) = manifest["extra"]["recipe"]["plugins"]
    assert record["sha256"] == hashlib.sha256(PLUGIN.encode()).hexdigest()
    stats = json.loads((out / "stats.json").read_text())
    assert stats["steps"][0]["removed"] == len(docs) - len(expected)


def test_the_plugin_source_is_part_of_the_recipe_id(plugin_file, tmp_path):
    recipe = tmp_path / "mine.yaml"
    recipe.write_text(RECIPE)
    first = load_recipe(recipe, plugins=(str(plugin_file),))
    assert load_recipe(recipe, plugins=(str(plugin_file),)).id == first.id  # loading again changes nothing

    plugin_file.write_text(PLUGIN.replace("<= max_share", "< max_share"))  # same parameters, other code
    edited = load_recipe(recipe, plugins=(str(plugin_file),))
    assert edited.id != first.id
    assert edited.plugins[0].digest == hashlib.sha256(plugin_file.read_bytes()).hexdigest()


def test_plugin_steps_are_validated_like_built_in_ones(plugin_file, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - func: digit_share_filter\n    max_shares: 0.1\n")
    assert main(["process", str(bad), "--plugin", str(plugin_file), "--pool", "p", "--out", "o"]) == 2
    assert "has no parameter 'max_shares'; accepted parameters: max_share" in capsys.readouterr().err
    bad.write_text("steps:\n  - func: digit_share_filter\n    max_share: lots\n")
    assert main(["process", str(bad), "--plugin", str(plugin_file), "--pool", "p", "--out", "o"]) == 2
    assert "parameter 'max_share' must be float, got 'lots'" in capsys.readouterr().err
    # Without the plugin the step is unknown, and `dcbench steps --plugin` lists it.
    assert main(["steps", "digit_share_filter", "--plugin", str(plugin_file)]) == 0
    shown = capsys.readouterr().out
    assert "max_share: float = 0.05" in shown and "from plugin dcbench_plugin_my_steps" in shown


@pytest.mark.parametrize("plugin, message", [
    ("no_such_plugin_module", "--plugin no_such_plugin_module: no module named 'no_such_plugin_module'"),
    ("missing/steps.py", "--plugin missing/steps.py: cannot read the plugin file"),
])
def test_a_plugin_that_cannot_load_is_a_clear_error(plugin, message, tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("steps:\n  - func: page_length_filter\n    min_length: 5\n")
    assert main(["process", str(recipe), "--plugin", plugin, "--pool", "p", "--out", "o"]) == 2
    assert message in capsys.readouterr().err


def test_a_plugin_file_that_raises_or_clashes_names_itself(tmp_path, capsys):
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('half-written')\n")
    with pytest.raises(ConfigError, match=r"broken.py: running the plugin failed: RuntimeError: half-written"):
        load_recipe(_recipe(tmp_path), plugins=(str(broken),))
    clash = tmp_path / "clash.py"
    clash.write_text("from dcbench.baselines.registry import step\n\n@step('filter')\n"
                     "def page_length_filter(*, n: int = 1):\n    return lambda p: [p]\n")
    with pytest.raises(ConfigError, match=r"step 'page_length_filter' registered twice"):
        load_recipe(_recipe(tmp_path), plugins=(str(clash),))
    assert get("page_length_filter").builtin  # the built-in step is untouched


def test_a_recipe_names_plugins_by_module_never_by_file(tmp_path):
    with pytest.raises(ConfigError, match=r"names plugins by module only.*--plugin steps.py"):
        parse_recipe({"plugins": ["steps.py"], "steps": ["page_length_filter"]}, source="r.yaml", text="",
                     default_name="r")


def test_an_installed_package_registers_steps_through_the_entry_point_group(tmp_path, monkeypatch):
    # A real installed distribution, as pip leaves it: the package and its dist-info with entry_points.txt.
    site = tmp_path / "site"
    (site / "acme_steps").mkdir(parents=True)
    (site / "acme_steps" / "__init__.py").write_text(
        "from dcbench.baselines.registry import step\n\n"
        "@step('filter')\ndef acme_short_filter(*, min_chars: int = 10):\n"
        "    \"\"\"Drop pages shorter than `min_chars` characters.\"\"\"\n"
        "    return lambda page: [page] if len(page['text']) >= min_chars else []\n")
    info = site / "acme_steps-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-steps\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[dcbench.steps]\nacme = acme_steps\n")
    monkeypatch.syspath_prepend(str(site))
    try:
        assert load_entry_points() == ["acme_steps"]
        assert all_steps()["acme_short_filter"].module == "acme_steps"
        recipe = parse_recipe({"steps": [{"func": "acme_short_filter", "min_chars": 50}]}, source="r", text="",
                              default_name="r")
        (plugin,) = recipe.plugins
        assert (plugin.module, len(plugin.digest)) == ("acme_steps", 64)
        assert recipe.build()[0][1]({"text": "x" * 60}) != []
    finally:
        unload_plugin("acme_steps")


def _recipe(tmp_path: Path) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text("steps:\n  - func: page_length_filter\n    min_length: 5\n")
    return path
