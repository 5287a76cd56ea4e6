"""Models for the evaluator: our OpenLM checkpoints, or a local Hugging Face causal LM.

`load_model(path)` returns an `EvalModel`: a callable that maps padded token ids
LongTensor[B, T] to fp32 logits FloatTensor[B, T, V], plus the tokenizer
(`encode`, `decode`), the end-of-text and padding ids, the context length and
the artefact id chain (dataset -> tokens -> model) for the results file.

Our checkpoints: a `dcbench train` run dir, its `model/` dir, a training
checkpoint or a `.pt` state dict (always read with `weights_only=True`). The
tokenizer is, in order: the `tokenizer` argument; a `tokenizer.json` in the
run or model dir; the token shards the model was trained on (found by the
token manifest id the model manifest names, in the run dir's parent and its
siblings, or at a path the config names) which hold the small tiers' BPE; for
NeoX tiers the downloaded GPT-NeoX-20B file (`dcbench tokenizer download`).

The forward runs under `torch.inference_mode` in fp32, as DCLM's `heavy.yaml`
evaluates (`precision: fp32`): the scores that go to the leaderboard are fp32
ones. `precision="bf16"` (`dcbench eval --precision bf16`) runs it under bf16
autocast instead, faster on CUDA and AMX CPUs; the results JSON records which
(`precision`), and the leaderboard rejects non-fp32 scores on official tiers.
Padding goes on the right, so the causal model's logits at real positions do
not depend on it. CPU threads are training's rule (`training.threads.use_threads`:
`--threads`, default the available CPUs up to 4), re-exported here for the runner. The scorer sorts examples by length so batches carry little
padding.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

import torch

from dcbench.cache import neox_tokenizer_path
from dcbench.errors import ConfigError, DataError
from dcbench.manifest import MANIFEST_NAME, Manifest
from dcbench.training.model import KVCache, OpenLM
from dcbench.training.scales import ModelConfig
from dcbench.training.threads import use_threads
from dcbench.training.tokenizer import eot_id, file_sha256, load_tokenizer, pad_id, vocab_size
from dcbench.training.trainer import load_weights

__all__ = ["EvalModel", "PRECISIONS", "load_model", "resolve_device", "special_ids", "use_threads"]

PRECISIONS = ("fp32", "bf16")  # fp32 first: the default, and what DCLM evaluates in


class EvalModel(torch.nn.Module):
    """A language model as the scorer sees it: call it like `logits_fn`.

    An `nn.Module` holding the network (`net`), so a scorer that feeds a module on
    its parameters' device builds its batches where the logits come out.
    """

    def __init__(self, logits_fn: Callable[[torch.Tensor], torch.Tensor],
                 tokenizer_encode: Callable[[str], list[int]], tokenizer_decode: Callable[[list[int]], str],
                 eot_id: int, pad_id: int, max_seq_len: int, id_chain: dict[str, Any] | None = None, *,
                 net: torch.nn.Module | None = None, path: str = "", kind: str = "dcbench", device: str = "cpu",
                 dtype: str = "float32", vocab_size: int = 0, info: dict[str, Any] | None = None,
                 special_ids: set[int] | None = None):
        super().__init__()
        self.logits_fn = logits_fn
        self.tokenizer_encode = tokenizer_encode
        self.tokenizer_decode = tokenizer_decode
        self.eot_id, self.pad_id, self.max_seq_len = int(eot_id), int(pad_id), int(max_seq_len)
        self.id_chain = dict(id_chain or {})
        self.net = net
        self.path, self.kind, self.device_name, self.dtype_name = path, kind, device, dtype
        self.vocab_size = vocab_size
        self.info = dict(info or {})
        self.special_ids = set(special_ids) if special_ids is not None else {self.eot_id, self.pad_id}

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.logits_fn(input_ids)

    @property
    def precision(self) -> str:
        """"fp32" (DCLM's, the default) or "bf16" (`--precision bf16`), as the results JSON records it."""
        return "bf16" if self.dtype_name == "bfloat16" else "fp32"

    @property
    def forward_cached(self) -> Callable[[torch.Tensor, KVCache], torch.Tensor] | None:
        """`(ids, cache) -> fp32 logits` with a key/value cache, for our models; None for others."""
        if not isinstance(self.net, OpenLM):
            return None
        device, bf16, net = torch.device(self.device_name), self.precision == "bf16", self.net

        def step(ids: torch.Tensor, cache: KVCache) -> torch.Tensor:
            with torch.inference_mode(), _autocast(device, bf16):
                return net(ids.to(device=device, dtype=torch.long), cache=cache).float()

        return step

    # the model doubles as its tokenizer (`encode(str) -> list[int]`)
    def encode(self, text: str) -> list[int]:
        return self.tokenizer_encode(text)

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        """Text of `ids`; `skip_special_tokens` drops the tokenizer's special tokens (end of text,
        `<|pad|>`) as Hugging Face's decode does in LLM-Foundry. NeoX's pad id 50256 is an
        ordinary token of that vocabulary, so a generation keeps it there, as LLM-Foundry's does."""
        ids = [int(t) for t in ids]
        if skip_special_tokens:
            ids = [t for t in ids if t not in self.special_ids]
        return self.tokenizer_decode(ids)

    @property
    def tokenizer(self) -> "EvalModel":
        return self

    @property
    def eos_token_id(self) -> int:
        return self.eot_id

    @property
    def pad_token_id(self) -> int:
        return self.pad_id

    def describe(self) -> dict[str, Any]:
        """What a results file records about the model."""
        return {"path": self.path, "kind": self.kind, "device": self.device_name, "dtype": self.dtype_name,
                "max_seq_len": self.max_seq_len, "vocab_size": self.vocab_size, "id_chain": dict(self.id_chain),
                **{k: v for k, v in self.info.items() if k not in ("path", "id_chain")}}


# ------------------------------------------------------------------ device and precision


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device} asked for, but torch sees no CUDA device; use --device cpu")
    return device


