"""fastText quality classifier: DCLM's training settings and score semantics, exact selection."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from dcbench.baselines.quality import fasttext_quality as fq
from dcbench.baselines.registry import get

GOOD = "explain the theorem carefully with a worked example and a clear proof of each step".split()
BAD = "click here buy now cheap deals login cookie policy subscribe newsletter free shipping".split()


def _line_docs(rng: random.Random, words: list[str], n: int) -> list[str]:
    return ["\n".join(" ".join(rng.choice(words) for _ in range(8)) for _ in range(3)) for _ in range(n)]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> tuple[Path, fq.TrainReport]:
    """A small two-label model trained from jsonl shards (fast: small dim and bucket)."""
    d = tmp_path_factory.mktemp("tiny")
    rng = random.Random(0)
    pos, neg = d / "pos.jsonl", d / "neg.jsonl"
    pos.write_text("".join(json.dumps({"text": t}) + "\n" for t in _line_docs(rng, GOOD, 200))
                   + json.dumps({"text": "   \n  "}) + "\n")
    neg.write_text("".join(json.dumps({"text": t}) + "\n" for t in _line_docs(rng, BAD, 200)) + "{not json\n")
    out = d / "models" / "tiny.bin"
    report = fq.train([pos], [neg], out, dim=10, bucket=10_000, epoch=5, valid_frac=0.1)
    return out, report


def test_train_from_jsonl_report_and_atomic_write(tiny_model):
    path, report = tiny_model
    assert path.is_file() and report.model_path == str(path)
    assert [p.name for p in path.parent.iterdir()] == ["tiny.bin"]  # no temporary files left
    assert report.skipped_empty == 1 and report.skipped_bad == 1
    assert report.train_examples == 360 and report.valid_examples == 40
    assert set(report.label_counts) == {"__label__hq", "__label__cc"} and sum(report.label_counts.values()) == 360
    assert report.precision_at_1 == 1.0
    assert report.params["wordNgrams"] == 2 and report.params["lr"] == 0.1 and report.params["seed"] == 42


def test_train_is_deterministic(tiny_model, tmp_path):
    path, _ = tiny_model
    rng = random.Random(0)
    pos, neg = tmp_path / "p.txt", tmp_path / "n.txt"
    pos.write_text("".join(" ".join(t.split()) + "\n" for t in _line_docs(rng, GOOD, 50)))
    neg.write_text("".join(" ".join(t.split()) + "\n" for t in _line_docs(rng, BAD, 50)))
    a = fq.train([pos], [neg], tmp_path / "a.bin", dim=10, bucket=10_000)
    b = fq.train([pos], [neg], tmp_path / "b.bin", dim=10, bucket=10_000)
    assert a.label_counts == {"__label__cc": 50, "__label__hq": 50}  # unlabelled text lines take the list's label
    assert (tmp_path / "a.bin").read_bytes() == (tmp_path / "b.bin").read_bytes()


def test_score_semantics_match_dclm(tiny_model):
    path, _ = tiny_model
    scorer = fq.Scorer(str(path))
    model = scorer.model
    texts = ["  explain the theorem\nwith a clear proof\r\nof each step  \n", "click here\n\nbuy now cheap deals\n",
             "", "proof\tcookie"]
    for t in texts:
        joined = " ".join(t.strip().splitlines())
        labels, probs = model.predict(joined)
        want = float(probs[0]) if labels[0] == "__label__hq" else 1.0 - float(probs[0])
        assert scorer.score(t) == want
    assert scorer.score("explain the theorem\nwith a proof") == scorer.score("explain the theorem with a proof")
    good, bad = scorer.score(texts[0]), scorer.score(texts[1])
    assert good > 0.5 > bad  # the hq branch gives p, the cc branch 1 - p
    as_cc = fq.Scorer(path, hq_label="__label__cc")
    assert as_cc.score(texts[0]) == pytest.approx(1.0 - good) and as_cc.score(texts[1]) == pytest.approx(1.0 - bad)
    # A lone surrogate (a JSON escape) cannot cross into fastText; it is scored as "?" instead of failing.
    assert scorer.score("proof \ud800 step") == scorer.score("proof ? step")
    assert scorer.score_many(["proof \ud800 step"])[0] == scorer.score("proof ? step")
    many = scorer.score_many(texts * 3)
    assert many.dtype == np.float64 and list(many) == [scorer.score(t) for t in texts * 3]


def test_scorer_loads_by_path_and_rejects_bad_files(tiny_model, tmp_path):
    path, _ = tiny_model
    assert fq.Scorer(Path(path)).labels == fq.Scorer(str(path)).labels
    with pytest.raises(FileNotFoundError):
        fq.Scorer(tmp_path / "missing.bin")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x80\x04not a model")
    with pytest.raises(ValueError, match="not a fastText"):
        fq.Scorer(junk)
    with pytest.raises(ValueError, match="not a label"):
        fq.Scorer(path, hq_label="__label__wiki")


@pytest.mark.slow
def test_classifier_on_shared_quality_data_reaches_090(shared_data, tmp_path):
    train_txt, valid_txt = shared_data / "quality" / "train.txt", shared_data / "quality" / "valid.txt"
    if not (train_txt.is_file() and valid_txt.is_file()):
        pytest.skip(f"{train_txt} or {valid_txt} is absent")
    report = fq.train([train_txt], [], tmp_path / "q.bin", bucket=200_000, thread=1, valid=valid_txt)
    assert report.valid_examples == 661
    assert report.precision_at_1 >= 0.9, report
    scorer = fq.Scorer(tmp_path / "q.bin")
    lines = valid_txt.read_text(encoding="utf-8").splitlines()[:200]
    labels = [ln.split(" ", 1)[0] for ln in lines]
    scores = scorer.score_many([ln.split(" ", 1)[1] for ln in lines])
    hq = np.array([lab == "__label__hq" for lab in labels])
    assert scores[hq].mean() > 0.8 > 0.2 > scores[~hq].mean()


# ------------------------------------------------------------------ selection


def test_threshold_keeps_greater_or_equal():
    s = np.array([0.1, 0.018112, 0.0181119, 0.5])
    assert list(fq.threshold_mask(s, 0.018112)) == [True, True, False, True]
    assert list(fq.threshold_mask(s, 0.1, lower_better=True)) == [True, True, True, False]


def test_keep_count_rounds_half_up_on_the_decimal_fraction():
    assert fq.keep_count(10, 0.35) == 4  # 0.35 * 10 is 3.4999999999999996 in binary
    assert fq.keep_count(3, 0.5) == 2 and fq.keep_count(5, 0.5) == 3
    assert fq.keep_count(7, 0.0) == 0 and fq.keep_count(7, 1.0) == 7 and fq.keep_count(0, 0.3) == 0
    with pytest.raises(ValueError):
        fq.keep_count(10, 1.5)


@pytest.mark.parametrize("n", [1, 7, 10, 101, 1000])
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_top_fraction_keeps_exactly_round_fraction_n(n, fraction):
    rng = np.random.default_rng(n)
    scores = rng.integers(0, 4, size=n).astype(np.float64) / 4  # many ties
    k = fq.keep_count(n, fraction)
    # The reference: stable sort by score descending, then global order.
    want = np.zeros(n, dtype=bool)
    want[np.lexsort((np.arange(n), -scores))[:k]] = True
    one = fq.top_fraction_mask({"x": scores}, fraction)["x"]
    assert one.sum() == k and np.array_equal(one, want)
    cuts = sorted(rng.integers(0, n + 1, size=2).tolist())
    shards = {"s0": scores[: cuts[0]], "s1": scores[cuts[0] : cuts[1]], "s2": scores[cuts[1] :]}
    masks = fq.top_fraction_mask(shards, fraction)
    assert np.array_equal(np.concatenate([masks[s] for s in ("s0", "s1", "s2")]), want)


def test_top_fraction_plan_is_compact_and_threshold_selection():
    scores = {"b": np.array([0.9, 0.5, 0.5]), "a": np.array([0.5, 0.1])}
    plan = fq.top_fraction_plan(scores, 0.6)  # 3 of 5: 0.9, then two of the three 0.5s, "a" first
    assert plan.threshold == 0.5 and plan.tie_quota == {"a": 1, "b": 1} and plan.keep == 3
    masks = fq.top_fraction_mask(scores, 0.6)
    assert list(masks["a"]) == [True, False] and list(masks["b"]) == [True, True, False]
    distinct = np.linspace(0, 1, 1000)
    t = fq.select_threshold_for_fraction(distinct, 0.1)
    assert fq.threshold_mask(distinct, t).sum() == 100
    assert fq.select_threshold_for_fraction({"a": distinct[:500], "b": distinct[500:]}, 0.1) == t
    assert fq.select_threshold_for_fraction(distinct, 0.0) == float("inf")
    with pytest.raises(ValueError, match="NaN"):
        fq.top_fraction_mask({"a": np.array([0.1, np.nan])}, 0.5)


# ------------------------------------------------- quality_filter (DCLM's metadata filter)


def _quality(**params):
    return get("quality_filter").build(params)


def _kept(f, page):
    out = f(page)
    assert out in ([], [page])
    return bool(out)


def test_quality_filter_compares_inclusively_in_both_directions():
    f = _quality(key="s", threshold=0.5)
    assert _kept(f, {"s": 0.5}) and _kept(f, {"s": 0.9}) and not _kept(f, {"s": 0.4999})
    g = _quality(key="s", threshold=100.0, lower_better=True)  # a perplexity
    assert _kept(g, {"s": 100}) and _kept(g, {"s": 3.0}) and not _kept(g, {"s": 100.1})
    assert not _kept(f, {"s": float("nan")}) and not _kept(g, {"s": float("nan")})


def test_quality_filter_default_key_is_dclms():
    assert _kept(_quality(threshold=0.2), {"fasttext_hq_prob": 0.3})


def test_quality_filter_missing_key_raises_by_default():
    with pytest.raises(KeyError, match="key_must_exist: false"):
        _quality(key="s")({"text": "t"})


def test_quality_filter_missing_key_counts_as_worst_score_when_allowed():
    # DCLM: page.get(key, -inf), or +inf when lower is better: dropped for any finite threshold.
    for lower_better in (False, True):
        f = _quality(key="s", threshold=0.0, lower_better=lower_better, key_must_exist=False)
        assert not _kept(f, {"text": "t"}) and _kept(f, {"text": "t", "s": 0.0})
    assert _kept(_quality(key="s", threshold=float("-inf"), key_must_exist=False), {})
    assert _kept(_quality(key="s", threshold=float("inf"), lower_better=True, key_must_exist=False), {})


def test_quality_filter_reads_only_the_score_whatever_the_text():
    assert get("quality_filter").any_text
    f = _quality(key="s", threshold=0.5)
    assert _kept(f, {"text": ["a", "b"], "s": 0.7}) and _kept(f, {"s": 0.7}) and not _kept(f, {"text": [], "s": 0.1})
