"""Researchers' own steps: plugin modules that register steps with `@step`.

A plugin is Python code that imports `dcbench.baselines.registry.step` and
registers factories with it, exactly as the built-in steps do (same
signature checks, same `dcbench steps` listing). It reaches dcbench in one of
three ways:

* an installed package declaring an entry point in the `dcbench.steps`
  group (loaded with the built-in steps, see `registry.load_builtin_steps`);
* `dcbench process --plugin MODULE` (an importable module name) or a
  recipe's top-level `plugins: [MODULE, ...]`;
* `dcbench process --plugin FILE.py`: one Python file.

A recipe records, for each plugin its steps come from, the sha256 of the
plugin's source (all `.py` files of its top-level package, or the one file)
in its id, and carries the plugin to the Ray workers: a module is imported
by name there (it must be installed on every node, and a worker whose copy
differs is refused), a file's source travels with the task and is executed
as a module in the worker, so it needs no shared filesystem.
"""

from __future__ import annotations

import hashlib
import importlib
import re
import sys
import types
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dcbench.baselines.registry import BUILTIN_PREFIX, StepSpec, forget_module
from dcbench.errors import ConfigError

FILE_MODULE_PREFIX = "dcbench_plugin_"  # a plugin file's module name: this + its sanitised stem


@dataclass(frozen=True)
class Plugin:
    module: str  # the import name its steps are defined in
    digest: str  # sha256 of its source
    source: str | None = None  # a plugin file's text, executed in workers (None: import `module` by name)
    origin: str = ""  # what the user gave (a module name or a file path)

    def record(self) -> dict[str, str]:
        """What a recipe records of it (run.json, the dataset manifest)."""
        return {"module": self.module, "sha256": self.digest, "from": self.origin or self.module}


_FILES: dict[str, Plugin] = {}  # plugin files executed in this process, by module name


def load_plugin(spec: str, *, flag: str = "--plugin") -> Plugin:
    """Import a plugin named by `spec` (a module name or a .py path) so that its steps register.
    `flag` says in errors where the name came from."""
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        return _load_file(Path(spec).expanduser(), flag)
    if not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", spec):
        raise ConfigError(f"{flag} {spec!r}: give an importable module name (my_steps.filters) or a .py file")
    try:
        importlib.import_module(spec)
    except ModuleNotFoundError as e:
        raise ConfigError(f"{flag} {spec}: no module named {e.name!r} can be imported; install the package "
                          f"(pip install -e ...), put it on PYTHONPATH, or give the path of a .py file") from e
    except Exception as e:
        raise ConfigError(f"{flag} {spec}: importing it failed: {type(e).__name__}: {e}") from e
    return Plugin(spec, module_digest(spec), origin=spec)


def _load_file(path: Path, flag: str) -> Plugin:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{flag} {path}: cannot read the plugin file ({e})") from e
    name = FILE_MODULE_PREFIX + re.sub(r"\W", "_", path.name.removesuffix(".py"))
    plugin = Plugin(name, _sha256(source.encode()), source, str(path))
    try:
        _exec_file(plugin)
    except Exception as e:
        raise ConfigError(f"{flag} {path}: running the plugin failed: {type(e).__name__}: {e}") from e
    return plugin


def _exec_file(plugin: Plugin) -> None:
    """Execute a plugin file as module `plugin.module` (again only if its source changed)."""
    loaded = _FILES.get(plugin.module)
    if loaded is not None and loaded.digest == plugin.digest:
        return
    forget_module(plugin.module)  # an edited file registers its steps anew
    module = types.ModuleType(plugin.module)
    module.__file__ = plugin.origin
    sys.modules[plugin.module] = module
    try:
        exec(compile(plugin.source or "", plugin.origin or plugin.module, "exec"), module.__dict__)
    except BaseException:
        unload_plugin(plugin.module)
        raise
    _FILES[plugin.module] = plugin


def unload_plugin(module: str) -> None:
    """Forget a plugin's steps and module (a long-lived process that wants it gone, tests)."""
    forget_module(module)
    _FILES.pop(module, None)
    sys.modules.pop(module, None)


def plugin_of(spec: StepSpec) -> Plugin | None:
    """The plugin a step comes from (None for a built-in step)."""
    if spec.builtin:
        return None
    if spec.module in _FILES:
        return _FILES[spec.module]
    return Plugin(spec.module, module_digest(spec.module), origin=spec.module)


def ensure_loaded(plugins: Iterable[Plugin]) -> None:
    """Make a worker's registry hold the plugins' steps: execute shipped files, import modules
    (refusing a module whose source differs from the one the recipe was made with)."""
    for plugin in plugins:
        if plugin.source is not None:
            _exec_file(plugin)
            continue
        try:
            importlib.import_module(plugin.module)
        except ImportError as e:
            raise ConfigError(f"step plugin {plugin.module} cannot be imported on this machine ({e}); install it on "
                              f"every node of the Ray cluster, or pass it as a file: --plugin FILE.py") from e
        here = module_digest(plugin.module)
        if here != plugin.digest:
            raise ConfigError(f"step plugin {plugin.module} on this machine (sha256 {here[:12]}) differs from the "
                              f"one the recipe was read with ({plugin.digest[:12]}); install the same version "
                              f"on every node")


def module_digest(module: str) -> str:
    """sha256 of a module's source: every .py file of its top-level package, or its one file."""
    top = module.split(".", 1)[0]
    mod = sys.modules.get(top) or importlib.import_module(top)
    if module.startswith(BUILTIN_PREFIX):
        raise ValueError(f"{module} is part of dcbench, not a plugin")
    file = getattr(mod, "__file__", None)
    if file is None:
        raise ConfigError(f"step plugin {module}: its source cannot be found to record its digest "
                          f"(a namespace package?); give its module or a .py file")
    path = Path(file)
    files = sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]
    h = hashlib.sha256()
    for f in files:
        rel = f.relative_to(path.parent).as_posix()
        h.update(f"{rel}\0{_sha256(f.read_bytes())}\n".encode())
    return h.hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
