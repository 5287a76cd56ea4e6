"""A submission: one versioned JSON document describing a finished dcbench run.

It records the id chain pool -> dataset -> tokens -> model -> eval, what each
artefact says it was made from (`links`), which ids were recomputed from the
artefacts at hand (`verified`), the recipe, dataset stats, the model's
hyperparameters and the evaluation results. `leaderboard.rules.check` judges it;
`leaderboard.store.Store` keeps it.

    {"schema_version", "id", "name", "tier", "track", "source",
     "chain": {pool, dataset, tokens, model, eval},
     "links": {"dataset.pool", "tokens.dataset", "model.tokens", "eval.dataset", "eval.tokens", "eval.model"},
     "verified": {dataset|tokens|model|eval: true | false | null (not at hand)}, "verify_errors": [...],
     "recipe": {...}, "recipe_id",
     "dataset": {documents_in, documents_kept, quarantined, steps: [{name, in, kept, removed, ...}]},
     "tokens": {sequences, tokens, seq_len},
     "tokenizer": {sha256, vocab_size},
     "model": {tier_record, overrides, off_leaderboard, steps, tokens_trained, final_loss, epochs, seed},
     "eval": {suite, version, tasks: {name: accuracy}, aggregates: {CORE, EXTENDED, MMLU, TOY}, complete,
              missing, limit, random_baselines: {name: percent}, suite_id,
              items: {name: {correct, p_correct, bpb, margin}}},
     "contamination": null | {id, ngram, suite, tasks: {name: {items, contaminated, share}}},
     "created", "dcbench"}

The artefacts are found from a run directory through the id chain: the model's config
records its tokens directory, the tokens' manifest records where its dataset was read, and
the dataset's manifest holds the recipe. Evaluation results are found where `dcbench eval`
writes them by default (`eval_<suite>.json` beside the model), preferring the tier's suite
and results whose id chain names this model.

The contamination report (`dcbench contamination`) is attached when the dataset directory holds
contamination.json, or when `dcbench submit --contamination FILE` names one; a report of another
dataset is refused. Only its per-task counts and shares travel with the entry.

The training seed (`dcbench train --seed`) is part of the model's id (its manifest records it as an
override when it is not the tier's) and is shown as `model.seed`; runs of one dataset with different
seeds are repeats, which the leaderboard groups. The evaluation's per-item values travel with the
entry (`eval.items`, floats to 6 decimals) so that `dcbench compare` and the page's separability
tests can use leaderboard entries.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from pathlib import Path
from typing import Any

from dcbench import __version__
from dcbench.atomic import write_atomic
from dcbench.errors import DataError
from dcbench.manifest import MANIFEST_NAME, Manifest, content_id
from dcbench.tiers import FREE_ON_OFFICIAL, get_tier, tier_record

SCHEMA_VERSION = 1
TRACK = "filtering"
CHAIN = ("pool", "dataset", "tokens", "model", "eval")
HEADLINE = ("CORE", "EXTENDED", "MMLU", "TOY")
# Tier fields that only change memory use, not the math (DCLM lets `--acc` vary), and numbers
# derived from the others (a change shows up in the field it follows from).
# The seed is not a setting either: runs that differ only by it are repeats (grouped on the leaderboard).
FREE_FIELDS = ("accum", "micro_batch", "params", "tokens", "steps", "seed")
ITEM_DIGITS = 6  # decimals kept of per-item values in a submission


def tier_differences(trained: dict[str, Any], reference: dict[str, Any]) -> list[str]:
    """Fields (model ones as `model.NAME`) where a trained tier record differs from the tier's."""
    def flat(rec: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in rec.items() if k != "model" and k not in FREE_FIELDS}
        out.update({f"model.{k}": v for k, v in (rec.get("model") or {}).items()})
        return out

    a, b = flat(trained), flat(reference)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def number_or_none(value: Any) -> float | None:
    """An aggregate as a float, or None for DCLM's "N/A due to missing tasks" strings."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def submission_id(doc: dict[str, Any]) -> str:
    """`submission-<16 hex>`: the hash of the name, tier, source and id chain."""
    return content_id("submission", {"name": doc.get("name"), "tier": doc.get("tier"), "source": doc.get("source"),
                                     "chain": doc.get("chain")})


# ------------------------------------------------------------------ reading artefacts


def _load_manifest(path: Path, kind: str) -> Manifest:
    man = Manifest.load(str(path / MANIFEST_NAME if path.is_dir() else path))
    if man.kind != kind:
        raise DataError(f"{path}: a {man.kind!r} manifest where a {kind!r} one was expected")
    return man


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify_manifest(man: Manifest, base: Path, label: str, errors: list[str], hash_files: bool) -> bool:
    """The stored id equals the recomputed one, and (hash_files) each local shard has its recorded sha256."""
    ok = True
    if man.compute_id() != man.id:
        errors.append(f"{label}: manifest id {man.id} does not match its contents ({man.compute_id()}); "
                      f"the manifest was edited")
        ok = False
    if hash_files:
        for shard in man.shards:
            if "://" in shard.path:
                continue
            p = Path(shard.path) if shard.path.startswith("/") else base / shard.path
            if p.is_file() and _sha256(p) != shard.sha256:
                errors.append(f"{label}: {p} does not match the sha256 its manifest records; the file changed "
                              f"after the run")
                ok = False
    return ok


def eval_id_of(results: dict[str, Any]) -> str:
    """Recompute an eval results file's id the way `eval.runner.run_suite` makes it."""
    chain = (results.get("model") or {}).get("id_chain") or {}
    return content_id("eval", {
        "model": chain.get("model"), "suite": results.get("suite"), "version": results.get("version"),
        "limit": results.get("limit"),
        "tasks": {k: [v["accuracy"], v["n"]] for k, v in (results.get("tasks") or {}).items()},
        "code": results.get("dcbench"),
        **({"precision": results["precision"]} if results.get("precision", "fp32") != "fp32" else {}),
        **({"clean_subset": results["clean_subset"].get("report_id")} if results.get("clean_subset") else {})})


