"""Lowerings that select or place elements by index: ``Gather`` (a constant scalar index is a
view, ``x[:, 0]``; a 2-D floating table is ``F.embedding``), ``GatherElements``,
``GatherND``, the scatters, ``Trilu``, ``TopK`` and ``ArgMax``/``ArgMin``."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the usual spelling

from ..node import OnnxOp
from ..tensors import is_fake, no_modes
from .args import const_scalar, input_at, norm_axis
from .registry import LoweringTable

LOWERINGS = LoweringTable()


@LOWERINGS.op("Gather", values=())
def _gather(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    data, idx = xs[0], xs[1]
    axis = norm_axis(op.i("axis", 0), data.dim())
    n = int(data.shape[axis])
    if not is_fake(idx):
        with no_modes():
            idx = torch.where(idx < 0, idx + n, idx)
            scalar = int(idx.item()) if idx.dim() == 0 else None
        if scalar is not None:
            return data.select(axis, scalar)  # x[:, 0]: a view, as in PyTorch code
    if axis == 0 and data.dim() == 2 and data.is_floating_point():
        return F.embedding(idx, data)  # nn.Embedding's op
    shape = [int(s) for s in data.shape]
    out = torch.index_select(data, axis, idx.reshape(-1))
    return out.reshape(shape[:axis] + [int(s) for s in idx.shape] + shape[axis + 1:])


@LOWERINGS.op("GatherElements")
def _gather_elements(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    return torch.gather(xs[0], norm_axis(op.i("axis", 0), xs[0].dim()), xs[1])


@LOWERINGS.op("GatherND")
def _gather_nd(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    data, idx = xs[0], xs[1]
    if op.i("batch_dims", 0):
        raise op.err("batch_dims other than 0 is not supported")
    return data[tuple(idx[..., i] for i in range(int(idx.shape[-1])))]


@LOWERINGS.op("ScatterND")
def _scatter_nd(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    data, idx, updates = xs[0], xs[1], xs[2]
    index = tuple(idx[..., i] for i in range(int(idx.shape[-1])))
    reduction = op.s("reduction", "none")
    if reduction not in ("none", "add"):
        raise op.err(f"reduction {reduction!r} is not supported")
    return data.index_put(index, updates, accumulate=reduction == "add")


@LOWERINGS.op("ScatterElements")
def _scatter_elements(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    data, idx, updates = xs[0], xs[1], xs[2]
    axis = norm_axis(op.i("axis", 0), data.dim())
    reduction = op.s("reduction", "none")
    if reduction == "none":
        return data.scatter(axis, idx, updates)
    how = {"add": "sum", "mul": "prod", "max": "amax", "min": "amin"}.get(reduction)
    if how is None:
        raise op.err(f"reduction {reduction!r} is not supported")
    return data.scatter_reduce(axis, idx, updates, how)


@LOWERINGS.op("Trilu", values=(1,))
def _trilu(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    k = const_scalar(op, input_at(xs, 1), "k")
    diag = 0 if k is None else int(k)
    return (torch.triu if op.i("upper", 1) else torch.tril)(xs[0], diag)


@LOWERINGS.op("TopK", values=(1,))
def _topk(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    k = op.i("k", 1) if op.opset < 10 else int(const_scalar(op, xs[1], "k") or 0)
    values, indices = torch.topk(x, k, dim=op.i("axis", -1), largest=bool(op.i("largest", 1)),
                                 sorted=bool(op.i("sorted", 1)))
    return values, indices


@LOWERINGS.op("ArgMax", "ArgMin")
def _argmax(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    fn = torch.argmax if op.type == "ArgMax" else torch.argmin
    return fn(xs[0], dim=op.i("axis", 0), keepdim=bool(op.i("keepdims", 1)))
