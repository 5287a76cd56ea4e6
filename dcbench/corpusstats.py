"""Corpus statistics: what a recipe did to the distribution of its documents.

Three measures, each counted into fixed bins so that a shard's statistics
take the same small space however large the shard, and shards add up like
`StepStats`:

* `words`: words per document (whitespace-separated; a text held as a list of
  lines counts the words of every line; a page without text is not counted),
  in log-spaced bins;
* `language`: the English score of fastText language id, read from the field
  `detect_lang_whole_page_enricher` writes (`language_id_whole_page_fasttext`,
  `{lang: p}`; 0 when another language comes first);
* `quality`: the fastText quality score `classify_fasttext_hq_prob_enricher`
  writes (`fasttext_hq_prob`).

*Before* is what the recipe's first step sees (for a score, the documents as
the step that adds the score scored them); *after* is what its last step
keeps. A shard task records `entering` (the documents its stage's first step
sees), `scored` (documents at the step that first gave them a score) and
`leaving` (the documents its stage keeps); `before_after` combines them over
stages. A recipe whose enrichers write other keys gets no score histograms.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dcbench.contracts import Page

LANGUAGE_FIELD = "language_id_whole_page_fasttext"
LANGUAGE = "en"
QUALITY_FIELD = "fasttext_hq_prob"
WORD_BINS_PER_DECADE = 5
WORD_DECADES = 7  # up to 10 million words; longer documents go to the last bin
SCORE_BINS = 50


@dataclass(frozen=True)
class Measure:
    name: str
    title: str  # an axis title
    edges: tuple[float, ...]  # bin i holds [edges[i], edges[i+1]); the last bin also holds larger values

    def value(self, page: Page) -> float | None:
        if self.name == "words":
            text = page.get("text")
            if isinstance(text, list):  # lines (DCLM's split_lines_modifier): the words of all of them
                return float(sum(len(t.split()) for t in text if isinstance(t, str)))
            return float(len(text.split())) if isinstance(text, str) else None
        if self.name == "language":
            scores = page.get(LANGUAGE_FIELD)
            return float(scores.get(LANGUAGE, 0.0)) if isinstance(scores, Mapping) else None
        score = page.get(QUALITY_FIELD)
        return float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None

    def bin(self, value: float) -> int:
        if self.name == "words":
            if value < 1:
                return 0
            return min(len(self.edges) - 1, 1 + int(WORD_BINS_PER_DECADE * math.log10(value) + 1e-9))
        return min(SCORE_BINS - 1, max(0, int(value * SCORE_BINS)))

    @property
    def bins(self) -> int:
        return len(self.edges) - (0 if self.name == "words" else 1)


_WORD_EDGES = (0.0,) + tuple(10 ** (i / WORD_BINS_PER_DECADE) for i in range(WORD_DECADES * WORD_BINS_PER_DECADE + 1))
_SCORE_EDGES = tuple(i / SCORE_BINS for i in range(SCORE_BINS + 1))
MEASURES = (Measure("words", "words per document", _WORD_EDGES),
            Measure("language", f"language-id score of '{LANGUAGE}'", _SCORE_EDGES),
            Measure("quality", "quality score (fastText p(high quality))", _SCORE_EDGES))
SCORES = tuple(m for m in MEASURES if m.name != "words")


@dataclass
class Histograms:
    """Counts per bin of each measure; adds with `+`."""

    counts: dict[str, list[int]]

    @classmethod
    def empty(cls) -> Histograms:
        return cls({m.name: [0] * m.bins for m in MEASURES})

    def add(self, page: Page, measures: Iterable[Measure] = MEASURES) -> None:
        for m in measures:
            value = m.value(page)
            if value is not None and math.isfinite(value):
                self.counts[m.name][m.bin(value)] += 1

    def __add__(self, other: Histograms) -> Histograms:
        return Histograms({name: [a + b for a, b in zip(self.counts[name], other.counts[name])]
                           for name in self.counts})

    def __radd__(self, other: Any) -> Histograms:
        return self if other == 0 else NotImplemented

    def documents(self, measure: str) -> int:
        return sum(self.counts[measure])

    def to_dict(self) -> dict[str, list[int]]:
        return {name: list(c) for name, c in self.counts.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, list[int]] | None) -> Histograms:
        h = cls.empty()
        for m in MEASURES:
            if d and len(d.get(m.name, ())) == m.bins:
                h.counts[m.name] = list(d[m.name])
        return h


@dataclass
class ShardCorpus:
    """One shard through one stage (see the module docstring)."""

    entering: Histograms
    scored: Histograms
    leaving: Histograms

    @classmethod
    def empty(cls) -> ShardCorpus:
        return cls(Histograms.empty(), Histograms.empty(), Histograms.empty())

    def enter(self, page: Page) -> set[str]:
        """Count a document entering the stage; returns the scores it already has."""
        self.entering.add(page, MEASURES[:1])
        return {m.name for m in SCORES if m.value(page) is not None}

    def note_scores(self, pages: list[Page], scored: set[str]) -> None:
        """After a step: count the scores `pages` carry for the first time (`scored` is updated)."""
        for m in SCORES:
            if m.name not in scored and any(m.value(p) is not None for p in pages):
                scored.add(m.name)
                for p in pages:
                    self.scored.add(p, (m,))

    def leave(self, page: Page) -> None:
        self.leaving.add(page)

    def to_dict(self) -> dict[str, dict[str, list[int]]]:
        return {"entering": self.entering.to_dict(), "scored": self.scored.to_dict(),
                "leaving": self.leaving.to_dict()}


def before_after(stages: list[list[Mapping[str, Any]]]) -> dict[str, Any]:
    """stats.json's `corpus`: per stage, its shards' `corpus` dicts (shard stats without one count
    as empty); before = the first stage's entering words and every stage's first scores,
    after = the last stage's leaving documents."""
    def total(shards: list[Mapping[str, Any]], part: str) -> Histograms:
        return sum((Histograms.from_dict((s or {}).get(part)) for s in shards), Histograms.empty())

    before = total(stages[0], "entering")
    scored = sum((total(shards, "scored") for shards in stages), Histograms.empty())
    for m in SCORES:
        before.counts[m.name] = scored.counts[m.name]
    after = total(stages[-1], "leaving")
    return {"measures": {m.name: {"title": m.title, "edges": list(m.edges)} for m in MEASURES},
            "before": before.to_dict(), "after": after.to_dict()}