EVAL_FILES = ("eval_{suite}.json", "eval_*.json", "eval.json", "results.json", "eval/*.json")
TIER_SUITE_FILES = {"toy": ("toy",), "core": ("core", "core_mmlu", "extended")}  # as `dcbench eval` names them


def _eval_candidates(dirs: list[Path], suite: str) -> list[Path]:
    """Results files in `dirs`, the tier's suites first (`dcbench eval` writes eval_<suite>.json)."""
    found: list[Path] = []
    for d in dict.fromkeys(dirs):
        for pattern in EVAL_FILES:
            names = [pattern.format(suite=s) for s in TIER_SUITE_FILES.get(suite, (suite,))] \
                if "{suite}" in pattern else [pattern]
            for name in names:
                found += [p for p in sorted(d.glob(name)) if p.is_file() and p not in found]
    return found


def _evaluates(path: Path, model_id: str) -> bool:
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(results, dict) and ((results.get("model") or {}).get("id_chain") or {}).get("model") == model_id


def find_eval_json(dirs: list[Path], model_id: str, suite: str) -> Path:
    """The results of this model in `dirs`: the first candidate that names the model, else the first
    candidate (the id rule then says it evaluated another model)."""
    candidates = _eval_candidates(dirs, suite)
    if not candidates:
        where = " or ".join(str(d) for d in dict.fromkeys(dirs))
        raise DataError(f"no evaluation results in {where} (looked for eval_{suite}.json, eval_*.json, eval.json, "
                        f"results.json, eval/*.json): run `dcbench eval {dirs[-1]} --suite {suite}` first, "
                        f"or pass --eval RESULTS.json")
    return next((c for c in candidates if _evaluates(c, model_id)), candidates[0])


def _is_model_dir(path: Path) -> bool:
    try:
        return (path / MANIFEST_NAME).is_file() and Manifest.load(str(path / MANIFEST_NAME)).kind == "model"
    except DataError:
        return False


def _layout(run: Path) -> dict[str, Path | None]:
    """A reproduce-style layout (run/{dataset,tokens,model}/), or a `dcbench train --out` directory itself."""
    if not run.is_dir():
        raise DataError(f"run directory {run} not found: pass the `dcbench train --out` directory (or a "
                        f"`dcbench reproduce` recipe directory)")

    def sub(*names: str) -> Path | None:
        return next((run / n for n in names if (run / n / MANIFEST_NAME).is_file()), None)

    model = sub("model", "train") or (run if _is_model_dir(run) else None)
    return {"dataset": sub("dataset", "data", "process"), "tokens": sub("tokens"), "model": model}


