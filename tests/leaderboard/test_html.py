"""The static leaderboard page: structure, the Plotly figure's data, escaping, the CSP, and real
headless-Chromium renders (no overlapping text with DCLM's 156 reference results, hover, sort, filter)."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
import shutil
import struct
import zlib
from html.parser import HTMLParser
from pathlib import Path

import plotly.graph_objects as go
import pytest

from dcbench.leaderboard.dclm_import import import_reference_results
from dcbench.leaderboard.html import render_leaderboard, training_flops, with_documents, write_leaderboard
from dcbench.leaderboard.store import Store

SCREENSHOT = Path("/tmp/dcbench_leaderboard.png")
EVIL_NAME = "<script>alert(1)</script>"
EVIL_PARAM = '"><img src=x onerror=alert(1)>'
EVIL_URL = "javascript:alert(4)"

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
    """Collects (tag, attrs) for every start tag, the text outside scripts, and each script's text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.scripts: list[tuple[dict, str]] = []
        self._in_script: dict | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = dict(attrs)
            self.scripts.append((self._in_script, ""))

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None

    def handle_data(self, data):
        if self._in_script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)
        else:
            self.text.append(data)


def parse(page: str) -> _Tags:
    p = _Tags()
    p.feed(page)
    p.close()
    return p


def figure(page: str) -> dict:
    """The CORE-vs-compute figure the page hands to Plotly (JSON in a data block)."""
    block = re.search(r'<script type="application/json" class="plot-data" data-target="core-plot">(.*?)</script>',
                      page, re.S)
    return json.loads(block.group(1))


def plot_points(page: str) -> dict[str, dict]:
    """id -> {x, y, hover, ref, tier} for every plotted point."""
    points = {}
    for trace in figure(page)["data"]:
        for x, y, (anchor, rid), hover in zip(trace["x"], trace["y"], trace.get("customdata", []),
                                              trace.get("hovertext", [])):
            points[rid] = {"x": x, "y": y, "hover": hover, "anchor": anchor, "tier": trace["meta"],
                           "ref": trace["marker"]["symbol"] == "diamond-open"}
    return points


def csp(page: str) -> dict[str, list[str]]:
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page)
    return {d.split()[0]: d.split()[1:] for d in html.unescape(meta.group(1)).split(";") if d.strip()}


def check_scripts_and_loads(page: str) -> _Tags:
    """Every script that runs is one the CSP allows by its hash, and nothing loads from elsewhere."""
    p = parse(page)
    policy = csp(page)
    assert policy["default-src"] == ["'none'"] and "'unsafe-inline'" not in policy["script-src"]
    running = [(a, t) for a, t in p.scripts if a.get("type") != "application/json"]
    hashes = {"'sha256-" + base64.b64encode(hashlib.sha256(t.encode()).digest()).decode() + "'" for _, t in running}
    assert hashes == set(policy["script-src"]) and len(running) == 4
    assert [a.get("data-name") for a, _ in running] == ["plotly.js", "plots.js", "sortable.js", "tier_filter.js"]
    for tag, attrs in p.tags:
        for key in ("src", "href", "action", "data"):
            value = attrs.get(key) or ""
            assert not re.match(r"\s*(https?:|//|javascript:)", value, re.I), (tag, key, value)
    return p


# --------------------------------------------------------------------------- structure

def test_table_per_tier_ranked_by_core_and_toy():
    page = render_leaderboard(sample_rows())
    tables = re.findall(r'<table class="rank sortable" data-tier="([^"]*)">(.*?)</table>', page, re.S)
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
    check_scripts_and_loads(page)


def test_ranks_restart_per_track():
    rows = [make_row("a", "a", "400M-1x", 0.10, track="pool"),
            make_row("b", "b", "400M-1x", 0.20, track="refinedweb"),
            make_row("c", "c", "400M-1x", 0.15, track="pool")]
    page = render_leaderboard(rows)
    bodies = re.findall(r'<tbody data-track="([^"]*)">(.*?)</tbody>', page, re.S)
    assert sorted(t for t, _ in bodies) == ["pool", "refinedweb"]
    pool = dict(bodies)["pool"]
    assert re.findall(r'data-id="([^"]*)"><td class="num">(\d+)<', pool) == [("c", "1"), ("a", "2")]
    assert 'class="trackhead fixed"' in pool  # the sort script keeps group headings in place


