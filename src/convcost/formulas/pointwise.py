"""Building block for elementwise formulas: a fixed count per produced element."""

from __future__ import annotations

from ..cost import Cost
from ..ops import Formula, OpCall, OpCost
from .opargs import elements


def per_element(name: str, doc: str, mults: int = 0, adds: int = 0, other: int = 0) -> Formula:
    """A formula costing ``mults``/``adds``/``other`` per produced element.

    Elements are counted by :func:`~convcost.formulas.opargs.elements` (the result's
    elements; for ``_foreach_*`` ops, every tensor of the list). ``doc`` becomes the
    formula's docstring and must state ``forward: …; backward: …``.
    """

    def formula(call: OpCall, counting: str) -> OpCost:
        n = elements(call)
        return OpCost(Cost(mults=mults * n, adds=adds * n, other=other * n))

    formula.__name__ = formula.__qualname__ = name
    formula.__doc__ = doc
    return formula
