"""Typed cells, lines and tables: what every view returns and every renderer formats.

A :class:`Q` is one value and what it measures (``kind``); a renderer turns it into text for
people (SI prefixes, binary bytes) or for machines (exact numbers), so a CSV holds
``117211136`` where a table shows ``117.21 M``. A :class:`Line` is a sentence of literal
text and values; a :class:`Table` a header and rows of cells.
"""

from __future__ import annotations

from typing import Literal, NamedTuple, Union

#: What a value measures, which decides how it is written:
#:
#: * ``text`` — words, as they are; ``int`` — an integer written plainly (``3``)
#: * ``count`` — a count (SI prefixes for people: ``118.01 M``; ``unit`` appended)
#: * ``exact`` — an integer with thousands separators (``118,013,952``)
#: * ``exact_si`` — exact, then SI in parentheses from 10,000 (``118,013,952 (118.01 M)``)
#: * ``bytes`` — bytes (binary prefixes: ``3.67 MiB``)
#: * ``seconds`` — seconds shown in s, ms or µs; ``ms`` — seconds shown in ms
#: * ``percent`` — a fraction shown as a percentage (``0.457 -> 45.7%``)
#: * ``share`` — a ``(part, whole)`` pair shown as a percentage of the whole
#: * ``number`` — a real number with one decimal and separators (``1,234.5``)
#: * ``general`` — a real number as short as it is exact (``989.5``, ``1979``)
#: * ``ratio`` — a ratio with three decimals (``1.000``), for people and machines alike
#: * ``shape`` — a tensor shape (``8×3×224×224``; ``8x3x224x224`` for machines)
#: * ``flag`` — a boolean (``1``/``0`` for machines)
Kind = Literal["text", "int", "count", "exact", "exact_si", "bytes", "seconds", "ms",
               "percent", "share", "number", "general", "ratio", "shape", "flag"]

#: The value of a cell.
Value = Union[int, float, str, bool, tuple[int, ...], None]  # noqa: UP007 - runtime alias


class Q(NamedTuple):
    """One value of a report and what it measures. ``missing`` is written for ``None``."""

    value: Value
    kind: Kind = "text"
    unit: str = ""
    missing: str = ""


#: A table cell: literal text, or a value to format.
Cell = Union[str, Q]  # noqa: UP007 - runtime alias


class Line(NamedTuple):
    """A sentence: literal text and values, in order."""

    parts: tuple[Cell, ...]


class Table(NamedTuple):
    """A header and rows of cells; columns in ``left`` are text (left-aligned), the others
    numbers (right-aligned)."""

    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    left: tuple[int, ...] = (0,)


def line(*parts: Cell) -> Line:
    """``Line(parts)``, written as ``line("forward ", Q(n, "count"), " FLOPs")``."""
    return Line(tuple(parts))
