"""Writing view cells (:mod:`convcost.view.cells`) as text: :func:`human` for people (SI and
binary prefixes, via :mod:`convcost.units`), :func:`plain` for machines (exact numbers, as
Python writes them), :func:`number` for an HTML ``data-value``, :func:`text` for a line.
"""

from __future__ import annotations

from collections.abc import Callable

from ..units import exact, exact_si, milliseconds, nbytes, percent, seconds, shape, si
from ..view.cells import Cell, Line, Q, Table, Value


def _num(v: Value) -> int | float:
    if isinstance(v, (int, float)):
        return v
    raise TypeError(f"not a number: {v!r}")


def _int(v: Value) -> int:
    if isinstance(v, int):
        return v
    raise TypeError(f"not an integer: {v!r}")


def _dims(v: Value) -> tuple[int, ...]:
    if isinstance(v, tuple):
        return v
    raise TypeError(f"not a shape: {v!r}")


def _fraction(v: Value) -> float:
    part, whole = _dims(v)
    return part / whole


def human(c: Cell) -> str:
    """``c`` for people: ``Q(117211136, "count") -> '117.21 M'``; ``None`` is ``c.missing``."""
    if isinstance(c, str):
        return c
    v, k = c.value, c.kind
    if v is None:
        return c.missing
    if k in ("text", "int"):
        return str(v)
    if k == "count":
        return si(_num(v), c.unit)
    if k == "exact":
        return exact(_int(v))
    if k == "exact_si":
        return exact_si(_int(v))
    if k == "bytes":
        return nbytes(_num(v))
    if k == "seconds":
        return seconds(_num(v))
    if k == "ms":
        return milliseconds(_num(v))
    if k == "percent":
        return percent(_num(v))
    if k == "share":
        part, whole = _dims(v)
        return f"{100 * part / whole:.1f}%"
    if k == "number":
        return f"{_num(v):,.1f}"
    if k == "general":
        return f"{_num(v):g}"
    if k == "ratio":
        return f"{_num(v):.3f}"
    if k == "shape":
        return shape(_dims(v))
    return "yes" if v else "no"  # flag


def plain(c: Cell) -> str:
    """``c`` for machines: ``Q(117211136, "count") -> '117211136'``; shapes as ``8x3x224``,
    flags as ``1``/``0``, shares as the fraction; ``None`` is ``c.missing``."""
    if isinstance(c, str):
        return c
    v, k = c.value, c.kind
    if v is None:
        return c.missing
    if k == "shape":
        return shape(_dims(v), "x")
    if k == "flag":
        return str(int(bool(v)))
    if k == "ratio":
        return f"{_num(v):.3f}"
    if k == "share":
        return str(_fraction(v))
    return str(v)


def number(c: Cell) -> str:
    """The exact number behind ``c`` as Python writes it (``repr``; ``''`` for none): the
    ``data-value`` of an HTML cell."""
    if isinstance(c, str) or c.value is None:
        return ""
    if c.kind == "share":
        return repr(_fraction(c.value))
    return repr(c.value)


def text(line: Line) -> str:
    """A line for people."""
    return "".join(human(p) for p in line.parts)


def cells(t: Table, fmt: Callable[[Cell], str] = human) -> list[list[str]]:
    """Every row of ``t`` as text (``fmt``: :func:`human` or :func:`plain`)."""
    return [[fmt(c) for c in row] for row in t.rows]


def as_q(c: Cell) -> Q:
    """``c`` as a value (literal text becomes ``Q(text)``)."""
    return Q(c) if isinstance(c, str) else c
