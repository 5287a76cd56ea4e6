"""Seeds on the leaderboard (hand-made documents): the store keeps each entry's dataset id and
seed (older stores are backfilled), a seed override breaks no rule, the runs of one dataset are
one entry with mean, sd, t interval and seed count in the table and on the page, neighbours are
marked separable or not, and `dcbench compare` takes leaderboard ids."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from dcbench.cli import main
from dcbench.leaderboard.compare import t_interval
from dcbench.leaderboard.html import render_leaderboard, with_documents
from dcbench.leaderboard.rules import check
from dcbench.leaderboard.store import Store
from dcbench.leaderboard.submission import submission_id
from dcbench.leaderboard.table import format_leaderboard
from dcbench.tiers import tier_record, get_tier

_spec = importlib.util.spec_from_file_location("_leaderboard_rule_docs", Path(__file__).with_name("test_rules.py"))
_rules_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_rules_mod)
make_doc = _rules_mod.make_doc

TIER = "toy-250k-1x"


def items(p_right: float, seed: int, n: int = 300) -> dict:
    rng = np.random.default_rng(seed)
    return {"t": {"correct": (rng.random(n) < p_right).astype(int).tolist(), "p_correct": None,
                  "bpb": None, "margin": None}}


def seed_doc(dataset: int, seed: int, score: float, name: str, per_item: dict | None = None) -> dict:
    """make_doc's valid entry, as training seed `seed` of dataset number `dataset`."""
    doc = make_doc(TIER, name=name, seed=dataset * 100 + seed, score=score)
    ds = f"dataset-{dataset:016x}"
    doc["chain"]["dataset"] = doc["links"]["tokens.dataset"] = doc["links"]["eval.dataset"] = ds
    record = tier_record(get_tier(TIER))
    record["seed"] = seed
    doc["model"].update(seed=seed, overrides={"seed": seed}, tier_record=record)
    doc["eval"]["random_baselines"] = {"t": 50.0}
    if per_item is not None:
        doc["eval"]["items"] = per_item
    doc["id"] = submission_id(doc)
    return doc


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "lb.sqlite") as s:
        yield s


def test_a_seed_override_breaks_no_rule_and_the_store_keeps_the_group(store):
    doc = seed_doc(1, 7, 0.3, "a")
    assert check(doc) == []
    store.add(doc)
    (row,) = store.list()
    assert row["dataset_id"] == "dataset-0000000000000001" and row["seed"] == 7


def test_an_older_store_is_backfilled(tmp_path):
    path = tmp_path / "old.sqlite"
    with Store(path) as s:
        s.add(seed_doc(2, 5, 0.2, "b"))
    con = sqlite3.connect(path)
    con.executescript("UPDATE submissions SET dataset_id = NULL, seed = NULL; DROP INDEX submissions_dataset; "
                      "ALTER TABLE submissions DROP COLUMN dataset_id; ALTER TABLE submissions DROP COLUMN seed; "
                      "UPDATE schema_version SET version = 4;")
    con.commit()
    con.close()
    with Store(path) as s:
        (row,) = s.list()
        assert row["dataset_id"] == "dataset-0000000000000002" and row["seed"] == 5


def test_seeds_of_one_dataset_are_one_entry_with_an_interval(store):
    for seed, score in ((124, 0.30), (125, 0.32), (126, 0.34)):
        store.add(seed_doc(1, seed, score, "three-seeds"))
    store.add(seed_doc(2, 124, 0.10, "one-seed"))
    text = format_leaderboard(store.list())
    lines = {line.split()[2]: line.split() for line in text.splitlines() if "seed" in line and "*" in line}
    mean, sd, low, high = t_interval([0.30, 0.32, 0.34])
    three = lines["three-seeds"]
    assert three[:5] == ["1", "*", "three-seeds", f"{100 * mean:.1f}", "3"]
    assert three[5] == f"{100 * sd:.1f}" and " ".join(three[6:8]) == f"[{100 * low:.1f}, {100 * high:.1f}]"
    assert three[-2:] == ["(3", "runs)"] and three[-3] == "dataset-0000000000000001"
    one = lines["one-seed"]
    assert one[3:6] == ["10.0", "1", "-"]
    assert "Student-t 95% interval over seeds" in text
    # without per-item values Welch needs two seeds on each side: no test is possible, so no column
    assert "vs next" not in text


def test_neighbours_are_separable_by_items_or_not(store):
    store.add(seed_doc(1, 124, 0.6, "strong", items(0.8, 1)))
    store.add(seed_doc(2, 124, 0.2, "weak", items(0.6, 2)))
    store.add(seed_doc(3, 124, 0.19, "twin", items(0.6, 3)))
    rows = with_documents(store, store.list())
    text = format_leaderboard(rows)
    marks = {line.split()[2]: line.split()[4] for line in text.splitlines() if line.startswith(("1 ", "2 ", "3 "))}
    assert marks == {"strong": ">", "weak": "~", "twin": "-"}
    page = render_leaderboard(rows)
    assert page.count(">separable</td>") == 1 and page.count(">not separable</td>") == 1 and "vs next" in page
    assert "95% interval" not in page.split('<table class="rank')[1].split("</table>")[0]  # no seeds, no column


def test_compare_takes_leaderboard_ids(store, tmp_path, capsys):
    docs = [seed_doc(1, s, 0.5, "a", items(0.8, s)) for s in (124, 125)] + [seed_doc(2, 124, 0.3, "b", items(0.5, 9))]
    for d in docs:
        store.add(d)
    url = str(tmp_path / "lb.sqlite")
    assert main(["compare", "dataset-0000000000000001", docs[2]["id"], "--store", url, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["seeds"] == {"A": 2, "B": 1} and out["aggregate"]["verdict"] == "A better"
    assert main(["compare", "dataset-00000000000000ff", docs[2]["id"], "--store", url]) == 3
    assert "leaderboard id" in capsys.readouterr().err


def test_without_items_entries_with_seeds_are_separated_by_welch(store):
    for dataset, scores in ((1, (0.50, 0.51, 0.52)), (2, (0.10, 0.11, 0.12)), (3, (0.105, 0.125, 0.09))):
        for seed, score in zip((124, 125, 126), scores):
            store.add(seed_doc(dataset, seed, score, f"d{dataset}"))
    text = format_leaderboard(store.list())
    marks = {line.split()[2]: line.split()[8] for line in text.splitlines() if line.startswith(("1 ", "2 ", "3 "))}
    assert marks == {"d1": ">", "d2": "~", "d3": "-"}


def test_train_refuses_two_different_seeds(tmp_path, capsys):
    args = ["train", "--tier", TIER, "--data", str(tmp_path), "--out", str(tmp_path / "m"), "--seed", "5"]
    assert main([*args, "--set", "seed=6"]) == 2
    assert "--seed 5 and --set seed=6 disagree" in capsys.readouterr().err


def test_an_official_tier_takes_another_seed_without_going_off_leaderboard():
    from dcbench.training.trainer import resolve_tier  # torch: only this test needs it

    assert resolve_tier("400M-1x", {"seed": 5}).seed == 5
