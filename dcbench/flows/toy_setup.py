"""Toy set-up: what `dcbench pool toy` makes, a complete playground with no download.

Three stages' products under one folder:

    OUT/shard_*.jsonl.gz, manifest.json, reference/hq.jsonl   the toy pool (pools)
    OUT/quality/fasttext_hq_vs_pool.bin                        its quality classifier (baselines),
                                                               what recipes/dclm_baseline.yaml scores with
    OUT/eval/                                                  the toy evaluation suite (eval's format)
    OUT/eval/heldout/                                          fresh pages for `--suite heldout`

The classifier follows DCLM's recipe: the high-quality reference set against
raw pool pages, with DCLM's fastText settings (100k buckets keep it small).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from dcbench.baselines.quality.fasttext_quality import TrainReport, train
from dcbench.eval.toy import load_toy_suite
from dcbench.flows.toy_suite import build_toy_suite
from dcbench.manifest import MANIFEST_NAME, Manifest
from dcbench.pools.toy import build_toy_pool

TOY_CLASSIFIER = "quality/fasttext_hq_vs_pool.bin"  # what baselines/recipes/dclm_baseline.yaml scores with
CLASSIFIER_BUCKETS = 100_000
EVAL_DIR = "eval"
DEFAULT_DOCS, DEFAULT_SHARDS = 4000, 8


def train_toy_classifier(pool_dir: str, manifest: Manifest, seed: int = 0) -> TrainReport:
    """The reference set (`reference/hq.jsonl`) against the pool's pages -> `pool_dir/TOY_CLASSIFIER`."""
    return train([f"{pool_dir}/reference/hq.jsonl"], manifest.shard_uris(pool_dir), f"{pool_dir}/{TOY_CLASSIFIER}",
                 bucket=CLASSIFIER_BUCKETS, seed=seed + 42)


def set_up_toy(out: str, *, n_docs: int = DEFAULT_DOCS, n_shards: int = DEFAULT_SHARDS, seed: int = 0,
               classifier: bool = True, say: Callable[[str], Any] = print) -> Manifest:
    """Write the toy pool, its classifier (unless `classifier` is false) and the toy suite to `out`."""
    manifest = build_toy_pool(out, n_docs=n_docs, n_shards=n_shards, seed=seed)
    say(f"toy pool: {manifest.documents} documents in {len(manifest.shards)} shards -> {out}")
    if classifier:
        report = train_toy_classifier(out, manifest, seed)
        say(f"quality classifier: {report.train_examples:,} examples, train precision@1 "
            f"{report.train_precision_at_1:.3f} -> {out}/{TOY_CLASSIFIER}")
    suite = build_toy_suite(f"{out}/{EVAL_DIR}", seed=seed)
    say(f"toy evaluation suite: {len(suite['tasks'])} held-out tasks -> {out}/{EVAL_DIR} "
        f"(dcbench eval MODEL --suite toy --tasks-dir {out}/{EVAL_DIR}), and held-out pages -> "
        f"{out}/{EVAL_DIR}/heldout (dcbench eval MODEL --suite heldout --heldout {out}/{EVAL_DIR}/heldout "
        f"--pool {out})")
    return manifest


def ensure_toy_setup(out: str, *, seed: int = 0, say: Callable[[str], Any] = print) -> str:
    """The default toy set-up in `out`, as `set_up_toy` makes it, building only what is not there yet."""
    manifest = _existing_pool(out, seed)
    if manifest is None:
        manifest = build_toy_pool(out, n_docs=DEFAULT_DOCS, n_shards=DEFAULT_SHARDS, seed=seed)
        say(f"  toy pool: {manifest.documents} documents in {len(manifest.shards)} shards -> {out}")
    classifier = Path(out) / TOY_CLASSIFIER
    if not classifier.is_file():
        report = train_toy_classifier(out, manifest, seed)
        say(f"  quality classifier: {report.train_examples:,} examples -> {classifier}")
    if load_toy_suite(f"{out}/{EVAL_DIR}") is None:
        suite = build_toy_suite(f"{out}/{EVAL_DIR}", seed=seed)
        say(f"  toy suite: {len(suite['tasks'])} tasks -> {out}/{EVAL_DIR}")
    return out


def _existing_pool(out: str, seed: int) -> Manifest | None:
    """The manifest of a default toy pool with this seed already in `out`, else None."""
    path = Path(out) / MANIFEST_NAME
    if not path.is_file():
        return None
    manifest = Manifest.load(str(path))
    wanted = {"generator": "toy", "seed": seed, "docs": DEFAULT_DOCS}
    if any(manifest.inputs.get(k) != v for k, v in wanted.items()) or len(manifest.shards) != DEFAULT_SHARDS:
        return None
    return manifest
