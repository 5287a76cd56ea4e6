"""The toy pool's planted labels, checked against DCLM's thresholds computed
here independently of the generator and of baselines/steps."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from dcbench.baselines.resources import lid176_path, read_word_list
from dcbench.manifest import Manifest
from dcbench.pools.toy import DEFECTS, GENERATOR_VERSION, LABELS, build_toy_pool, document_at, plan
from dcbench.pools.toy_urls import read_url_words

# ------------------------------------------------------------ DCLM checks, written from the spec

STOP = {"the", "be", "to", "of", "and", "that", "have", "with"}
COUNTER = re.compile(
    r"^\W*\d(?:,|\.|\d)*(?:k|m|b)?\s+(?:likes|shares|comments|retweets|reposts|quotes|bookmarks|upvotes|"
    r"downvotes|downloads|views|followers)\W*$"
)
# UAX #29 words for our ASCII-ish text: letters/digits joined by . ' ’ : and digits by , (cross-checked
# against uniseg below).
UAX_WORD = re.compile(r"\w+(?:(?:[.'’:]|(?<=\d),(?=\d))\w+)*")
URL_IN_TEXT = re.compile(r"https?://\S+|\b\d{1,3}(?:\.\d{1,3}){3}\b")

_lid = None


def en_score(text: str) -> float:
    """lid.176 top-1 probability of `en` on the text with newlines deleted, 0 if not top-1."""
    global _lid
    if _lid is None:
        import fasttext

        _lid = fasttext.load_model(str(lid176_path()))
    labels, probs = _lid.predict(text.replace("\n", ""), k=1)
    return float(probs[0]) if labels[0] == "__label__en" else 0.0


def word_count(text: str) -> int:
    """page_length_filter's count: whitespace tokens whose first character is alphanumeric."""
    return sum(1 for t in text.split() if t[0].isalnum())


_url_rules = None


def url_banned(url: str) -> bool:
    """RefinedWeb's URL word rules: a strict word ignoring '-' and '.', a hard word, or two soft words."""
    global _url_rules
    if _url_rules is None:
        strict, hard, soft = (read_word_list(f"refinedweb_banned_words_{k}") for k in ("strict", "hard", "soft"))
        words = lambda ws: re.compile(r"\b(?:" + "|".join(map(re.escape, ws)) + r")\b")  # noqa: E731
        _url_rules = (strict, words(hard), words(soft))
    strict, hard, soft = _url_rules
    low = url.lower()
    squashed = low.replace("-", "").replace(".", "")
    return any(w in squashed for w in strict) or bool(hard.search(low)) or len(set(soft.findall(low))) >= 2


def mean_word_length(text: str) -> float:
    words = text.split()
    return sum(map(len, words)) / len(words)


def symbol_ratio(text: str) -> float:
    n = text.count("#") + text.count("...") + text.count(". . .") + text.count("…")
    return n / len(text.split())


def lines_of(text: str) -> list[str]:
    return [ln.strip() for ln in text.split("\n") if ln.strip()]


def bullet_ratio(text: str) -> float:
    lines = lines_of(text)
    return sum(ln.startswith(("●", "•", "*", "-")) for ln in lines) / len(lines)


def ellipsis_ratio(text: str) -> float:
    lines = lines_of(text)
    return sum(ln.endswith(("...", ". . .", "…")) for ln in lines) / len(lines)


def non_alpha_ratio(text: str) -> float:
    words = text.split()
    return sum(1 for w in words if not any(c.isalpha() for c in w)) / len(words)


def stop_words(text: str) -> int:
    return sum(1 for w in text.split() if w.lower() in STOP)