def test_plot_has_one_finite_point_per_submission():
    rows = sample_rows()
    page = render_leaderboard(rows)
    fig = figure(page)
    go.Figure(fig["data"], fig["layout"])  # Plotly's own schema check: raises on a wrong property
    points = plot_points(page)
    with_core = [r for r in rows if r["core"] is not None]
    toy = [r for r in rows if r["core"] is None]
    assert toy and sorted(points) == sorted(r["id"] for r in rows)  # toy-tier entries are plotted by TOY
    assert all(math.isfinite(p["x"]) and math.isfinite(p["y"]) for p in points.values())
    assert {i for i, p in points.items() if p["ref"]} == {r["id"] for r in with_core if r["source"] == "dclm-reference"}
    # x is the compute (log axis), y the CORE in percent; each point knows its tier and recipe anchor
    assert points["r3"]["x"] < points["r5"]["x"] < points["r1"]["x"]
    assert points["r1"]["y"] == pytest.approx(42.0) and points["o1"]["y"] == pytest.approx(40.1)
    assert points["o1"]["x"] == pytest.approx(training_flops(rows[2]))
    assert points["r3"]["tier"] == "400M-1x" and re.search(f'id="{points["o1"]["anchor"]}" data-id="o1"', page)
    layout = fig["layout"]
    assert layout["xaxis"]["type"] == "log"
    assert "FLOPs" in layout["xaxis"]["title"]["text"] and "CORE" in layout["yaxis"]["title"]["text"]
    for r in with_core:  # hover details: name, tier, source, CORE, MMLU, compute, recipe
        hover = points[r["id"]]["hover"]
        assert html.escape(r["name"]) in hover and r["tier"] in hover and "FLOPs" in hover and "recipe:" in hover
        assert ("DCLM reference result" if r["source"] == "dclm-reference" else "dcbench submission") in hover
    assert "CORE 42.0" in points["r1"]["hover"] and "MMLU 38.3" in points["r1"]["hover"]
    assert "3 steps (url_substring_filter, page_length_filter, fasttext_filter)" in \
        points["o1"]["hover"].replace("<br>", " ")  # long lines are wrapped
    assert points["t1"]["y"] == pytest.approx(31.0) and "TOY 31.0 (plotted)" in points["t1"]["hover"]
    assert "Not plotted" not in page
    assert training_flops(rows[0]) == pytest.approx(6 * 6_889_000_000 * 137_780_000_000)


def test_per_task_breakdown_and_recipes():
    rows = sample_rows()
    page = render_leaderboard(rows)
    tables = dict(re.findall(r'<table class="tasks sortable" data-tier="([^"]*)">(.*?)</table>', page, re.S))
    assert set(tables) == {"400M-1x", "1B-1x", "7B-1x", "toy-1m-1x"}
    for task in TASKS:  # a sortable column per task (<wbr> lets long names wrap at underscores)
        assert f'<th class="task"><button type="button" class="sort">{task}</button></th>' in \
            tables["7B-1x"].replace("<wbr>", "")
    assert re.findall(r'<tr class="(?:ref|ours)" data-id="([^"]*)">', tables["7B-1x"]) == ["r1", "o1", "r2"]
    assert "background:rgba(46,125,50," in tables["7B-1x"]
    assert ">70.0<" in tables["toy-1m-1x"]
    details = re.findall(r'<details class="recipe [a-z]+" id="sub-\d+" data-id="([^"]*)">(.*?)</details>', page, re.S)
    assert sorted(d for d, _ in details) == sorted(r["id"] for r in rows)
    body = dict(details)["o2"]
    assert "page_length_filter" in body and "min_length" in body and ">50<" in body
    assert "fasttext_filter" in body and "0.018" in body and "casino" in body
    assert "hyperparameters" in body and "dataset" in body


