"""Reproduce the baselines end to end: pool -> process -> tokenize -> train -> eval.

`reproduce()` runs every recipe it is given through the same fixed path, so the
resulting models differ only by their data:

* the pool: the one given, or the embedded toy pool built into ``OUT/pool``
  (with its quality classifier and toy evaluation suite, as `dcbench pool toy`:
  `dcbench.flows.toy_setup`);
* process: the shipped recipe ``baselines/recipes/NAME.yaml`` (package data of
  ``dcbench.baselines``, found wherever dcbench is installed); ``unfiltered`` is a
  one-step recipe (``move_url_modifier``) that sends the raw pool down the same path;
* tokenize: the tier's one tokenizer for every recipe (small tiers: the BPE shipped
  with dcbench, the same file `dcbench tokenize` uses; official tiers: GPT-NeoX-20B);
* train: the tier's full budget (or ``max_steps``), saying when it repeats the data;
* eval: the toy suite on small tiers, CORE on official ones.

Layout under ``out``::

    pool/                      the toy pool (when no pool is given)
    tokenizer/tokenizer.json   the tier's BPE (small tiers)
    NAME/dataset/              `dcbench process` output
    NAME/tokens/               token shards (+ a copy of the shared tokenizer)
    NAME/model/                `dcbench train` run directory (the tier's seed)
    NAME/eval/SUITE.json       evaluation results
    NAME/seed-S/model/, NAME/seed-S/eval/   the other training seeds (``seeds`` > 1)

``seeds=N`` trains N models of every dataset, with training seeds tier seed, tier seed + 1, ...
(weight initialisation and data order; the seed is part of each model's id), so the leaderboard
shows each recipe as one entry with its mean and 95% interval over seeds, and `dcbench compare
OUT/A OUT/B` compares two recipes over items and seeds.

Every stage resumes: re-running skips finished work. `submit_all` then checks
each result against the tier's rules, ranks those that pass on a leaderboard store
and returns the rejected ones; `dcbench reproduce` exits 3 when any run is not
ranked (a smoke run with ``--max-steps`` never is), after printing why.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import ray

from dcbench import baselines
from dcbench.baselines.recipe import load_recipe, parse_recipe
from dcbench.errors import ConfigError, DataError
from dcbench.eval.runner import run_suite
from dcbench.flows.toy_setup import ensure_toy_setup
from dcbench.leaderboard.rules import check, format_rejections
from dcbench.leaderboard.compare import t_interval
from dcbench.leaderboard.html import with_documents
from dcbench.leaderboard.store import Store
from dcbench.leaderboard.submission import build_submission
from dcbench.leaderboard.table import format_leaderboard
from dcbench.poolref import pool_dir
from dcbench.runner import run
from dcbench.taskloop import ray_init
from dcbench.training.scales import get_tier
from dcbench.training.tier_tokenizer import tokenizer_for
from dcbench.training.tokenize import tokenize_dataset
from dcbench.training.tokenizer import file_sha256, load_tokenizer, vocab_size
from dcbench.training.trainer import train

RECIPES_DIR = Path(baselines.__file__).parent / "recipes"  # package data: found wherever dcbench is installed
DEFAULT_RECIPES = ("dclm_baseline", "refinedweb", "unfiltered")
UNFILTERED = "unfiltered"


def _unfiltered_recipe():
    data = {"name": UNFILTERED, "description": "the raw pool (only the URL moved out of metadata)",
            "steps": [{"func": "move_url_modifier"}]}
    return parse_recipe(data, source=UNFILTERED, text="", default_name=UNFILTERED)


def load_named_recipe(name: str, pool: str):
    """A shipped recipe by name (or a path to a YAML), with `{pool}` filled in."""
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


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _model_done(model_dir: Path, tokens_id: str, steps: int, overrides: dict[str, Any]) -> bool:
    man = _read_json(model_dir / "manifest.json")
    inputs = (man or {}).get("inputs", {})
    return bool(man and man.get("kind") == "model" and inputs.get("tokens") == tokens_id
                and (inputs.get("overrides") or {}) == overrides
                and man.get("extra", {}).get("steps") == steps and (model_dir / "model" / "model.pt").is_file())


def training_seeds(tier, seeds: int) -> list[int]:
    """The training seeds of `seeds` repeats: the tier's own first (its model ids stay as they were)."""
    if seeds < 1:
        raise ConfigError(f"--seeds {seeds}: train at least 1 seed")
    return [tier.seed + i for i in range(seeds)]


def seed_dirs(rdir: Path, seed: int, tier) -> dict[str, Path]:
    """model/ and eval/ of one training seed: beside the dataset for the tier's seed, else in seed-S/."""
    base = rdir if seed == tier.seed else rdir / f"seed-{seed}"
    return {"model": base / "model", "eval": base / "eval"}


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


