"""Records of a study over several analyses: a sweep (one analysis per batch and/or
resolution setting) and a comparison (several models or configurations side by side). Each
holds the analyses with their hardware answers; :mod:`convcost.view.study` makes the tables.

A sweep has each (batch, resolution) setting once (a repeated one would be a duplicate row:
the CLI refuses ``--batch 1,4,1``); a setting whose analysis fails ends the sweep with an
error naming it (``batch 64: …``, :func:`setting_name`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import SpecError

if TYPE_CHECKING:
    from .hardware.answer import Hardware
    from .model.results import ModelResult


@dataclass(frozen=True)
class SweepRow:
    """One setting of a sweep: the batch and/or resolution it used (``None``: unchanged),
    and its analysis."""

    batch: int | None
    resolution: int | None
    result: ModelResult
    hw: Hardware


@dataclass(frozen=True)
class Sweep:
    """A sweep: one row per setting, in order (batches outer, resolutions inner)."""

    rows: tuple[SweepRow, ...]

    def __post_init__(self) -> None:
        if not self.rows:
            raise SpecError("rows", self.rows, "a sweep needs at least one setting")
        seen: set[tuple[int | None, int | None]] = set()
        for row in self.rows:
            key = (row.batch, row.resolution)
            if key in seen:
                raise SpecError("rows", setting_name(*key), "each setting once: this one "
                                "is given twice")
            seen.add(key)


def setting_name(batch: int | None, resolution: int | None) -> str:
    """``"batch 64"``, ``"resolution 224"`` or ``"batch 64, resolution 224"``: how errors
    and reports name one setting of a sweep."""
    parts = ([] if batch is None else [f"batch {batch}"]) + (
        [] if resolution is None else [f"resolution {resolution}"])
    return ", ".join(parts) or "the inputs as given"


@dataclass(frozen=True)
class CompareEntry:
    """One side of a comparison: its label (the entry as typed) and its analysis."""

    label: str
    result: ModelResult
    hw: Hardware


@dataclass(frozen=True)
class Comparison:
    """Several analyses side by side (entry A, B, … in order)."""

    entries: tuple[CompareEntry, ...]

    def __post_init__(self) -> None:
        if not self.entries:
            raise SpecError("entries", self.entries, "a comparison needs at least one entry")
