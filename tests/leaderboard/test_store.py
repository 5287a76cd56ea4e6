"""The leaderboard store (SQLite): round trip, ranking per tier, refusals, transactions,
schema migrations; the import of DCLM's published results and the text table."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from pathlib import Path

import pytest

from dcbench.errors import ConfigError, DataError
from dcbench.leaderboard.dclm_import import import_reference_results, infer_tier, reference_submission
from dcbench.leaderboard.store import SCHEMA_VERSION, Store
from dcbench.leaderboard.table import format_leaderboard

# the hand-made documents of test_rules.py (tests are not a package: load it by path)
_spec = importlib.util.spec_from_file_location("_leaderboard_rule_docs", Path(__file__).with_name("test_rules.py"))
_rules_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_rules_mod)
make_doc = _rules_mod.make_doc


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "lb.sqlite") as s:
        yield s


def test_round_trip_and_tasks(store, tmp_path):
    doc = make_doc("toy-1m-1x", score=0.25)
    assert store.add(doc) == doc["id"]
    assert store.get(doc["id"]) == doc
    assert store.tasks(doc["id"]) == {"t": 0.5}
    assert store.get("submission-nothere") is None
    (row,) = store.list()
    assert row["name"] == "mine" and row["tier"] == "toy-1m-1x" and row["toy"] == 0.25 and row["rank"] == 1
    assert row["source"] == "dcbench" and row["model_id"] == doc["chain"]["model"] and row["suite"] == "toy"
    # a second connection (a new process) sees the committed row; sqlite:/// URLs work too
    with Store(f"sqlite:///{tmp_path / 'lb.sqlite'}") as again:
        assert again.get(doc["id"]) == doc and len(again) == 1


def test_ranking_per_tier(store):
    for i, (tier, score) in enumerate([("toy-250k-1x", 0.1), ("toy-250k-1x", 0.4), ("1B-1x", 0.2),
                                       ("1B-1x", 0.3), ("toy-250k-1x", 0.2)]):
        store.add(make_doc(tier, name=f"s{i}", seed=i, score=score))
    toy = store.list(tier="toy-250k-1x")
    assert [r["name"] for r in toy] == ["s1", "s4", "s0"] and [r["rank"] for r in toy] == [1, 2, 3]
    assert all(r["rank_by"] == "toy" for r in toy)
    one_b = store.list(tier="1b-1x")  # tier names are case-insensitive
    assert [r["name"] for r in one_b] == ["s3", "s2"] and one_b[0]["rank_by"] == "core"
    assert [r["tier"] for r in store.list()] == ["1B-1x"] * 2 + ["toy-250k-1x"] * 3  # scale-table order
    text = format_leaderboard(store.list())
    assert "== 1B-1x (ranked by CORE) ==" in text and "== toy-250k-1x (ranked by TOY) ==" in text
    assert text.index("s3") < text.index("s2") and text.index("s1") < text.index("s4") < text.index("s0")
    assert "40.0" in text and "MMLU" in text and "EXTENDED" in text
    assert format_leaderboard(store.list(), tier="3B-1x") == "no submissions for tier 3B-1x"


def test_add_refuses_with_every_rejection(store):
    doc = make_doc()
    doc["model"].update(steps=5, tokens_trained=5)
    doc["eval"].update(limit=2, complete=False)
    with pytest.raises(DataError) as e:
        store.add(doc)
    msg = str(e.value)
    assert "[token_budget]" in msg and "train the full budget" in msg and "[suite]" in msg
    assert len(store) == 0
    store.add(make_doc())
    with pytest.raises(DataError, match=r"\[duplicate\].*already on the leaderboard"):
        store.add(make_doc(name="again"))
    with pytest.raises(DataError, match="dcbench leaderboard import-dclm"):
        store.add({**make_doc(seed=3), "source": "dclm-reference"})
    assert len(store) == 1


def test_a_failing_insert_leaves_nothing(store, monkeypatch):
    def boom(doc):
        raise RuntimeError("disk full half-way")

    monkeypatch.setattr(store, "_insert_tasks", boom)
    with pytest.raises(RuntimeError):
        store.add(make_doc())
    assert len(store) == 0 and store.list() == [] and store.tasks(make_doc()["id"]) == {}
    monkeypatch.undo()
    store.add(make_doc())  # and the store still works
    assert len(store) == 1


def test_schema_version_and_migrations(tmp_path):
    path = tmp_path / "old.sqlite"
    with Store(path) as s:
        assert s.schema_version() == SCHEMA_VERSION
    # a store written at schema 1 (no suite/version columns) is migrated on open
    old = sqlite3.connect(path)
    old.executescript("DROP TABLE task_results; DROP TABLE submissions; DROP TABLE schema_version;")
    from dcbench.leaderboard.store import MIGRATIONS

    old.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    old.execute("INSERT INTO schema_version VALUES (1)")
    for statement in MIGRATIONS[0][1]:
        old.execute(statement)
    old.commit()
    old.close()
    with Store(path) as s:
        assert s.schema_version() == SCHEMA_VERSION
        s.add(make_doc())
        assert s.list()[0]["suite"] == "toy"
    newer = sqlite3.connect(path)
    newer.execute("UPDATE schema_version SET version = 99")
    newer.commit()
    newer.close()
    with pytest.raises(DataError, match="newer than this dcbench"):
        Store(path)


def test_urls(tmp_path):
    with pytest.raises(ConfigError, match="file path, sqlite:///path or postgresql"):
        Store("mysql://somewhere/db")
    if importlib.util.find_spec("psycopg") is None:
        with pytest.raises(ConfigError, match="psycopg"):
            Store("postgresql://user@localhost/leaderboard")
    with Store(":memory:") as s:
        assert len(s) == 0


@pytest.mark.parametrize("model,name,tier", [
    ("open_lm_1b", "alexf_eval_alexf_model_rw_v2_wo_dedup_open_lm_1b_ccx1_gbs256_n4.json", "1B-1x"),
    ("open_lm_1b", "evaluation_c4_original-open_lm_1b-5.0_heavy.json", "1B-5x"),
    ("d=1024_l=24_h=8", "evaluation_c4_original-d=1024_l=24_h=8-warm=2000-mult=1-tokens=8232325120_heavy.json",
     "400M-1x"),
    ("open_lm_7b_swiglutorch", "x-open_lm_7b_swiglutorch-bs=2048-mult=2-seed=124-tokens=275576422400", "7B-2x"),
    ("open_lm_7b_swiglutorch", "x-open_lm_7b_swiglutorch-mult=1-seed=124-tokens=137788211200", "7B-1x"),
    ("open_lm_7b", "evaluation_open_lm_dclm_7b_8k.json", "external"),
    ("Qwen/Qwen2-7B", "evaluation_Qwen_Qwen2-7B.json", "external"),
    (None, "some_model_1b_1x.json", "1B-1x"),
    (None, "ours_411m.json", "400M-1x"),
])
def test_infer_tier(model, name, tier):
    assert infer_tier(model, name) == tier


@pytest.fixture
def reference_dir(shared_data):
    path = shared_data / "eval" / "dclm" / "reference_results"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


def test_import_dclm_reference_results(reference_dir, tmp_path):
    files = sorted(reference_dir.glob("*.json"))
    with Store(tmp_path / "lb.sqlite") as store:
        done = import_reference_results(store, reference_dir)
        assert len(done["added"]) == len(files) == 156 and done["skipped"] == []
        assert len(store) == 156
        again = import_reference_results(store, reference_dir)  # idempotent
        assert again["added"] == [] and len(again["skipped"]) == 156
        rows = store.list()
        assert all(r["source"] == "dclm-reference" for r in rows)
        tiers = {r["tier"] for r in rows}
        assert {"400M-1x", "1B-1x", "1B-5x", "7B-1x", "7B-2x", "external"} <= tiers

        def row(tier, *parts):
            found = [r for r in store.list(tier=tier) if all(p in r["name"] for p in parts)]
            assert len(found) == 1, (tier, parts, [r["name"] for r in found])
            return found[0]

        # DCLM's README 7B table (CORE v2, MMLU, EXTENDED v2, x100, one decimal)
        base = "rw_v2_cc_v3_f0.15_resiliparse_fasttext_openhermes_reddit_eli5_vs_rw_v2_bigram_200k_train_0.1"
        b1 = row("7B-1x", base, "lr=0p001-wd=0p1", "mult=1")
        b2 = row("7B-2x", base, "lr=0p001-wd=0p1", "mult=2")
        fw1 = row("7B-1x", "fineweb_edu", "mult=1")
        fw2 = row("7B-2x", "fineweb_edu", "mult=2")
        rw1 = row("7B-1x", "rw_original", "lr=0p002")
        c41 = row("7B-1x", "c4_original", "lr=0p002")
        pct = lambda v: round(100 * v, 1)  # noqa: E731
        assert (pct(b1["core"]), pct(b1["mmlu"]), pct(b1["extended"])) == (42.0, 38.3, 23.0)
        assert (pct(b2["core"]), pct(b2["mmlu"]), pct(b2["extended"])) == (47.3, 50.8, 30.3)
        assert (pct(fw1["core"]), pct(fw2["core"])) == (36.1, 39.6)
        assert (pct(rw1["core"]), pct(c41["core"])) == (37.3, 34.6)
        # ranked as published: DCLM-Baseline > RefinedWeb > FineWeb-edu > C4 at 7B-1x; first of 7B-2x
        assert b1["rank"] < rw1["rank"] < fw1["rank"] < c41["rank"]
        assert b2["rank"] == 1 and fw2["rank"] > b2["rank"]
        ext = row("external", "open_lm_dclm_7b_8k")  # the 2.6T-token model: no DCLM scale
        assert pct(ext["core"]) == 56.0
        doc = store.get(b1["id"])
        assert doc["eval"]["published"]["Core_v1"] == pytest.approx(0.441, abs=5e-4)
        assert doc["chain"]["eval"].startswith("dclm-eval-") and len(doc["eval"]["tasks"]) >= 53
        text = format_leaderboard(store.list(tier="7B-2x"))
        assert text.count(" R  ") == 4 and "47.3" in text and "50.8" in text
        # our own submission beside them is marked differently
        store.add(make_doc("toy-250k-1x"))
        assert " *  mine" in format_leaderboard(store.list(), tier="toy-250k-1x")


def test_reference_document_is_marked(reference_dir):
    doc = reference_submission(reference_dir / "evaluation_llama3_8b_heavy.json")
    assert doc["source"] == "dclm-reference" and doc["tier"] == "external"
    assert doc["eval"]["aggregates"]["MMLU"] == pytest.approx(0.6617, abs=1e-4)
    json.dumps(doc)


def test_epochs_are_stored_and_shown(store):
    repeated = make_doc("toy-250k-1x", name="repeated", seed=1)
    repeated["model"]["epochs"] = 14.4
    store.add(repeated)
    store.add(make_doc("toy-250k-1x", name="unrecorded", seed=2))  # an older run: no epochs recorded
    rows = {r["name"]: r for r in store.list()}
    assert rows["repeated"]["epochs"] == 14.4 and rows["unrecorded"]["epochs"] is None
    text = format_leaderboard(store.list())
    head = next(line for line in text.splitlines() if "epochs" in line and "TOY" in line)
    line = next(line for line in text.splitlines() if "repeated" in line)
    assert line[head.index("epochs"):].split()[0] == "14.4" and "passes over the training data" in text


def test_leaderboard_cli_refuses_a_missing_store_and_an_unknown_tier(tmp_path, capsys):
    from dcbench.cli import main

    typo = tmp_path / "typo.sqlite"
    assert main(["leaderboard", "--store", str(typo)]) == 3
    assert main(["leaderboard", "html", str(tmp_path / "b.html"), "--store", str(typo)]) == 3
    assert "no leaderboard at" in capsys.readouterr().err and not typo.exists()  # nothing created
    with Store(tmp_path / "lb.sqlite") as s:
        s.add(make_doc("toy-250k-1x"))
    assert main(["leaderboard", "--store", str(tmp_path / "lb.sqlite"), "--tier", "toy-250k-x1"]) == 2
    assert "unknown tier 'toy-250k-x1'" in capsys.readouterr().err
    assert main(["leaderboard", "--store", str(tmp_path / "lb.sqlite"), "--tier", "toy-1m-1x"]) == 0
    assert "no submissions for tier toy-1m-1x" in capsys.readouterr().out
