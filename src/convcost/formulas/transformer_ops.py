"""Ops of transformer models that the other modules do not cover: the grouped matrix
product of mixture-of-experts layers (``_grouped_mm``) and the histogram that counts the
tokens routed to each expert (``histc``).

``_grouped_mm(A, B, offs)`` multiplies groups of rows (or of the contracted dimension) by
one matrix each; ``offs`` holds the cumulative group ends. The groups partition the ragged
dimension, so the counts follow from shapes alone, whatever the routing: per output element
a dot product of length ``k``, as in :mod:`.matmul` (``k`` mults/MACs, ``k − 1`` adds).

* ``A[m,k] · B[g,k,n] → [m,n]`` (rows of ``A`` in groups): ``m·n`` dot products of length ``k``.
* ``A[g,m,k] · B[k,n] → [m,n]`` (columns of ``B`` in groups): ``m·n`` of length ``k``.
* ``A[m,k] · B[k,n] → [g,m,n]`` (the contracted ``k`` in groups, as for the weight gradient):
  each of the ``m·n`` positions sums its group's ``k_i`` products, ``Σ k_i = k``: ``m·n·k``
  mults/MACs and ``g·m·n·(k̄ − 1)`` adds counted as ``m·n·k − g·m·n`` (a group of ``k_i``
  products takes ``k_i − 1`` adds; empty groups are counted as ``−1``: the convention treats
  every group as non-empty, an exact count for any routing that hits every expert).
* ``A[g,m,k] · B[g,k,n] → [g,m,n]``: a batched product.

``histc(x, bins, min, max)``: per element one subtraction of ``min``, one multiplication by
``bins/(max − min)`` and one addition to its bin's count (adds ``2n``, mults ``n``) and two
comparisons against the range (other ``2n``); with ``min == max`` the range is first found
from the data, ``2(n − 1)`` comparisons (other).
"""

from __future__ import annotations

from ..cost import Cost
from ..ops import OpCall, OpCost
from .matmul import products
from .opargs import need_tensor, numel
from .registry import FormulaRegistry

#: This module's formulas (merged into the default registry by :mod:`.catalog`).
FORMULAS = FormulaRegistry()


@FORMULAS.register("_grouped_mm")
def grouped_mm(call: OpCall, counting: str) -> OpCost:
    """``_grouped_mm(A, B, offs, bias)`` (see the module doc for the four layouts).

    forward: ``k`` mults (MACs) and ``k − 1`` adds per output element (``k`` summed over the
    groups when the contracted dimension is the grouped one), one add per element for
    ``bias``; backward: autograd computes both gradients with ``_grouped_mm`` again.
    """
    a, b = need_tensor(call, "self"), need_tensor(call, "mat2")
    k = a.shape[-1]
    nda, ndb = len(a.shape), len(b.shape)
    if nda == 2 and ndb == 2:  # grouped contraction: one [m, n] block per group
        groups = _groups(call, b.shape[-1])
        m, n = a.shape[0], b.shape[1]
        cost = Cost(mults=m * n * k, macs=m * n * k, adds=m * n * k - groups * m * n)
        outputs = groups * m * n
    else:
        batch = a.shape[0] if nda == 3 and ndb == 3 else 1
        m = a.shape[-2] if nda == 3 else a.shape[0]
        outputs = batch * m * b.shape[-1]
        cost = products(outputs, k)
    if call.arg("bias") is not None:
        cost += Cost(adds=outputs)
    return OpCost(cost)


def _groups(call: OpCall, fallback: int) -> int:
    offs = call.arg("offs")
    shape = getattr(offs, "shape", None)
    return int(shape[0]) if shape else fallback


@FORMULAS.register("histc")
def histc(call: OpCall, counting: str) -> OpCost:
    """``histc(x, bins, min, max)``.

    forward: per element one subtraction, one multiplication and one bin increment (adds
    ``2n``, mults ``n``) and two range comparisons (other ``2n``), plus ``2(n − 1)``
    comparisons to find the range when ``min == max``; backward: none (not differentiable).
    """
    x = need_tensor(call, "self")
    n = numel(x.shape)
    other = 2 * n
    if call.arg("min", 0) == call.arg("max", 0):
        other += 2 * max(n - 1, 0)
    return OpCost(Cost(adds=2 * n, mults=n, other=other))
