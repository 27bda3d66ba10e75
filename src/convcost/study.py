"""Records of a study over several analyses: a sweep (one analysis per batch and/or
resolution setting) and a comparison (several models or configurations side by side). Each
holds the analyses with their hardware answers; :mod:`convcost.view.study` makes the tables.
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
