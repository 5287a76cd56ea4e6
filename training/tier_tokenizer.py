"""Which tokenizer file a tier uses: the one given, the downloaded GPT-NeoX-20B, or a BPE trained here.

DCLM's tiers tokenize with GPT-NeoX-20B (`dcbench tokenizer download` puts it at
`DEFAULT_TOKENIZER`); the small tiers name a BPE size (`bpe-N`) and train one on
the text they are given, once: a `tokenizer.json` already in the output folder
is reused. `dcbench tokenize`, `dcbench reproduce` and `dcbench mix run` all
choose through `tokenizer_for`, so they agree on the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from dcbench.errors import ConfigError
from dcbench.poolref import resolve_pool
from dcbench.shards import Bad, read_shard
from dcbench.training.tokenizer import train_bpe

DEFAULT_TOKENIZER = (Path(os.environ.get("DCBENCH_CACHE", "~/.cache/dcbench")).expanduser()
                     / "tokenizers" / "gpt-neox-20b.json")
NEOX = "gpt-neox-20b"


def tokenizer_for(tier, datasets: str | list[str], out: str | os.PathLike, given: str | None = None, *,
                  log: Callable[[str], Any] = print) -> str:
    """The tokenizer file `tier` uses: `given`, the downloaded NeoX one, or a BPE trained on
    every document of `datasets` (all of a mixture's sources) and saved as `out/tokenizer.json`."""
    if given:
        return given
    if tier.tokenizer == NEOX:
        if not DEFAULT_TOKENIZER.is_file():
            raise ConfigError(f"tier {tier.name} uses the GPT-NeoX-20B tokenizer: run `dcbench tokenizer download` "
                              f"or pass --tokenizer PATH/tokenizer.json")
        return str(DEFAULT_TOKENIZER)
    datasets = [datasets] if isinstance(datasets, str) else list(datasets)
    size = int(tier.tokenizer.removeprefix("bpe-"))
    path = Path(out) / "tokenizer.json"
    if not path.is_file():
        texts = (d["text"] for dataset in datasets for uri in resolve_pool(dataset).uris
                 for d in read_shard(uri) if not isinstance(d, Bad))
        train_bpe(texts, size, path)
        log(f"trained a {size}-token BPE on {', '.join(datasets)} -> {path}")
    return str(path)
