"""A fitted mixing law, as `dcbench mix fit` writes it (law.json) and `dcbench mix optimize` reads it.

It predicts the loss of any mixture of the training sources: per validation
domain through its M4 law, and overall either explicitly (the validation
shares are known: sum_i s_i L_i) or implicitly (one model of the total
loss, for a validation set of unknown composition).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dcbench.baselines.mixing.laws import ImplicitLaw, M4Law, fit_m4
from dcbench.atomic import write_atomic
from dcbench.errors import ConfigError

KIND, VERSION = "mixing-law", 1


@dataclass
class MixingLaw:
    sources: list[str]  # training sources, the order of r
    domains: dict[str, M4Law]  # validation domain -> its law
    valid_weights: dict[str, float] | None = None  # explicit aggregation
    implicit: ImplicitLaw | None = None  # implicit aggregation
    source_paths: dict[str, str] = field(default_factory=dict)  # for writing mixture files
    meta: dict[str, Any] = field(default_factory=dict)  # fit errors, target step/size, ...

    def predict_domains(self, r: np.ndarray) -> dict[str, np.ndarray]:
        return {d: law.predict(r) for d, law in self.domains.items()}

    def predict(self, r: np.ndarray) -> np.ndarray:
        """The overall validation loss of mixtures r (rows)."""
        if self.implicit is not None:
            return self.implicit.predict(r)
        if self.valid_weights is None:
            raise ConfigError("this law has no aggregation: fit it with validation weights or --implicit")
        return sum(w * self.domains[d].predict(r) for d, w in self.valid_weights.items())

    def t_matrix(self) -> dict[str, dict[str, float]]:
        """t_ij, shifted so each row sums to 0 (rows are only defined up to a shift on the simplex)."""
        out = {}
        for d, law in self.domains.items():
            t = law.t - law.t.mean()
            out[d] = {s: float(v) for s, v in zip(self.sources, t)}
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"kind": KIND, "version": VERSION, "sources": self.sources, "source_paths": self.source_paths,
                "domains": {d: law.to_dict() for d, law in self.domains.items()},
                "valid_weights": self.valid_weights,
                "implicit": self.implicit.to_dict() if self.implicit else None, "meta": self.meta}

    def save(self, path: str | Path) -> Path:
        return write_atomic(path, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> "MixingLaw":
        try:
            d = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read mixing law {path}: {e}") from e
        if not isinstance(d, dict) or d.get("kind") != KIND:
            raise ConfigError(f"{path} is not a mixing law (write one with `dcbench mix fit`)")
        return cls(sources=list(d["sources"]), domains={k: M4Law.from_dict(v) for k, v in d["domains"].items()},
                   valid_weights=d.get("valid_weights"),
                   implicit=ImplicitLaw.from_dict(d["implicit"]) if d.get("implicit") else None,
                   source_paths=d.get("source_paths") or {}, meta=d.get("meta") or {})


def fit_mixing_law(r: np.ndarray, losses: dict[str, np.ndarray], sources: list[str], *,
                   valid_weights: dict[str, float] | None = None, implicit_k: int | None = None,
                   draws: int = 30, seed: int = 0, delta: float = 0.05, log=None) -> MixingLaw:
    """Fit M4 per validation domain, and the aggregation asked for.

    `losses[d]` holds domain d's loss for each mixture row of r. With
    `valid_weights` (renormalised to sum 1) the total is their weighted sum;
    with `implicit_k` an implicit model of K latent domains is fitted to the
    total (the weighted sum when weights are given, else the mean of domains).
    """
    r = np.asarray(r, float)
    if valid_weights is not None:
        unknown = set(valid_weights) - set(losses)
        if unknown:
            raise ConfigError(f"validation weights name domains without losses: {sorted(unknown)}")
        total = sum(valid_weights.values())
        if total <= 0:
            raise ConfigError("validation weights must have a positive sum")
        valid_weights = {d: w / total for d, w in valid_weights.items()}
    domains, meta = {}, {"fit_mae": {}}
    for d, y in losses.items():
        law = fit_m4(r, np.asarray(y, float), draws=draws, seed=seed, delta=delta)
        domains[d] = law
        meta["fit_mae"][d] = float(np.mean(np.abs(law.predict(r) - y)))
        if log:
            log(f"  {d}: c={law.c:.4f} k={law.k:.4g} fit MAE {meta['fit_mae'][d]:.4f}")
    law = MixingLaw(sources, domains, valid_weights=valid_weights, meta=meta)
    if implicit_k:
        weights = valid_weights or {d: 1 / len(losses) for d in losses}
        y_total = sum(w * np.asarray(losses[d], float) for d, w in weights.items())
        law.implicit = ImplicitLaw.fit(r, y_total, k=implicit_k, seed=seed)
        meta["implicit_k"] = implicit_k
        meta["fit_mae"]["total"] = float(np.mean(np.abs(law.implicit.predict(r) - y_total)))
    elif valid_weights is not None:
        y_total = sum(w * np.asarray(losses[d], float) for d, w in valid_weights.items())
        meta["fit_mae"]["total"] = float(np.mean(np.abs(law.predict(r) - y_total)))
    return law
