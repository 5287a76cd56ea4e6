"""Each leaderboard rule on hand-made submission documents: accepted as made, and each
breach rejected with a message naming the rule and what to change."""

from __future__ import annotations

import copy

import pytest

from dcbench.leaderboard.rules import RULES, Rejection, check, format_rejections, marks
from dcbench.leaderboard.submission import submission_id
from dcbench.tiers import TOKENIZER_SHA256
from dcbench.training.scales import get_tier
from dcbench.training.trainer import apply_overrides, tier_record


def make_doc(tier_name: str = "toy-250k-1x", name: str = "mine", seed: int = 0, score: float = 0.3) -> dict:
    """A submission that breaks no rule (a full-budget run with the tier's own settings)."""
    tier = get_tier(tier_name)
    chain = {"pool": f"pool-{seed:016x}", "dataset": f"dataset-{seed:016x}", "tokens": f"tokens-{seed:016x}",
             "model": f"model-{seed:016x}", "eval": f"eval-{seed:016x}"}
    toy = tier.eval_suite == "toy"
    doc = {
        "schema_version": 1, "name": name, "tier": tier.name, "track": "filtering", "source": "dcbench",
        "chain": chain,
        "links": {"dataset.pool": chain["pool"], "tokens.dataset": chain["dataset"], "model.tokens": chain["tokens"],
                  "eval.dataset": chain["dataset"], "eval.tokens": chain["tokens"], "eval.model": chain["model"]},
        "verified": {"dataset": True, "tokens": True, "model": True, "eval": True}, "verify_errors": [],
        "recipe": {"name": name, "steps": []}, "recipe_id": "recipe-0",
        "dataset": {"documents_in": 10, "documents_kept": 5, "quarantined": 0, "steps": []},
        "tokens": {"sequences": 1, "tokens": 1, "seq_len": tier.model.seq_len},
        "tokenizer": {"sha256": TOKENIZER_SHA256[tier.tokenizer] or "neox-not-pinned", "vocab_size": 1024},
        "model": {"tier_record": tier_record(tier), "overrides": {}, "changed_fields": [], "off_leaderboard": False,
                  "steps": tier.steps, "tokens_trained": tier.steps * tier.global_batch * tier.model.seq_len,
                  "final_loss": 3.0},
        "eval": {"suite": "toy" if toy else "core", "version": "v2", "tasks": {"t": 0.5},
                 "aggregates": {"TOY": score} if toy else {"CORE": score, "EXTENDED": None, "MMLU": None},
                 "complete": True, "missing": [], "limit": None, "precision": "fp32"},
        "created": "2026-01-01T00:00:00+00:00", "dcbench": "0.1.0",
    }
    doc["id"] = submission_id(doc)
    return doc


def only(doc: dict) -> list[Rejection]:
    return check(doc)


@pytest.mark.parametrize("tier", ["toy-250k-1x", "toy-1m-1x", "400M-1x", "7B-2x"])
def test_a_clean_run_is_accepted(tier):
    assert check(make_doc(tier)) == []


def test_accum_may_change_on_any_tier():
    doc = make_doc("7B-1x")
    doc["model"]["overrides"] = {"accum": 4}
    doc["model"]["tier_record"] = tier_record(apply_overrides(get_tier("7B-1x"), {"accum": 4}))
    assert check(doc) == []


@pytest.mark.parametrize("tier", ["1B-1x", "toy-1m-1x"])
def test_overrides_are_rejected_on_official_and_small_tiers(tier):
    doc = make_doc(tier)
    doc["model"]["overrides"] = {"lr": 1e-3}
    doc["model"]["tier_record"] = tier_record(apply_overrides(get_tier(tier), {"lr": 1e-3}))
    doc["model"]["off_leaderboard"] = True
    rej = check(doc)
    assert [r.rule for r in rej] == ["hyperparameters"]
    assert "overrode ['lr']" in rej[0].message and "Retrain without overrides" in rej[0].message


def test_a_changed_config_without_recorded_overrides_is_rejected():
    doc = make_doc("400M-1x")
    doc["model"]["tier_record"] = tier_record(apply_overrides(get_tier("400M-1x"), {"n_layers": 12}))
    rej = check(doc)
    assert [r.rule for r in rej] == ["hyperparameters"]
    assert "model.n_layers" in rej[0].message and "tier's own settings" in rej[0].message


def test_off_leaderboard_flag_alone_is_rejected():
    doc = make_doc()
    doc["model"]["off_leaderboard"] = True
    rej = check(doc)
    assert [r.rule for r in rej] == ["hyperparameters"] and "--off-leaderboard" in rej[0].message


