"""eval.download: fetch task files from a file:// mirror laid out like LLM-Foundry's local_data,
resume (skip what is there), re-fetch a damaged file, report missing and GPQA clearly."""

from __future__ import annotations

import json

import pytest

from dcbench.errors import ConfigError
from dcbench.eval.download import RECORD, download_tasks
from dcbench.eval.suites import get_task


def _mirror(root):
    """copa, piqa and jeopardy present; squad absent (as upstream)."""
    for name in ("copa", "piqa", "jeopardy"):
        path = root / get_task(name).dataset
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"query": f"{name} q", "choices": ["a", "b"], "gold": 0}) + "\n")
    return root


def test_download_resume_and_missing(tmp_path):
    mirror = _mirror(tmp_path / "mirror" / "local_data")
    dest = tmp_path / "dest"
    base = f"file://{mirror}"
    r = download_tasks(dest, base_url=base, tasks=["copa", "piqa", "squad", "gpqa_main"], progress=False)
    assert sorted(r.downloaded) == sorted(get_task(n).dataset for n in ("copa", "piqa"))
    assert (dest / get_task("copa").dataset).read_bytes() == (mirror / get_task("copa").dataset).read_bytes()
    assert set(r.missing) == {"squad", "gpqa_main"}
    assert "known gap" in r.missing["squad"] and "password" in r.missing["gpqa_main"]
    assert r.ok and "MISSING squad" in r.summary()
    assert not list(dest.rglob("*.tmp*"))
    record = json.loads((dest / RECORD).read_text())
    assert set(record) == set(r.downloaded)

    # resume: nothing fetched again
    r2 = download_tasks(dest, base_url=base, tasks=["copa", "piqa"], progress=False)
    assert r2.downloaded == [] and sorted(r2.skipped) == sorted(r.downloaded) and r2.bytes_fetched == 0

    # a damaged (truncated) file is fetched again; an unrecorded whole file is kept
    damaged = dest / get_task("piqa").dataset
    damaged.write_text("{")
    jeop = dest / get_task("jeopardy").dataset
    jeop.parent.mkdir(parents=True, exist_ok=True)
    jeop.write_bytes((mirror / get_task("jeopardy").dataset).read_bytes())
    r3 = download_tasks(dest, base_url=base, tasks=["piqa", "jeopardy"], progress=False)
    assert r3.downloaded == [get_task("piqa").dataset] and r3.skipped == [get_task("jeopardy").dataset]
    assert damaged.read_bytes() == (mirror / get_task("piqa").dataset).read_bytes()


def test_suite_names_expand_and_unknown_names_fail(tmp_path):
    mirror = _mirror(tmp_path / "mirror")
    r = download_tasks(tmp_path / "dest", base_url=f"file://{mirror}", tasks=["core"], progress=False)
    assert get_task("copa").dataset in r.downloaded
    # every other CORE task is reported missing by name (the mirror holds three files)
    assert "hellaswag_zeroshot" in r.missing and "squad" in r.missing and "copa" not in r.missing
    with pytest.raises(ConfigError, match="unknown task"):
        download_tasks(tmp_path / "dest", base_url=f"file://{mirror}", tasks=["no_such_task"], progress=False)


def test_downloaded_tree_runs(tmp_path):
    """What download_tasks writes is what run_suite reads: the same relative paths."""
    from dcbench.eval.runner import _plan

    mirror = _mirror(tmp_path / "mirror")
    dest = tmp_path / "local_data"
    download_tasks(dest, base_url=f"file://{mirror}", tasks=["copa"], progress=False)
    plans, _ = _plan("core", "v2", dest)
    copa = next(p for p in plans if p["name"] == "copa")
    assert copa["path"].is_file()


def test_unreachable_source_stops_at_once_and_says_what_to_do(tmp_path, monkeypatch):
    import socket
    import time

    from dcbench.errors import DataError

    monkeypatch.setenv("no_proxy", "*")  # a proxy in the environment would answer for the host
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    with pytest.raises(DataError) as err:
        download_tasks(tmp_path / "dest", base_url=f"http://127.0.0.1:{port}/local_data", tasks=["core"],
                       progress=False)
    assert time.perf_counter() - t0 < 2.0  # not 21 files x 3 attempts
    msg = str(err.value)
    assert "`dcbench eval download` cannot reach" in msg and "--tasks-dir" in msg and "--base-url" in msg


def test_default_source_is_pinned_to_the_release_dclm_uses():
    from dcbench.eval.download import DEFAULT_BASE_URL

    assert "/llm-foundry/v0.9.0/scripts/eval/local_data" in DEFAULT_BASE_URL
