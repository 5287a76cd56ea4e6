"""Reproduce the baselines end to end: pool -> process -> tokenize -> train -> eval.

`reproduce()` runs every recipe it is given through the same fixed path, so the
resulting models differ only by their data:

* the pool: the one given, or the embedded toy pool built into ``OUT/pool``
  (with its quality classifier and toy evaluation suite, as `dcbench pool toy`);
* process: the shipped recipe ``baselines/recipes/NAME.yaml``; ``unfiltered``
  is a one-step recipe (``move_url_modifier``) that sends the raw pool down
  the same path;
* tokenize: small tiers train ONE BPE tokenizer on the raw pool and share it
  (same file, same sha256) across recipes; official tiers use GPT-NeoX-20B;
* train: the tier's full budget (or ``max_steps``);
* eval: the toy suite on small tiers, CORE on official ones.

Layout under ``out``::

    pool/                      the toy pool (when no pool is given)
    tokenizer/tokenizer.json   the shared BPE (small tiers)
    NAME/dataset/              `dcbench process` output
    NAME/tokens/               token shards (+ a copy of the shared tokenizer)
    NAME/model/                `dcbench train` run directory
    NAME/eval/SUITE.json       evaluation results

Every stage resumes: re-running skips finished work.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
RECIPES_DIR = REPO / "baselines" / "recipes"
DEFAULT_RECIPES = ("dclm_baseline", "refinedweb", "unfiltered")
UNFILTERED = "unfiltered"
TOY_POOL_DOCS = 4000
TOY_POOL_SHARDS = 8


def _unfiltered_recipe():
    from dcbench.baselines.recipe import parse_recipe

    data = {"name": UNFILTERED, "description": "the raw pool (only the URL moved out of metadata)",
            "steps": [{"func": "move_url_modifier"}]}
    return parse_recipe(data, source=UNFILTERED, text="", default_name=UNFILTERED)


def load_named_recipe(name: str, pool: str):
    """A shipped recipe by name (or a path to a YAML), with `{pool}` filled in."""
    from dcbench.baselines.recipe import load_recipe
    from dcbench.errors import ConfigError
    from dcbench.poolref import pool_dir

    if name == UNFILTERED:
        return _unfiltered_recipe()
    path = Path(name)
    if not path.suffix:
        path = RECIPES_DIR / f"{name}.yaml"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in RECIPES_DIR.glob("*.yaml")))
        raise ConfigError(f"recipe {name!r} not found: use one of {shipped}, {UNFILTERED}, or a YAML path")
    return load_recipe(path, variables={"pool": pool_dir(pool)})


def recipe_key(name: str) -> str:
    """The run directory name for a recipe (its stem when given as a path)."""
    return Path(name).stem if name.endswith((".yaml", ".yml")) else name


def build_pool(out_pool: str, *, seed: int = 0, say: Callable[[str], Any] = print) -> str:
    """The embedded toy pool, its quality classifier and its toy suite, as `dcbench pool toy`
    makes them (same functions, same arguments); skips what is already there."""
    from dcbench.manifest import Manifest
    from dcbench.pools.cli import TOY_CLASSIFIER

    manifest_path = Path(out_pool) / "manifest.json"
    manifest = None
    if manifest_path.is_file():
        manifest = Manifest.load(str(manifest_path))
        wanted = {"generator": "toy", "seed": seed, "docs": TOY_POOL_DOCS}
        if any(manifest.inputs.get(k) != v for k, v in wanted.items()) or len(manifest.shards) != TOY_POOL_SHARDS:
            manifest = None
    if manifest is None:
        from dcbench.pools.toy import build_toy_pool

        manifest = build_toy_pool(out_pool, n_docs=TOY_POOL_DOCS, n_shards=TOY_POOL_SHARDS, seed=seed)
        say(f"  toy pool: {manifest.documents} documents in {len(manifest.shards)} shards -> {out_pool}")
    classifier = Path(out_pool) / TOY_CLASSIFIER
    if not classifier.is_file():
        from dcbench.baselines.quality.fasttext_quality import train

        report = train([f"{out_pool}/reference/hq.jsonl"], manifest.shard_uris(out_pool), str(classifier),
                       bucket=100_000, seed=seed + 42)
        say(f"  quality classifier: {report.train_examples:,} examples -> {classifier}")
    from dcbench.eval.toy import build_toy_suite, load_toy_suite

    if load_toy_suite(f"{out_pool}/eval") is None:
        suite = build_toy_suite(f"{out_pool}/eval", seed=seed)
        say(f"  toy suite: {len(suite['tasks'])} tasks -> {out_pool}/eval")
    return out_pool


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _model_done(model_dir: Path, tokens_id: str, steps: int) -> bool:
    man = _read_json(model_dir / "manifest.json")
    return bool(man and man.get("kind") == "model" and man.get("inputs", {}).get("tokens") == tokens_id
                and man.get("extra", {}).get("steps") == steps and (model_dir / "model" / "model.pt").is_file())


def _eval_done(path: Path, model_id: str) -> dict[str, Any] | None:
    res = _read_json(path)
    if not res or not res.get("complete") or res.get("limit") is not None:
        return None
    chain = res.get("model", {}).get("id_chain", {})
    return res if chain.get("model") == model_id else None


def _suite_score(results: dict[str, Any], suite: str) -> Any:
    agg = results.get("aggregates") or {}
    key = "TOY" if suite == "toy" else "CORE"
    return agg.get(key)


def reproduce(*, tier: str = "toy-250k-1x", pool: str | None = None, out: str = "runs/reproduce",
              recipes=DEFAULT_RECIPES, workers: int | None = None, max_steps: int | None = None,
              seed: int = 0, progress: Callable[[str], Any] | None = print) -> list[dict[str, Any]]:
    """Run each recipe through process -> tokenize -> train -> eval; see the module docstring.

    Returns one summary per recipe: its run directories, the manifest ids (dataset,
    tokens, model), the eval results (with the suite's aggregate under `score`),
    and the seconds each stage took in this call.
    """
    from dcbench.errors import ConfigError
    from dcbench.runner import ray_init, run
    from dcbench.eval.runner import run_suite
    from dcbench.training.cli import _tokenizer_for
    from dcbench.training.scales import get_tier
    from dcbench.training.tokenize import tokenize_dataset
    from dcbench.training.tokenizer import file_sha256, load_tokenizer, vocab_size
    from dcbench.training.trainer import train

    say = progress or (lambda *_: None)
    tier_obj = get_tier(tier)
    if not recipes:
        raise ConfigError("reproduce needs at least one recipe")
    keys = [recipe_key(r) for r in recipes]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"recipes {list(recipes)} share run directory names")
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    suite = tier_obj.eval_suite
    t_all = time.perf_counter()

    def stage(label: str) -> Callable[[], float]:
        t0 = time.perf_counter()
        say(f"[reproduce] {label} ...")
        return lambda: time.perf_counter() - t0

    # 1. the pool (the embedded toy one unless given)
    done = stage("pool")
    if pool is None:
        pool = build_pool(str(root / "pool"), seed=seed, say=say)
    pool_seconds = done()
    say(f"[reproduce] pool ready in {pool_seconds:.1f} s: {pool}")
    tasks_dir = str(Path(pool) / "eval") if suite == "toy" else None
    if suite == "toy" and not (Path(tasks_dir) / "suite.json").is_file():
        raise ConfigError(f"no toy suite in {tasks_dir}: build the pool with `dcbench pool toy` "
                          f"(or eval.toy.build_toy_suite)")
    built = [(key, load_named_recipe(name, pool)) for key, name in zip(keys, recipes)]  # validate all first

    ours = ray_init(workers, None)  # one Ray for every stage
    summaries = []
    try:
        # 2. one tokenizer for every recipe (small tiers: a BPE trained on the raw pool)
        done = stage("tokenizer")
        shared_tok = _tokenizer_for(tier_obj, pool, str(root / "tokenizer"), None)
        tok_sha = file_sha256(shared_tok)
        if vocab_size(load_tokenizer(shared_tok)) > tier_obj.model.vocab_size:
            raise ConfigError(f"tokenizer {shared_tok} has more tokens than tier {tier_obj.name}'s vocabulary")
        tok_seconds = done()
        say(f"[reproduce] tokenizer {shared_tok} (sha256 {tok_sha[:12]}) in {tok_seconds:.1f} s")

        total_steps = min(tier_obj.steps, max_steps) if max_steps is not None else tier_obj.steps
        for key, recipe in built:
            rdir = root / key
            dirs = {"dataset": rdir / "dataset", "tokens": rdir / "tokens", "model": rdir / "model",
                    "eval": rdir / "eval"}
            seconds: dict[str, float] = {}

            done = stage(f"{key}: process ({len(recipe.steps)} steps)")
            result = run(recipe, pool, str(dirs["dataset"]), workers=workers)
            seconds["process"] = done()
            dataset_id = result.manifest.id
            kept = result.stats.get("totals", {}).get("kept")
            say(f"[reproduce] {key}: dataset {dataset_id} ({kept} documents kept) in {seconds['process']:.1f} s")

            done = stage(f"{key}: tokenize")
            dirs["tokens"].mkdir(parents=True, exist_ok=True)
            tok_copy = dirs["tokens"] / "tokenizer.json"  # beside the shards, where eval looks for it
            if not tok_copy.is_file() or file_sha256(tok_copy) != tok_sha:
                shutil.copyfile(shared_tok, tok_copy)
            tokens = tokenize_dataset(str(dirs["dataset"]), str(dirs["tokens"]), str(tok_copy),
                                      seq_len=tier_obj.model.seq_len, workers=workers, seed=seed)
            seconds["tokenize"] = done()
            say(f"[reproduce] {key}: tokens {tokens.id} ({tokens.extra['sequences']:,} sequences) "
                f"in {seconds['tokenize']:.1f} s")

            done = stage(f"{key}: train {tier_obj.name} for {total_steps:,} steps")
            if _model_done(dirs["model"], tokens.id, total_steps):
                man = _read_json(dirs["model"] / "manifest.json")
                model_id, final_loss, trained = man["id"], man["extra"].get("final_loss"), False
            else:
                res = train(tier_obj, str(dirs["tokens"]), str(dirs["model"]), max_steps=max_steps,
                            log_every=100, log=lambda s, k=key: say(f"    {k}: {s}"))
                model_id, final_loss, trained = res.manifest_id, res.final_loss, True
            seconds["train"] = done()
            loss = f"{final_loss:.4f}" if isinstance(final_loss, (int, float)) else final_loss
            say(f"[reproduce] {key}: model {model_id} (final loss {loss}) "
                f"{'trained' if trained else 'already trained'} in {seconds['train']:.1f} s")

            done = stage(f"{key}: eval {suite}")
            results_path = dirs["eval"] / f"{suite}.json"
            results = _eval_done(results_path, model_id)
            evaluated = results is None
            if evaluated:
                results = run_suite(str(dirs["model"]), suite, tasks_dir=tasks_dir, out_path=str(results_path),
                                    progress=False)
            seconds["eval"] = done()
            score = _suite_score(results, suite)
            shown = f"{score:.4f}" if isinstance(score, float) else score
            say(f"[reproduce] {key}: {suite.upper()} {shown} "
                f"{'evaluated' if evaluated else '(already evaluated)'} in {seconds['eval']:.1f} s")

            summaries.append({
                "recipe": key, "recipe_id": recipe.id, "tier": tier_obj.name, "suite": suite, "pool": str(pool),
                "dirs": {k: str(v) for k, v in dirs.items()}, "eval_path": str(results_path),
                "tokenizer": str(tok_copy), "tokenizer_sha256": tok_sha,
                "ids": {"dataset": dataset_id, "tokens": tokens.id, "model": model_id, "eval": results.get("id")},
                "documents_kept": kept, "steps": total_steps, "final_loss": final_loss,
                "score": score, "aggregates": results.get("aggregates"),
                "accuracy": {t: r["accuracy"] for t, r in results.get("tasks", {}).items()},
                "results": results, "seconds": seconds, "trained": trained, "evaluated": evaluated,
            })
    finally:
        if ours:
            import ray

            ray.shutdown()

    total = time.perf_counter() - t_all
    say(f"[reproduce] done in {total:.1f} s ({suite.upper()}):")
    for s in sorted(summaries, key=lambda s: s["score"] if isinstance(s["score"], float) else float("-inf"),
                    reverse=True):
        shown = f"{s['score']:.4f}" if isinstance(s["score"], float) else s["score"]
        stages_s = ", ".join(f"{k} {v:.0f}s" for k, v in s["seconds"].items())
        say(f"  {s['recipe']:<16} {shown:>8}   ({stages_s})")
    return summaries
