"""The types the spine and the stages agree on.

The runner processes anything that is a `Recipe`: an ordered list of steps,
each with a `StepKind`, that builds into mappers (local steps) and
`GlobalStep`s. `baselines.recipe.Recipe` is the implementation; the spine
never imports it. A pool that knows the truth about its documents (a
generated pool's deliberate defects) can hand the runner a `DocLabels`
plug-in, and each step is then also counted per label.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from dcbench.stages import GlobalContext

Page = dict[str, Any]
# DCLM's mapper contract: [] removes the page, [page] keeps it (maybe modified), more split it.
Mapper = Callable[[Page], list[Page]]
# Optional on a filter's mapper: `explain(page)` says, for a page the mapper removed, the rule's measured
# value against its threshold ("alphabetic word ratio 0.31 > 0.2"). The runner calls it only on removed
# pages (so a filter pays nothing for the pages it keeps); steps without it are recorded by label alone.
Explain = Callable[[Page], str]
_M = TypeVar("_M", bound=Callable[..., Any])


def explained_by(explain: Explain) -> Callable[[_M], _M]:
    """Decorate a mapper with the `explain` that says why it removed a page."""
    def attach(mapper: _M) -> _M:
        mapper.explain = explain  # type: ignore[attr-defined]
        return mapper
    return attach


def because(what: str, value: float, op: str, limit: float | str) -> str:
    """An explanation as the rule compares: "alphabetic word ratio 0.31 > 0.2". The limit is printed
    exactly (as configured); the value to 4 significant digits, or in full where that would print
    it equal to the limit."""
    def num(x: float | str, digits: str = "") -> str:
        return x if isinstance(x, str) else f"{x:,}" if isinstance(x, int) else f"{x:{digits}}" if digits else repr(x)
    shown, limit_shown = num(value, ".4g"), num(limit)
    return f"{what} {num(value) if shown == limit_shown else shown} {op} {limit_shown}"


def why_removed(mapper: Mapper, page: Page) -> str:
    """The mapper's explanation of a removal ("" when it has none, or its `explain` fails)."""
    explain = getattr(mapper, "explain", None)
    if explain is None:
        return ""
    try:
        return str(explain(page))
    except Exception as e:  # an explanation never costs a page or a shard
        return f"(no explanation: {type(e).__name__}: {e})"


class StepKind(StrEnum):
    """What a step does to the pages it sees (a str, so it is written to JSON as its value)."""

    FILTER = "filter"  # keeps or removes a page
    MODIFIER = "modifier"  # changes a page's text
    ENRICHER = "enricher"  # adds fields (scores, language) to a page
    GLOBAL = "global"  # decides over the whole dataset, then acts per shard (see `GlobalStep`)

    @property
    def acts_by_removing(self) -> bool:
        """A removal is this step doing its job (for precision and recall); a modifier only rewrites."""
        return self is not StepKind.MODIFIER

    @property
    def acts_by_changing(self) -> bool:
        """A changed text is this step doing its job (dedup may cut paragraphs instead of whole pages)."""
        return self in (StepKind.MODIFIER, StepKind.GLOBAL)


class StepInfo(Protocol):
    """One configured step of a recipe, as the runner names and counts it."""

    @property
    def label(self) -> str: ...  # unique within the recipe, e.g. "05 url_substring_filter"

    @property
    def kind(self) -> StepKind: ...

    @property
    def targets(self) -> tuple[str, ...]: ...  # labels (see `DocLabels`) it is meant to catch; "!x": all but x

    # Optional: True when the step handles pages whose "text" is not a str (a list of lines, or
    # absent); the runner reads it with a default of False and quarantines such pages before other steps.
    # any_text: bool


@runtime_checkable
class GlobalStep(Protocol):
    """A step that sees the whole dataset, in two phases (see `dcbench.stages`).

    `analyze` reads every input shard (in the given order) and returns, per shard
    stem, a JSON-serialisable decision; `apply` turns one shard's decision into
    a mapper, called on that shard's readable documents in file order.
    """

    def analyze(self, shards: list[str], ctx: GlobalContext) -> dict[str, Any]: ...

    def apply(self, decision: Any) -> Mapper: ...


class Recipe(Protocol):
    """What the runner needs from a recipe."""

    @property
    def id(self) -> str: ...  # content id of what the recipe does: names the run

    @property
    def name(self) -> str: ...

    @property
    def steps(self) -> Sequence[StepInfo]: ...

    def to_dict(self) -> dict[str, Any]: ...  # plain data, recorded in run.json and the manifest

    def build(self) -> Sequence[tuple[StepInfo, Mapper | GlobalStep]]:
        """Instantiate every step (models and word lists load here), in recipe order."""
        ...


class DocLabels(Protocol):
    """Ground truth a pool carries: the labels of one document, as it enters the recipe."""

    name: str  # what reports call these labels

    def __call__(self, page: Mapping[str, Any]) -> Collection[str]: ...
