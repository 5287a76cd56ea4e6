"""The toy tiers' tokenizers, rebuilt byte for byte from text dcbench generates itself.

Each CPU tier names a byte-level BPE (`bpe-1024`, `bpe-2048`). dcbench ships them as package
data of `dcbench.training` (`data/bpe-N.json`) and the spine's tier table pins their sha256
(`dcbench.tiers.TOKENIZER_SHA256`), so every run of a tier tokenizes with the same file,
whatever data it curated. They are trained on the documents of the default toy pool (seed 0,
4,000 documents in 8 shards: what `dcbench pool toy` writes with no options), never on a
user's data. The toy generator lives in pools and the trainer in training, which is why this
flow is here. To rebuild them (after a change to the generator, say):

    python -m dcbench.flows.tier_tokenizers [OUT_DIR]    (default: the installed package's data folder)

and then update the digests in `dcbench.tiers.TOKENIZER_SHA256`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

from dcbench.flows.toy_setup import DEFAULT_DOCS, DEFAULT_SHARDS
from dcbench.pools.toy import document_at, plan
from dcbench.tiers import TIERS
from dcbench.training.tier_tokenizer import SHIPPED_DIR
from dcbench.training.tokenizer import file_sha256, train_bpe

CORPUS_SEED = 0


def toy_corpus() -> Iterator[str]:
    """The text of the default toy pool, document by document, generated in memory."""
    labels, picks = plan(DEFAULT_DOCS, DEFAULT_SHARDS, CORPUS_SEED)
    for i in range(DEFAULT_DOCS):
        yield document_at(i, labels, picks, CORPUS_SEED)["text"]


def toy_tokenizer_names() -> list[str]:
    """The BPEs the CPU tiers name, each once (`bpe-1024`, ...)."""
    return sorted({t.tokenizer for t in TIERS.values() if t.tokenizer.startswith("bpe-")})


def build_tier_tokenizer(name: str, dest: str | Path) -> Path:
    """Train tokenizer `name` (`bpe-N`) on the toy corpus and write it to `dest`."""
    return train_bpe(toy_corpus(), int(name.removeprefix("bpe-")), dest)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else SHIPPED_DIR
    for name in toy_tokenizer_names():
        path = build_tier_tokenizer(name, out / f"{name}.json")
        print(f"{name}: sha256 {file_sha256(path)} -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
