"""Lowerings of activation functions (each the op its ``nn`` module runs, where one exists):
ReLU and its variants, sigmoids, GELU, shrinkage, ``Clip`` (``F.hardtanh``, ``nn.ReLU6``'s op,
for constant bounds), ``Softmax`` and ``LogSoftmax``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the usual spelling

from ..node import OnnxOp
from ..tensors import is_fake
from .args import const_scalar, input_at, norm_axis, prod
from .elementwise import unary
from .registry import LoweringTable

LOWERINGS = LoweringTable()

_PLAIN: dict[str, Callable[..., Any]] = {
    "Relu": F.relu, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "Softsign": F.softsign,
    "Softplus": F.softplus, "HardSwish": F.hardswish, "Mish": F.mish,
}
for _op_type, _fn in _PLAIN.items():
    LOWERINGS.add(_op_type, unary(_fn))


@LOWERINGS.op("LeakyRelu")
def _leaky_relu(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    return F.leaky_relu(xs[0], op.f("alpha", 0.01))


@LOWERINGS.op("PRelu")
def _prelu(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x, slope = xs[0], xs[1]
    c = int(x.shape[1]) if x.dim() >= 2 else 1
    # nn.PReLU's op when the slope is one per channel (or one in all).
    if slope.numel() in (1, c) and all(int(s) == 1 for s in slope.shape[1:]) \
            and (slope.dim() <= 1 or slope.dim() < x.dim()):
        return F.prelu(x, slope.reshape(-1))
    return torch.where(x >= 0, x, x * slope)


@LOWERINGS.op("Elu")
def _elu(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    return F.elu(xs[0], op.f("alpha", 1.0))


@LOWERINGS.op("Celu")
def _celu(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    return F.celu(xs[0], op.f("alpha", 1.0))


@LOWERINGS.op("Selu")
def _selu(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    alpha, gamma = op.f("alpha", 1.6732632423543772), op.f("gamma", 1.0507009873554805)
    if abs(alpha - 1.6732632423543772) < 1e-6 and abs(gamma - 1.0507009873554805) < 1e-6:
        return F.selu(xs[0])
    return gamma * F.elu(xs[0], alpha)


@LOWERINGS.op("HardSigmoid")
def _hard_sigmoid(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    alpha, beta = op.f("alpha", 0.2), op.f("beta", 0.5)
    if abs(alpha - 1 / 6) < 1e-6 and abs(beta - 0.5) < 1e-6:
        return F.hardsigmoid(xs[0])
    return torch.clamp(xs[0] * alpha + beta, 0.0, 1.0)


@LOWERINGS.op("ThresholdedRelu")
def _thresholded_relu(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    return F.threshold(xs[0], op.f("alpha", 1.0), 0.0)


@LOWERINGS.op("Gelu")
def _gelu(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    return F.gelu(xs[0], approximate=op.s("approximate", "none"))


@LOWERINGS.op("Shrink")
def _shrink(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    bias, lambd = op.f("bias", 0.0), op.f("lambd", 0.5)
    if bias == 0.0:
        return F.hardshrink(xs[0], lambd)
    if bias == lambd:
        return F.softshrink(xs[0], lambd)
    raise op.err(f"bias {bias} other than 0 or lambd is not supported")


@LOWERINGS.op("Clip", values=(1, 2))
def _clip(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    if op.opset < 11:
        lo: Any = op.attrs.get("min")
        hi: Any = op.attrs.get("max")
    else:
        lo, hi = input_at(xs, 1), input_at(xs, 2)
        lo = None if lo is None else (lo if is_fake(lo) else const_scalar(op, lo, "min"))
        hi = None if hi is None else (hi if is_fake(hi) else const_scalar(op, hi, "max"))
    if lo is None and hi is None:
        return x
    if (x.is_floating_point() and isinstance(lo, (int, float)) and isinstance(hi, (int, float))):
        return F.hardtanh(x, float(lo), float(hi))  # nn.ReLU6's op
    return torch.clamp(x, lo, hi)


@LOWERINGS.op("Softmax", "LogSoftmax")
def _softmax(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    fn = F.softmax if op.type == "Softmax" else F.log_softmax
    r = x.dim()
    axis = norm_axis(op.i("axis", -1 if op.opset >= 13 else 1), r)
    if op.opset >= 13 or axis == r - 1:
        return fn(x, dim=axis)
    # Before opset 13: the input is coerced to 2-D [prod(shape[:axis]), prod(shape[axis:])].
    shape = tuple(int(s) for s in x.shape)
    return fn(x.reshape(prod(shape[:axis]), prod(shape[axis:])), dim=1).reshape(shape)
