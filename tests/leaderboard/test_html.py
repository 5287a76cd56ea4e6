"""The static leaderboard page: structure, escaping, and a real headless-Chromium render."""

from __future__ import annotations

import math
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from dcbench.leaderboard.html import render_leaderboard, training_flops, write_leaderboard

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = Path("/tmp/dcbench_leaderboard.png")
EVIL_NAME = "<script>alert(1)</script>"
EVIL_PARAM = '"><img src=x onerror=alert(1)>'

TIER_SIZES = {  # (params, tokens) as the store records them in the submission's hyperparameters
    "400M-1x": (411_616_256, 8_232_325_120),
    "1B-1x": (1_439_000_000, 28_780_000_000),
    "7B-1x": (6_889_000_000, 137_780_000_000),
    "toy-1m-1x": (1_000_000, 20_000_000),
}
TASKS = ["arc_easy", "hellaswag", "jeopardy", "piqa", "winogrande"]


def make_row(rid, name, tier, core, *, source="dcbench", track="pool", mmlu=None, extended=None,
             toy=None, steps=None, tasks=None, created="2025-06-01T12:00:00Z"):
    params, tokens = TIER_SIZES[tier]
    if tasks is None:
        tasks = {t: {"accuracy": 0.25 + 0.5 * ((zlib.crc32(f"{rid}/{t}".encode()) % 100) / 100)} for t in TASKS}
    submission = {
        "name": name, "tier": tier, "track": track,
        "recipe": {"name": name, "steps": steps if steps is not None else [
            {"func": "url_substring_filter", "banlist": ["casino", "viagra"], "exact_domain_match": True},
            {"func": "page_length_filter", "length_type": "word", "min_length": 50},
            {"func": "fasttext_filter", "model": "openhermes_reddit", "threshold": 0.018},
        ]},
        "eval": {"tasks": tasks},
        "hyperparameters": {"tier": tier, "params": params, "tokens": tokens, "lr": 3e-3},
        "dataset": {"documents": 123456, "tokens": tokens, "kept_fraction": 0.1},
    }
    return {"id": rid, "name": name, "tier": tier, "track": track, "source": source, "core": core,
            "extended": extended, "mmlu": mmlu, "toy": toy, "created": created, "submission": submission}


def sample_rows():
    return [
        make_row("r1", "DCLM-Baseline 7B-1x", "7B-1x", 0.420, source="dclm-reference", mmlu=0.383, extended=0.230),
        make_row("r2", "RefinedWeb 7B-1x", "7B-1x", 0.373, source="dclm-reference"),
        make_row("o1", "ours: fasttext top-10%", "7B-1x", 0.401, mmlu=0.31, extended=0.21),
        make_row("r3", "DCLM-Baseline 400M-1x", "400M-1x", 0.152, source="dclm-reference", mmlu=0.243),
        make_row("r4", "C4 400M-1x", "400M-1x", 0.107, source="dclm-reference"),
        make_row("o2", "ours: minhash + fasttext", "400M-1x", 0.171, mmlu=0.25, extended=0.09),
        make_row("o3", "ours: heuristics only", "400M-1x", 0.133, mmlu=0.24, extended=0.07),
        make_row("r5", "DCLM-Baseline 1B-1x", "1B-1x", 0.278, source="dclm-reference", mmlu=0.259, extended=0.131),
        make_row("o4", "ours: bff dedup", "1B-1x", 0.262, extended=0.12),
        make_row("t1", "toy: quality filter", "toy-1m-1x", None, toy=0.31,
                 tasks={"toy_lm": {"accuracy": 0.2}, "toy_spam": {"accuracy": 0.7}}),
        make_row("t2", "toy: no filter", "toy-1m-1x", None, toy=0.12,
                 tasks={"toy_lm": {"accuracy": 0.1}, "toy_spam": {"accuracy": 0.4}}),
    ]


def evil_rows():
    rows = sample_rows()
    rows.append(make_row("evil", EVIL_NAME, "400M-1x", 0.14, steps=[
        {"func": "page_length_filter", "min_length": EVIL_PARAM},
        {"func": EVIL_NAME, "note": "</details></table><script>alert(2)</script>"}],
        tasks={"arc_easy": {"accuracy": 0.5}, "<b onmouseover=alert(3)>task</b>": {"accuracy": 0.4}}))
    return rows


