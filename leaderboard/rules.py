"""The leaderboard's rules: one function per rule, each saying what to change.

DCLM (specs/dclm.md §7, §9): the model, token budget, tokenizer and evaluation are fixed
per scale; only the data (and, on official scales, the accumulation steps) may change.
Small tiers keep the same rules so their entries stay comparable among themselves; their
tokenizer is one shipped file, checked by its sha256 (`dcbench.tiers.TOKENIZER_SHA256`).

`check(submission, store=None)` returns every `Rejection`; an empty list means
accepted. With `reference=True` (imported DCLM results) the hyperparameter, budget
and suite rules are skipped: DCLM already ranked those runs.

Evaluation precision: official tiers accept fp32 scores only (DCLM's eval runs in
fp32); a toy-tier score evaluated otherwise is accepted and `marks` says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from dcbench.errors import ConfigError
from dcbench.leaderboard.submission import tier_differences
from dcbench.tiers import FREE_ON_OFFICIAL, TIERS, TOKENIZER_SHA256, get_tier, tier_record

CORE_SUITES = ("core", "core+mmlu", "extended")


@dataclass(frozen=True)
class Rejection:
    rule: str
    message: str  # what is wrong and what to change

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"


def _tier(sub: dict[str, Any]):
    try:
        return get_tier(str(sub.get("tier")))
    except ConfigError:
        return None


def rule_tier(sub: dict[str, Any], store=None) -> list[Rejection]:
    if _tier(sub) is None:
        return [Rejection("tier", f"unknown tier {sub.get('tier')!r}; train on one of: {', '.join(TIERS)}")]
    if sub.get("track") != "filtering":
        return [Rejection("tier", f"track {sub.get('track')!r} is not accepted here; submit to the 'filtering' "
                                  f"track")]
    return []


def rule_hyperparameters(sub: dict[str, Any], store=None) -> list[Rejection]:
    """Official and small tiers alike: no override but `accum`, not an off-leaderboard run."""
    tier = _tier(sub)
    if tier is None:
        return []
    model = sub.get("model") or {}
    out = []
    locked = sorted(set(model.get("overrides") or {}) - FREE_ON_OFFICIAL)
    if locked:
        out.append(Rejection("hyperparameters", f"tier {tier.name} fixes its hyperparameters; this run overrode "
                                                f"{locked}. Retrain without overrides (only "
                                                f"{sorted(FREE_ON_OFFICIAL)} may change)"))
    record = model.get("tier_record")
    if isinstance(record, dict):
        changed = [k for k in tier_differences(record, tier_record(tier))
                   if k not in locked and k.removeprefix("model.") not in locked]
        if changed:
            out.append(Rejection("hyperparameters", f"the trained configuration differs from tier {tier.name} in "
                                                    f"{changed}; retrain with the tier's own settings"))
    if model.get("off_leaderboard") and not out:
        out.append(Rejection("hyperparameters", "the run is marked off-leaderboard; retrain without "
                                                "--off-leaderboard and without overrides"))
    return out


def rule_token_budget(sub: dict[str, Any], store=None) -> list[Rejection]:
    """Tokens trained == the tier's budget within one global batch."""
    tier = _tier(sub)
    if tier is None:
        return []
    model = sub.get("model") or {}
    trained = int(model.get("tokens_trained") or 0)
    batch_tokens = tier.global_batch * tier.model.seq_len
    if abs(trained - tier.tokens) < batch_tokens:
        return []
    steps = model.get("steps")
    if trained < tier.tokens:
        return [Rejection("token_budget", f"trained {trained:,} tokens ({steps} steps) but tier {tier.name} needs "
                                          f"{tier.tokens:,} ({tier.steps:,} steps): train the full budget "
                                          f"(no --max-steps)")]
    return [Rejection("token_budget", f"trained {trained:,} tokens ({steps} steps), more than tier {tier.name}'s "
                                      f"{tier.tokens:,} ({tier.steps:,} steps); train exactly the tier's budget")]


def rule_tokenizer(sub: dict[str, Any], store=None) -> list[Rejection]:
    """A tier that pins its tokenizer's sha256 (the toy tiers) accepts tokens made with that file only."""
    tier = _tier(sub)
    want = TOKENIZER_SHA256.get(tier.tokenizer) if tier is not None else None
    if want is None:
        return []
    got = (sub.get("tokenizer") or {}).get("sha256")
    fix = (f"re-run `dcbench tokenize` without --tokenizer (it uses the tier's own {tier.tokenizer}, sha256 "
           f"{want[:12]}), then train and evaluate again")
    if not got:
        return [Rejection("tokenizer", f"the run does not record which tokenizer made its tokens; tier {tier.name} "
                                       f"requires {tier.tokenizer}: {fix}")]
    if got != want:
        return [Rejection("tokenizer", f"the tokens were made with tokenizer sha256 {got[:12]}, but tier {tier.name} "
                                       f"requires its own {tier.tokenizer} (sha256 {want[:12]}): {fix}")]
    return []


