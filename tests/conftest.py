"""Shared fixtures: the shared reference data, one Ray session for all tests, and headless
Chromium for the HTML pages (with a probe that measures overlapping text)."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlencode

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """`../shared/data` beside the repository, or $DCBENCH_SHARED_DATA."""
    env = os.environ.get("DCBENCH_SHARED_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("../shared/data is absent (set DCBENCH_SHARED_DATA to run tests on the reference data)")
    return path


@pytest.fixture(scope="session")
def web_docs(shared_data: Path) -> Path:
    path = shared_data / "web" / "web_docs_combined.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def ray_session():
    """One private local Ray for the whole test session (start-up costs ~5 s)."""
    os.environ["RAY_AUTH_MODE"] = "disabled"
    import ray

    temp = tempfile.mkdtemp(prefix="dcbray")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 * 1024**2, _temp_dir=temp,
             logging_level="ERROR", log_to_driver=False)
    yield ray
    ray.shutdown()


# --------------------------------------------------------------------------- headless Chromium

CHROMIUM = "/usr/bin/chromium"
PROBE = Path(__file__).with_name("text_overlap_probe.js")
_CSP = re.compile(r'(<meta http-equiv="Content-Security-Policy" content=")([^"]*)(">)')


class Chromium:
    """`chromium --headless` with a private profile and no network chatter."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.runs = 0

    def run(self, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
        self.runs += 1
        profile = self.tmp_path / f"chromium-profile-{self.runs}"
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}", *args]
        return subprocess.run(cmd, capture_output=True, timeout=timeout, text=True)

    def measure(self, page: Path, width: int = 1400, height: int = 1200, **actions: str) -> dict:
        """Load a copy of `page` with the overlap probe and return the probe's JSON result.
        `actions` drive the page first: open_details="", filter=TIER, sort=HEADER, hover=ID, click=ID."""
        probed = page.with_name(page.stem + ".probed.html")
        probed.write_text(with_probe(page.read_text(encoding="utf-8")), encoding="utf-8")
        proc = self.run(f"--window-size={width},{height}", "--virtual-time-budget=30000", "--dump-dom",
                        probed.as_uri() + "#" + urlencode(
                            {"probe": "", **{k.replace("_", "-"): v for k, v in actions.items()}}))
        assert proc.returncode == 0, proc.stderr[-2000:]
        found = re.findall(r'<pre id="probe-result">(\{.*?)</pre>', proc.stdout, re.S)
        assert found, "the probe wrote no result: " + proc.stderr[-2000:]
        return json.loads(html.unescape(found[-1]))


def with_probe(page: str) -> str:
    """The page with the probe script first in <head> and its hash allowed by the page's CSP."""
    probe = PROBE.read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(probe.encode("utf-8")).digest()).decode("ascii")
    meta = _CSP.search(page)
    assert meta, "the page has no Content-Security-Policy meta tag"
    policy = html.unescape(meta.group(2))
    if "script-src " in policy:
        policy = policy.replace("script-src ", f"script-src 'sha256-{digest}' ", 1)
    else:
        policy += f"; script-src 'sha256-{digest}'"
    tag = meta.group(1) + html.escape(policy, quote=True) + meta.group(3)
    return page[:meta.start()] + tag + f"<script>{probe}</script>" + page[meta.end():]


@pytest.fixture
def chromium(tmp_path: Path) -> Chromium:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    return Chromium(tmp_path)
