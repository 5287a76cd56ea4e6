import dataclasses

import pytest

from dcbench.errors import ConfigError
from dcbench.pools.tiers import TIERS, format_table, get_tier

OFFICIAL = ["400M-1x", "1B-1x", "1B-5x", "3B-1x", "7B-1x", "7B-2x"]


def test_order_and_names():
    assert list(TIERS) == ["toy", *OFFICIAL]


def test_tiers_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TIERS["1B-1x"].pool_tokens = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        TIERS["new"] = TIERS["toy"]  # type: ignore[index]


@pytest.mark.parametrize("name", OFFICIAL)
def test_chinchilla_rule(name):
    tier = TIERS[name]
    multiplier = int(name.rsplit("-", 1)[1].rstrip("x"))
    assert tier.train_tokens == 20 * tier.params * multiplier


def test_dclm_facts():
    pools = {n: TIERS[n].pool_tokens for n in ["400M-1x", "1B-1x", "3B-1x", "7B-1x", "7B-2x"]}
    assert pools == {"400M-1x": 137 * 10**9, "1B-1x": 1_640 * 10**9, "3B-1x": 3_180 * 10**9,
                     "7B-1x": 7_850 * 10**9, "7B-2x": 15_700 * 10**9}
    hours = [TIERS[n].h100_hours for n in ["400M-1x", "1B-1x", "3B-1x", "7B-1x", "7B-2x"]]
    assert hours == [26, 240, 740, 3_700, 7_300]
    assert TIERS["400M-1x"].params == 411_616_256
    assert TIERS["400M-1x"].competition_pool == "400m-1x.txt"
    assert TIERS["400M-1x"].pool_files == 10_305


def test_refinedweb_subsets():
    assert TIERS["400M-1x"].refinedweb_subset is None
    assert TIERS["1B-1x"].refinedweb_subset == ("global-shard_03/local-shard_1",)
    assert TIERS["3B-1x"].refinedweb_subset == ("global-shard_03/local-shard_1", "global-shard_03/local-shard_8")
    assert [s[-1] for s in TIERS["7B-1x"].refinedweb_subset] == ["1", "3", "6", "8", "9"]
    assert TIERS["7B-2x"].refinedweb_subset == ("global-shard_03",)


def test_toy_and_deprecated():
    toy = TIERS["toy"]
    assert toy.generated and toy.competition_pool is None and toy.pool_tokens is None
    assert TIERS["1B-5x"].deprecated
    assert not any(TIERS[n].deprecated for n in OFFICIAL if n != "1B-5x")


def test_get_tier():
    assert get_tier("400m-1x") is TIERS["400M-1x"]  # DCLM's file lists write it lower-case
    assert get_tier(" 7B-2x ") is TIERS["7B-2x"]
    with pytest.raises(ConfigError) as err:
        get_tier("13B-1x")
    message = str(err.value)
    assert "13B-1x" in message and all(name in message for name in TIERS)


def test_format_table_is_aligned():
    table = format_table()
    lines = table.splitlines()
    assert lines[0].startswith("tier") and set(lines[1].replace(" ", "")) == {"-"}
    rows = lines[2 : 2 + len(TIERS)]
    assert [r.split()[0] for r in rows] == list(TIERS)
    # text columns start where their header does; number columns end where theirs does
    col = lines[0].index("RefinedWeb")
    assert all(r[col - 2 : col] == "  " and r[col] != " " for r in rows)
    end = lines[0].index("params") + len("params")
    assert all(r[end - 1] != " " and r[end : end + 2] == "  " for r in rows)
    assert "137B" in table and "15.7T" in table and "global-shard_03/local-shard_{1,3,6,8,9}" in table
    assert "10,305" in table
