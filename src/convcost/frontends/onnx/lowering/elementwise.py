"""Lowerings of elementwise arithmetic, comparison, logic and math: binary ops (a constant
one-element operand becomes a Python number, as in PyTorch code), variadic ``Max``/``Min``/
``Sum``/``Mean``, unary math functions, ``Where`` and the casts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..node import OnnxOp
from ..tensors import is_fake, no_modes, torch_dtype
from .registry import Lowering, LoweringTable

LOWERINGS = LoweringTable()


def _as_number(t: Any) -> Any:
    """A constant one-element operand as a Python number (so that ``x * 0.5`` is the same
    aten op as in PyTorch code); anything else unchanged."""
    if isinstance(t, Tensor) and not is_fake(t) and t.dim() == 0:
        with no_modes():
            return t.item()
    return t


def _binary(fn: Callable[[Any, Any], Any], commutative: bool = False,
            scalars: bool = True) -> Lowering:
    def run(op: OnnxOp, xs: list[Any], training: bool) -> Any:
        a, b = xs[0], xs[1]
        if scalars and isinstance(a, Tensor) and is_fake(a):
            return fn(a, _as_number(b))
        if scalars and commutative and isinstance(b, Tensor) and is_fake(b):
            return fn(b, _as_number(a))
        return fn(a, b)

    return run


LOWERINGS.op("Add")(_binary(torch.add, True))
LOWERINGS.op("Sub")(_binary(torch.sub))
LOWERINGS.op("Mul")(_binary(torch.mul, True))
LOWERINGS.op("Pow")(_binary(torch.pow))
LOWERINGS.op("Equal")(_binary(torch.eq))
LOWERINGS.op("Less")(_binary(torch.lt))
LOWERINGS.op("LessOrEqual")(_binary(torch.le))
LOWERINGS.op("Greater")(_binary(torch.gt))
LOWERINGS.op("GreaterOrEqual")(_binary(torch.ge))
LOWERINGS.op("And")(_binary(torch.logical_and, scalars=False))
LOWERINGS.op("Or")(_binary(torch.logical_or, scalars=False))
LOWERINGS.op("Xor")(_binary(torch.logical_xor, scalars=False))
LOWERINGS.op("BitwiseAnd")(_binary(torch.bitwise_and, scalars=False))
LOWERINGS.op("BitwiseOr")(_binary(torch.bitwise_or, scalars=False))
LOWERINGS.op("BitwiseXor")(_binary(torch.bitwise_xor, scalars=False))


@LOWERINGS.op("Div")
def _div(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    a, b = xs[0], xs[1]
    if not a.is_floating_point() and not (isinstance(b, Tensor) and b.is_floating_point()):
        return torch.div(a, b, rounding_mode="trunc")  # ONNX integer division truncates
    return torch.div(a, _as_number(b) if is_fake(a) else b)


@LOWERINGS.op("Mod")
def _mod(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    return (torch.fmod if op.i("fmod", 0) else torch.remainder)(xs[0], xs[1])


def _variadic(fn: Callable[[Any, Any], Any]) -> Lowering:
    def run(op: OnnxOp, xs: list[Any], training: bool) -> Any:
        ts = [x for x in xs if x is not None]
        y = ts[0]
        for t in ts[1:]:
            y = fn(y, t)
        return y

    return run


LOWERINGS.op("Max")(_variadic(torch.maximum))
LOWERINGS.op("Min")(_variadic(torch.minimum))
LOWERINGS.op("Sum")(_variadic(torch.add))


@LOWERINGS.op("Mean")
def _mean(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    ts = [x for x in xs if x is not None]
    y = _variadic(torch.add)(op, ts, training)
    return y / len(ts) if len(ts) > 1 else y


def unary(fn: Callable[[Any], Any]) -> Lowering:
    """The lowering that applies ``fn`` to the node's one input."""

    def run(op: OnnxOp, xs: list[Any], training: bool) -> Any:
        return fn(xs[0])

    return run


_MATH: dict[str, Callable[..., Any]] = {
    "Exp": torch.exp, "Log": torch.log, "Sqrt": torch.sqrt, "Neg": torch.neg,
    "Abs": torch.abs, "Reciprocal": torch.reciprocal, "Erf": torch.erf, "Floor": torch.floor,
    "Ceil": torch.ceil, "Round": torch.round, "Sign": torch.sign, "Sin": torch.sin,
    "Cos": torch.cos, "Tan": torch.tan, "Asin": torch.asin, "Acos": torch.acos,
    "Atan": torch.atan, "Sinh": torch.sinh, "Cosh": torch.cosh, "Asinh": torch.asinh,
    "Acosh": torch.acosh, "Atanh": torch.atanh, "Not": torch.logical_not,
    "BitwiseNot": torch.bitwise_not, "IsNaN": torch.isnan, "IsInf": torch.isinf,
}
for _op_type, _fn in _MATH.items():
    LOWERINGS.add(_op_type, unary(_fn))


@LOWERINGS.op("Where")
def _where(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    return torch.where(xs[0], xs[1], xs[2])


@LOWERINGS.op("Cast")
def _cast(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    try:
        return xs[0].to(torch_dtype(op.i("to", 1)))
    except ValueError:
        raise op.err(f"cast to ONNX type {op.i('to', 1)} is not supported") from None


@LOWERINGS.op("CastLike")
def _cast_like(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    return xs[0].to(xs[1].dtype)
