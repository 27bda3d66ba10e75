"""ONNX op lowerings: each default-domain ONNX op type run with the torch ops a PyTorch model
would use, so that the tracer counts an ONNX graph like the model it was exported from.

One module per op family, each filling its own table (``LOWERINGS``);
:func:`lowering_table` merges them into the one table the loader uses. The table is built
here, explicitly, from the list of families below: a new family module is added there.
"""

from __future__ import annotations

import functools

from . import (
    activation,
    conv,
    creation,
    elementwise,
    indexing,
    matmul,
    norm,
    pool,
    reduce,
    resize,
    rnn,
    shape,
)
from .registry import Lowering, LoweringTable

__all__ = ["RANDOM_OPS", "SHAPE_ONLY_OPS", "Lowering", "LoweringTable", "lowering_table",
           "supported_ops"]

_FAMILIES = (activation, conv, creation, elementwise, indexing, matmul, norm, pool, reduce,
             resize, rnn, shape)

#: Op types that draw random numbers: never evaluated as constants, even on constant inputs.
RANDOM_OPS = frozenset({"RandomUniformLike", "RandomNormalLike", "RandomUniform",
                        "RandomNormal", "Bernoulli", "Multinomial"})
#: Op types that read only their input's shape, never its data.
SHAPE_ONLY_OPS = frozenset({"Shape", "Size"})


@functools.cache
def lowering_table() -> LoweringTable:
    """Every lowering, from every family module (built once)."""
    table = LoweringTable()
    for family in _FAMILIES:
        table.update(family.LOWERINGS)
    return table


def supported_ops() -> list[str]:
    """The ONNX op types (default domain) that have a torch mapping."""
    return lowering_table().op_types()
