"""The toy pool's ground truth as a label plug-in (`dcbench.contracts.DocLabels`).

Every toy document lists in `planted` the defects it was built to have
(`[]` when clean). Handed to the runner, this plug-in makes each step count
the documents it saw, removed and modified per planted label, which is what
precision and recall against the steps' targets come from. Documents
without the field (any other pool) have no labels, so passing it is
harmless there.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

FIELD = "planted"


class PlantedLabels:
    """Labels of a toy document: its `planted` defects."""

    name = FIELD

    def __call__(self, page: Mapping[str, Any]) -> Collection[str]:
        return page.get(FIELD) or ()
