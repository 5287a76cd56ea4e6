"""`top_fraction_filter` decides with two numbers a shard (the cut score and how many of its
documents scoring exactly the cut it keeps) and keeps exactly what the global percentile says:
round(fraction x N) documents, ties at the cut to the earlier document in global order."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from dcbench.baselines.quality.fasttext_quality import top_fraction_mask
from dcbench.baselines.registry import get
from dcbench.shards import read_shard, shard_stem, write_shard
from dcbench.stages import GlobalContext


class LocalContext(GlobalContext):
    """The analysis' fan-out in this process: what is tested is the decision, not Ray."""

    def map_shards(self, fn, shards, *args):
        return [fn(uri, *args) for uri in shards]


def _pool(tmp_path, scores_per_shard):
    uris = []
    for name, scores in scores_per_shard.items():
        uri = str(tmp_path / f"{name}.jsonl")
        write_shard(uri, [{"text": f"doc {i}", "q": s} for i, s in enumerate(scores)])
        uris.append(uri)
    return uris


def _kept(step, uris, decisions):
    out = {}
    for uri in uris:
        keep = step.apply(decisions[shard_stem(uri)])
        out[shard_stem(uri)] = np.array([bool(keep(dict(d))) for d in read_shard(uri)])
    return out


@pytest.mark.parametrize("fraction", [0.1, 0.35, 0.5, 1.0])
def test_two_numbers_a_shard_keep_what_the_global_percentile_keeps(tmp_path, fraction):
    rng = random.Random(3)
    # coarse scores: many ties, some of them at any cut, spread over every shard
    scores = {f"s{k}": [rng.choice([0.1, 0.2, 0.25, 0.5, 0.9]) for _ in range(n)] for k, n in enumerate((40, 0, 33, 27))}
    uris = _pool(tmp_path, scores)
    step = get("top_fraction_filter").build({"key": "q", "fraction": fraction})
    decisions = step.analyze(uris, LocalContext(workers=1, work_dir=str(tmp_path / "w")))
    assert all(set(d) == {"threshold", "ties"} for d in decisions.values())
    json.dumps(decisions, allow_nan=False)  # plain JSON, as the runner saves it
    want = top_fraction_mask({k: np.array(v, dtype=np.float64) for k, v in scores.items()}, fraction)
    got = _kept(step, uris, decisions)
    assert {k: m.tolist() for k, m in got.items()} == {k: m.tolist() for k, m in want.items()}
    assert sum(int(m.sum()) for m in got.values()) == round(fraction * sum(map(len, scores.values())))


def test_a_fraction_that_keeps_nothing_and_a_missing_score(tmp_path):
    uris = _pool(tmp_path, {"a": [0.3, 0.6], "b": [0.9]})
    step = get("top_fraction_filter").build({"key": "q", "fraction": 0.1})  # round(0.3) = 0 documents
    decisions = step.analyze(uris, LocalContext(workers=1, work_dir=str(tmp_path / "w")))
    assert all(d["threshold"] is None for d in decisions.values())
    assert not any(m.any() for m in _kept(step, uris, decisions).values())
    write_shard(str(tmp_path / "c.jsonl"), [{"text": "no score"}])
    with pytest.raises(ValueError, match="run the scoring enricher before top_fraction_filter"):
        step.analyze(uris + [str(tmp_path / "c.jsonl")], LocalContext(workers=1, work_dir=str(tmp_path / "w")))
