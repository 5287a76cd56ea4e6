"""Concurrent writers into one SQLite leaderboard, as real processes: schema creation is idempotent,
imports do not crash each other, and the duplicate rule cannot be raced (the database enforces it)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dcbench.errors import DataError
from dcbench.leaderboard.store import Store

RULE_DOCS = Path(__file__).with_name("test_rules.py")

# Each process waits for a common start time, then opens the store and adds one document.
ADD = """
import importlib.util, json, sys, time
spec = importlib.util.spec_from_file_location("docs", sys.argv[1]); m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
from dcbench.errors import DataError
from dcbench.errors import DataError
from dcbench.leaderboard.store import Store
doc = m.make_doc("toy-250k-1x", name=sys.argv[4])  # same seed: the same model and evaluation ids
while time.time() < float(sys.argv[3]):
    pass
try:
    with Store(sys.argv[2]) as s:
        s.add(doc)
    print("added")
except DataError as e:
    print("rejected", str(e).splitlines()[0])
"""


def _start(n: int, argv) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, *argv(i)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(n)]


@pytest.mark.slow
def test_concurrent_submits_of_one_model_store_one(tmp_path):
    db = tmp_path / "lb.sqlite"
    at = time.time() + 3  # every process imported and waiting
    procs = _start(4, lambda i: ["-c", ADD, str(RULE_DOCS), str(db), str(at), f"name{i}"])
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    verdicts = sorted(o[0].split()[0] for o in outs)
    assert verdicts == ["added", "rejected", "rejected", "rejected"], outs
    with Store(db) as s:
        assert len(s) == 1


def test_database_enforces_the_duplicate_rule(tmp_path):
    db = tmp_path / "lb.sqlite"
    with Store(db):
        pass
    con = sqlite3.connect(db)
    row = "INSERT INTO submissions (id, name, tier, track, created, source, model_id, eval_id, doc) " \
          "VALUES (?, 'n', 'toy-250k-1x', 'filtering', '', 'dcbench', ?, ?, '{}')"
    con.execute(row, ("a", "model-1", "eval-1"))
    with pytest.raises(sqlite3.IntegrityError):
        con.execute(row, ("b", "model-1", "eval-2"))
    with pytest.raises(sqlite3.IntegrityError):
        con.execute(row, ("c", "model-2", "eval-1"))
    con.execute(row, ("d", None, None))
    con.execute(row, ("e", None, None))  # references without ids never collide


@pytest.mark.slow
def test_concurrent_import_dclm(shared_data, tmp_path):
    folder = shared_data / "eval" / "dclm" / "reference_results"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    db = tmp_path / "lb.sqlite"
    procs = _start(3, lambda i: ["-m", "dcbench.cli", "leaderboard", "import-dclm", str(folder), "--store", str(db)])
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1][-2000:] for o in outs]
    added = [int(o[0].split()[1]) for o in outs]
    assert sum(added) == 156, outs
    with Store(db) as s:
        assert len(s) == 156
        assert len({r["id"] for r in s.list()}) == 156


def test_a_store_with_raced_duplicates_says_which(tmp_path):
    """A store written by an older dcbench may hold two entries of one model: the upgrade names them."""
    db = tmp_path / "lb.sqlite"
    with Store(db):
        pass
    con = sqlite3.connect(db)
    con.executescript("DROP INDEX submissions_model_unique; DROP INDEX submissions_eval_unique; "
                      "UPDATE schema_version SET version = 3;")
    row = "INSERT INTO submissions (id, name, tier, track, created, source, model_id, eval_id, doc) " \
          "VALUES (?, 'n', 'toy-250k-1x', 'filtering', '', 'dcbench', 'model-1', ?, '{}')"
    con.execute(row, ("a", "eval-1"))
    con.execute(row, ("b", "eval-2"))
    con.commit()
    con.close()
    with pytest.raises(DataError, match=r"entries share a model_id .*: a, b; delete all but one"):
        Store(db)
