"""The one tier table: every stage reads the same objects, parameter counts come
from the shape, and a tier's record holds its recipe only (pool facts stay out)."""

import dataclasses

import pytest

from dcbench.errors import ConfigError
from dcbench.pools.tiers import TIERS as POOL_VIEW
from dcbench.tiers import POOLS, TIERS, TOY_POOL, get_tier, param_count, tier_record
from dcbench.training import scales

RECIPE_FIELDS = {"name", "model", "multiplier", "global_batch", "accum", "lr", "warmup", "weight_decay", "z_loss",
                 "official", "tokenizer", "eval_suite", "cooldown_lr", "beta1", "beta2", "eps", "grad_clip", "seed",
                 "deprecated", "note"}


def test_training_reads_the_spine_table():
    assert scales.TIERS is TIERS and scales.get_tier is get_tier and scales.param_count is param_count


def test_each_tier_filters_a_pool():
    for tier in TIERS.values():
        assert tier.pool is POOLS[tier.name if tier.official else TOY_POOL]
    assert POOLS[TOY_POOL].generated and get_tier("toy-1m-1x").pool.name == TOY_POOL
    assert get_tier("7b-2X").pool.tokens == 15_700_000_000_000 and get_tier("1B-1x").pool.h100_hours == 240


def test_pool_view_numbers_are_the_spine_numbers():
    assert list(POOL_VIEW) == list(POOLS)
    for name, row in POOL_VIEW.items():
        tier = TIERS.get(name)
        assert (row.params, row.train_tokens) == ((tier.params, tier.tokens) if tier else (None, None))
        assert (row.pool_tokens, row.h100_hours, row.pool_files) == (POOLS[name].tokens, POOLS[name].h100_hours,
                                                                    POOLS[name].files)


def test_record_is_the_recipe_with_derived_numbers():
    tier = get_tier("400M-1x")
    rec = tier_record(tier)
    assert set(rec) == RECIPE_FIELDS | {"params", "tokens", "steps", "micro_batch"}
    assert {f.name for f in dataclasses.fields(tier)} == RECIPE_FIELDS
    assert (rec["params"], rec["tokens"], rec["steps"], rec["micro_batch"]) == (411_616_256, 8_232_325_120, 7_850, 64)
    assert rec["model"]["d_model"] == 1024


def test_unknown_tier_names_the_choices():
    with pytest.raises(ConfigError, match="13B-1x.*400M-1x.*toy-5m-1x"):
        get_tier("13B-1x")
