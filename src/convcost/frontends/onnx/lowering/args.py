"""Reading a node's arguments, shared by the lowerings: constant inputs as Python values
(shapes, axes, pads, scalars), optional inputs, negative axes, spatial attributes and
``auto_pad`` resolved to (begin, end) padding, and padding in ``F.pad``'s order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..node import OnnxOp
from ..tensors import is_fake, no_modes


def const_values(op: OnnxOp, t: Any, what: str) -> list[Any]:
    """The values of a constant input (shapes, axes...), flattened."""
    if t is None:
        return []
    if is_fake(t):
        raise op.err(f"its {what} input is computed from tensor data, which cannot be known "
                     "without computing (only constant shape computations are followed)")
    with no_modes():
        return list(t.reshape(-1).tolist())


def const_ints(op: OnnxOp, t: Any, what: str) -> list[int]:
    """A constant input's values as integers."""
    return [int(v) for v in const_values(op, t, what)]


def const_scalar(op: OnnxOp, t: Any, what: str) -> float | int | bool | None:
    """A constant one-value input as a Python number; ``None`` when it is omitted."""
    v = const_values(op, t, what)
    if not v:
        return None
    if len(v) != 1:
        raise op.err(f"its {what} input must be a scalar, got {len(v)} values")
    out: float | int | bool = v[0]
    return out


def input_at(xs: Sequence[Any], k: int) -> Any:
    """Input ``k``, or ``None`` when the node has fewer inputs."""
    return xs[k] if k < len(xs) else None


def norm_axis(a: int, rank: int) -> int:
    """Axis ``a`` of a rank-``rank`` tensor, made non-negative."""
    return a + rank if a < 0 else a


def prod(xs: Sequence[int]) -> int:
    """The product of ``xs`` as a Python int (1 for none)."""
    n = 1
    for x in xs:
        n *= int(x)
    return n


def resolve_pads(op: OnnxOp, sizes: Sequence[int], kernel: Sequence[int],
                 strides: Sequence[int], dilations: Sequence[int]) -> list[tuple[int, int]]:
    """(begin, end) padding per spatial dimension, ``auto_pad`` resolved (ONNX rules)."""
    nd = len(sizes)
    ap = op.s("auto_pad", "NOTSET")
    if ap in ("SAME_UPPER", "SAME_LOWER"):
        out = []
        for L, k, s, d in zip(sizes, kernel, strides, dilations):
            o = -(-int(L) // s)
            total = max(0, (o - 1) * s + (k - 1) * d + 1 - int(L))
            small, big = total // 2, total - total // 2
            out.append((small, big) if ap == "SAME_UPPER" else (big, small))
        return out
    if ap == "VALID":
        return [(0, 0)] * nd
    p = op.ints("pads") or [0] * (2 * nd)
    return [(p[i], p[i + nd]) for i in range(nd)]


def spatial_attr(op: OnnxOp, key: str, nd: int, default: int) -> list[int]:
    """A per-spatial-dimension attribute (``strides``, ``dilations``...), ``default`` for
    each of the ``nd`` dimensions when absent or empty."""
    v = op.ints(key)
    return list(v) if v else [default] * nd


def torch_pad(pairs: Sequence[tuple[int, int]]) -> list[int]:
    """Per-dimension (begin, end) pairs, first dimension first -> F.pad's order."""
    out: list[int] = []
    for b, e in reversed(pairs):
        out += [b, e]
    return out


def axes_arg(op: OnnxOp, xs: list[Any], from_input: bool) -> list[int] | None:
    """The ``axes`` of a node: its second input (``from_input``) or its attribute."""
    if from_input:
        t = input_at(xs, 1)
        return None if t is None else const_ints(op, t, "axes")
    return op.ints("axes")