def line_edits(text: str) -> set[str]:
    """Which of DCLM's line modifiers (steps 19-25) would change a line, each as its label."""
    hits = set()
    for line in text.split("\n"):
        if not line:
            continue
        if sum(map(str.isupper, line)) / len(line) > 0.5:
            hits.add("uppercase_lines")
        elif sum(map(str.isdigit, line)) / len(line) > 0.999999:
            hits.add("numeric_lines")
        elif COUNTER.match(line.lower()):
            hits.add("counter_lines")
        elif len(line.split()) < 2:
            hits.add("short_lines")
        elif len(line.split()) <= 10 and (
            re.search(r"\s?items in cart", line, re.I) or re.search(r"\s?Read more...$", line, re.I)
            or re.search(r"^Sign-in\s?", line, re.I)
        ):
            hits.add("boilerplate")
    return hits


def _dup_fractions(segments: list[str]) -> tuple[float, float]:
    counts = Counter(segments)
    dup = {s: c for s, c in counts.items() if c > 1}
    chars = sum(len(s) for s in segments)
    return sum(dup.values()) / len(segments), sum(len(s) * c for s, c in dup.items()) / chars


def gopher_failure(text: str) -> str | None:
    """The first Gopher repetition check that fails, in DCLM's order: 'lines', 'paragraphs', 'ngrams'."""
    lines = lines_of(text)
    paras = [p.strip() for p in re.split(r"\n{2,}", text.strip()) if p.strip()]
    line_count, line_chars = _dup_fractions(lines) if len(lines) > 1 else (0.0, 0.0)
    para_count, para_chars = _dup_fractions(paras) if len(paras) > 1 else (0.0, 0.0)
    if line_count > 0.30:
        return "lines"
    if para_count > 0.30:
        return "paragraphs"
    if line_chars > 0.20:
        return "lines"
    if para_chars > 0.20:
        return "paragraphs"
    words = UAX_WORD.findall(text)
    total = sum(map(len, words))
    for n, limit in ((2, 0.20), (3, 0.18), (4, 0.16)):
        grams = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
        if grams:
            top = max(grams.values())
            if top > 1 and max(sum(map(len, g)) for g, c in grams.items() if c == top) * top / total > limit:
                return "ngrams"
    for n, limit in zip(range(5, 11), (0.15, 0.14, 0.13, 0.12, 0.11, 0.10)):
        grams = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
        covered = set()
        for i in range(len(words) - n + 1):
            if grams[tuple(words[i:i + n])] > 1:
                covered.update(range(i, i + n))
        if sum(len(words[i]) for i in covered) / total > limit:
            return "ngrams"
        if not covered:  # no repeated n-gram means no repeated longer one
            break
    return None


def heuristic_failures(doc: dict) -> set[str]:
    """Every DCLM heuristic (as a planted label) that the document trips, each judged on its own."""
    text, fails = doc["text"], set()
    if url_banned(doc["metadata"]["WARC-Target-URI"]):
        fails.add("spam_url")
    if URL_IN_TEXT.search(text):
        fails.add("url_in_text")
    if "\n\n\n" in text:
        fails.add("excess_newlines")
    if en_score(text) <= 0.65:
        fails.add("non_english")
    n = word_count(text)
    if n < 50:
        fails.add("too_short")
    if n > 100_000:
        fails.add("too_long")
    if not 3 <= mean_word_length(text) <= 10:
        fails.add("word_length")
    if symbol_ratio(text) > 0.1:
        fails.add("symbols")
    if bullet_ratio(text) > 0.9:
        fails.add("bullets")
    if ellipsis_ratio(text) > 0.3:
        fails.add("ellipsis")
    if non_alpha_ratio(text) > 0.2:
        fails.add("non_alpha")
    if stop_words(text) < 2:
        fails.add("no_stopwords")
    rep = gopher_failure(text) if n <= 100_000 else None
    if rep:
        fails.add(f"repeated_{rep}")
    return fails | line_edits(text)


def read_docs(out: Path) -> list[dict]:
    docs = []
    for shard in sorted(out.glob("shard_*.jsonl.gz")):
        with gzip.open(shard, "rt", encoding="utf-8") as f:
            docs += [dict(json.loads(line), shard=shard.name) for line in f]
    return docs


