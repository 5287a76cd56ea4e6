"""Import DCLM's published evaluation results (exp_data/evals/*.json) as reference rows.

Each file becomes a submission with source "dclm-reference": its CORE / EXTENDED
are DCLM's own published `Core_<v>` / `Extended_<v>` (v2 by default), MMLU its
`mmlu_fewshot` accuracy, and its tier is read from the model and file name
(`open_lm_1b` -> 1B-1x, `d=1024_l=24_h=8` -> 400M-1x, `open_lm_7b ... mult=2` ->
7B-2x, ...); a model we cannot place (a Hugging Face model, an unusual token
count) gets the tier "external".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dcbench.errors import DataError
from dcbench.eval.aggregate import import_dclm_eval
from dcbench.leaderboard.submission import SCHEMA_VERSION, number_or_none, submission_id
from dcbench.tiers import TIERS

EXTERNAL = "external"
_SIZES = [  # (pattern on the lowercased model + file name, size)
    (re.compile(r"d=1024_l=24_h=8|411m|400m"), "400M"),
    (re.compile(r"open_lm_1b|(?<![0-9.])1b_\d+x"), "1B"),
    (re.compile(r"open_lm_3b|(?<![0-9.])3b_\d+x"), "3B"),
    (re.compile(r"open_lm_7b|(?<![0-9.])7b_\d+x"), "7B"),
]
_OFFICIAL_MULTS = {"400M": {1}, "1B": {1, 5}, "3B": {1}, "7B": {1, 2}}


def _multiplier(text: str) -> float | None:
    m = re.search(r"mult=(\d+(?:p\d+)?)", text)
    if m:
        return float(m.group(1).replace("p", "."))
    m = re.search(r"-(\d+)\.0_heavy", text)  # DCLM's "open_lm_1b-5.0_heavy" names
    if m:
        return float(m.group(1))
    m = re.search(r"(?<![0-9.])[1-7]b_(\d+)x", text)
    return float(m.group(1)) if m else None


def infer_tier(model: str | None, name: str | None = None) -> str:
    """A dcbench tier name for a DCLM result, or "external" when it cannot be placed."""
    text = f"{model or ''} {name or ''}".lower()
    size = next((s for pattern, s in _SIZES if pattern.search(text)), None)
    if size is None or "/" in (model or ""):  # "org/model": a Hugging Face model, not an open_lm run
        return EXTERNAL
    tokens = re.search(r"tokens=(\d+)", text)
    if tokens:
        by_tokens = [t.name for t in TIERS.values() if t.official and t.name.startswith(size + "-")
                     and t.tokens == int(tokens.group(1))]
        if by_tokens:
            return by_tokens[0]
    mult = _multiplier(text)
    if mult is None:
        # 400M and 1B runs without a multiplier are DCLM's 1x; a bare 7B (e.g. the 2.6T-token model) is not
        mult = 1.0 if size in ("400M", "1B") else None
    if mult is None or mult != int(mult) or int(mult) not in _OFFICIAL_MULTS[size]:
        return EXTERNAL
    return f"{size}-{int(mult)}x"


def reference_submission(path: str | Path, version: str = "v2") -> dict[str, Any]:
    """One DCLM eval JSON as a reference submission document."""
    data = import_dclm_eval(path)
    published = data["published"]
    raw = data["raw"]
    filename = Path(raw.get("_filename") or path).name
    label = filename.removeprefix("evaluation_").removesuffix(".json").removesuffix("_heavy")
    model = data.get("model") or raw.get("model_name")
    tier = infer_tier(model, filename)
    per_task = data["per_task"]
    core = published.get(f"Core_{version}", published.get("Core"))
    extended = published.get(f"Extended_{version}", published.get("Extended"))
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "name": label,
        "tier": tier,
        "track": "filtering",
        "source": "dclm-reference",
        "chain": {"pool": None, "dataset": None, "tokens": None,
                  "model": f"dclm-model-{data['model_uuid']}" if data.get("model_uuid") else None,
                  "eval": f"dclm-eval-{data['uuid']}" if data.get("uuid") else f"dclm-file-{filename}"},
        "links": {}, "verified": {}, "verify_errors": [],
        "recipe": None, "recipe_id": None, "dataset": None, "tokens": None,
        "model": {"name": model, "dclm_model_uuid": data.get("model_uuid")},
        "eval": {
            "suite": "extended", "version": version,
            "tasks": {k: v for k, v in per_task.items()},
            "aggregates": {"CORE": number_or_none(core), "EXTENDED": number_or_none(extended),
                           "MMLU": number_or_none(per_task.get("mmlu_fewshot"))},
            "published": {k: published[k] for k in ("Core_v1", "Core_v2", "Extended_v1", "Extended_v2")
                          if k in published},
            "complete": isinstance(core, (int, float)) and isinstance(extended, (int, float)),
            "missing": [], "limit": None,
        },
        "reference": {"file": filename, "dclm_name": data.get("name"), "creation_date": data.get("creation_date")},
        "created": data.get("creation_date") or "",
        "dcbench": None,
    }
    doc["id"] = submission_id(doc)
    return doc


def import_reference_results(store, folder: str | Path, version: str = "v2") -> dict[str, Any]:
    """Add every `*.json` in `folder` to `store` as a DCLM reference row; files already there are skipped.

    Returns {"added": [ids], "skipped": [(file, why)]}."""
    folder = Path(folder)
    files = sorted(folder.glob("*.json"))
    if not files:
        raise DataError(f"{folder}: no DCLM eval JSON files (exp_data/evals/*.json) there")
    added, skipped = [], []
    for f in files:
        try:
            doc = reference_submission(f, version)
        except (OSError, ValueError) as e:
            skipped.append((f.name, f"unreadable: {e}"))
            continue
        if store.get(doc["id"]) is not None:
            skipped.append((f.name, "already imported"))
            continue
        try:
            added.append(store.add(doc, force_reference=True))
        except DataError as e:
            skipped.append((f.name, str(e)))
    return {"added": added, "skipped": skipped}
