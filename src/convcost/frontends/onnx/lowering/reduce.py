"""Lowerings of reductions (``Reduce*``: axes from an attribute or, from opset 18 — 13 for
``ReduceSum`` — from an input) and of the scan ``CumSum``."""

from __future__ import annotations

from typing import Any

import torch

from ..node import OnnxOp
from .args import axes_arg, const_scalar, norm_axis
from .registry import LoweringTable

LOWERINGS = LoweringTable()


def _reduce_dims(op: OnnxOp, xs: list[Any]) -> list[int] | None:
    """Reduced dimensions (sorted), or ``None`` for "return the input" (noop)."""
    x = xs[0]
    from_input = op.opset >= 18 or (op.type == "ReduceSum" and op.opset >= 13)
    axes = axes_arg(op, xs, from_input)
    if not axes:
        if from_input and op.i("noop_with_empty_axes", 0):
            return None
        return list(range(x.dim()))
    return sorted(norm_axis(a, x.dim()) for a in axes)


@LOWERINGS.op("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
       "ReduceL2", "ReduceSumSquare", "ReduceLogSumExp", "ReduceLogSum", values=(1,))
def _reduce(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    dims = _reduce_dims(op, xs)
    if dims is None or x.dim() == 0:
        return x
    keep = bool(op.i("keepdims", 1))
    t = op.type
    if t == "ReduceMean":
        return torch.mean(x, dims, keepdim=keep)
    if t == "ReduceSum":
        return torch.sum(x, dims, keepdim=keep)
    if t == "ReduceMax":
        return torch.amax(x, dims, keepdim=keep)
    if t == "ReduceMin":
        return torch.amin(x, dims, keepdim=keep)
    if t == "ReduceL1":
        return torch.linalg.vector_norm(x, 1, dims, keepdim=keep)
    if t == "ReduceL2":
        return torch.linalg.vector_norm(x, 2, dims, keepdim=keep)
    if t == "ReduceSumSquare":
        return torch.sum(x * x, dims, keepdim=keep)
    if t == "ReduceLogSumExp":
        return torch.logsumexp(x, dims, keepdim=keep)
    if t == "ReduceLogSum":
        return torch.log(torch.sum(x, dims, keepdim=keep))
    for d in sorted(dims, reverse=True):  # ReduceProd: one dimension at a time
        x = torch.prod(x, d, keepdim=keep)
    return x


@LOWERINGS.op("CumSum", values=(1,))
def _cumsum(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    axis = norm_axis(int(const_scalar(op, xs[1], "axis") or 0), x.dim())
    if op.i("reverse", 0):
        x = x.flip(axis)
    y = torch.cumsum(x, axis)
    if op.i("exclusive", 0):
        y = y - x
    return y.flip(axis) if op.i("reverse", 0) else y
