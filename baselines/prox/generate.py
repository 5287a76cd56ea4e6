"""Programs from a local ProX refining model through Hugging Face `transformers`.

The model is a directory on disk: the released ``gair-prox/web-doc-refining-lm``
and ``web-chunk-refining-lm`` once downloaded, or a user's fine-tune. Nothing
is fetched from the hub (``local_files_only``). `transformers` (and torch) are
optional dependencies, imported only when a model is asked for; without them
the steps still execute stored programs.

Prompts go through the model's chat template with ProX's system prompt;
decoding is greedy. Prompts are batched with left padding, so each row's
continuation starts at the same column.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dcbench.baselines.prox.chunking import SYSTEM_PROMPT, chat_messages, make_chunks
from dcbench.errors import ConfigError


def _import_transformers() -> Any:
    try:
        import transformers
    except ImportError as e:
        raise ConfigError("a ProX refining model needs Hugging Face transformers (and torch): "
                          "pip install transformers; or leave `model` unset to run stored programs") from e
    return transformers


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:2])


class ProxGenerator:
    """A causal LM that writes ProX programs, loaded once from `model_dir`."""

    def __init__(self, model_dir: str, *, device: str | None = None, batch_size: int = 8) -> None:
        transformers = _import_transformers()
        import torch

        if not Path(model_dir).is_dir():
            raise ConfigError(f"ProX model directory not found: {model_dir!r} (a local directory is needed; "
                              f"nothing is downloaded)")
        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size = max(1, batch_size)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        # The checkpoint's own dtype; transformers 4.56 renamed the argument.
        dtype_arg = "dtype" if _version(transformers.__version__) >= (4, 56) else "torch_dtype"
        self.model = transformers.AutoModelForCausalLM.from_pretrained(
            model_dir, local_files_only=True, **{dtype_arg: "auto"}).to(self.device).eval()

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def truncate(self, text: str, max_tokens: int) -> str:
        """The text up to its `max_tokens`-th token, cut in the raw text where the tokenizer gives offsets."""
        if max_tokens <= 0:
            return ""
        if self.tokenizer.is_fast:
            offsets = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
            return text if len(offsets) <= max_tokens else text[: offsets[max_tokens - 1][1]]
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        return text if len(ids) <= max_tokens else self.tokenizer.decode(ids[:max_tokens])

    def prompt(self, body: str) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(chat_messages(body), tokenize=False, add_generation_prompt=True)
        # A checkpoint without a template: the system prompt, then the input, as plain text.
        return f"{SYSTEM_PROMPT}\n\n{body}\n"

    def generate(self, bodies: list[str], max_new_tokens: int) -> list[str]:
        """One greedy continuation per input body, in order."""
        out: list[str] = []
        for i in range(0, len(bodies), self.batch_size):
            out.extend(self._batch([self.prompt(b) for b in bodies[i: i + self.batch_size]], max_new_tokens))
        return out

    def _batch(self, prompts: list[str], max_new_tokens: int) -> list[str]:
        # The chat template already holds any BOS token, so none is added again.
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        with self.torch.no_grad():
            ids = self.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id)
        new = ids[:, enc["input_ids"].shape[1]:]
        return self.tokenizer.batch_decode(new, skip_special_tokens=True)


# ------------------------------------------ programs for one document (any generator)
# `generator` is anything with count_tokens, truncate and generate as above.


def doc_program(text: str, generator: Any, *, max_input_tokens: int = 2000, max_new_tokens: int = 2000) -> str:
    """The doc-stage program: the raw text, untagged, cut to `max_input_tokens`."""
    return generator.generate([generator.truncate(text, max_input_tokens)], max_new_tokens)[0]


def chunk_program(text: str, generator: Any, *, chunk_tokens: int = 1500, max_new_tokens: int = 256) -> str:
    """The chunk-stage program: one program per tagged chunk, joined in order."""
    chunks = make_chunks(text, chunk_tokens, generator.count_tokens)
    return "\n".join(generator.generate([c.prompt for c in chunks], max_new_tokens))
