"""Every DCLM config in ../shared/data/reference/dclm_baselines_configs runs
through `dcbench process`, unchanged, on the 3,305 shared real web documents.

The runs happen in a scratch directory laid out like DCLM's repository root,
so the configs' relative banlist paths (baselines/mappers/banlists/*.txt)
resolve, through symlinks, to DCLM's banlists in ../shared/data. A config
that needs what this machine lacks (NLTK's Punkt data for c4.yaml's sentence
tokenizer, the non-public curated-domain list, DCLM's fastText quality model)
must fail before any work with a ConfigError (exit code 2) that says what is
missing; it is then run with that one setting swapped (blingfire, a stand-in
domain list, a quality model trained here), so every other step still runs.
Each run is checked for consistent per-step counts and string output texts,
and for what its steps must do on these documents: DCLM-Baseline's chain
makes DCLM's removals (specs/dclm.md section 2), C4's URL and line dedups
remove exactly what DCLM's rules say, given the documents they receive.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import fasttext
import numpy as np
import pytest
import yaml

from dcbench.baselines.quality import fasttext_quality as fq
from dcbench.shards import Bad, read_shard, write_shard

pytestmark = pytest.mark.slow

# specs/dclm.md section 2: what DCLM's code removed at each step of DCLM-Baseline's heuristics
# on the 3,305 shared documents (its curated-domain step not run).
DCLM_REMOVALS = {
    "language_filter": 935, "massive_web_repetition_filters": 182, "page_length_filter": 61,
    "word_removal_ratio_filter": 17, "alphabetic_word_ratio_filter": 13, "ellipsis_count_filter": 5,
    "bullet_count_filter": 1, "word_length_filter": 1,
}
CURATED = "baselines/mappers/banlists/refinedweb_banned_domains_curated.txt"
PLANTED_ADULT = "https://planted-adult.example/page"  # on the stand-in curated-domain list
C4_LINE = "The shared footer line says thanks for reading this article about gardens."


@pytest.fixture(scope="module")
def configs(shared_data: Path) -> Path:
    path = shared_data / "reference" / "dclm_baselines_configs"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


def real_pages(web_docs: Path) -> list[dict]:
    """The real documents as DCLM-Pool pages: the URL in the WARC headers (a made-up one where the
    document has none, as tests/baselines/test_dclm_fidelity.py makes it), and an id to follow them."""
    pages = []
    for i, line in enumerate(web_docs.open(encoding="utf-8")):
        d = json.loads(line)
        url = d.get("url") or f"https://example.org/{d['source']}/{i}"
        pages.append({"id": f"web-{i}", "text": d["text"], "metadata": {"WARC-Target-URI": url}})
    return pages


def c4_planted() -> list[dict]:
    """Pages that survive C4's rules, planted for its dedups: p3's URL is p1's once normalised,
    and p1 and p2 share a line (once stripped and lowercased)."""
    body = ["Gardens need care in spring when the soil is still cold and wet.",
            "Many people plant roses near the house because they like the smell.",
            "Water the young plants every morning before the sun gets too hot.",
            "A good layer of mulch keeps the ground moist for several more days."]
    other = ["Cats sleep for most of the day and wake up when the house is quiet.",
             "They like to sit near a window and watch the birds in the garden.",
             "An old cat may need softer food and a warm place to rest at night.",
             "Most cats will come when they hear the sound of their food bowl."]

    def page(pid: str, url: str, lines: list[str]) -> dict:
        return {"id": pid, "text": "\n".join(lines), "metadata": {"WARC-Target-URI": url}}

    return [page("p1", "https://planted.example/garden", body + [C4_LINE]),
            page("p2", "https://planted.example/cats", other + ["  " + C4_LINE.upper()]),
            page("p3", "http://www.planted.example/garden/?utm_source=x", other[::-1] + body[:1])]


def as_content(page: dict) -> dict:
    """A page of an older raw source, its text under `content` (DCLM's key_name_modifier renames it)."""
    page = dict(page)
    page["content"] = page.pop("text")
    return page


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, shared_data: Path, web_docs: Path) -> Path:
    """DCLM's repository root, as far as its configs look: banlists by relative path, and two pools."""
    root = tmp_path_factory.mktemp("dclmroot")
    banlists = root / "baselines" / "mappers" / "banlists"
    banlists.mkdir(parents=True)
    for f in sorted((shared_data / "reference" / "dclm_banlists").iterdir()):
        (banlists / f.name).symlink_to(f)
    standin = root / "standin"
    standin.mkdir()
    (standin / "curated_domains.txt").write_text("planted-adult.example\n", encoding="utf-8")
    pages = real_pages(web_docs)
    adult = {"id": "adult", "text": pages[0]["text"], "metadata": {"WARC-Target-URI": PLANTED_ADULT}}
    shards(root / "web", pages[:1] + [adult] + pages[1:])
    # C4 reads `content`; the planted pages go where global order puts p1 before p3.
    planted = c4_planted()
    shards(root / "content", [as_content(p) for p in planted[:2] + pages + planted[2:]])
    rng = random.Random(0)  # a toy quality model: English pages against the others
    english = [p for p in pages if _is_english(p)]
    others = [p for p in pages if not _is_english(p)]
    for name, docs in (("pos", english), ("neg", others)):
        write_shard(str(standin / f"{name}.jsonl"), rng.sample(docs, 300))
    fq.train([standin / "pos.jsonl"], [standin / "neg.jsonl"], standin / "quality.bin", dim=16, bucket=20_000,
             epoch=20, lr=0.5, valid_frac=0.1)
    return root