class _Clock:
    """Says when a stage starts and times it."""

    def __init__(self, say: Callable[[str], Any]):
        self.say = say

    def start(self, label: str) -> Callable[[], float]:
        t0 = time.perf_counter()
        self.say(f"[reproduce] {label} ...")
        return lambda: time.perf_counter() - t0


@dataclass(frozen=True)
class _Plan:
    """What every recipe's run shares: the tier, the pool, the shared tokenizer, the budget."""

    tier: Any
    pool: str
    tasks_dir: str | None
    tokenizer: str
    tokenizer_sha: str
    total_steps: int
    max_steps: int | None
    workers: int | None
    seed: int
    clock: _Clock
    train_seeds: tuple[int, ...] = ()

    @property
    def suite(self) -> str:
        return self.tier.eval_suite


def reproduce(*, tier: str = "toy-250k-1x", pool: str | None = None, out: str = "runs/reproduce",
              recipes=DEFAULT_RECIPES, workers: int | None = None, max_steps: int | None = None,
              seed: int = 0, seeds: int = 1,
              progress: Callable[[str], Any] | None = print) -> list[dict[str, Any]]:
    """Run each recipe through process -> tokenize -> train -> eval; see the module docstring.

    `seed` makes the toy pool and the token shuffle; `seeds` is how many models each dataset
    trains (training seeds: `training_seeds`). Returns one summary per recipe and training seed:
    its run directories, the manifest ids (dataset, tokens, model), the training seed, the eval
    results (with the suite's aggregate under `score`), and the seconds each stage took in this call.
    """
    say = progress or (lambda *_: None)
    clock = _Clock(say)
    tier_obj = get_tier(tier)
    train_seeds = tuple(training_seeds(tier_obj, seeds))
    if not recipes:
        raise ConfigError("reproduce needs at least one recipe")
    keys = [recipe_key(r) for r in recipes]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"recipes {list(recipes)} share run directory names")
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()

    pool, tasks_dir = _pool(pool, root, tier_obj.eval_suite, seed, clock)
    built = [(key, load_named_recipe(name, pool)) for key, name in zip(keys, recipes)]  # validate all first
    ours = ray_init(workers, None)  # one Ray for every stage
    try:
        tokenizer, sha = _shared_tokenizer(tier_obj, pool, root, clock)
        total_steps = min(tier_obj.steps, max_steps) if max_steps is not None else tier_obj.steps
        plan = _Plan(tier_obj, pool, tasks_dir, tokenizer, sha, total_steps, max_steps, workers, seed, clock,
                     train_seeds)
        summaries = [s for key, recipe in built for s in _run_recipe(key, recipe, root / key, plan)]
    finally:
        if ours:
            ray.shutdown()
    _report(summaries, tier_obj.eval_suite, time.perf_counter() - t_all, say)
    return summaries


def _pool(pool: str | None, root: Path, suite: str, seed: int, clock: _Clock) -> tuple[str, str | None]:
    """The pool (the embedded toy one unless given) and, for the toy suite, its tasks dir."""
    done = clock.start("pool")
    if pool is None:
        pool = ensure_toy_setup(str(root / "pool"), seed=seed, say=clock.say)
    clock.say(f"[reproduce] pool ready in {done():.1f} s: {pool}")
    if suite != "toy":
        return pool, None
    tasks_dir = str(Path(pool) / "eval")
    if not (Path(tasks_dir) / "suite.json").is_file():
        raise ConfigError(f"no toy suite in {tasks_dir}: build the pool with `dcbench pool toy` "
                          f"(or write the suite with `dcbench eval toy-suite --out {tasks_dir}`)")
    return pool, tasks_dir


def _shared_tokenizer(tier, pool: str, root: Path, clock: _Clock) -> tuple[str, str]:
    """The tier's tokenizer, one file for every recipe, and its sha256."""
    done = clock.start("tokenizer")
    path = tokenizer_for(tier, str(root / "tokenizer"), log=clock.say)
    sha = file_sha256(path)
    if vocab_size(load_tokenizer(path)) > tier.model.vocab_size:
        raise ConfigError(f"tokenizer {path} has more tokens than tier {tier.name}'s vocabulary")
    clock.say(f"[reproduce] tokenizer {path} (sha256 {sha[:12]}) in {done():.1f} s")
    return path, sha


