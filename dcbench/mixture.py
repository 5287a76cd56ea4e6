"""Mixture files: per-source token shares, a file format two stages share.

The curation side writes them (`dcbench mix propose | optimize`, `dcbench pool toy-sources`)
and training reads them (`dcbench tokenize --mix`), so the format lives in the spine,
beside the manifest.

    # written by `dcbench mix propose` / `dcbench mix optimize`
    kind: mixture
    version: 1
    sources:                 # name -> dataset (a `dcbench process` dir or any pool spec)
      web: runs/web
      books: runs/books
    weights: {web: 0.75, books: 0.25}    # token shares, sum to 1
    predicted_loss: 3.21     # optional, what the fitted law expects

Relative source paths are read against the file's folder, so a mixture file
travels with its sources. Weights are token shares of the mixed dataset
(the paper's r), not document shares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dcbench.atomic import write_atomic
from dcbench.errors import ConfigError

KIND, VERSION = "mixture", 1
TOLERANCE = 1e-6  # how far the weights may sum from 1


@dataclass(frozen=True)
class Mixture:
    sources: dict[str, str]  # name -> dataset spec, in the file's order
    weights: dict[str, float]  # name -> token share
    extra: dict[str, Any] = field(default_factory=dict)  # predicted_loss, id, ...

    def __post_init__(self) -> None:
        check_weights(self.weights, list(self.sources))

    @property
    def names(self) -> list[str]:
        return list(self.sources)

    def vector(self) -> list[float]:
        return [self.weights[n] for n in self.names]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": KIND, "version": VERSION, "sources": dict(self.sources),
                "weights": {n: float(self.weights[n]) for n in self.names}, **self.extra}


def check_weights(weights: dict[str, float], names: list[str]) -> None:
    """Weights name every source exactly once, are finite, >= 0 and sum to 1."""
    if not names:
        raise ConfigError("a mixture needs at least one source")
    missing, unknown = set(names) - set(weights), set(weights) - set(names)
    if missing or unknown:
        raise ConfigError(f"mixture weights must name every source once: missing {sorted(missing)}, "
                          f"unknown {sorted(unknown)}")
    for name, w in weights.items():
        if not isinstance(w, (int, float)) or isinstance(w, bool) or not math.isfinite(w) or w < 0:
            raise ConfigError(f"mixture weight of {name!r} must be a number >= 0, got {w!r}")
    total = sum(weights.values())
    if abs(total - 1) > TOLERANCE:
        raise ConfigError(f"mixture weights must sum to 1, they sum to {total:.6g}")


def load_mixture(path: str | Path) -> Mixture:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read mixture {path}: {e}") from e
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ConfigError(f"{path} is not a mixture file (want `kind: {KIND}` with sources and weights)")
    if data.get("version") != VERSION:
        raise ConfigError(f"{path}: mixture version {data.get('version')!r} is not supported (want {VERSION})")
    sources, weights = data.get("sources"), data.get("weights")
    if not isinstance(sources, dict) or not isinstance(weights, dict):
        raise ConfigError(f"{path}: `sources` and `weights` must be mappings from source name")
    base = path.parent
    resolved = {str(n): _resolve(str(s), base) for n, s in sources.items()}
    extra = {k: v for k, v in data.items() if k not in ("kind", "version", "sources", "weights")}
    return Mixture(resolved, {str(n): w for n, w in weights.items()}, extra)


def save_mixture(mixture: Mixture, path: str | Path) -> Path:
    path = Path(path)
    write_atomic(path, yaml.safe_dump(mixture.to_dict(), sort_keys=False))
    return path


def _resolve(spec: str, base: Path) -> str:
    """Local relative paths are taken from the mixture file's folder; URLs and absolute paths stay."""
    if "://" in spec or Path(spec).is_absolute():
        return spec
    return str((base / spec).resolve())