def _recorded_tokens(model_dir: Path) -> Path | None:
    """The tokens directory the trainer recorded in the model's config.json, when it is still there."""
    cfg = model_dir / "model" / "config.json"
    if cfg.is_file():
        td = json.loads(cfg.read_text()).get("tokens_dir")
        if td and (Path(td) / MANIFEST_NAME).is_file():
            return Path(td)
    return None


def _recorded_dataset(tokens_dir: Path | None) -> Path | None:
    """The dataset directory the tokens' manifest recorded (`dcbench tokenize`), when it is still there."""
    if tokens_dir is None:
        return None
    where = Manifest.load(str(tokens_dir / MANIFEST_NAME)).extra.get("dataset_dir")
    return Path(where) if where and (Path(where) / MANIFEST_NAME).is_file() else None


def _resolve_paths(run_dir, dataset_dir, tokens_dir, model_dir) -> tuple[Path | None, Path | None, Path]:
    """(dataset, tokens, model) directories: those given, then a run directory's layout, then the id chain
    (model -> its recorded tokens -> their recorded dataset)."""
    found = _layout(Path(run_dir)) if run_dir is not None else {}
    model_dir = model_dir or found.get("model")
    if model_dir is None:
        raise DataError(f"no trained model in {run_dir}: pass the `dcbench train --out` directory, which holds "
                        f"manifest.json and model/")
    model_dir = Path(model_dir)
    tokens_dir = Path(tokens_dir) if tokens_dir else found.get("tokens") or _recorded_tokens(model_dir)
    dataset_dir = Path(dataset_dir) if dataset_dir else found.get("dataset") or _recorded_dataset(tokens_dir)
    return dataset_dir, tokens_dir, model_dir


def _missing_dataset(tokens_path: Path | None, tokens_man: Manifest | None) -> DataError:
    if tokens_man is None:
        return DataError("the model's token shards were not found (the model records where they were): pass "
                         "--tokens DIR (the `dcbench tokenize -o` directory) and --dataset DIR (the `dcbench "
                         "process --out` directory), so the entry carries its recipe")
    return DataError(f"the dataset of the tokens in {tokens_path} ({tokens_man.inputs.get('dataset')}) was not found: "
                     f"pass --dataset DIR (the `dcbench process --out` directory it came from), so the entry "
                     f"carries its recipe")


def recipe_name(dataset_man: Manifest) -> str:
    """What an entry is called by default: its recipe's name (a dataset manifest is named after it)."""
    recipe = dataset_man.extra.get("recipe")
    named = recipe.get("name") if isinstance(recipe, dict) else None
    return str(named or dataset_man.name)


def _dataset_part(man: Manifest) -> dict[str, Any]:
    return {"documents_in": man.extra.get("records"), "documents_kept": man.documents,
            "quarantined": man.extra.get("quarantined"), "pool_name": man.extra.get("pool_name"),
            "steps": man.extra.get("steps", [])}


def _eval_part(results: dict[str, Any]) -> dict[str, Any]:
    aggregates = results.get("aggregates") or {}
    return {"suite": results.get("suite"), "version": results.get("version"),
            "tasks": {k: v.get("accuracy") for k, v in (results.get("tasks") or {}).items()},
            "aggregates": {k: number_or_none(aggregates.get(k)) for k in HEADLINE if k in aggregates},
            "complete": bool(results.get("complete")), "missing": list(results.get("missing") or []),
            "limit": results.get("limit"), "precision": _precision(results),
            "random_baselines": {k: v.get("random_baseline") for k, v in (results.get("tasks") or {}).items()
                                 if isinstance(v, dict) and v.get("random_baseline") is not None},
            "suite_id": results.get("suite_id"), "items": _items_part(results.get("items"))}


def _items_part(items: Any) -> dict[str, Any] | None:
    """Per-item values (`dcbench eval`'s `items`), floats rounded to ITEM_DIGITS decimals; None when absent."""
    if not isinstance(items, dict):
        return None

    def compact(values: Any) -> Any:
        if not isinstance(values, list):
            return None
        return [round(v, ITEM_DIGITS) if isinstance(v, float) else v for v in values]

    return {str(t): {k: compact(v) for k, v in m.items()} for t, m in items.items() if isinstance(m, dict)}


CONTAMINATION_FILE = "contamination.json"  # where `dcbench contamination` writes its report in a dataset dir