def test_long_dclm_names_are_split_for_reading():
    name = ("rw_v2_cc_v3_f0.15_resiliparse_fasttext_openhermes_reddit_eli5_vs_rw_v2_bigram_200k_train_0.1"
            "-open_lm_7b-warm=5000-lr=0p001-wd=0p1-cd=3e-05-bs=2048-mult=1-seed=124-tokens=137788211200")
    page = render_leaderboard([make_row("long", name, "7B-1x", 0.42, source="dclm-reference")])
    data, config = name.split("-", 1)
    assert f'title="{name}">{data}</a><span class="cfg">{config}</span>' in page  # whole name, two lines
    hover = plot_points(page)["long"]["hover"]  # the same two parts, wrapped into short lines
    assert max(map(len, hover.split("<br>"))) <= 80 and hover.replace("<br>", "").startswith(f"<b>{data}</b>{config}")


def test_crowded_points_keep_their_names():
    """The old SVG fell back on numbered labels and a footnote list that overlapped itself;
    every point now carries its name in the hover, and there is no footnote list."""
    rows = [make_row(f"c{i}", f"crowded submission number {i}", "1B-1x", 0.25 + 0.0005 * i) for i in range(14)]
    rows.append(make_row("far", "far away", "7B-1x", 0.45))
    page = render_leaderboard(rows)
    points = plot_points(page)
    assert len(points) == 15
    assert all(f"crowded submission number {i}</b>" in points[f"c{i}"]["hover"] for i in range(14))
    assert 'class="key"' not in page


def test_write_is_atomic_and_complete(tmp_path):
    out = write_leaderboard(sample_rows(), tmp_path / "site" / "index.html")
    assert out.read_text(encoding="utf-8").rstrip().endswith("</html>")
    assert [p.name for p in out.parent.iterdir()] == ["index.html"]  # no temporary left behind
    assert render_leaderboard([]).count("<table") == 0
    assert render_leaderboard(sample_rows()) == render_leaderboard(sample_rows())  # hashes, not nonces


def test_rows_from_the_store_get_their_documents(tmp_path):
    with Store(tmp_path / "lb.sqlite") as store:
        assert with_documents(store, store.list()) == []


# --------------------------------------------------------------------------- escaping