def rule_suite(sub: dict[str, Any], store=None) -> list[Rejection]:
    """The tier's suite, complete: CORE for official tiers, TOY for toy tiers."""
    tier = _tier(sub)
    if tier is None:
        return []
    ev = sub.get("eval") or {}
    suite = str(ev.get("suite") or "").lower()
    aggs = ev.get("aggregates") or {}
    if tier.eval_suite == "core":
        wanted, key, accepted = "core", "CORE", CORE_SUITES
    else:
        wanted, key, accepted = tier.eval_suite, tier.eval_suite.upper(), (tier.eval_suite,)
    if suite not in accepted:
        return [Rejection("suite", f"tier {tier.name} is ranked on {key}; evaluated on suite {suite or 'none'!r}: "
                                   f"run `dcbench eval --suite {wanted}`")]
    problems = []
    if ev.get("limit") is not None:
        problems.append(f"it scored only {ev['limit']} examples per task (--limit)")
    if ev.get("missing"):
        problems.append(f"tasks missing: {', '.join(ev['missing'][:8])}{' ...' if len(ev['missing']) > 8 else ''}")
    if not ev.get("complete") and not problems:
        problems.append("the results are marked incomplete")
    if not isinstance(aggs.get(key), (int, float)) and not problems:
        problems.append(f"it has no {key} score")
    if problems:
        return [Rejection("suite", f"the {key} evaluation is not complete ({'; '.join(problems)}); rerun "
                                   f"`dcbench eval --suite {wanted}` on every task without --limit")]
    return []


def rule_precision(sub: dict[str, Any], store=None) -> list[Rejection]:
    """Official tiers rank fp32 evaluations only, as DCLM's `heavy.yaml` runs (`precision: fp32`)."""
    tier = _tier(sub)
    if tier is None or not tier.official:
        return []
    got = precision_of(sub)
    if got == "fp32":
        return []
    said = f"was evaluated in {got}" if got else "does not record its evaluation precision"
    return [Rejection("precision", f"the {tier.eval_suite.upper()} evaluation {said}; tier {tier.name} ranks fp32 "
                                   f"scores as DCLM computes them: rerun `dcbench eval` without --precision bf16")]


def precision_of(sub: dict[str, Any]) -> str | None:
    """The evaluation precision a submission records ("fp32", "bf16"), None when it records none."""
    got = (sub.get("eval") or {}).get("precision")
    return str(got) if got else None


def marks(submission: dict[str, Any]) -> list[str]:
    """What an accepted entry is shown with: a toy-tier score evaluated in other than fp32."""
    tier = _tier(submission)
    got = precision_of(submission)
    if tier is None or tier.official or got in (None, "fp32"):
        return []
    return [f"evaluated in {got}, not fp32"]


def rule_ids(sub: dict[str, Any], store=None) -> list[Rejection]:
    """Each artefact's recorded input is the previous artefact; recomputed ids match."""
    chain = sub.get("chain") or {}
    links = sub.get("links") or {}
    out = []
    required = ("eval",) if sub.get("source") == "dclm-reference" else ("model", "eval")
    for stage in required:
        if not chain.get(stage):
            out.append(Rejection("ids", f"no {stage} id; submit a run with its {stage} manifest/results"))
    pairs = [("dataset.pool", "pool"), ("tokens.dataset", "dataset"), ("model.tokens", "tokens"),
             ("eval.dataset", "dataset"), ("eval.tokens", "tokens"), ("eval.model", "model")]
    for link, stage in pairs:
        got, want = links.get(link), chain.get(stage)
        if got is not None and want is not None and got != want:
            made, _ = link.split(".")
            out.append(Rejection("ids", f"the {made} was made from {stage} {got}, but the submitted {stage} is "
                                        f"{want}; submit the {made} built from this {stage} (re-run the chain)"))
    for stage, ok in (sub.get("verified") or {}).items():
        if ok is False:
            out.append(Rejection("ids", f"the {stage} id does not match its contents (edited after the run); "
                                        f"regenerate the {stage}"))
    return out


def rule_duplicate(sub: dict[str, Any], store=None) -> list[Rejection]:
    if store is None:
        return []
    chain = sub.get("chain") or {}
    out = []
    for row in store.find_duplicates(sub.get("id"), chain.get("model"), chain.get("eval")):
        what = ("submission" if row["id"] == sub.get("id") else
                "model" if chain.get("model") and row["model_id"] == chain.get("model") else "evaluation")
        out.append(Rejection("duplicate", f"the same {what} is already on the leaderboard as {row['name']!r} "
                                          f"({row['id']}); submit a new run instead of resubmitting"))
    return out


RULES: dict[str, Callable[..., list[Rejection]]] = {
    "tier": rule_tier,
    "hyperparameters": rule_hyperparameters,
    "token_budget": rule_token_budget,
    "tokenizer": rule_tokenizer,
    "suite": rule_suite,
    "precision": rule_precision,
    "ids": rule_ids,
    "duplicate": rule_duplicate,
}
REFERENCE_SKIPS = ("hyperparameters", "token_budget", "tokenizer", "suite", "precision", "tier")


def check(submission: dict[str, Any], store=None, *, reference: bool = False) -> list[Rejection]:
    """Every rule's rejections, in rule order; [] means accepted."""
    out: list[Rejection] = []
    for name, rule in RULES.items():
        if reference and name in REFERENCE_SKIPS:
            continue
        out.extend(rule(submission, store))
    return out


def format_rejections(rejections: list[Rejection]) -> str:
    return "submission rejected:\n" + "\n".join(f"  - {r}" for r in rejections)
