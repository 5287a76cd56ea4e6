"""DCLM's scale tiers and the pool each one filters (spec `dclm.md` section 7).

The numbers are DCLM's published facts, kept here once so that the CLI,
the leaderboard and the docs agree. Pool sizes are DCLM's rounded figures.
Where DCLM published nothing for a tier (1B-5x is deprecated), the field is
None rather than a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from dcbench.errors import ConfigError

# DCLM's RefinedWeb subsets for the filtering track all live in one global shard.
_RW = "global-shard_03"


@dataclass(frozen=True)
class Tier:
    name: str
    params: int | None  # model parameters
    train_tokens: int | None  # 20 x params x chinchilla multiplier
    pool_tokens: int | None  # size of the tier's competition pool, rounded as published
    h100_hours: int | None  # DCLM's training cost estimate
    refinedweb_subset: tuple[str, ...] | None  # DCLM-RefinedWeb shards for the filtering track
    competition_pool: str | None  # file list under data/competition_pools/{preextracted,raw_warcs}/
    pool_files: int | None = None  # number of .jsonl.gz files in that list, where the spec gives it
    deprecated: bool = False
    generated: bool = False  # built locally (`dcbench pool toy`), never downloaded
    note: str = ""


def _local(*shards: int) -> tuple[str, ...]:
    return tuple(f"{_RW}/local-shard_{i}" for i in shards)


_ALL: tuple[Tier, ...] = (
    Tier("toy", None, None, None, None, None, None, generated=True,
         note="embedded pool: `dcbench pool toy` generates it, no download"),
    Tier("400M-1x", 411_616_256, 8_232_325_120, 137_000_000_000, 26, None, "400m-1x.txt", pool_files=10_305,
         note="no RefinedWeb subset: filter the competition pool"),
    Tier("1B-1x", 1_439_795_200, 28_795_904_000, 1_640_000_000_000, 240, _local(1), "1b-1x.txt"),
    Tier("1B-5x", 1_439_795_200, 143_979_520_000, None, None, None, None, deprecated=True,
         note="deprecated, kept for reference; no pool size or cost in the spec"),
    Tier("3B-1x", 2_795_932_160, 55_918_643_200, 3_180_000_000_000, 740, _local(1, 8), "3b-1x.txt"),
    Tier("7B-1x", 6_889_410_560, 137_788_211_200, 7_850_000_000_000, 3_700, _local(1, 3, 6, 8, 9), "7b-1x.txt"),
    Tier("7B-2x", 6_889_410_560, 275_576_422_400, 15_700_000_000_000, 7_300, (_RW,), "7b-2x.txt",
         note="RefinedWeb subset: all of global-shard_03"),
)

TIERS: Mapping[str, Tier] = MappingProxyType({t.name: t for t in _ALL})  # insertion order = table order


def get_tier(name: str) -> Tier:
    """The tier called `name` (case-insensitive, as DCLM's file lists write `400m-1x`)."""
    for tier in TIERS.values():
        if tier.name.lower() == name.strip().lower():
            return tier
    raise ConfigError(f"unknown tier {name!r}; choose one of: {', '.join(TIERS)}")


def _human(n: int | None) -> str:
    """137_000_000_000 -> '137B', 411_616_256 -> '411.6M'; '-' for unknown."""
    if n is None:
        return "-"
    for div, unit in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if n >= div:
            text = f"{n / div:.3g}" if n / div < 100 else f"{n / div:.0f}"
            return f"{text}{unit}"
    return str(n)


def _subset(tier: Tier) -> str:
    """Compact form: 'global-shard_03/local-shard_{1,8}'."""
    if not tier.refinedweb_subset:
        return "-"
    locals_ = [s.rsplit("_", 1)[-1] for s in tier.refinedweb_subset if "/local-shard_" in s]
    if len(locals_) == len(tier.refinedweb_subset) and len(locals_) > 1:
        return f"{_RW}/local-shard_{{{','.join(locals_)}}}"
    return ", ".join(tier.refinedweb_subset)


def _row(t: Tier) -> list[str]:
    pool = t.competition_pool or "-"
    if t.pool_files:
        pool += f" ({t.pool_files:,} files)"
    hours = f"{t.h100_hours:,}" if t.h100_hours is not None else "-"
    return [t.name, _human(t.params), _human(t.train_tokens), _human(t.pool_tokens), hours, _subset(t), pool, t.note]


def format_table() -> str:
    """An aligned text table of all tiers, for `dcbench pool tiers`."""
    header = ["tier", "params", "train tokens", "pool tokens", "H100-h", "RefinedWeb subset (filtering)",
              "competition pool list", "note"]
    rows = [header] + [_row(t) for t in TIERS.values()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append("pools and RefinedWeb subsets as published by DCLM; competition pool lists live in "
                 "data/competition_pools/{preextracted,raw_warcs}/ of the DCLM repository")
    return "\n".join(lines)