def _contamination_path(given: str | Path | None, dataset_path: Path) -> Path | None:
    """`--contamination FILE`, else the dataset directory's contamination.json when it is there."""
    if given:
        return Path(given)
    found = dataset_path / CONTAMINATION_FILE
    return found if found.is_file() else None


def _contamination_part(path: Path | None, dataset_id: str) -> dict[str, Any] | None:
    """The per-task shares of a `dcbench contamination` report of this dataset; None without a report."""
    if path is None:
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read the contamination report ({e})") from e
    if not isinstance(report, dict) or report.get("kind") != "contamination" or not isinstance(report.get("tasks"),
                                                                                               dict):
        raise DataError(f"{path}: not a report of `dcbench contamination`")
    measured = (report.get("dataset") or {}).get("id")
    if measured != dataset_id:
        raise DataError(f"{path} measured dataset {measured}, but this run's dataset is {dataset_id}: run "
                        f"`dcbench contamination DATASET` on the run's dataset, or leave --contamination out")
    return {"id": report.get("id"), "ngram": report.get("ngram"), "suite": report.get("suite"),
            "tasks": {str(k): {"items": t.get("items"), "contaminated": t.get("contaminated"), "share": t.get("share")}
                      for k, t in report["tasks"].items() if isinstance(t, dict)}}


def _precision(results: dict[str, Any]) -> str | None:
    """The results' evaluation precision; results older than the field say it by the model's dtype."""
    if results.get("precision"):
        return str(results["precision"])
    dtype = (results.get("model") or {}).get("dtype")
    return {"float32": "fp32", "bfloat16": "bf16"}.get(dtype)


def _read_results(path: Path) -> dict[str, Any]:
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: cannot read evaluation results ({e})") from e
    if not isinstance(results, dict) or "tasks" not in results:
        raise DataError(f"{path}: not a dcbench evaluation results file (no 'tasks'): pass the file "
                        f"`dcbench eval` wrote with --eval")
    return results


def _model_part(man: Manifest, model_path: Path, official, tokens_man: Manifest | None) -> dict[str, Any]:
    """The trained configuration against the tier's, the budget trained and the passes over the data."""
    config_path = model_path / "model" / "config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    trained = config.get("tier") or tier_record(official)
    overrides = dict(man.inputs.get("overrides") or {})
    changed = tier_differences(trained, tier_record(official))
    steps = int(man.extra.get("steps", config.get("steps", 0)) or 0)
    tokens_trained = man.extra.get("tokens")
    if tokens_trained is None:
        tokens_trained = steps * int(trained.get("global_batch", 0)) * int(trained.get("model", {}).get("seq_len", 0))
    return {"tier_record": trained, "overrides": overrides, "changed_fields": changed,
            "off_leaderboard": bool(set(overrides) - FREE_ON_OFFICIAL) or bool(changed), "steps": steps,
            "tokens_trained": int(tokens_trained), "final_loss": man.extra.get("final_loss"),
            "epochs": _epochs(man, tokens_man, trained, steps), "seed": _seed(trained)}


def _seed(trained: dict[str, Any]) -> int | None:
    seed = trained.get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def _epochs(model_man: Manifest, tokens_man: Manifest | None, trained: dict[str, Any], steps: int) -> float | None:
    """Passes over the data: what the trainer recorded, else worked out from the tokens' sequences."""
    if model_man.extra.get("epochs") is not None:
        return float(model_man.extra["epochs"])
    sequences = tokens_man.extra.get("sequences") if tokens_man else None
    return steps * int(trained.get("global_batch", 0)) / sequences if sequences else None


# ------------------------------------------------------------------ building