def _is_english(page: dict) -> bool:
    return sum(w in {"the", "and", "of", "to"} for w in page["text"].lower().split()) > 5


def shards(folder: Path, pages: list[dict], n: int = 3) -> None:
    folder.mkdir()
    size = -(-len(pages) // n)
    for k in range(n):
        write_shard(str(folder / f"shard_{k}.jsonl"), pages[k * size:(k + 1) * size])


def dcbench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # Ray's socket paths must stay under 107 bytes: a short private temp dir, not pytest's deep one.
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "DCBENCH_RAY_TMP": tempfile.mkdtemp(prefix="dcb")}
    return subprocess.run([sys.executable, "-m", "dcbench.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


def process(config: Path, workdir: Path, pool: str, out: str) -> subprocess.CompletedProcess:
    return dcbench("process", str(config), "--pool", pool, "--out", out, "--workers", "2", "--format", "jsonl",
                   "--quiet", cwd=workdir)


def swapped(config: Path, workdir: Path, change: dict[str, dict[str, object]]) -> Path:
    """A copy of `config` with the parameters of the steps named in `change` set as given
    (every step of that name); everything else as DCLM wrote it."""
    blocks = yaml.safe_load(config.read_text(encoding="utf-8"))
    hits = 0
    for step in blocks[0]["steps"]:
        if isinstance(step, dict) and step.get("func") in change:
            match = change[step["func"]].get("_where", {})
            if all(step.get(k) == v for k, v in match.items()):
                step.update({k: v for k, v in change[step["func"]].items() if k != "_where"})
                hits += 1
    assert hits, f"no step of {config.name} to change"
    path = workdir / f"swapped_{config.name}"
    path.write_text(yaml.safe_dump(blocks, sort_keys=False), encoding="utf-8")
    return path


def refused(config: Path, workdir: Path, pool: str, *needles: str) -> None:
    """The unchanged config stops before any work, with exit code 2 and a message saying what is missing."""
    out = f"refused_{config.stem}"
    res = process(config, workdir, pool, out)
    assert res.returncode == 2, res.stderr[-3000:]
    for needle in needles:
        assert needle in res.stderr, res.stderr[-3000:]
    assert not list((workdir / out).glob("**/data/*.jsonl"))


def read_docs(folder: Path) -> list[dict]:
    docs = []
    for f in sorted(folder.glob("*.jsonl")):
        recs = list(read_shard(str(f), require_text=False))
        assert not [r for r in recs if isinstance(r, Bad)]
        docs.extend(recs)
    return docs


def checked(res: subprocess.CompletedProcess, out: Path) -> tuple[dict, dict[str, dict], list[dict]]:
    """A finished run whose counts add up; returns its stats, its steps by label and its documents."""
    assert res.returncode == 0, res.stderr[-3000:]
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    steps, t = stats["steps"], stats["totals"]
    assert steps[0]["in"] == t["records"] - t["unreadable"]
    for prev, cur in zip(steps, steps[1:]):
        assert cur["in"] == prev["out"], cur["name"]
    for s in steps:
        assert s["in"] == s["kept"] + s["removed"] + s["quarantined"], s["name"]
    assert t["records"] == t["kept"] + sum(s["removed"] for s in steps) + t["quarantined"]
    docs = read_docs(out / "data")
    assert len(docs) == t["kept"] == steps[-1]["out"]
    assert all(isinstance(d["text"], str) for d in docs)
    return stats, {s["name"]: s for s in steps}, docs


def removals(steps: dict[str, dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for label, s in steps.items():
        func = label.split(" ", 1)[1]
        out[func] = out.get(func, 0) + s["removed"]
    return {k: v for k, v in out.items() if v}


# ------------------------------------------------------------------ the configs


def test_content_to_text_renames_content_to_text(configs, workdir):
    stats, steps, docs = checked(process(configs / "content_to_text.yaml", workdir, "content", "o_ctt"),
                                 workdir / "o_ctt")
    want = {d["id"]: d["content"] for d in read_docs(workdir / "content")}
    assert len(docs) == len(want) == 3305 + 3
    assert {d["id"]: d["text"] for d in docs} == want and not any("content" in d for d in docs)


def test_random_sampling_keeps_about_half(configs, workdir):
    stats, steps, docs = checked(process(configs / "cc_v3_refinedweb_75b.yaml", workdir, "web", "o_rs"),
                                 workdir / "o_rs")
    (step,) = steps.values()
    assert step["in"] == 3306 and 0.45 < step["kept"] / step["in"] < 0.55


@pytest.mark.parametrize("name", ["dclm_baseline_refinedweb", "refinedweb"])
def test_refinedweb_configs_make_dclms_decisions(configs, workdir, name):
    config = configs / f"{name}.yaml"
    refused(config, workdir, "web", "refinedweb_banned_domains_curated.txt")
    standin = swapped(config, workdir, {"url_substring_filter": {"_where": {"banlist_from_fname": CURATED},
                                                                 "banlist_from_fname": "standin/curated_domains.txt"}})
    stats, steps, docs = checked(process(standin, workdir, "web", f"o_{name}"), workdir / f"o_{name}")
    assert steps["02 url_substring_filter"]["removed"] == 1  # the planted adult domain
    assert "adult" not in {d["id"] for d in docs}
    if name == "dclm_baseline_refinedweb":
        assert removals(steps) == {**DCLM_REMOVALS, "url_substring_filter": 1}
        assert len(docs) == 2090
    else:  # RefinedWeb's own list of high-quality domains, matched exactly (a leading "www" ignored)
        listed = set(yaml.safe_load(config.read_text())[0]["steps"][2]["banlist"])
        assert not [d for d in docs if urlparse(d["url"]).netloc.lower().replace("www", "") in listed]
    assert stats["totals"]["quarantined"] == 0


def test_fasttext_filter_with_a_toy_model(configs, workdir):
    config = configs / "fasttext_filter.yaml"
    refused(config, workdir, "web", "fasttext_oh_eli5.bin")
    model = swapped(config, workdir, {"classify_fasttext_hq_prob_enricher": {"model_filename": "standin/quality.bin"}})
    stats, steps, docs = checked(process(model, workdir, "web", "o_ft"), workdir / "o_ft")
    enricher, quality = steps.values()
    assert enricher["removed"] == 0 and enricher["out"] == 3306
    # DCLM's score, restated: the page's lines joined by spaces, p(__label__hq) from the top-1 prediction.
    ft = fasttext.load_model(str(workdir / "standin" / "quality.bin"))
    scores = {}
    for d in read_docs(workdir / "web"):
        (label,), (p,) = ft.predict(" ".join(d["text"].strip().splitlines()))
        scores[d["id"]] = p if label == "__label__hq" else 1 - p
    want = {i for i, p in scores.items() if p >= 0.018112}
    assert 0 < quality["removed"] == len(scores) - len(want)
    assert {d["id"] for d in docs} == want
    assert all(abs(d["fasttext_oh_eli5_vs_rw_v2_prob"] - scores[d["id"]]) < 1e-6 for d in docs)


def test_c4_dedups_urls_and_lines_as_dclm_does(configs, workdir):
    config = configs / "c4.yaml"
    refused(config, workdir, "content", "page_length_filter", "pip install nltk", "punkt", "tokenizer: blingfire")
    blingfire = swapped(config, workdir, {"page_length_filter": {"_where": {"tokenizer": "nltk"},
                                                                 "tokenizer": "blingfire"}})
    stats, steps, docs = checked(process(blingfire, workdir, "content", "o_c4"), workdir / "o_c4")
    out = workdir / "o_c4"
    assert len(steps) == 21 and stats["stages"] == 3
    # The URL dedup gets stage 0's output (texts as lists of lines) and keeps the first page of each URL.
    entering = read_docs(out / "stages" / "00" / "data")
    assert entering and all(isinstance(d["text"], list) for d in entering)
    by_url: dict[str, list[str]] = {}
    for d in entering:
        by_url.setdefault(c4_url(d["url"]), []).append(d["id"])
    url_step = steps["14 exact_dedup"]
    assert url_step["removed"] == sum(len(ids) - 1 for ids in by_url.values()) >= 1
    survivors = read_docs(out / "stages" / "01" / "data")
    assert {d["id"] for d in survivors} == {ids[0] for ids in by_url.values()}
    assert {"p1", "p2"} <= {d["id"] for d in survivors} and "p3" not in {d["id"] for d in survivors}
    # The line dedup: of equal lines (stripped, lowercased), the one on the page whose URL's md5 is least.
    emptied, cut, kept_lines = c4_line_dedup(survivors)
    line_step = steps["15 exact_dedup"]
    assert (line_step["removed"], line_step["modified"]) == (emptied, cut)
    keeper = min(("p1", "p2"), key=lambda p: hashlib.md5(
        next(d["url"] for d in survivors if d["id"] == p).encode()).hexdigest())
    final = {d["id"]: d["text"] for d in docs}
    assert {"p1", "p2"} <= set(final)  # the planted pages pass C4's other rules
    with_line = [p for p in ("p1", "p2") if C4_LINE.lower() in final[p].lower()]
    assert with_line == [keeper]
    for d in docs:  # every kept line is one the line dedup kept on that page
        assert all(line in kept_lines[d["id"]] for line in d["text"].split("\n")), d["id"]


def c4_url(url: str) -> str:
    """C4's URL key, restated from TFDS c4_utils: no scheme or www., no tracking query, no trailing /."""
    url = re.sub(r"https?://(www\.)?", "", url)
    return re.sub(r"\?(utm_|ref|feed).*", "", url).rstrip("/")


def c4_line_dedup(pages: list[dict]) -> tuple[int, int, dict[str, list[str]]]:
    """DCLM's exact_dedup over lines, restated: group lines by their stripped lowercase form; keep the
    line whose page has the least md5(url) hex (np.argmin; the first in global order on a tie). Returns
    pages emptied, pages cut, and the lines each page keeps."""
    groups: dict[str, list[tuple[int, int, str]]] = {}
    for i, d in enumerate(pages):
        for k, line in enumerate(d["text"]):
            groups.setdefault(line.strip().lower(), []).append((i, k, hashlib.md5(d["url"].encode()).hexdigest()))
    drop: set[tuple[int, int]] = set()
    for rows in groups.values():
        keep = int(np.argmin(np.array([r[2] for r in rows])))
        drop.update((i, k) for n, (i, k, _) in enumerate(rows) if n != keep)
    emptied = cut = 0
    kept: dict[str, list[str]] = {}
    for i, d in enumerate(pages):
        lines = [line for k, line in enumerate(d["text"]) if (i, k) not in drop]
        kept[d["id"]] = lines
        emptied += not lines
        cut += bool(lines) and len(lines) < len(d["text"])
    return emptied, cut, kept