# ------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy")
    manifest = build_toy_pool(str(out))
    return out, manifest, read_docs(out)


def _label(doc: dict) -> str:
    return doc["planted"][0] if doc["planted"] else "clean"


def _expected(label: str) -> set[str]:
    """What the independent checks must find: the planted defect alone (duplicates and
    hq-style pages are clean for the heuristics)."""
    return set() if label in ("clean", "hq_style", "exact_duplicate", "near_duplicate") else {label}


# ------------------------------------------------------------ labels are true

def _mislabelled(docs: list[dict]) -> list[tuple]:
    wrong = []
    for doc in docs:
        label, found = _label(doc), heuristic_failures(doc)
        if label == "non_english":  # language id runs first; nothing else is promised
            ok = "non_english" in found
        else:
            ok = found == _expected(label)
        if not ok:
            wrong.append((label, sorted(found), doc["url"]))
    return wrong


@pytest.mark.slow
def test_every_label_matches_the_dclm_thresholds(pool):
    _, _, docs = pool
    wrong = _mislabelled(docs)
    assert not wrong, f"{len(wrong)} documents whose label is not what DCLM would see: {wrong[:5]}"


@pytest.mark.slow
def test_labels_hold_for_another_seed(tmp_path):
    build_toy_pool(str(tmp_path), n_docs=600, n_shards=4, seed=11)
    docs = read_docs(tmp_path)
    assert {_label(d) for d in docs} == set(DEFECTS) | {"clean", "hq_style"}
    assert not _mislabelled(docs)


def test_clean_documents_are_english_enough(pool):
    _, _, docs = pool
    scores = [en_score(d["text"]) for d in docs if _label(d) in ("clean", "hq_style")]
    assert min(scores) > 0.65
    assert sum(scores) / len(scores) > 0.9


def test_non_english_pages_are_not_english(pool):
    _, _, docs = pool
    foreign = [d for d in docs if _label(d) == "non_english"]
    assert foreign and all(en_score(d["text"]) <= 0.65 for d in foreign)
    assert {d["url"].rsplit("/", 1)[0].split("/")[2].rsplit(".", 1)[-1] for d in foreign} == {"de", "fr", "es", "it"}


def test_word_splitting_matches_uniseg(pool):
    """Our UAX #29 shortcut gives uniseg's words on one document of every label."""
    words = pytest.importorskip("uniseg.wordbreak").words

    _, _, docs = pool
    sample = {}
    for d in docs:
        if _label(d) != "too_long":
            sample.setdefault(_label(d), d)
    for label, d in sample.items():
        assert UAX_WORD.findall(d["text"]) == [w for w in words(d["text"]) if w[0].isalnum()], label


