"""The walls between stages, as the build enforces them: import-linter's contracts
(.importlinter, run by .ci/lint-imports) keep, a deliberately wrong import breaks
them, the spine contract lists every spine module, no module imports another's
private names, and project modules are imported at the top of a file."""

from __future__ import annotations

import pytest

import ast
import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / ".importlinter"
LINT = REPO / ".ci" / "lint-imports"
STAGES = ("pools", "baselines", "training", "eval", "leaderboard")
NOT_SPINE = {"__init__", "cli"}  # dcbench/cli.py (and the flows package) may import every stage


def project_modules() -> list[tuple[Path, str]]:
    """(file, dotted module name as installed) for every module of the dcbench distribution."""
    out = []
    for folder, package in [(REPO / "dcbench", "dcbench"), *((REPO / s, f"dcbench.{s}") for s in STAGES)]:
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out.append((path, ".".join((package, *parts))))
    return out


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}:{line}"


def lint_env() -> dict[str, str]:
    """The environment's tools (pip, lint-imports) first on PATH, as in CI's activated venv."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def contracts() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    return parser


def test_the_spine_contract_lists_every_spine_module():
    listed = set(contracts()["importlinter:contract:spine"]["source_modules"].split())
    spine = {f"dcbench.{p.stem}" for p in (REPO / "dcbench").glob("*.py") if p.stem not in NOT_SPINE}
    assert spine - listed == set(), "add these spine modules to the spine contract in .importlinter"
    assert listed - spine == set(), "the spine contract lists modules that are gone"


def test_every_stage_has_its_contract():
    sources = {section["source_modules"].strip() for name, section in contracts().items()
               if name.startswith("importlinter:contract:")}
    assert {f"dcbench.{stage}" for stage in STAGES} <= sources


@pytest.mark.slow
def test_the_contracts_keep():
    done = subprocess.run([str(LINT)], capture_output=True, text=True, env=lint_env(), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.slow
def test_a_wrong_import_breaks_its_contract(tmp_path):
    """The same script on a copy of the tree with three imports through the walls."""
    copy = tmp_path / "repo"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".pytest_cache", "runs", "toy_pool", "tests",
        "benchmarks"))
    wrong = {"pools/tiers.py": "import dcbench.training",
             "baselines/text.py": "from dcbench.eval import toy",
             "dcbench/table.py": "from dcbench.pools import tiers"}
    for rel, line in wrong.items():
        with open(copy / rel, "a", encoding="utf-8") as f:
            f.write(f"\n{line}  # deliberately through the wall\n")
    done = subprocess.run([str(copy / ".ci" / "lint-imports")], capture_output=True, text=True, env=lint_env(),
                          timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    for name in ("pools imports the spine and itself only", "baselines imports the spine and itself only",
                 "The spine core imports no stage"):
        assert f"{name} BROKEN" in out, out
    assert "dcbench.pools.tiers -> dcbench.training" in out


# ------------------------------------------------------------------ imports, by reading the code


def _module_aliases(tree: ast.Module, modules: set[str]) -> dict[str, str]:
    """Names bound to project modules: `import dcbench.x as a`, `from dcbench import x as a`."""
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name in modules:
                    bound[a.asname or a.name] = a.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                if f"{node.module}.{a.name}" in modules:
                    bound[a.asname or a.name] = f"{node.module}.{a.name}"
    return bound


def _imported_from(node: ast.ImportFrom, path: Path, module: str) -> str:
    """The absolute module a `from X import ...` reads, relative ones (`from .bloom import`) resolved."""
    if node.level == 0:
        return node.module or ""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
    return f"{base}.{node.module}" if node.module else base


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def private_uses(path: Path, module: str, modules: set[str]) -> list[str]:
    """`from dcbench.x import _name` and `x._name` where x is another project module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        source = _imported_from(node, path, module) if isinstance(node, ast.ImportFrom) else None
        if source in modules and source != module:
            for a in node.names:
                if a.name.startswith("_") and not a.name.startswith("__"):
                    found.append(f"{where(path, node.lineno)}: from {source} import {a.name}")
    aliases = _module_aliases(tree, modules)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            base = _dotted(node.value)
            if base is None:
                continue
            head, _, rest = base.partition(".")
            target = aliases.get(head, head if head == "dcbench" else None)
            target = f"{target}.{rest}" if target and rest else target
            if target in modules and target != module:
                found.append(f"{where(path, node.lineno)}: {base}.{node.attr}")
    return found


@pytest.mark.slow
def test_no_module_uses_another_modules_private_names():
    mods = project_modules()
    names = {m for _, m in mods}
    found = [f for path, module in mods for f in private_uses(path, module, names)]
    assert not found, "private names used across modules (make them public or move the code):\n" + "\n".join(found)


def function_level_imports(path: Path) -> list[str]:
    """Imports of project modules inside a function without a `deferred:` comment (on the import's
    line, or in the block of comments and imports right above it) saying what heavy library they pull in."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    found = []

    def justified(lineno: int) -> bool:
        i = lineno - 1
        while "deferred:" not in lines[i]:
            if i == 0 or not lines[i - 1].strip().startswith(("#", "from ", "import ")):
                return False
            i -= 1
        return True

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if in_function and isinstance(child, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in child.names] if isinstance(child, ast.Import) else [child.module or ""]
                project = (isinstance(child, ast.ImportFrom) and child.level > 0) or \
                    any(n == "dcbench" or n.startswith("dcbench.") for n in names)
                if project and not justified(child.lineno):
                    found.append(f"{where(path, child.lineno)}: {ast.get_source_segment(text, child)}")
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(text), False)
    return found


def test_project_modules_are_imported_at_the_top():
    found = [f for path, _ in project_modules() for f in function_level_imports(path)]
    assert not found, ("project modules imported inside functions (move them to the top, or say with a "
                       "`# deferred: ...` comment which measured import cost the deferral avoids):\n"
                       + "\n".join(found))


def test_the_checks_catch_what_they_look_for(tmp_path):
    """The two readers above, on code that breaks their rules, and on code that keeps them."""
    names = {"dcbench.pools.toy", "dcbench.pools.toy_urls", "dcbench.pools", "dcbench.eval.toy", "dcbench"}
    probe = tmp_path / "toy.py"
    probe.write_text("from dcbench.pools import toy as T\nfrom dcbench.pools.toy import _rng, build\n"
                     "def f():\n    from dcbench.pools.toy import build\n    return T._count(1)\n"
                     "def g():\n    # deferred: pulls torch (~2 s measured)\n    from dcbench.pools import toy\n"
                     "    return toy\n")
    privates = private_uses(probe, "dcbench.eval.toy", names)
    assert [p.split(": ", 1)[1] for p in privates] == ["from dcbench.pools.toy import _rng", "T._count"]
    assert private_uses(probe, "dcbench.pools.toy", names) == []  # a module's own private names are its own
    relative = tmp_path / "relative.py"
    relative.write_text("from .toy_urls import _host\n")
    assert private_uses(relative, "dcbench.pools.toy", names) == [f"{relative}:1: from dcbench.pools.toy_urls import _host"]
    inside = function_level_imports(probe)
    assert len(inside) == 1 and ":4:" in inside[0]  # g's import carries its reason