def test_smoke_run_must_train_the_full_budget():
    doc = make_doc("toy-1m-1x")
    tier = get_tier("toy-1m-1x")
    doc["model"]["steps"] = 10
    doc["model"]["tokens_trained"] = 10 * tier.global_batch * tier.model.seq_len
    rej = check(doc)
    assert [r.rule for r in rej] == ["token_budget"]
    assert "train the full budget" in rej[0].message and f"{tier.tokens:,}" in rej[0].message
    # one batch short of the budget is within tolerance; one batch over too; two over is not
    batch = tier.global_batch * tier.model.seq_len
    doc["model"]["tokens_trained"] = tier.tokens - batch + 1
    assert check(doc) == []
    doc["model"]["tokens_trained"] = tier.tokens + 2 * batch
    assert "more than" in check(doc)[0].message


def test_suite_must_be_the_tiers_and_complete():
    toy = make_doc("toy-250k-1x")
    toy["eval"]["suite"] = "core"
    rej = check(toy)
    assert [r.rule for r in rej] == ["suite"] and "--suite toy" in rej[0].message

    core = make_doc("1B-1x")
    core["eval"]["suite"] = "toy"
    assert "--suite core" in check(core)[0].message
    core = make_doc("1B-1x")
    core["eval"].update(complete=False, missing=["squad"], aggregates={"CORE": "N/A due to missing tasks"})
    rej = check(core)
    assert [r.rule for r in rej] == ["suite"] and "squad" in rej[0].message and "without --limit" in rej[0].message
    core = make_doc("1B-1x")
    core["eval"].update(complete=False, limit=10)
    assert "--limit" in check(core)[0].message
    core = make_doc("3B-1x")
    core["eval"]["suite"] = "extended"  # EXTENDED holds CORE's tasks
    assert check(core) == []


def test_ids_must_link_up():
    doc = make_doc()
    doc["links"]["model.tokens"] = "tokens-ffffffffffffffff"
    rej = check(doc)
    assert [r.rule for r in rej] == ["ids"]
    assert "the model was made from tokens tokens-ffffffffffffffff" in rej[0].message
    assert "re-run the chain" in rej[0].message

    doc = make_doc()
    doc["verified"]["model"] = False
    assert "model id does not match its contents" in check(doc)[0].message
    doc = make_doc()
    doc["chain"]["eval"] = None
    assert "no eval id" in check(doc)[0].message


def test_unknown_tier_or_track():
    doc = make_doc()
    doc["tier"] = "13B-1x"
    rej = check(doc)
    assert [r.rule for r in rej] == ["tier"] and "toy-250k-1x" in rej[0].message
    doc = make_doc()
    doc["track"] = "mixing"
    assert "'filtering'" in check(doc)[0].message


def test_duplicates_against_a_store(tmp_path):
    from dcbench.leaderboard.store import Store

    store = Store(tmp_path / "lb.sqlite")
    doc = make_doc()
    store.add(doc)
    again = make_doc(name="renamed")  # same model and eval under another name
    rej = check(again, store)
    assert [r.rule for r in rej] == ["duplicate"] and "'mine'" in rej[0].message
    assert "submit a new run" in rej[0].message
    other_eval = make_doc(name="re-eval")
    other_eval["chain"]["eval"] = "eval-1234123412341234"
    assert "same model" in check(other_eval, store)[0].message
    assert check(make_doc(seed=7), store) == []


def test_every_breach_is_listed_together():
    doc = make_doc("toy-250k-1x")
    doc["model"].update(overrides={"seq_len": 64}, off_leaderboard=True, steps=3, tokens_trained=3)
    doc["eval"].update(limit=3, complete=False)
    doc["links"]["eval.model"] = "model-ffffffffffffffff"
    rej = check(doc)
    assert [r.rule for r in rej] == ["hyperparameters", "token_budget", "suite", "ids"]
    text = format_rejections(rej)
    assert text.count("\n  - [") == 4 and all(name in RULES for name in (r.rule for r in rej))
    assert str(rej[0]).startswith("[hyperparameters] ")


@pytest.mark.parametrize("precision", ["bf16", None])
def test_official_tiers_rank_fp32_evaluations_only(precision):
    doc = make_doc("400M-1x")
    doc["eval"]["precision"] = precision
    rej = only(doc)
    assert [r.rule for r in rej] == ["precision"]
    assert "--precision bf16" in rej[0].message and ("bf16" if precision else "does not record") in rej[0].message
    assert all(r.rule != "precision" for r in check(doc, reference=True))  # DCLM's own results: not ours to judge


def test_toy_tiers_accept_bf16_but_mark_it():
    doc = make_doc("toy-250k-1x")
    assert marks(doc) == []
    doc["eval"]["precision"] = "bf16"
    assert check(doc) == [] and marks(doc) == ["evaluated in bf16, not fp32"]
    assert marks(make_doc("400M-1x")) == []