def test_submission_strings_are_escaped():
    rows = evil_rows()
    rows[-1]["submission"]["dataset"]["url"] = EVIL_URL
    page = render_leaderboard(rows)
    p = check_scripts_and_loads(page)
    outside_scripts = re.sub(r"<script data-name=[^>]*>.*?</script>", "", page, flags=re.S)
    for raw in (EVIL_NAME, EVIL_PARAM, "<img", "<script>", "onerror=alert(1)>", "<b onmouseover",
                "</details></table><script>", "</script><"):
        assert raw not in outside_scripts, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert not [t for t, _ in p.tags if t in ("img", "iframe")]
    assert not [a for _, a in p.tags if any(k.startswith("on") for k in a)]
    assert not [a for t, a in p.tags if t == "a" and not a.get("href", "").startswith("#")]
    text = "".join(p.text)
    assert EVIL_NAME in text and EVIL_PARAM in text and EVIL_URL in text  # it is there - as text
    # In the figure's JSON the name is intact, escaped for Plotly's pseudo-HTML, and cannot end the block
    block = re.search(r'<script type="application/json"[^>]*>(.*?)</script>', page, re.S).group(1)
    assert "<" not in block and "\\u003cbr\\u003e" in block  # tojson writes every < as \u003c
    hover = plot_points(page)["evil"]["hover"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hover and "<script" not in hover


# --------------------------------------------------------------------------- real browser

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


@pytest.mark.slow
def test_chromium_screenshot_renders_page(chromium, tmp_path):
    page = write_leaderboard(sample_rows(), tmp_path / "leaderboard.html")
    shot = tmp_path / "page.png"
    proc = chromium.run(f"--screenshot={shot}", "--window-size=1280,1600", "--virtual-time-budget=20000",
                        page.as_uri())
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


@pytest.mark.slow
def test_chromium_keeps_malicious_name_as_text(chromium, tmp_path):
    page = write_leaderboard(evil_rows(), tmp_path / "evil.html")
    result = chromium.measure(page, hover="evil")
    assert result["violations"] == [], result["violations"]  # plotly.js runs under the CSP as it is
    assert result["points"] == 12 and result["overlapCount"] == 0, result["overlaps"]  # toy tier plotted by TOY
    hover = result["actions"]["hover"]
    assert hover["points"] == 1 and EVIL_NAME in hover["text"] and "CORE 14.0" in hover["text"]
    assert set(hover["elements"]) <= {"g", "path", "text", "tspan", "rect"}, hover["elements"]
    proc = chromium.run("--dump-dom", "--virtual-time-budget=20000", page.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert "</html>" in dom and "dcbench leaderboard" in dom
    p = parse(dom)
    assert [a.get("data-name") for t, a in p.tags if t == "script" and a.get("type") != "application/json"] == \
        ["plotly.js", "plots.js", "sortable.js", "tier_filter.js"], "a <script> element reached the DOM"
    assert not [a for t, a in p.tags if t == "img"], "an <img> element reached the DOM"
    assert not [a for _, a in p.tags if any(k.startswith("on") for k in a)], "an event handler reached the DOM"
    text = "".join(p.text)
    assert EVIL_NAME in text and EVIL_PARAM in text  # still there, as text


@pytest.mark.slow
def test_chromium_sorts_tables_filters_tiers_and_opens_recipes(chromium, tmp_path):
    page = write_leaderboard(sample_rows(), tmp_path / "leaderboard.html")
    rows = {r["id"]: r for r in sample_rows() if r["tier"] == "400M-1x"}
    by_arc = sorted(rows, key=lambda i: -rows[i]["submission"]["eval"]["tasks"]["arc_easy"]["accuracy"])
    result = chromium.measure(page, sort="arc_easy")
    assert result["actions"]["sort"] == {"first": by_arc, "second": by_arc[::-1]}  # best first, then reversed
    result = chromium.measure(page, filter="1B-1x")
    assert result["actions"]["filter"] == {"sections": ["1B-1x"], "traces": ["1B-1x", "1B-1x"]}
    assert result["overlapCount"] == 0 and result["violations"] == []
    result = chromium.measure(page, click="o4")  # a click on a point opens its recipe
    assert result["actions"]["click"] == {"opened": ["o4"]}


@pytest.fixture
def dclm_page(shared_data, tmp_path):
    folder = shared_data / "eval" / "dclm" / "reference_results"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    with Store(tmp_path / "lb.sqlite") as store:
        assert len(import_reference_results(store, folder)["added"]) == 156
        rows = with_documents(store, store.list())  # what `dcbench leaderboard html` writes
    return write_leaderboard(rows, tmp_path / "dclm.html"), rows


@pytest.mark.slow
def test_chromium_dclm_reference_results_have_no_overlapping_text(chromium, dclm_page, tmp_path):
    page, rows = dclm_page
    plotted = sum(r["tier"] != "external" for r in rows)
    for details in ("closed", "open"):
        result = chromium.measure(page, width=1400, **({"open_details": ""} if details == "open" else {}))
        assert result["overlapCount"] == 0, (details, result["overlaps"])
        assert result["violations"] == [], result["violations"]
        assert result["width"] == 1400 and result["scrollWidth"] <= 1400  # nothing pushes the page sideways
        assert result["plots"] == 1 and result["points"] == plotted == 130
        assert result["svgTexts"] >= 15 and result["boxes"] > 3000  # the probe measured the plot and the tables
    shot = tmp_path / "dclm.png"
    proc = chromium.run(f"--screenshot={shot}", "--window-size=1400,1800", "--virtual-time-budget=20000",
                        page.as_uri())
    assert proc.returncode == 0 and shot.stat().st_size > 50_000, proc.stderr[-2000:]
    shutil.copyfile(shot, SCREENSHOT.with_name("dcbench_leaderboard_dclm.png"))


def test_epochs_show_in_the_ranking_and_the_hover():
    repeated = make_row("e1", "repeated", "400M-1x", 0.2)
    repeated["epochs"] = 14.4  # the store's column
    recorded = make_row("e2", "recorded", "400M-1x", 0.1)
    recorded["submission"]["model"] = {"epochs": 0.98}  # only in the submission document
    unknown = make_row("e3", "unknown", "400M-1x", 0.05)
    page = render_leaderboard([repeated, recorded, unknown])
    ranking = page[page.index('<table class="rank'):page.index("Per-task accuracy")]
    assert ">epochs<" in ranking and 'data-v="14.4000">14.4<' in ranking and 'data-v="0.9800">1.0<' in ranking
    points = plot_points(page)
    assert "14.4 epochs over its data" in points["e1"]["hover"] and "epochs" not in points["e3"]["hover"]
