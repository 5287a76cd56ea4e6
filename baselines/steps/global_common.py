"""What the global steps share: reading a shard's good documents (those its
`apply()` will see, in the same order), and a global step whose decision is a
set of document positions to drop."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from dcbench.contracts import Mapper, Page
from dcbench.shards import Bad, read_shard, shard_stem
from dcbench.stages import GlobalContext


def good_docs(uri: str, any_text: bool = False) -> Iterator[Page]:
    """The documents of a shard that the stage's first step is applied to, in file order, so that
    positions in a decision match the order `apply()` sees them: every readable record for a
    step registered with `any_text` (its text may be a list of lines, or absent), else only those
    whose text is a str (the runner quarantines the others before such a step)."""
    return (d for d in read_shard(uri, require_text=not any_text) if not isinstance(d, Bad))


def drop_by_index(decision: dict[str, Any]) -> Mapper:
    """A mapper removing the documents whose position in the shard is listed."""
    drop = set(decision["drop"])
    position = itertools.count()

    def apply(page: Page) -> list[Page]:
        return [] if next(position) in drop else [page]

    return apply


def decisions_from_masks(masks: dict[str, np.ndarray]) -> dict[str, Any]:
    return {stem: {"drop": np.flatnonzero(mask).tolist()} for stem, mask in masks.items()}


class DropByIndex:
    """A `GlobalStep` whose analysis maps every shard to a value (keys, signatures,
    scores), then reduces them all to a drop mask per shard."""

    def __init__(self, per_shard: Callable[..., Any], args: tuple, reduce: Callable[[dict], dict[str, np.ndarray]]):
        self.per_shard, self.args, self.reduce = per_shard, args, reduce

    def analyze(self, shards: list[str], ctx: GlobalContext) -> dict[str, Any]:
        values = ctx.map_shards(self.per_shard, shards, *self.args)
        return decisions_from_masks(self.reduce({shard_stem(u): v for u, v in zip(shards, values)}))

    def apply(self, decision: dict[str, Any]) -> Mapper:
        return drop_by_index(decision)
