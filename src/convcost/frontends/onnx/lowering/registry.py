"""The table of lowerings: ONNX op type (default domain) -> the function that runs the node
with torch ops, and which of its inputs are read as values (shapes, axes, pads...).

Each op-family module fills its own :class:`LoweringTable` (``LOWERINGS``) with the
:meth:`LoweringTable.op` decorator; :func:`convcost.frontends.onnx.lowering.lowering_table`
merges them into the one table the loader uses.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from ..node import OnnxOp

#: ``lowering(op, inputs, training) -> output or tuple of outputs``; ``inputs`` holds
#: ``None`` for an omitted optional input, ``training`` is the module's training flag.
Lowering = Callable[[OnnxOp, list[Any], bool], Any]


class LoweringTable:
    """ONNX op types and their lowerings; mapping an op type twice is an error."""

    def __init__(self) -> None:
        self._lowerings: dict[str, Lowering] = {}
        # Input positions read as values (shapes, axes, pads...): an initializer only used
        # there is a constant, not a parameter.
        self._value_slots: dict[str, frozenset[int]] = {}

    def op(self, *types: str, values: Collection[int] = ()) -> Callable[[Lowering], Lowering]:
        """Decorator: ``fn`` lowers every op type in ``types``; ``values`` are the input
        positions it reads as values."""

        def deco(fn: Lowering) -> Lowering:
            for t in types:
                self.add(t, fn, values)
            return fn

        return deco

    def add(self, op_type: str, fn: Lowering, values: Collection[int] = ()) -> None:
        """Map ``op_type`` to ``fn`` (``KeyError`` if it is mapped already)."""
        if op_type in self._lowerings:
            raise KeyError(f"ONNX op {op_type!r} mapped twice")
        self._lowerings[op_type] = fn
        if values:
            self._value_slots[op_type] = frozenset(values)

    def update(self, other: LoweringTable) -> None:
        """Add every mapping of ``other`` (``KeyError`` on an op type mapped in both)."""
        for t, fn in other._lowerings.items():
            self.add(t, fn, other._value_slots.get(t, ()))

    def get(self, op_type: str) -> Lowering | None:
        """The lowering of ``op_type``, or ``None`` when it has none."""
        return self._lowerings.get(op_type)

    def value_slots(self, op_type: str) -> frozenset[int]:
        """The input positions of ``op_type`` read as values."""
        return self._value_slots.get(op_type, frozenset())

    def op_types(self) -> list[str]:
        """Every mapped op type, sorted."""
        return sorted(self._lowerings)
