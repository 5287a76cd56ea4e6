"""Per-step accounting for one shard, and how shards' stats add up.

The invariant every step keeps: pages in = kept + removed + quarantined
(`pages_out` can exceed `kept` when a step splits a page). When a run has a
`DocLabels` plug-in (`dcbench.contracts`), pages are also counted per label,
and the pages carrying a label a step targets are counted apart: precision
and recall of each step against the pool's ground truth come from these.

Stats add with `+`: counts sum, label counts merge, the first samples are
kept; shards are added in sorted order, so totals do not depend on
scheduling. On disk (per-shard stats files, stats.json) a step is its
`to_dict()`, where `in` and `out` are `pages_in` and `pages_out`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from dcbench.contracts import Page, StepInfo, StepKind

SAMPLES_PER_STEP = 3
SAMPLE_CHARS = 600


@dataclass(slots=True)
class StepStats:
    name: str
    kind: StepKind
    targets: tuple[str, ...] = ()
    pages_in: int = 0
    kept: int = 0
    removed: int = 0
    quarantined: int = 0
    pages_out: int = 0
    modified: int = 0
    secs: float = 0.0
    target_in: int = 0  # pages in that carry a targeted label
    target_acted: int = 0  # of those, the ones the step acted on (see `StepKind.acts_by_removing`)
    labels_in: Counter[str] = field(default_factory=Counter)
    labels_removed: Counter[str] = field(default_factory=Counter)
    labels_modified: Counter[str] = field(default_factory=Counter)
    samples: list[dict[str, Any]] = field(default_factory=list)  # pages removed, as `sample` gives them
    analyze_secs: float | None = None  # a global step's analysis of the whole dataset (included in secs)

    @classmethod
    def of(cls, step: StepInfo) -> StepStats:
        return cls(step.label, StepKind(step.kind), tuple(step.targets))

    def __add__(self, other: StepStats) -> StepStats:
        if not isinstance(other, StepStats):
            return NotImplemented
        if (other.name, other.kind) != (self.name, self.kind):
            raise ValueError(f"cannot add the stats of step {other.name!r} to those of {self.name!r}")
        return StepStats(
            self.name, self.kind, self.targets,
            pages_in=self.pages_in + other.pages_in, kept=self.kept + other.kept, removed=self.removed + other.removed,
            quarantined=self.quarantined + other.quarantined, pages_out=self.pages_out + other.pages_out,
            modified=self.modified + other.modified, secs=self.secs + other.secs,
            target_in=self.target_in + other.target_in, target_acted=self.target_acted + other.target_acted,
            labels_in=_merged(self.labels_in, other.labels_in),
            labels_removed=_merged(self.labels_removed, other.labels_removed),
            labels_modified=_merged(self.labels_modified, other.labels_modified),
            samples=(self.samples + other.samples)[:SAMPLES_PER_STEP],
            analyze_secs=_sum_known(self.analyze_secs, other.analyze_secs))

    def __radd__(self, other: Any) -> StepStats:
        return self if other == 0 else NotImplemented  # so that sum() works

    def add_analysis(self, secs: float) -> None:
        """Charge a global step's analysis of the whole dataset to this step."""
        self.analyze_secs = secs
        self.secs += secs

    def precision_recall(self) -> dict[str, float | int] | None:
        """Against the pool's labels: of the pages the step acted on (removed; a modifier:
        modified; a global step such as dedup: either), the share carrying a label it
        targets (precision); of the pages with a targeted label that reached it, the
        share it acted on (recall). None when the step has no targets or saw no labels."""
        if not self.targets or not self.labels_in:
            return None
        acted = ((self.removed if self.kind.acts_by_removing else 0)
                 + (self.modified if self.kind.acts_by_changing else 0))
        return {
            "acted": acted,
            "true": self.target_acted,
            "reached": self.target_in,
            "precision": self.target_acted / acted if acted else float("nan"),
            "recall": self.target_acted / self.target_in if self.target_in else float("nan"),
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, as stats files hold it."""
        d = {"name": self.name, "kind": self.kind.value, "targets": list(self.targets), "in": self.pages_in,
             "kept": self.kept, "removed": self.removed, "quarantined": self.quarantined, "out": self.pages_out,
             "modified": self.modified, "secs": self.secs, "target_in": self.target_in,
             "target_acted": self.target_acted, "labels_in": dict(self.labels_in),
             "labels_removed": dict(self.labels_removed), "labels_modified": dict(self.labels_modified),
             "samples": list(self.samples)}
        if self.analyze_secs is not None:
            d["analyze_secs"] = self.analyze_secs
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StepStats:
        return cls(d["name"], StepKind(d["kind"]), tuple(d["targets"]), pages_in=d["in"], kept=d["kept"],
                   removed=d["removed"], quarantined=d["quarantined"], pages_out=d["out"], modified=d["modified"],
                   secs=d["secs"], target_in=d["target_in"], target_acted=d["target_acted"],
                   labels_in=Counter(d["labels_in"]), labels_removed=Counter(d["labels_removed"]),
                   labels_modified=Counter(d["labels_modified"]), samples=list(d["samples"]),
                   analyze_secs=d.get("analyze_secs"))


def _merged(a: Counter[str], b: Counter[str]) -> Counter[str]:
    out = Counter(a)
    out.update(b)  # unlike Counter's `+`, keeps the first-seen order and never drops a key
    return out


def _sum_known(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else a + b


def hits_target(targets: Collection[str], labels: Collection[str]) -> bool:
    """Whether a document with `labels` is one a step with `targets` is meant to act on.
    A target `!name` means every document *without* label `name` (a quality filter's job is
    to keep the reference style and remove the rest, labelled or clean)."""
    return any((t[1:] not in labels) if t.startswith("!") else (t in labels) for t in targets)


def describe_targets(targets: Collection[str], sep: str = ", ") -> str:
    """Targets as a reader sees them: `!hq_style` reads "all but hq_style"."""
    return sep.join(f"all but {t[1:]}" if t.startswith("!") else t for t in targets)


def sample(page: Page, labels: Collection[str] | None) -> dict[str, Any]:
    """What a report shows of a removed page: where it came from, its labels, its start."""
    text = page.get("text")
    if isinstance(text, list):  # lines, between DCLM's split_lines_modifier and join_lines_modifier
        text = "\n".join(t for t in text if isinstance(t, str))
    elif not isinstance(text, str):
        text = ""
    return {"url": page.get("url") or page.get("metadata", {}).get("WARC-Target-URI"),
            "labels": None if labels is None else list(labels), "text": text[:SAMPLE_CHARS], "chars": len(text)}