def test_duplicates_copy_a_clean_document_in_an_earlier_shard(pool):
    _, _, docs = pool
    clean = [d for d in docs if not d["planted"]]
    by_text = {d["text"]: d for d in clean}
    by_len: dict[int, list[dict]] = {}
    for d in clean:
        by_len.setdefault(len(d["text"].split()), []).append(d)
    for d in docs:
        if _label(d) == "exact_duplicate":
            orig = by_text[d["text"]]
        elif _label(d) == "near_duplicate":
            words = d["text"].split()
            close = [(sum(a != b for a, b in zip(words, o["text"].split())), o) for o in by_len[len(words)]]
            changed, orig = min(close, key=lambda x: x[0])
            assert 1 <= changed <= max(1, len(words) // 200), changed
            assert _containment(d["text"], orig["text"]) > 0.8
        else:
            continue
        assert orig["shard"] < d["shard"] and orig["url"] != d["url"]


def _containment(text: str, original: str, n: int = 13) -> float:
    """Share of `text`'s 13-grams (whitespace words) found in `original`, as BFF would count them."""
    grams = lambda ws: [tuple(ws[i:i + n]) for i in range(len(ws) - n + 1)]  # noqa: E731
    mine, seen = grams(text.split()), set(grams(original.split()))
    return sum(g in seen for g in mine) / len(mine)


# ------------------------------------------------------------ shape, shares, manifest

def test_documents_have_the_dclm_pool_shape(pool):
    _, _, docs = pool
    for d in docs:
        meta = d["metadata"]
        assert set(meta) == {"WARC-Target-URI", "WARC-Date", "WARC-Record-ID", "WARC-Type", "Content-Type"}
        assert d["url"] == meta["WARC-Target-URI"] and meta["WARC-Type"] == "response"
        assert set(d["planted"]) <= set(LABELS) and len(d["planted"]) <= 1
    assert len({d["url"] for d in docs}) == len(docs)
    assert len({d["metadata"]["WARC-Record-ID"] for d in docs}) == len(docs)


def test_label_shares_at_the_default_size(pool):
    _, _, docs = pool
    counts = Counter(_label(d) for d in docs)
    for label in DEFECTS:
        # Duplicates in the first shard have no earlier shard to copy from and become clean.
        low = 0.02 * 7 / 8 if label.endswith("duplicate") else 0.02
        assert low <= counts[label] / len(docs) <= 0.04, label
    assert counts["too_long"] == 2
    clean = counts["clean"] + counts["hq_style"]
    assert 0.50 <= clean / len(docs) <= 0.55
    assert 0.13 <= counts["hq_style"] / clean <= 0.17
    too_long = [d for d in docs if _label(d) == "too_long"]
    assert all(word_count(d["text"]) > 100_000 and en_score(d["text"]) > 0.65 for d in too_long)


def test_manifest_describes_what_was_written(pool):
    out, manifest, docs = pool
    saved = Manifest.load(str(out / "manifest.json"))
    assert saved.id == manifest.id and saved.kind == "pool" and saved.name == "toy"
    assert saved.inputs["generator"] == "toy" and saved.inputs["docs"] == 4000 and saved.inputs["seed"] == 0
    assert [s.path for s in saved.shards] == [f"shard_{i:05d}.jsonl.gz" for i in range(8)]
    assert saved.documents == len(docs) == 4000
    per_shard = Counter(d["shard"] for d in docs)
    for entry in saved.shards:
        data = (out / entry.path).read_bytes()
        assert entry.bytes == len(data) and entry.sha256 == hashlib.sha256(data).hexdigest()
        assert entry.documents == per_shard[entry.path]
    counts = Counter(lab for d in docs for lab in d["planted"])
    counts["clean"] = sum(1 for d in docs if not d["planted"])
    assert saved.extra["label_counts"] == dict(counts)
    assert sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) < 8_000_000


def test_same_seed_same_bytes_other_seed_other_documents(tmp_path):
    a = build_toy_pool(str(tmp_path / "a"), n_docs=300, n_shards=3, seed=5)
    b = build_toy_pool(str(tmp_path / "b"), n_docs=300, n_shards=3, seed=5)
    c = build_toy_pool(str(tmp_path / "c"), n_docs=300, n_shards=3, seed=6)
    assert a.id == b.id and a.id != c.id
    for rel in ["manifest.json", "reference/hq.jsonl"] + [s.path for s in a.shards]:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    texts_a = {d["text"] for d in read_docs(tmp_path / "a")}
    texts_c = {d["text"] for d in read_docs(tmp_path / "c")}
    assert len(texts_a & texts_c) == 0
    assert len(a.shards) == 3 and a.documents == 300


# The bytes generator version 3 writes (shards uncompressed, then the reference set), as the
# whole-pool-in-memory generator wrote them before it streamed: a change must bump GENERATOR_VERSION.
PINNED_V3 = "c156f09f28238d1fd55c3927b81ab5f7cb694a98c8050e0ee557401be8ff1b34"


