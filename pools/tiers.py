"""The pool each scale tier filters, for `dcbench pool tiers` (spec `dclm.md` section 7).

A view of the spine's table (`dcbench.tiers`): one row per pool, the toy
pool first, then DCLM's tiers with their parameter counts and token budgets
(computed from the model shape), pool sizes, training cost and the
RefinedWeb subsets the filtering track may use instead of the pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from dcbench import table
from dcbench.errors import ConfigError
from dcbench.tiers import POOLS
from dcbench.tiers import TIERS as SCALES
from dcbench.tiers import Pool


@dataclass(frozen=True)
class PoolTier:
    """One row of `dcbench pool tiers`: a pool and the tier that trains on it."""

    name: str
    params: int | None  # model parameters (DCLM's count); None for the toy pool (several CPU tiers)
    train_tokens: int | None  # 20 x params x chinchilla multiplier
    pool_tokens: int | None  # size of the tier's competition pool, rounded as published
    h100_hours: int | None  # DCLM's training cost estimate
    refinedweb_subset: tuple[str, ...] | None  # DCLM-RefinedWeb shards for the filtering track
    competition_pool: str | None  # file list under data/competition_pools/{preextracted,raw_warcs}/
    pool_files: int | None = None  # number of .jsonl.gz files in that list, where the spec gives it
    deprecated: bool = False
    generated: bool = False  # built locally (`dcbench pool toy`), never downloaded
    note: str = ""


def _view(pool: Pool) -> PoolTier:
    tier = SCALES.get(pool.name)  # the toy pool feeds several CPU tiers, so no one model
    return PoolTier(pool.name, tier.params if tier else None, tier.tokens if tier else None, pool.tokens,
                    pool.h100_hours, pool.refinedweb_subset, pool.competition_pool, pool.files,
                    deprecated=bool(tier and tier.deprecated), generated=pool.generated, note=pool.note)


TIERS: Mapping[str, PoolTier] = MappingProxyType({name: _view(p) for name, p in POOLS.items()})


def get_tier(name: str) -> PoolTier:
    """The pool tier called `name` (case-insensitive, as DCLM's file lists write `400m-1x`)."""
    for tier in TIERS.values():
        if tier.name.lower() == name.strip().lower():
            return tier
    raise ConfigError(f"unknown tier {name!r}; choose one of: {', '.join(TIERS)}")


def _human(n: int | None) -> str:
    """137_000_000_000 -> '137B', 411_616_256 -> '412M'; '-' for unknown."""
    if n is None:
        return "-"
    for div, unit in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if n >= div:
            text = f"{n / div:.3g}" if n / div < 100 else f"{n / div:.0f}"
            return f"{text}{unit}"
    return str(n)


def _subset(tier: PoolTier) -> str:
    """Compact form: 'global-shard_03/local-shard_{1,8}'."""
    if not tier.refinedweb_subset:
        return "-"
    locals_ = [s.rsplit("_", 1)[-1] for s in tier.refinedweb_subset if "/local-shard_" in s]
    if len(locals_) == len(tier.refinedweb_subset) and len(locals_) > 1:
        prefix = tier.refinedweb_subset[0].rsplit("_", 1)[0]
        return f"{prefix}_{{{','.join(locals_)}}}"
    return ", ".join(tier.refinedweb_subset)


def _row(t: PoolTier) -> list[str]:
    pool = t.competition_pool or "-"
    if t.pool_files:
        pool += f" ({t.pool_files:,} files)"
    hours = f"{t.h100_hours:,}" if t.h100_hours is not None else "-"
    return [t.name, _human(t.params), _human(t.train_tokens), _human(t.pool_tokens), hours, _subset(t), pool, t.note]


def format_table() -> str:
    """An aligned text table of all tiers, for `dcbench pool tiers`."""
    header = ["tier", "params", "train tokens", "pool tokens", "H100-h", "RefinedWeb subset (filtering)",
              "competition pool list", "note"]
    return (table.format_table(header, [_row(t) for t in TIERS.values()]) + "\n\n"
            "pools and RefinedWeb subsets as published by DCLM; competition pool lists live in "
            "data/competition_pools/{preextracted,raw_warcs}/ of the DCLM repository")