def build_submission(run_dir: str | Path | None = None, *, dataset_dir: str | Path | None = None,
                     tokens_dir: str | Path | None = None, model_dir: str | Path | None = None,
                     eval_json: str | Path | None = None, name: str | None = None,
                     hash_files: bool = True, contamination: str | Path | None = None) -> dict[str, Any]:
    """Read the artefacts of one run into a submission document (see the module docstring).

    Give `run_dir` (a `dcbench train --out` directory, or a reproduce-style directory holding
    dataset/, tokens/, model/), or the explicit paths; what is not given is found through the id
    chain. A DataError says what to pass when the dataset (so the recipe) or the results cannot be
    found. The name defaults to the recipe's. `hash_files` re-hashes local shards. `contamination`: a
    `dcbench contamination` report of the dataset (default: DATASET/contamination.json when present).
    """
    dataset_path, tokens_path, model_path = _resolve_paths(run_dir, dataset_dir, tokens_dir, model_dir)
    errors: list[str] = []
    verified: dict[str, bool | None] = {k: None for k in CHAIN[1:]}
    model_man = _load_manifest(model_path, "model")
    verified["model"] = _verify_manifest(model_man, model_path, "model", errors, hash_files)
    tokens_man = _load_manifest(tokens_path, "tokens") if tokens_path else None
    if tokens_man is not None:
        verified["tokens"] = _verify_manifest(tokens_man, tokens_path, "tokens", errors, hash_files)
    if dataset_path is None:
        raise _missing_dataset(tokens_path, tokens_man)
    dataset_man = _load_manifest(dataset_path, "dataset")
    verified["dataset"] = _verify_manifest(dataset_man, dataset_path, "dataset", errors, hash_files)
    official = get_tier(model_man.inputs.get("tier") or model_man.name)
    eval_path = Path(eval_json) if eval_json else find_eval_json(
        [p for p in (Path(run_dir) if run_dir else None, model_path) if p is not None], model_man.id,
        official.eval_suite)
    results = _read_results(eval_path)
    verified["eval"] = eval_id_of(results) == results.get("id")
    if not verified["eval"]:
        errors.append(f"eval: results id {results.get('id')} does not match its contents ({eval_id_of(results)}); "
                      f"the results file was edited")
    eval_chain = (results.get("model") or {}).get("id_chain") or {}
    chain = {
        "pool": dataset_man.inputs.get("pool"),
        "dataset": dataset_man.id,
        "tokens": tokens_man.id if tokens_man else model_man.inputs.get("tokens"),
        "model": model_man.id,
        "eval": results.get("id"),
    }
    links = {
        "dataset.pool": dataset_man.inputs.get("pool"),
        "tokens.dataset": tokens_man.inputs.get("dataset") if tokens_man else None,
        "model.tokens": model_man.inputs.get("tokens"),
        "eval.dataset": eval_chain.get("dataset"),
        "eval.tokens": eval_chain.get("tokens"),
        "eval.model": eval_chain.get("model"),
    }
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "name": name or recipe_name(dataset_man),
        "tier": official.name,
        "track": TRACK,
        "source": "dcbench",
        "chain": chain,
        "links": links,
        "verified": verified,
        "verify_errors": errors,
        "recipe": dataset_man.extra.get("recipe"),
        "recipe_id": dataset_man.inputs.get("recipe"),
        "dataset": _dataset_part(dataset_man),
        "tokens": None if tokens_man is None else {
            "sequences": tokens_man.extra.get("sequences"), "tokens": tokens_man.extra.get("tokens"),
            "seq_len": tokens_man.inputs.get("seq_len"),
        },
        "tokenizer": {
            "sha256": (tokens_man.inputs if tokens_man else model_man.inputs).get("tokenizer"),
            "vocab_size": tokens_man.extra.get("vocab_size") if tokens_man else None,
        },
        "model": _model_part(model_man, model_path, official, tokens_man),
        "eval": _eval_part(results),
        "contamination": _contamination_part(_contamination_path(contamination, dataset_path), dataset_man.id),
        "created": now_iso(),
        "dcbench": __version__,
    }
    doc["id"] = submission_id(doc)
    return doc


def validate_document(doc: Any) -> dict[str, Any]:
    """Refuse what is not a submission document of a schema this code reads."""
    if not isinstance(doc, dict):
        raise DataError("a submission is a JSON object")
    version = doc.get("schema_version")
    if not isinstance(version, int):
        raise DataError("submission has no integer schema_version")
    if version > SCHEMA_VERSION:
        raise DataError(f"submission schema {version} is newer than this dcbench reads ({SCHEMA_VERSION}); upgrade")
    for key in ("name", "tier", "track", "chain", "eval"):
        if key not in doc:
            raise DataError(f"submission lacks {key!r}")
    if not doc.get("id"):
        doc = {**doc, "id": submission_id(doc)}
    return doc


def save_submission(doc: dict[str, Any], path: str | Path) -> None:
    write_atomic(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def load_submission(path: str | Path) -> dict[str, Any]:
    try:
        return validate_document(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: cannot read submission ({e})") from e


__all__ = ["SCHEMA_VERSION", "build_submission", "load_submission", "save_submission", "validate_document",
           "submission_id", "eval_id_of", "number_or_none"]