def test_the_streaming_generator_writes_the_pinned_bytes(tmp_path):
    m = build_toy_pool(str(tmp_path), n_docs=300, n_shards=3, seed=5)
    digest = hashlib.sha256()
    for s in m.shards:
        digest.update(gzip.decompress((tmp_path / s.path).read_bytes()))
    digest.update((tmp_path / "reference" / "hq.jsonl").read_bytes())
    assert GENERATOR_VERSION == 3 and digest.hexdigest() == PINNED_V3


def test_the_plan_takes_a_byte_per_document_and_reads_as_labels():
    labels, picks = plan(5000, 4, seed=2)
    assert len(labels) == 5000 and len(labels.codes) == 5000
    assert set(labels) <= set(LABELS) | {None}
    assert labels.counts() == Counter(lab or "clean" for lab in labels)
    for i, j in picks.items():  # every duplicate copies a clean document of an earlier shard
        assert labels[i] in ("exact_duplicate", "near_duplicate") and labels[j] is None and j % 4 < i % 4
    assert document_at(7, labels, picks, 2) == document_at(7, list(labels), picks, 2)


def test_tiny_pools_still_build(tmp_path):
    m = build_toy_pool(str(tmp_path / "one"), n_docs=1, n_shards=1)
    assert m.documents == 1 and len(m.shards) == 1
    m = build_toy_pool(str(tmp_path / "few"), n_docs=5, n_shards=8)
    assert m.documents == 5 and len(m.shards) == 8
    with pytest.raises(ValueError):
        build_toy_pool(str(tmp_path / "none"), n_docs=0)


# ------------------------------------------------------------ the reference set

def _reference(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "reference" / "hq.jsonl").read_text("utf-8").splitlines()]


def test_reference_set_is_recorded_and_clean(pool):
    out, manifest, _ = pool
    ref = _reference(out)
    info = manifest.extra["reference"]
    data = (out / info["path"]).read_bytes()
    assert info["documents"] == len(ref) == 500
    assert info["sha256"] == hashlib.sha256(data).hexdigest()
    for d in ref[:100]:
        assert heuristic_failures(d) == set(), d["url"]
        assert d["url"] == d["metadata"]["WARC-Target-URI"]


@pytest.mark.slow
def test_a_classifier_can_tell_the_reference_style_from_ordinary_pages(pool, tmp_path):
    """fastText trained on half the reference set vs ordinary clean pages separates the
    other half, and ranks the pool's planted hq_style pages above ordinary ones."""
    import fasttext

    out, _, docs = pool
    ref = [d["text"] for d in _reference(out)]
    ordinary = [d["text"] for d in docs if _label(d) == "clean"][:500]
    flat = lambda t: " ".join(t.split())  # noqa: E731
    train = [f"__label__hq {flat(t)}" for t in ref[:250]] + [f"__label__cc {flat(t)}" for t in ordinary[:250]]
    path = tmp_path / "train.txt"
    path.write_text("\n".join(train) + "\n", encoding="utf-8")
    # 500 examples are few for DCLM's 5 epochs at lr 0.1 (it underfits towards hq); 20 epochs settle it
    model = fasttext.train_supervised(str(path), epoch=20, wordNgrams=2, seed=42, thread=1, verbose=0)

    def hq(text: str) -> bool:
        return model.predict(flat(text))[0][0] == "__label__hq"

    held = [hq(t) for t in ref[250:]] + [not hq(t) for t in ordinary[250:]]
    assert sum(held) / len(held) > 0.95
    planted = [d["text"] for d in docs if _label(d) == "hq_style"]
    assert sum(map(hq, planted)) / len(planted) > 0.95


@pytest.mark.parametrize("kind", ["strict", "hard", "soft"])
def test_the_pool_plants_against_the_lists_the_filter_reads(kind):
    assert read_url_words(kind) == read_word_list(f"refinedweb_banned_words_{kind}")
