"""Which tokenizer file a tier uses: the tier's one fixed file, or one given for an experiment.

The tier fixes the tokenizer. DCLM's tiers use GPT-NeoX-20B (`dcbench tokenizer download`
puts it at `DEFAULT_TOKENIZER`). The small tiers name a byte-level BPE (`bpe-N`) that ships
with dcbench (`data/bpe-N.json`, package data), its sha256 pinned in the spine's tier table
(`dcbench.tiers.TOKENIZER_SHA256`). It was trained once on the default toy pool's text
(`dcbench.flows.tier_tokenizers` rebuilds it byte for byte), never on a user's data, so every
run of a tier tokenizes the same way and the leaderboard can check it by digest.

`tokenizer_for` copies a small tier's file beside the token shards (`OUT/tokenizer.json`,
where `dcbench eval` looks for it). `--tokenizer PATH` (a mixing experiment) is used as given,
with a note when it is not the tier's: models trained on such tokens are experiments, and
`dcbench submit` refuses them on that tier. `dcbench tokenize`, `dcbench reproduce` and
`dcbench mix run` all choose through `tokenizer_for`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from dcbench.atomic import write_atomic
from dcbench.cache import neox_tokenizer_path
from dcbench.errors import ConfigError, DataError
from dcbench.tiers import TOKENIZER_SHA256
from dcbench.training.tokenizer import file_sha256

DEFAULT_TOKENIZER = neox_tokenizer_path()
NEOX = "gpt-neox-20b"
SHIPPED_DIR = Path(__file__).resolve().parent / "data"
OUT_NAME = "tokenizer.json"


def required_sha256(tier) -> str | None:
    """The sha256 a tier's tokenizer must have, or None where the tier does not pin one (NeoX)."""
    return TOKENIZER_SHA256.get(tier.tokenizer)


def shipped_tokenizer(name: str) -> Path:
    """The shipped file of a small tier's tokenizer (`bpe-N`), checked against its pinned sha256."""
    path = SHIPPED_DIR / f"{name}.json"
    want = TOKENIZER_SHA256.get(name)
    if want is None or not path.is_file():
        raise DataError(f"tokenizer {name} is not in this dcbench installation ({path}); reinstall dcbench")
    if file_sha256(path) != want:
        raise DataError(f"{path} is not tokenizer {name} (its sha256 is not the tier table's); reinstall dcbench")
    return path


def tokenizer_for(tier, out: str | os.PathLike, given: str | None = None, *,
                  log: Callable[[str], Any] = print) -> str:
    """The tokenizer file `tier` uses: `given` (with a note when it is not the tier's), the downloaded
    NeoX one, or the tier's shipped BPE copied to `out/tokenizer.json`."""
    if given:
        want = required_sha256(tier)
        if want is not None and Path(given).is_file() and file_sha256(given) != want:
            log(f"note: {given} is not tier {tier.name}'s tokenizer ({tier.tokenizer}, sha256 {want[:12]}): "
                f"fine for an experiment, but `dcbench submit` refuses models trained on these tokens")
        return given
    if tier.tokenizer == NEOX:
        if not DEFAULT_TOKENIZER.is_file():
            raise ConfigError(f"tier {tier.name} uses the GPT-NeoX-20B tokenizer: run `dcbench tokenizer download` "
                              f"or pass --tokenizer PATH/tokenizer.json")
        return str(DEFAULT_TOKENIZER)
    source = shipped_tokenizer(tier.tokenizer)
    dest = Path(out) / OUT_NAME
    if dest.is_file():
        if file_sha256(dest) != TOKENIZER_SHA256[tier.tokenizer]:
            raise ConfigError(f"{dest} is another tokenizer than tier {tier.name}'s {tier.tokenizer} (made by an "
                              f"earlier dcbench?); write to a new output directory")
        return str(dest)
    write_atomic(dest, source.read_bytes())
    log(f"tokenizer: tier {tier.name}'s {tier.tokenizer} (sha256 {TOKENIZER_SHA256[tier.tokenizer][:12]}) -> {dest}")
    return str(dest)