def _run_recipe(key: str, recipe, rdir: Path, plan: _Plan) -> list[dict[str, Any]]:
    """process -> tokenize once, then train -> eval per training seed, each stage skipped when already done."""
    shared = {"dataset": rdir / "dataset", "tokens": rdir / "tokens"}
    seconds: dict[str, float] = {}
    dataset_id, kept = _process(key, recipe, shared, plan, seconds)
    tokens, tok_copy = _tokenize(key, shared, plan, seconds)
    out = []
    for train_seed in plan.train_seeds or (plan.tier.seed,):
        dirs = {**shared, **seed_dirs(rdir, train_seed, plan.tier)}
        times = dict(seconds) if not out else {}  # the shared stages count once, with the first seed
        label = key if len(plan.train_seeds) <= 1 else f"{key} seed {train_seed}"
        model_id, final_loss, trained = _train(label, tokens.id, dirs, plan, times, train_seed)
        results_path, results, evaluated = _evaluate(label, model_id, dirs, plan, times)
        out.append(_summary(key, recipe, plan, dirs, results_path, tok_copy, (dataset_id, tokens, model_id),
                            kept, final_loss, results, times, trained, evaluated, train_seed))
    return out


def _summary(key, recipe, plan: _Plan, dirs, results_path, tok_copy, ids, kept, final_loss, results, seconds,
             trained, evaluated, train_seed) -> dict[str, Any]:
    dataset_id, tokens, model_id = ids
    score = _suite_score(results, plan.suite)
    return {
        "recipe": key, "seed": train_seed, "recipe_id": recipe.id, "tier": plan.tier.name, "suite": plan.suite,
        "pool": str(plan.pool),
        "dirs": {k: str(v) for k, v in dirs.items()}, "eval_path": str(results_path),
        "tokenizer": str(tok_copy), "tokenizer_sha256": plan.tokenizer_sha,
        "ids": {"dataset": dataset_id, "tokens": tokens.id, "model": model_id, "eval": results.get("id")},
        "documents_kept": kept, "steps": plan.total_steps, "final_loss": final_loss,
        "score": score, "aggregates": results.get("aggregates"),
        "accuracy": {t: r["accuracy"] for t, r in results.get("tasks", {}).items()},
        "results": results, "seconds": seconds, "trained": trained, "evaluated": evaluated,
    }


def _process(key: str, recipe, dirs: dict[str, Path], plan: _Plan, seconds: dict[str, float]) -> tuple[str, Any]:
    done = plan.clock.start(f"{key}: process ({len(recipe.steps)} steps)")
    result = run(recipe, plan.pool, str(dirs["dataset"]), workers=plan.workers)
    seconds["process"] = done()
    kept = result.stats.get("totals", {}).get("kept")
    plan.clock.say(f"[reproduce] {key}: dataset {result.manifest.id} ({kept} documents kept) "
                   f"in {seconds['process']:.1f} s")
    return result.manifest.id, kept


def _tokenize(key: str, dirs: dict[str, Path], plan: _Plan, seconds: dict[str, float]):
    done = plan.clock.start(f"{key}: tokenize")
    dirs["tokens"].mkdir(parents=True, exist_ok=True)
    tok_copy = dirs["tokens"] / "tokenizer.json"  # beside the shards, where eval looks for it
    if not tok_copy.is_file() or file_sha256(tok_copy) != plan.tokenizer_sha:
        shutil.copyfile(plan.tokenizer, tok_copy)
    tokens = tokenize_dataset(str(dirs["dataset"]), str(dirs["tokens"]), str(tok_copy),
                              seq_len=plan.tier.model.seq_len, workers=plan.workers, seed=plan.seed)
    seconds["tokenize"] = done()
    plan.clock.say(f"[reproduce] {key}: tokens {tokens.id} ({tokens.extra['sequences']:,} sequences) "
                   f"in {seconds['tokenize']:.1f} s")
    return tokens, tok_copy


def _train(key: str, tokens_id: str, dirs: dict[str, Path], plan: _Plan,
           seconds: dict[str, float], train_seed: int) -> tuple[str, Any, bool]:
    done = plan.clock.start(f"{key}: train {plan.tier.name} for {plan.total_steps:,} steps")
    overrides = {"seed": train_seed} if train_seed != plan.tier.seed else {}
    if _model_done(dirs["model"], tokens_id, plan.total_steps, overrides):
        man = _read_json(dirs["model"] / "manifest.json")
        model_id, final_loss, trained = man["id"], man["extra"].get("final_loss"), False
    else:
        res = train(plan.tier, str(dirs["tokens"]), str(dirs["model"]), max_steps=plan.max_steps,
                    overrides=overrides or None, log_every=100, log=lambda s: plan.clock.say(f"    {key}: {s}"),
                    warn=lambda s: print(f"    {key}: {s}", file=sys.stderr, flush=True))
        model_id, final_loss, trained = res.manifest_id, res.final_loss, True
    seconds["train"] = done()
    loss = f"{final_loss:.4f}" if isinstance(final_loss, (int, float)) else final_loss
    plan.clock.say(f"[reproduce] {key}: model {model_id} (final loss {loss}) "
                   f"{'trained' if trained else 'already trained'} in {seconds['train']:.1f} s")
    return model_id, final_loss, trained


