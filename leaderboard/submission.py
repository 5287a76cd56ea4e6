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
     "model": {tier_record, overrides, off_leaderboard, steps, tokens_trained, final_loss},
     "eval": {suite, version, tasks: {name: accuracy}, aggregates: {CORE, EXTENDED, MMLU, TOY}, complete,
              missing, limit},
     "created", "dcbench"}
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
FREE_FIELDS = ("accum", "micro_batch", "params", "tokens", "steps")


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
        "code": results.get("dcbench")})


def _find_eval_json(run_dir: Path) -> Path:
    candidates = [run_dir / "eval.json", run_dir / "results.json", *sorted((run_dir / "eval").glob("*.json"))]
    for c in candidates:
        if c.is_file():
            return c
    raise DataError(f"{run_dir}: no evaluation results (looked for eval.json, results.json, eval/*.json); "
                    f"pass eval_json=")


def _resolve_paths(run_dir, dataset_dir, tokens_dir, model_dir, eval_json) -> tuple[Path | None, ...]:
    """Fill what was not given from a run directory or from the artefacts' own records."""
    run = Path(run_dir) if run_dir is not None else None
    if run is not None:
        # a reproduce-style layout: run/{dataset,tokens,model|train}/ and run/eval.json
        def sub(*names: str) -> Path | None:
            return next((run / n for n in names if (run / n / MANIFEST_NAME).is_file()), None)

        dataset_dir = dataset_dir or sub("dataset", "data", "process")
        tokens_dir = tokens_dir or sub("tokens")
        if model_dir is None:
            model_dir = sub("model", "train") or (run if (run / MANIFEST_NAME).is_file() else None)
        if eval_json is None:
            eval_json = _find_eval_json(run)
    if model_dir is None:
        raise DataError("no model: pass run_dir or model_dir (a train run dir with manifest.json)")
    model_dir = Path(model_dir)
    if tokens_dir is None:  # the trainer records where its tokens were
        cfg = model_dir / "model" / "config.json"
        if cfg.is_file():
            td = json.loads(cfg.read_text()).get("tokens_dir")
            if td and (Path(td) / MANIFEST_NAME).is_file():
                tokens_dir = td
    if eval_json is None:
        eval_json = _find_eval_json(model_dir)
    return (Path(dataset_dir) if dataset_dir else None, Path(tokens_dir) if tokens_dir else None, model_dir,
            Path(eval_json))


# ------------------------------------------------------------------ building


