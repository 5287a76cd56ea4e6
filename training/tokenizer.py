"""The tokenizer: GPT-NeoX-20B for DCLM's tiers, a small byte-level BPE for CPU tiers.

Both are Hugging Face `tokenizer.json` files read with `tokenizers`.
End of text is `<|endoftext|>` (id 0 in NeoX and in our BPE). Padding:

* NeoX vocabularies (eot 0, >= 50257 ids) pad with 50256, exactly as DCLM
  (`50254 + 2`). That id is a real token (22 spaces), rare in text; DCLM
  masks it in the loss all the same and so do we.
* Other vocabularies pad with `<|pad|>` if they have one (our BPE puts it
  at id 1, never produced by text), else with the end-of-text id.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from dcbench.atomic import write_atomic
from dcbench.download import FetchError, Progress, SourceMissing, fetch
from dcbench.errors import ConfigError, DataError

EOT = "<|endoftext|>"
PAD = "<|pad|>"
NEOX_REPO = "EleutherAI/gpt-neox-20b"
NEOX_PAD = 50256  # DCLM's PAD for NeoX: 50254 + 2


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """Read a `tokenizer.json`; a ConfigError says how to get one when it is missing."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"tokenizer {path} not found: pass --tokenizer with an existing tokenizer.json, fetch GPT-NeoX-20B "
            f"with `dcbench tokenizer download --dest {path}`, or leave --tokenizer out to use the tier's own")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as e:  # tokenizers raises a bare Exception on bad JSON
        raise DataError(f"{path}: not a Hugging Face tokenizer.json ({e})") from e


def eot_id(tok: Tokenizer) -> int:
    ident = tok.token_to_id(EOT)
    if ident is None:
        raise ConfigError(f"the tokenizer has no {EOT} token; dcbench needs it to separate documents")
    return ident


def pad_id(tok: Tokenizer) -> int:
    """DCLM's 50256 for NeoX vocabularies, else `<|pad|>`, else end of text (see module doc)."""
    if eot_id(tok) == 0 and tok.get_vocab_size(with_added_tokens=True) > NEOX_PAD:
        return NEOX_PAD
    ident = tok.token_to_id(PAD)
    return eot_id(tok) if ident is None else ident


def vocab_size(tok: Tokenizer) -> int:
    return tok.get_vocab_size(with_added_tokens=True)


def file_sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def download_tokenizer(dest: str | os.PathLike, *, repo: str = NEOX_REPO,
                       base_url: str = "https://huggingface.co") -> Path:
    """Fetch `{base_url}/{repo}/resolve/main/tokenizer.json` to `dest` (the spine's downloader:
    resumable, retried), publishing it only once it parses as a tokenizer."""
    url = f"{base_url.rstrip('/')}/{repo}/resolve/main/tokenizer.json"

    def parses(part: Path) -> None:
        try:
            Tokenizer.from_file(str(part))
        except Exception as e:  # tokenizers raises a bare Exception on bad JSON
            raise DataError(f"{url} is not a tokenizer.json ({e})") from e

    try:
        with Progress(None, desc="tokenizer") as progress:
            return fetch(url, dest, check=parses, progress=progress).path
    except SourceMissing as e:
        raise ConfigError(f"no tokenizer at {url}: check the repo name and base URL") from e
    except FetchError as e:
        raise DataError(f"could not download {url}: {e}") from e


def train_bpe(texts: Iterable[str], vocab_size: int, dest: str | os.PathLike) -> Path:
    """Train a byte-level BPE (`<|endoftext|>` = 0, `<|pad|>` = 1) and save it to `dest`.

    Deterministic: the trainer counts words exactly and breaks ties between
    equally frequent pairs by the pair itself, so the same texts give the same file.
    """
    if vocab_size < 256 + 2:
        raise ConfigError(f"BPE vocab_size {vocab_size} is too small: 256 bytes + 2 specials need at least 258")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  special_tokens=[EOT, PAD], initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    return write_atomic(dest, tok.to_str().encode("utf-8"))
