"""TokenShards: batches across ranks, resume, repeated passes, loss mask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dcbench.errors import DataError
from dcbench.manifest import Manifest, ShardEntry
from dcbench.training.data import TokenShards, loss_mask, split

SEQ = 7
PAD = 99


@pytest.fixture
def shards(tmp_path: Path) -> Path:
    """Sequence k holds k in its first token: 23 sequences in shards of 10, 10, 3."""
    entries, k = [], 0
    for i, n in enumerate((10, 10, 3)):
        arr = np.zeros((n, SEQ + 1), np.uint16)
        arr[:, 0] = np.arange(k, k + n)
        arr[:, -1] = PAD
        k += n
        np.save(tmp_path / f"tokens-{i:05d}.npy", arr)
        entries.append(ShardEntry(f"tokens-{i:05d}.npy", 0, "", n))
    Manifest(kind="tokens", name="t", shards=entries, inputs={"seq_len": SEQ},
             extra={"vocab_size": 100, "pad": PAD, "eot": 0}).save(str(tmp_path / "manifest.json"))
    return tmp_path


def ids(batch: torch.Tensor) -> list[int]:
    return batch[:, 0].tolist()


def take(it, n):
    return [next(it) for _ in range(n)]


def test_reads_manifest_order_as_long(shards):
    ts = TokenShards(shards)
    assert (ts.sequences, ts.seq_len, ts.vocab_size, ts.pad_id) == (23, SEQ, 100, PAD)
    b = next(ts.batches(4))
    assert b.dtype == torch.long and b.shape == (4, SEQ + 1) and ids(b) == [0, 1, 2, 3]


def test_ranks_are_disjoint_and_cover_each_global_batch(shards):
    ts = TokenShards(shards)
    per_rank = [[ids(b) for b in ts.batches(3, rank=r, world_size=2, repeat=False)] for r in range(2)]
    assert len(per_rank[0]) == len(per_rank[1]) == 23 // 6
    for g, (a, b) in enumerate(zip(*per_rank)):
        assert not set(a) & set(b) and sorted(a + b) == list(range(6 * g, 6 * g + 6))


def test_start_equals_skipping(shards):
    ts = TokenShards(shards)
    skipped = take(ts.batches(4, rank=1, world_size=2), 9)[5:]
    resumed = take(TokenShards(shards).batches(4, rank=1, world_size=2, start=5), 4)
    assert all(torch.equal(a, b) for a, b in zip(skipped, resumed))


def test_repeat_gives_further_passes_in_a_new_order(shards):
    ts = TokenShards(shards)
    assert sum(1 for _ in ts.batches(5, repeat=False)) == 4
    stream = [k for b in take(ts.batches(1), 69) for k in ids(b)]
    first, second, third = stream[:23], stream[23:46], stream[46:]
    assert first == list(range(23))
    assert sorted(second) == sorted(third) == list(range(23))
    assert second != first and second != third


def test_loss_mask_and_split(shards):
    b = next(TokenShards(shards).batches(2))
    inputs, targets = split(b)
    assert inputs.shape == targets.shape == (2, SEQ)
    mask = loss_mask(b, PAD)
    assert mask.shape == (2, SEQ) and not mask[:, -1].any() and mask[:, :-1].all()


def test_refuses_other_manifests(tmp_path):
    Manifest(kind="dataset", name="d", shards=[]).save(str(tmp_path / "manifest.json"))
    with pytest.raises(DataError, match="not token shards"):
        TokenShards(tmp_path)
