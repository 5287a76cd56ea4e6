"""Names from submissions reach the terminal without control characters (no escape sequences that
clear the screen or set the window title), through the one table formatter."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from dcbench.leaderboard.store import Store
from dcbench.table import format_table, printable

_spec = importlib.util.spec_from_file_location("_leaderboard_rule_docs", Path(__file__).with_name("test_rules.py"))
_rules_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_rules_mod)

HOSTILE = "evil\x1b]0;pwned\x07\x1b[2J\r\u202eright\x9b"


def test_format_table_strips_controls():
    text = format_table(["name\x1b[31m"], [[HOSTILE], [None]], title="t\x07")
    assert not any(ord(c) < 32 and c != "\n" for c in text)
    assert "\x9b" not in text and "\u202e" not in text
    assert "evil]0;pwned[2Jright" in text
    assert printable("a\tb\x00c") == "abc"


def test_leaderboard_cli_prints_no_escape(tmp_path):
    db = tmp_path / "lb.sqlite"
    with Store(db) as s:
        s.add(_rules_mod.make_doc("toy-250k-1x", name=HOSTILE))
    r = subprocess.run([sys.executable, "-m", "dcbench.cli", "leaderboard", "--store", str(db)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout and "\r" not in r.stdout
    assert "evil]0;pwned" in r.stdout