def _evaluate(key: str, model_id: str, dirs: dict[str, Path], plan: _Plan,
              seconds: dict[str, float]) -> tuple[Path, dict[str, Any], bool]:
    suite = plan.suite
    done = plan.clock.start(f"{key}: eval {suite}")
    results_path = dirs["eval"] / f"{suite}.json"
    results = _eval_done(results_path, model_id)
    evaluated = results is None
    if evaluated:
        results = run_suite(str(dirs["model"]), suite, tasks_dir=plan.tasks_dir, out_path=str(results_path),
                            progress=False)
    seconds["eval"] = done()
    score = _suite_score(results, suite)
    shown = f"{score:.4f}" if isinstance(score, float) else score
    plan.clock.say(f"[reproduce] {key}: {suite.upper()} {shown} "
                   f"{'evaluated' if evaluated else '(already evaluated)'} in {seconds['eval']:.1f} s")
    return results_path, results, evaluated


def _report(summaries: list[dict[str, Any]], suite: str, total: float, say: Callable[[str], Any]) -> None:
    """The recipes ranked by (mean) score, with the spread over seeds and the seconds of each stage."""
    say(f"[reproduce] done in {total:.1f} s ({suite.upper()}):")
    by_recipe: dict[str, list[dict[str, Any]]] = {}
    for s in summaries:
        by_recipe.setdefault(s["recipe"], []).append(s)

    def mean(runs: list[dict[str, Any]]) -> float:
        scores = [r["score"] for r in runs if isinstance(r["score"], float)]
        return sum(scores) / len(scores) if scores else float("-inf")

    for recipe, runs in sorted(by_recipe.items(), key=lambda kv: mean(kv[1]), reverse=True):
        m = mean(runs)
        shown = f"{m:.4f}" if m != float("-inf") else runs[0]["score"]
        seconds: dict[str, float] = {}
        for r in runs:
            for k, v in r["seconds"].items():
                seconds[k] = seconds.get(k, 0.0) + v
        stages_s = ", ".join(f"{k} {v:.0f}s" for k, v in seconds.items())
        spread = _spread(runs) if len(runs) > 1 else ""
        say(f"  {recipe:<16} {shown:>8}{spread}   ({stages_s})")


def _spread(runs: list[dict[str, Any]]) -> str:
    """` over 3 seeds: sd 0.0123, 95% [0.1, 0.2]` (Student t over the seeds' scores)."""
    found = t_interval([r["score"] for r in runs if isinstance(r["score"], float)])
    if found is None:
        return f" over {len(runs)} seeds"
    _, sd, low, high = found
    return f" over {len(runs)} seeds: sd {sd:.4f}, 95% interval [{low:.4f}, {high:.4f}]"


def submit_all(summaries: list[dict[str, Any]], store_path: str, tier: str,
               say: Callable[[str], Any] = print) -> tuple[Store, list[str]]:
    """Check each reproduced run against its tier's rules and store those that pass (once:
    a resumed reproduce does not resubmit what is already ranked); return the store and the
    recipes that were not ranked."""
    store = Store(store_path)
    ranked = {row["id"] for row in store.list(tier=tier)}
    not_ranked = []
    several = len({s.get("seed") for s in summaries}) > 1
    for s in summaries:
        d = s["dirs"]
        label = f"{s['recipe']} seed {s.get('seed')}" if several else s["recipe"]
        submission = build_submission(dataset_dir=d["dataset"], tokens_dir=d["tokens"], model_dir=d["model"],
                                      eval_json=s["eval_path"], name=s["recipe"])
        if submission["id"] in ranked:
            continue
        rejected = check(submission, store)
        if rejected:
            say(f"{label}: not ranked:\n{format_rejections(rejected)}")
            not_ranked.append(label)
            continue
        store.add(submission)
    return store, not_ranked


def not_ranked_error(not_ranked: list[str], total: int, max_steps: int | None, tier) -> DataError:
    """Why a reproduce run ends with exit code 3: which recipes were not ranked, and the usual cause."""
    why = (f" --max-steps {max_steps} trains {min(max_steps, tier.steps):,} of tier {tier.name}'s {tier.steps:,} "
           f"steps: a smoke run is never ranked; drop --max-steps to train the full budget."
           if max_steps is not None and max_steps < tier.steps else " See the rejections above.")
    return DataError(f"{len(not_ranked)} of {total} runs not ranked ({', '.join(not_ranked)}).{why}")


def leaderboard_table(store: Store, tier: str) -> str:
    """The tier's table, seeds grouped, with separability over items (the documents carry them)."""
    return format_leaderboard(with_documents(store, store.list(tier=tier)), tier=tier)
