"""Bytes an op reads and writes (for the roofline and per-op views).

Convention: every tensor argument is read once and every result written once (an in-place
op reads and writes its target); zero-cost ops (views, metadata; the registry's zero-cost
set) move nothing. Ops in :data:`PARTIAL_READS` read only what they gather; ops in
:data:`SHAPE_ONLY` read no data. No cache reuse between ops is assumed, which is the
roofline's assumption too.
"""

from __future__ import annotations

from typing import Any

from ..dtypes import ELEMENT_BYTES
from ..ops import OpCall, TensorMeta
from .catalog import default_registry
from .registry import FormulaRegistry, bare_name

#: Ops that read only part of a tensor argument: ``(positional index, reason)``. Their bytes
#: read for that argument are the output's size instead of the whole argument (an
#: embedding lookup reads the rows it gathers, not the whole table).
PARTIAL_READS: dict[str, tuple[int, str]] = {
    "embedding": (0, "reads only the gathered rows of the table"),
    "index_select": (0, "reads only the selected slices"),
}


#: Ops that use only the shape and dtype of their tensor arguments (they read no data).
SHAPE_ONLY: frozenset[str] = frozenset({
    "zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like",
    "randint_like", "new_zeros", "new_ones", "new_empty", "new_full", "new_empty_strided",
})


def nbytes(t: TensorMeta) -> int:
    """Bytes of ``t`` (dtype sizes from :data:`~convcost.dtypes.ELEMENT_BYTES`; unknown
    dtypes count 4)."""
    return t.numel * ELEMENT_BYTES.get(t.dtype, 4)


def traffic(call: OpCall, registry: FormulaRegistry | None = None) -> tuple[int, int]:
    """Bytes ``call`` reads and writes: ``(read, written)`` (see the module doc).

    ``registry`` says which ops are zero-cost (default: :func:`default_registry`).
    """
    reg = default_registry() if registry is None else registry
    if reg.is_zero_cost(call.name):
        return 0, 0
    base = bare_name(call.name)
    written = sum(nbytes(o) for o in call.outputs if o is not None)
    if base in SHAPE_ONLY:
        return 0, written
    partial = PARTIAL_READS.get(base)
    read = 0
    for i, a in enumerate(call.values()):
        for t in _tensors(a):
            read += written if partial is not None and i == partial[0] else nbytes(t)
    return read, written


def _tensors(x: Any) -> list[TensorMeta]:
    if isinstance(x, TensorMeta):
        return [x]
    if isinstance(x, (tuple, list)):
        return [t for item in x for t in _tensors(item)]
    return []
