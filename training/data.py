"""Batches of token sequences from a token manifest (written by training.tokenize).

The data is one stream of passes over the sequences. Pass 0 reads them in
manifest order (already shuffled by tokenize); each later pass, DCLM's
`--multiple-data-passes`, reads the shards in an order and their rows in
orders drawn from (seed, pass), so a second pass is not a replay. Global
batch g is stream positions [g * B * W, (g + 1) * B * W); rank r takes the
r-th block of B of them, so ranks are disjoint and `start=g` equals
skipping g batches. Only the current shard's row order and a few memory
maps are held, however large the data.

Loss: the last context of every input shard is padded with PAD; targets
equal to PAD must not count (`loss_mask`, or `cross_entropy(ignore_index=pad_id)`).
"""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from dcbench.errors import ConfigError, DataError
from dcbench.manifest import MANIFEST_NAME, Manifest


class TokenShards:
    def __init__(self, path: str | Path, *, seed: int = 0):
        path = Path(path)
        self.dir = path.parent if path.suffix == ".json" else path
        self.manifest = Manifest.load(str(self.dir / MANIFEST_NAME if path.suffix != ".json" else path))
        if self.manifest.kind != "tokens":
            raise DataError(f"{path}: a {self.manifest.kind!r} manifest, not token shards (run tokenize first)")
        self.seed = seed
        self.uris = self.manifest.shard_uris(str(self.dir))
        self.rows = [s.documents for s in self.manifest.shards]
        self.sequences = sum(self.rows)
        self.seq_len = int(self.manifest.inputs["seq_len"])
        self.vocab_size = int(self.manifest.extra["vocab_size"])
        self.pad_id = int(self.manifest.extra["pad"])
        self.eot_id = int(self.manifest.extra["eot"])
        self._maps: dict[int, np.ndarray] = {}
        self._pass_plan: tuple[int, list[int], list[int]] | None = None
        self._row_order: tuple[int, int, np.ndarray | None] | None = None

    def __len__(self) -> int:
        return self.sequences

    def batches(self, batch_size: int, *, rank: int = 0, world_size: int = 1, start: int = 0,
                repeat: bool = True) -> Iterator[torch.Tensor]:
        """LongTensor[batch_size, seq_len + 1] for this rank, from global batch `start` on.

        Without `repeat` it stops before the first global batch that would run past one pass.
        """
        if batch_size < 1 or world_size < 1 or not 0 <= rank < world_size or start < 0:
            raise ConfigError(f"bad batch layout: batch_size={batch_size}, rank={rank}, "
                              f"world_size={world_size}, start={start}")
        glob = batch_size * world_size
        if self.sequences == 0 or (not repeat and glob > self.sequences):
            return
        g = start
        while repeat or (g + 1) * glob <= self.sequences:
            first = g * glob + rank * batch_size
            rows = [self._row(p) for p in range(first, first + batch_size)]
            yield torch.from_numpy(np.stack(rows).astype(np.int64))
            g += 1

    def _row(self, position: int) -> np.ndarray:
        """The sequence at stream position `position` (pass = position // sequences)."""
        pas, index = divmod(position, self.sequences)
        shard_order, starts = self._plan(pas)
        k = bisect.bisect_right(starts, index) - 1
        shard = shard_order[k]
        return self._map(shard)[self._rows_of(pas, shard)[index - starts[k]]]

    def _plan(self, pas: int) -> tuple[list[int], list[int]]:
        """Shard order of a pass and where each shard starts in it."""
        if self._pass_plan is None or self._pass_plan[0] != pas:
            order = list(range(len(self.rows)))
            if pas > 0:
                order = np.random.default_rng([self.seed, pas]).permutation(len(self.rows)).tolist()
            starts = np.concatenate([[0], np.cumsum([self.rows[s] for s in order])[:-1]]).astype(int).tolist()
            self._pass_plan = (pas, order, starts)
        return self._pass_plan[1], self._pass_plan[2]

    def _rows_of(self, pas: int, shard: int) -> np.ndarray:
        if self._row_order is None or self._row_order[:2] != (pas, shard):
            order = (np.arange(self.rows[shard]) if pas == 0
                     else np.random.default_rng([self.seed, pas, shard]).permutation(self.rows[shard]))
            self._row_order = (pas, shard, order)
        return self._row_order[2]

    def _map(self, shard: int) -> np.ndarray:
        if shard not in self._maps:
            if len(self._maps) >= 4:  # a batch spans at most a few shards
                self._maps.pop(next(iter(self._maps)))
            arr = np.load(self.uris[shard], mmap_mode="r")
            if arr.shape != (self.rows[shard], self.seq_len + 1):
                raise DataError(f"{self.uris[shard]}: shape {arr.shape}, manifest says "
                                f"({self.rows[shard]}, {self.seq_len + 1})")
            self._maps[shard] = arr
        return self._maps[shard]


def split(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets): the first seq_len tokens and the same shifted by one."""
    return batch[:, :-1], batch[:, 1:]


def loss_mask(batch: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Bool[B, seq_len]: which targets count in the loss (not PAD)."""
    return batch[:, 1:] != pad_id
