"""Where dcbench keeps what it downloads or has verified: `$DCBENCH_CACHE`, default ~/.cache/dcbench.

Read at each call, so a test or a user can point it elsewhere at any time.
"""

from __future__ import annotations

import os
from pathlib import Path

NEOX_TOKENIZER = "gpt-neox-20b.json"  # GPT-NeoX-20B's tokenizer.json, as `dcbench tokenizer download` names it


def cache_dir() -> Path:
    """The cache root."""
    return Path(os.environ.get("DCBENCH_CACHE", "~/.cache/dcbench")).expanduser()


def neox_tokenizer_path() -> Path:
    """Where `dcbench tokenizer download` puts GPT-NeoX-20B's tokenizer (training, eval and steps look there)."""
    return cache_dir() / "tokenizers" / NEOX_TOKENIZER