class _Tags(HTMLParser):
    """Collects (tag, attrs) for every start tag and the text of the document."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> _Tags:
    p = _Tags()
    p.feed(page)
    p.close()
    return p


def plot_points(page: str):
    svg = re.search(r"<svg\b.*?</svg>", page, re.S).group(0)
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    points = []
    for g in root.iter(f"{ns}g"):
        cls = g.get("class", "").split()
        if "pt" in cls:
            x, y = map(float, re.fullmatch(r"translate\(([-\d.e]+) ([-\d.e]+)\)", g.get("transform")).groups())
            points.append((g.get("data-id"), "ref" in cls, x, y, g))
    return root, points


# --------------------------------------------------------------------------- structure

def test_table_per_tier_ranked_by_core_and_toy():
    page = render_leaderboard(sample_rows())
    tables = re.findall(r'<table class="rank" data-tier="([^"]*)">(.*?)</table>', page, re.S)
    assert [t for t, _ in tables] == ["400M-1x", "1B-1x", "7B-1x", "toy-1m-1x"]
    ids = {t: re.findall(r'<tr class="(?:ref|ours)" data-id="([^"]*)"', body) for t, body in tables}
    assert ids["400M-1x"] == ["o2", "r3", "o3", "r4"]  # CORE 17.1 > 15.2 > 13.3 > 10.7
    assert ids["7B-1x"] == ["r1", "o1", "r2"]
    assert ids["toy-1m-1x"] == ["t1", "t2"]  # toy tier: ranked by TOY
    body_400m = dict(tables)["400M-1x"]
    assert ">17.1<" in body_400m and ">25.0<" in body_400m  # CORE and MMLU shown x100
    assert "MMLU" in body_400m and "EXTENDED" in body_400m
    assert 'class="ref"' in body_400m and 'class="ours"' in body_400m and "DCLM ref" in body_400m
    assert "TOY" in dict(tables)["toy-1m-1x"]
    assert "<script" not in page.lower() and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_ranks_restart_per_track():
    rows = [make_row("a", "a", "400M-1x", 0.10, track="pool"),
            make_row("b", "b", "400M-1x", 0.20, track="refinedweb"),
            make_row("c", "c", "400M-1x", 0.15, track="pool")]
    page = render_leaderboard(rows)
    bodies = re.findall(r'<tbody data-track="([^"]*)">(.*?)</tbody>', page, re.S)
    assert [t for t, _ in bodies] == ["refinedweb", "pool"] or [t for t, _ in bodies] == ["pool", "refinedweb"]
    pool = dict(bodies)["pool"]
    assert re.findall(r'data-id="([^"]*)"><td class="num">(\d+)<', pool) == [("c", "1"), ("a", "2")]


def test_plot_has_one_finite_point_per_submission():
    rows = sample_rows()
    page = render_leaderboard(rows)
    root, points = plot_points(page)
    with_core = [r for r in rows if r["core"] is not None]
    assert sorted(p[0] for p in points) == sorted(r["id"] for r in with_core)
    assert all(math.isfinite(x) and math.isfinite(y) for _, _, x, y, _ in points)
    assert {p[0] for p in points if p[1]} == {r["id"] for r in with_core if r["source"] == "dclm-reference"}
    by_id = {p[0]: p for p in points}
    # ours are circles, references diamonds; x grows with compute, y with CORE (SVG y points down)
    assert by_id["o1"][4].find("{http://www.w3.org/2000/svg}circle") is not None
    assert by_id["r1"][4].find("{http://www.w3.org/2000/svg}polygon") is not None
    assert by_id["r3"][2] < by_id["r5"][2] < by_id["r1"][2]
    assert by_id["r1"][3] < by_id["o1"][3] < by_id["r2"][3]
    texts = "".join(root.itertext())
    assert "CORE" in texts and "FLOPs" in texts and "10" in texts  # axis titles and decade ticks
    key = re.search(r'<ul class="key">(.*?)</ul>', page, re.S)
    for r in with_core:  # every point is labelled: by name, or by a [number] listed under the plot
        assert r["name"] in texts or (key and f'] {r["name"]}</li>' in key.group(1)), r["name"]
    assert "Not plotted" in page and "toy: quality filter" in page
    assert training_flops(rows[0]) == pytest.approx(6 * 6_889_000_000 * 137_780_000_000)


def test_per_task_breakdown_and_recipes():
    rows = sample_rows()
    page = render_leaderboard(rows)
    tables = dict(re.findall(r'<table class="tasks" data-tier="([^"]*)">(.*?)</table>', page, re.S))
    assert set(tables) == {"400M-1x", "1B-1x", "7B-1x", "toy-1m-1x"}
    for task in TASKS:
        assert f'<th class="task">{task}</th>' in tables["7B-1x"]
    assert "background:rgba(46,125,50," in tables["7B-1x"]
    assert ">70.0<" in tables["toy-1m-1x"]
    details = re.findall(r'<details class="recipe [a-z]+" id="sub-\d+" data-id="([^"]*)">(.*?)</details>', page, re.S)
    assert sorted(d for d, _ in details) == sorted(r["id"] for r in rows)
    body = dict(details)["o2"]
    assert "page_length_filter" in body and "min_length" in body and ">50<" in body
    assert "fasttext_filter" in body and "0.018" in body and "casino" in body
    assert "hyperparameters" in body and "dataset" in body


def test_write_is_atomic_and_complete(tmp_path):
    out = write_leaderboard(sample_rows(), tmp_path / "site" / "index.html")
    assert out.read_text(encoding="utf-8").rstrip().endswith("</html>")
    assert [p.name for p in out.parent.iterdir()] == ["index.html"]  # no temporary left behind
    assert render_leaderboard([]).count("<table") == 0


# --------------------------------------------------------------------------- escaping

def test_submission_strings_are_escaped():
    page = render_leaderboard(evil_rows())
    for raw in (EVIL_NAME, EVIL_PARAM, "<img", "<script", "onerror=alert(1)>", "<b onmouseover",
                "</details></table><script>"):
        assert raw not in page, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    p = parse(page)
    assert not [t for t, _ in p.tags if t in ("script", "img", "iframe")]
    assert not [a for _, a in p.tags if any(k.startswith("on") for k in a)]
    text = "".join(p.text)
    assert EVIL_NAME in text and EVIL_PARAM in text  # it is there - as text
    _, points = plot_points(page)  # the SVG is still well-formed XML with the name inside
    assert "evil" in [p[0] for p in points]


# --------------------------------------------------------------------------- real browser

def _chromium(args, tmp_path, timeout=60):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, timeout=timeout, text=True)


def _png_pixels(data: bytes):
    """Decode an 8-bit RGB/RGBA non-interlaced PNG with the stdlib: (width, height, channels, rows)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        elif kind == b"IEND":
            break
        pos += 12 + length
    width, height, depth, ctype, _, _, interlace = header
    assert depth == 8 and ctype in (2, 6) and interlace == 0, header
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    assert len(raw) == height * (stride + 1)
    rows, prev = [], bytes(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ftype == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        else:
            assert ftype == 0, ftype
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def test_chromium_screenshot_renders_page(tmp_path):
    page = write_leaderboard(sample_rows(), tmp_path / "leaderboard.html")
    shot = tmp_path / "page.png"
    proc = _chromium([f"--screenshot={shot}", "--window-size=1280,1600", page.as_uri()], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.is_file() and shot.stat().st_size > 20_000, "screenshot missing or trivially small"
    shutil.copyfile(shot, SCREENSHOT)  # a stable copy to look at
    width, height, bpp, rows = _png_pixels(shot.read_bytes())
    assert (width, height) == (1280, 1600)
    colours: dict[bytes, int] = {}
    for line in rows[::4]:  # every 4th row, every pixel of it
        for x in range(0, len(line), bpp):
            px = line[x:x + 3]
            colours[px] = colours.get(px, 0) + 1
    total = sum(colours.values())
    assert len(colours) > 50, "screenshot has almost no colour variety"
    assert max(colours.values()) < 0.97 * total, "screenshot is (nearly) one colour"

    def near(rgb, tol=40):
        return sum(n for c, n in colours.items() if all(abs(c[i] - rgb[i]) <= tol for i in range(3)))

    assert near((0x15, 0x65, 0xC0)) > 30, "no blue 'ours' markers rendered"
    assert near((0xD8, 0x43, 0x15)) > 30, "no orange reference markers rendered"


def test_chromium_keeps_malicious_name_as_text(tmp_path):
    page = write_leaderboard(evil_rows(), tmp_path / "evil.html")
    proc = _chromium(["--dump-dom", page.as_uri()], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert "</html>" in dom and "dcbench leaderboard" in dom
    p = parse(dom)
    assert not [t for t, _ in p.tags if t == "script"], "a <script> element reached the DOM"
    assert not [a for t, a in p.tags if t == "img"], "an <img> element reached the DOM"
    assert not [a for _, a in p.tags if any(k.startswith("on") for k in a)], "an event handler reached the DOM"
    text = "".join(p.text)
    assert EVIL_NAME in text and EVIL_PARAM in text  # still there, as text


def test_crowded_plot_falls_back_on_numbered_labels():
    rows = [make_row(f"c{i}", f"crowded submission number {i}", "1B-1x", 0.25 + 0.0005 * i) for i in range(14)]
    rows.append(make_row("far", "far away", "7B-1x", 0.45))
    page = render_leaderboard(rows)
    _, points = plot_points(page)
    assert len(points) == 15
    key = re.search(r'<ul class="key">(.*?)</ul>', page, re.S)
    assert key is not None and re.search(r"<li>\[\d+\] crowded submission number \d+</li>", key.group(1))