def build_submission(run_dir: str | Path | None = None, *, dataset_dir: str | Path | None = None,
                     tokens_dir: str | Path | None = None, model_dir: str | Path | None = None,
                     eval_json: str | Path | None = None, name: str | None = None,
                     hash_files: bool = True) -> dict[str, Any]:
    """Read the artefacts of one run into a submission document (see the module docstring).

    Give `run_dir` (a directory holding dataset/, tokens/, model/ or train/ and eval.json; or a train
    run dir itself), or the explicit paths. The tokens directory is found from the model's config.json
    when not given; a dataset directory absent here leaves the dataset ids unverified (null), which the
    rules reject only where a recorded link disagrees. `hash_files` re-hashes local shards.
    """
    dataset_path, tokens_path, model_path, eval_path = _resolve_paths(run_dir, dataset_dir, tokens_dir,
                                                                      model_dir, eval_json)
    errors: list[str] = []
    verified: dict[str, bool | None] = {k: None for k in CHAIN[1:]}

    model_man = _load_manifest(model_path, "model")
    verified["model"] = _verify_manifest(model_man, model_path, "model", errors, hash_files)
    config_path = model_path / "model" / "config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    tier_name = model_man.inputs.get("tier") or model_man.name
    official = get_tier(tier_name)
    trained = config.get("tier") or tier_record(official)
    overrides = dict(model_man.inputs.get("overrides") or {})
    reference = tier_record(official)
    changed = tier_differences(trained, reference)
    off_leaderboard = bool(set(overrides) - FREE_ON_OFFICIAL) or bool(changed)

    tokens_man = _load_manifest(tokens_path, "tokens") if tokens_path else None
    if tokens_man is not None:
        verified["tokens"] = _verify_manifest(tokens_man, tokens_path, "tokens", errors, hash_files)
    dataset_man = _load_manifest(dataset_path, "dataset") if dataset_path else None
    if dataset_man is not None:
        verified["dataset"] = _verify_manifest(dataset_man, dataset_path, "dataset", errors, hash_files)

    try:
        results = json.loads(eval_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{eval_path}: cannot read evaluation results ({e})") from e
    if not isinstance(results, dict) or "tasks" not in results:
        raise DataError(f"{eval_path}: not a dcbench evaluation results file (no 'tasks')")
    recomputed = eval_id_of(results)
    verified["eval"] = recomputed == results.get("id")
    if not verified["eval"]:
        errors.append(f"eval: results id {results.get('id')} does not match its contents ({recomputed}); "
                      f"the results file was edited")
    eval_chain = (results.get("model") or {}).get("id_chain") or {}

    chain = {
        "pool": (dataset_man.inputs.get("pool") if dataset_man else None),
        "dataset": dataset_man.id if dataset_man else (tokens_man.inputs.get("dataset") if tokens_man else None),
        "tokens": tokens_man.id if tokens_man else model_man.inputs.get("tokens"),
        "model": model_man.id,
        "eval": results.get("id"),
    }
    links = {
        "dataset.pool": dataset_man.inputs.get("pool") if dataset_man else None,
        "tokens.dataset": tokens_man.inputs.get("dataset") if tokens_man else None,
        "model.tokens": model_man.inputs.get("tokens"),
        "eval.dataset": eval_chain.get("dataset"),
        "eval.tokens": eval_chain.get("tokens"),
        "eval.model": eval_chain.get("model"),
    }
    steps = int(model_man.extra.get("steps", config.get("steps", 0)) or 0)
    tokens_trained = model_man.extra.get("tokens")
    if tokens_trained is None:
        tokens_trained = steps * int(trained.get("global_batch", 0)) * int(trained.get("model", {}).get("seq_len", 0))
    aggregates = results.get("aggregates") or {}
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "name": name or (dataset_man.name if dataset_man else model_man.name),
        "tier": official.name,
        "track": TRACK,
        "source": "dcbench",
        "chain": chain,
        "links": links,
        "verified": verified,
        "verify_errors": errors,
        "recipe": (dataset_man.extra.get("recipe") if dataset_man else None),
        "recipe_id": (dataset_man.inputs.get("recipe") if dataset_man else None),
        "dataset": None if dataset_man is None else {
            "documents_in": dataset_man.extra.get("records"),
            "documents_kept": dataset_man.documents,
            "quarantined": dataset_man.extra.get("quarantined"),
            "pool_name": dataset_man.extra.get("pool_name"),
            "steps": dataset_man.extra.get("steps", []),
        },
        "tokens": None if tokens_man is None else {
            "sequences": tokens_man.extra.get("sequences"), "tokens": tokens_man.extra.get("tokens"),
            "seq_len": tokens_man.inputs.get("seq_len"),
        },
        "model": {
            "tier_record": trained,
            "overrides": overrides,
            "changed_fields": changed,
            "off_leaderboard": off_leaderboard,
            "steps": steps,
            "tokens_trained": int(tokens_trained),
            "final_loss": model_man.extra.get("final_loss"),
        },
        "eval": {
            "suite": results.get("suite"),
            "version": results.get("version"),
            "tasks": {k: v.get("accuracy") for k, v in (results.get("tasks") or {}).items()},
            "aggregates": {k: number_or_none(aggregates.get(k)) for k in HEADLINE if k in aggregates},
            "complete": bool(results.get("complete")),
            "missing": list(results.get("missing") or []),
            "limit": results.get("limit"),
        },
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
