"""Lowerings that create tensors: ``Shape``/``Size`` (concrete integers, read from the input's
shape only), ``Constant``, ``ConstantOfShape``, ``Range`` and the random generators."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..node import OnnxOp
from ..tensors import torch_dtype
from .args import const_ints, const_scalar, prod
from .registry import LoweringTable

LOWERINGS = LoweringTable()


@LOWERINGS.op("Shape")
def _shape(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    dims = [int(s) for s in xs[0].shape]
    start = op.attrs.get("start")
    end = op.attrs.get("end")
    return torch.tensor(dims[slice(start, end)], dtype=torch.int64)


@LOWERINGS.op("Size")
def _size(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    return torch.tensor(prod([int(s) for s in xs[0].shape]), dtype=torch.int64)


def _tensor_attr(t: Any) -> Tensor:
    from onnx import numpy_helper

    arr = numpy_helper.to_array(t)
    return torch.from_numpy(arr.copy()) if arr.dtype.kind != "U" else torch.tensor(0)


@LOWERINGS.op("Constant")
def _constant(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    a = op.attrs
    if "value" in a:
        return _tensor_attr(a["value"])
    if "value_float" in a:
        return torch.tensor(float(a["value_float"]), dtype=torch.float32)
    if "value_floats" in a:
        return torch.tensor([float(v) for v in a["value_floats"]], dtype=torch.float32)
    if "value_int" in a:
        return torch.tensor(int(a["value_int"]), dtype=torch.int64)
    if "value_ints" in a:
        return torch.tensor([int(v) for v in a["value_ints"]], dtype=torch.int64)
    raise op.err("only numeric tensor constants are supported")


@LOWERINGS.op("ConstantOfShape", values=(0,))
def _constant_of_shape(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    shape = const_ints(op, xs[0], "shape")
    value = op.attrs.get("value")
    if value is None:
        return torch.zeros(shape, dtype=torch.float32)
    v = _tensor_attr(value).reshape(-1)
    return torch.full(shape, v[0].item(), dtype=v.dtype)


@LOWERINGS.op("Range", values=(0, 1, 2))
def _range(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    start, limit, delta = (const_scalar(op, xs[i], n)
                           for i, n in enumerate(("start", "limit", "delta")))
    return torch.arange(start, limit, delta, dtype=xs[0].dtype)  # type: ignore[arg-type]


@LOWERINGS.op("RandomUniformLike", "RandomNormalLike")
def _random_like(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    code = op.attrs.get("dtype")
    dtype = xs[0].dtype if code is None else torch_dtype(int(code))
    fn = torch.rand_like if op.type == "RandomUniformLike" else torch.randn_like
    return fn(xs[0], dtype=dtype)


@LOWERINGS.op("RandomUniform", "RandomNormal")
def _random(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    dtype = torch_dtype(op.i("dtype", 1))
    fn = torch.rand if op.type == "RandomUniform" else torch.randn
    return fn(op.ints("shape") or [], dtype=dtype)


@LOWERINGS.op("Bernoulli")
def _bernoulli(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    return torch.bernoulli(xs[0])