def check_precision(precision: str, device: torch.device) -> bool:
    """Whether `precision` ("fp32" or "bf16") runs under bf16 autocast; a clear error otherwise."""
    if precision not in PRECISIONS:
        raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)} (got {precision!r})")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"--precision bf16 asked for, but {device} has no bf16; use --precision fp32")
    return precision == "bf16"


def _autocast(device: torch.device, bf16: bool):
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _make_logits_fn(forward: Callable[[torch.Tensor], torch.Tensor], device: torch.device,
                    bf16: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    def logits_fn(input_ids: torch.Tensor) -> torch.Tensor:
        if input_ids.dim() != 2:
            raise ValueError(f"logits_fn takes LongTensor[B, T]; got shape {tuple(input_ids.shape)}")
        with torch.inference_mode(), _autocast(device, bf16):
            logits = forward(input_ids.to(device=device, dtype=torch.long, non_blocking=True))
        return logits.float()

    return logits_fn


# ------------------------------------------------------------------ entry point


def load_model(path: str | os.PathLike, device: str | torch.device | None = None, *,
               tokenizer: str | os.PathLike | None = None, precision: str = "fp32") -> EvalModel:
    """Load a dcbench checkpoint or a local Hugging Face causal LM (see the module doc).

    `precision` "fp32" (default, DCLM's) or "bf16" (autocast; recorded as the model's dtype)."""
    bf16 = check_precision(precision, resolve_device(device))
    p = Path(path).expanduser()
    if not p.exists():
        raise ConfigError(f"model {path} not found: pass a `dcbench train` run dir, its model/ dir, a .pt file "
                          f"or a local Hugging Face model dir")
    if _is_hf_dir(p):
        return _load_hf(p, resolve_device(device), tokenizer, bf16)
    return _load_dcbench(p, resolve_device(device), tokenizer, bf16)


def _is_hf_dir(p: Path) -> bool:
    if not p.is_dir() or (p / "model" / "model.pt").is_file() or (p / "model.pt").is_file():
        return False
    cfg = p / "config.json"
    if not cfg.is_file():
        return False
    try:
        data = json.loads(cfg.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and ("model_type" in data or "architectures" in data)


# ------------------------------------------------------------------ dcbench checkpoints


def _run_layout(p: Path) -> tuple[Path | None, Path | None]:
    """(run dir, model dir) around `p`, where they exist."""
    if p.is_dir():
        if (p / "model" / "model.pt").is_file():
            return p, p / "model"
        if (p / "model.pt").is_file():
            run = p.parent if (p.parent / MANIFEST_NAME).is_file() else None
            return run, p
        raise ConfigError(f"{p}: no model/model.pt or model.pt here; is this a finished `dcbench train` run?")
    model_dir = p.parent
    if p.parent.name == "checkpoints":  # run/checkpoints/step_N.pt
        return p.parent.parent, None
    run = model_dir.parent if (model_dir.parent / MANIFEST_NAME).is_file() else None
    return run, model_dir


def _model_config(state: dict, config: dict | None) -> tuple[Any, dict]:
    """(ModelConfig, tier record or {}) from config.json or a checkpoint's tier; else from shapes."""
    tier = (config or {}).get("tier") or {}
    model = (config or {}).get("model") or tier.get("model")
    if model:
        known = set(ModelConfig.__dataclass_fields__)
        return ModelConfig(**{k: v for k, v in model.items() if k in known}), tier
    # no config beside a bare state dict: read the shapes (seq_len unknown: OpenLM's 2048)
    try:
        vocab, d = state["tok_embeddings.weight"].shape
        n_layers = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("layers."))
        hidden = state["layers.0.feed_forward.w3.weight"].shape[1]
    except (KeyError, ValueError) as e:
        raise DataError(f"not an OpenLM state dict (missing {e}); dcbench loads its own checkpoints") from e
    raise ConfigError(f"no config.json beside the weights (d_model {d}, {n_layers} layers, vocab {vocab}, "
                      f"hidden {hidden}): the head count cannot be read from a state dict; keep the "
                      f"model/config.json that `dcbench train` writes next to model.pt")


def _load_manifest(path: Path) -> Manifest | None:
    try:
        return Manifest.load(str(path)) if path.is_file() else None
    except DataError:
        return None


def _find_tokens_dir(tokens_id: str | None, run_dir: Path | None, hints: list[str]) -> Path | None:
    """The token shards directory with manifest id `tokens_id`: a hinted path, else a search of
    the run dir's parent and grandparent (the usual `runs/tokens`, `runs/model` layout)."""
    if not tokens_id:
        return None
    candidates: list[Path] = [Path(h).expanduser() for h in hints if h]
    if run_dir is not None:
        for base in (run_dir.parent, run_dir.parent.parent):
            try:
                candidates += sorted(d for d in base.iterdir() if d.is_dir())
                candidates += sorted(d for sub in base.iterdir() if sub.is_dir() and sub != run_dir
                                     for d in sub.iterdir() if d.is_dir())
            except OSError:
                continue
    seen = set()
    for cand in candidates:
        if cand in seen:
            continue
        seen.add(cand)
        m = cand / MANIFEST_NAME
        if m.is_file():
            man = _load_manifest(m)
            if man is not None and man.kind == "tokens" and man.id == tokens_id:
                return cand
    return None


def _neox_default() -> Path:
    return neox_tokenizer_path()


def _pick_tokenizer(given, run_dir: Path | None, model_dir: Path | None, tokens_dir: Path | None,
                    tokens_man: Manifest | None, tier: dict) -> Path:
    if given:
        return Path(given).expanduser()
    for d in (model_dir, run_dir, tokens_dir):
        if d is not None and (d / "tokenizer.json").is_file():
            return d / "tokenizer.json"
    tok_name = tier.get("tokenizer", "")
    if tok_name == "gpt-neox-20b" or (tokens_man is not None and tokens_man.extra.get("vocab_size", 0) > 50000):
        neox = _neox_default()
        if neox.is_file():
            return neox
        raise ConfigError(f"this model uses the GPT-NeoX-20B tokenizer: run `dcbench tokenizer download` "
                          f"(writes {neox}) or pass --tokenizer PATH/tokenizer.json")
    where = f" (the token shards {tokens_dir} hold none)" if tokens_dir else \
        " (the token shards it was trained on were not found beside the run)"
    raise ConfigError(f"no tokenizer for this model{where}: pass --tokenizer PATH, the tokenizer.json "
                      f"that `dcbench tokenize` wrote beside the token shards")


def _load_dcbench(p: Path, device: torch.device, tokenizer, bf16: bool) -> EvalModel:
    run_dir, model_dir = _run_layout(p)
    try:
        state, config = load_weights(p)
    except (RuntimeError, OSError, EOFError) as e:
        raise DataError(f"{p}: cannot read the weights ({e}); dcbench loads weights_only checkpoints") from e
    cfg, tier = _model_config(state, config)
    model = OpenLM(cfg, seed=None)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise DataError(f"{p}: the weights do not fit the model its config describes: {e}") from e
    del state
    model.to(device).eval()

    run_man = _load_manifest(run_dir / MANIFEST_NAME) if run_dir is not None else None
    if run_man is not None and run_man.kind != "model":
        run_man = None
    tokens_id = run_man.inputs.get("tokens") if run_man else None
    hints = [str(x) for x in (
        (config or {}).get("data_dir"), (config or {}).get("tokens_dir"),
        *((run_man.inputs.get("tokens_dir"), run_man.extra.get("data_dir")) if run_man else ()),
    ) if x]
    tokens_dir = _find_tokens_dir(tokens_id, run_dir, hints)
    tokens_man = _load_manifest(tokens_dir / MANIFEST_NAME) if tokens_dir else None
    tok_path = _pick_tokenizer(tokenizer, run_dir, model_dir, tokens_dir, tokens_man, tier)
    tok = load_tokenizer(tok_path)
    tok_sha = file_sha256(tok_path)
    if tokens_man is not None and tokens_man.inputs.get("tokenizer") not in (None, tok_sha):
        raise ConfigError(f"tokenizer {tok_path} is not the one the model's token shards were made with "
                          f"({tokens_dir}); pass the right --tokenizer")
    if vocab_size(tok) > cfg.vocab_size:
        raise ConfigError(f"tokenizer {tok_path} has {vocab_size(tok)} tokens, more than the model's "
                          f"{cfg.vocab_size}: not this model's tokenizer")

    chain: dict[str, Any] = {}
    if tokens_man is not None:
        chain["dataset"] = tokens_man.inputs.get("dataset")
    chain["tokens"] = tokens_id
    chain["model"] = run_man.id if run_man else None
    if chain["model"] is None:  # a bare .pt: name it by its bytes
        weights = p if p.is_file() else (model_dir / "model.pt")
        chain["model"] = f"weights-{file_sha256(weights)[:16]}"
    chain = {k: v for k, v in chain.items() if v is not None}

    encode = _encoder(tok)
    return EvalModel(
        logits_fn=_make_logits_fn(model, device, bf16), tokenizer_encode=encode, net=model,
        tokenizer_decode=lambda ids: tok.decode(list(ids), skip_special_tokens=False),
        eot_id=eot_id(tok), pad_id=pad_id(tok), max_seq_len=cfg.seq_len, id_chain=chain,
        special_ids=special_ids(tok),
        path=str(p), kind="dcbench", device=str(device), dtype="bfloat16" if bf16 else "float32",
        vocab_size=cfg.vocab_size,
        info={"tier": tier.get("name"), "steps": (config or {}).get("steps"), "tokenizer": str(tok_path),
              "tokens_dir": str(tokens_dir) if tokens_dir else None, "params": sum(
                  t.numel() for t in model.parameters())},
    )


def special_ids(tok) -> set[int]:
    """The ids a generation's text leaves out: the tokenizer's special tokens and end of text.
    For NeoX that is not the PAD id 50256, an ordinary token of that vocabulary."""
    return {i for i, t in tok.get_added_tokens_decoder().items() if t.special} | {eot_id(tok)}


def _encoder(tok) -> Callable[[str], list[int]]:
    def encode(text: str) -> list[int]:
        return tok.encode(text, add_special_tokens=False).ids

    return encode


# ------------------------------------------------------------------ Hugging Face models


def _load_hf(p: Path, device: torch.device, tokenizer, bf16: bool) -> EvalModel:
    try:  # deferred: transformers is optional (the `hf` extra), and costs seconds to import
        import transformers  # noqa: F401
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise ConfigError(f"{p} is a Hugging Face model dir; loading it needs transformers: "
                          f"pip install transformers") from e
    try:
        model = AutoModelForCausalLM.from_pretrained(str(p), local_files_only=True)
        tok = AutoTokenizer.from_pretrained(str(tokenizer or p), local_files_only=True)
    except (OSError, ValueError) as e:
        raise DataError(f"{p}: transformers cannot load it as a causal LM: {e}") from e
    model.to(device).eval()
    eot = tok.eos_token_id if tok.eos_token_id is not None else 0
    pad = tok.pad_token_id if tok.pad_token_id is not None else eot
    cfg = model.config
    max_len = next((int(v) for v in (getattr(cfg, k, None) for k in
                                     ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"))
                    if isinstance(v, int) and v > 0), 2048)

    def forward(ids: torch.Tensor) -> torch.Tensor:
        return model(input_ids=ids, use_cache=False).logits

    digest = hashlib.sha256((p / "config.json").read_bytes())
    for f in sorted(p.iterdir()):
        if f.is_file() and f.suffix in (".safetensors", ".bin", ".pt"):
            digest.update(f"{f.name}:{f.stat().st_size}".encode())
    return EvalModel(
        logits_fn=_make_logits_fn(forward, device, bf16), net=model,
        tokenizer_encode=lambda s: tok.encode(s, add_special_tokens=False),
        tokenizer_decode=lambda ids: tok.decode(list(ids)),
        eot_id=int(eot), pad_id=int(pad), max_seq_len=max_len,
        id_chain={"model": f"hf-{digest.hexdigest()[:16]}"}, path=str(p), kind="hf", device=str(device),
        dtype="bfloat16" if bf16 else "float32", vocab_size=int(getattr(cfg, "vocab_size", 0) or 0),
        special_ids=set(getattr(tok, "all_special_ids", None) or ()) | {int(eot)},
        info={"architecture": (getattr(cfg, "architectures", None) or [None])[0]},
    )
