"""Lowerings that move data without computing on it: ``Identity``, ``Flatten``, ``Reshape``,
``Transpose``, ``(Un)Squeeze``, ``Concat``, ``Split``, ``Slice``, ``Expand``, ``Tile`` and
``Pad``. Their shape arguments (axes, starts, pads...) must be constants."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the usual spelling

from ..node import OnnxOp
from .args import axes_arg, const_ints, const_scalar, input_at, norm_axis, prod, torch_pad
from .registry import LoweringTable

LOWERINGS = LoweringTable()


@LOWERINGS.op("Identity")
def _identity(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    return xs[0]


@LOWERINGS.op("Flatten")
def _flatten(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    axis = norm_axis(op.i("axis", 1), x.dim())
    shape = [int(s) for s in x.shape]
    return x.reshape(prod(shape[:axis]), prod(shape[axis:]))


@LOWERINGS.op("Reshape", values=(1,))
def _reshape(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    shape = const_ints(op, xs[1], "shape") if op.opset >= 5 else (op.ints("shape") or [])
    if not op.i("allowzero", 0):
        shape = [int(x.shape[i]) if v == 0 else v for i, v in enumerate(shape)]
    return x.reshape(shape)


@LOWERINGS.op("Transpose")
def _transpose(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    perm = op.ints("perm") or list(reversed(range(x.dim())))
    return x.permute(perm)


@LOWERINGS.op("Squeeze", values=(1,))
def _squeeze(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    axes = axes_arg(op, xs, op.opset >= 13)
    if not axes:
        return x.squeeze()
    return x.squeeze(tuple(norm_axis(a, x.dim()) for a in axes))


@LOWERINGS.op("Unsqueeze", values=(1,))
def _unsqueeze(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    axes = axes_arg(op, xs, op.opset >= 13) or []
    rank = x.dim() + len(axes)
    for a in sorted(norm_axis(a, rank) for a in axes):
        x = x.unsqueeze(a)
    return x


@LOWERINGS.op("Concat")
def _concat(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    ts = [t for t in xs if t is not None]
    axis = op.i("axis", 0)
    return torch.cat(ts, dim=norm_axis(axis, ts[0].dim()))


@LOWERINGS.op("Split", values=(1,))
def _split(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    axis = norm_axis(op.i("axis", 0), x.dim())
    length = int(x.shape[axis])
    sizes = (const_ints(op, input_at(xs, 1), "split") if op.opset >= 13
             else (op.ints("split") or []))
    if not sizes:
        n = op.i("num_outputs", len(op.outputs))
        chunk = -(-length // n)
        sizes = [min(chunk, length - i * chunk) for i in range(n)]
    return tuple(torch.split(x, sizes, dim=axis))


@LOWERINGS.op("Slice", values=(1, 2, 3, 4))
def _slice(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    if op.opset < 10:
        starts, ends = op.ints("starts") or [], op.ints("ends") or []
        axes = op.ints("axes") or list(range(len(starts)))
        steps = [1] * len(starts)
    else:
        starts, ends = const_ints(op, xs[1], "starts"), const_ints(op, xs[2], "ends")
        ax = input_at(xs, 3)
        axes = const_ints(op, ax, "axes") if ax is not None else list(range(len(starts)))
        st = input_at(xs, 4)
        steps = const_ints(op, st, "steps") if st is not None else [1] * len(starts)
    y = x
    for start, end, a, step in zip(starts, ends, axes, steps):
        a = norm_axis(a, x.dim())
        n = int(x.shape[a])
        start = start + n if start < 0 else start
        end = end + n if end < 0 else end
        if step > 0:
            start, end = max(0, min(start, n)), max(0, min(end, n))
            if (start, end, step) == (0, n, 1):
                continue
            idx = [slice(None)] * a + [slice(start, max(start, end), step)]
            y = y[tuple(idx)]
        elif step < 0:
            start, end = max(0, min(start, n - 1)), max(-1, min(end, n - 1))
            index = torch.tensor(list(range(start, end, step)), dtype=torch.int64)
            y = y.index_select(a, index)
        else:
            raise op.err("a step of 0 is not allowed")
    return y


@LOWERINGS.op("Expand", values=(1,))
def _expand(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    shape = torch.broadcast_shapes(  # type: ignore[no-untyped-call]
        tuple(int(s) for s in x.shape), tuple(const_ints(op, xs[1], "shape")))
    return x.expand(shape)


@LOWERINGS.op("Tile", values=(1,))
def _tile(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    return xs[0].repeat(const_ints(op, xs[1], "repeats"))


@LOWERINGS.op("Pad", values=(1, 2, 3))
def _pad(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    r = x.dim()
    value: Any
    if op.opset < 11:
        pads = op.ints("pads") or [0] * (2 * r)
        value = op.f("value", 0.0)
        axes = list(range(r))
    else:
        pads = const_ints(op, xs[1], "pads")
        v = input_at(xs, 2)
        value = 0 if v is None else (const_scalar(op, v, "constant_value") or 0)
        a = input_at(xs, 3)
        axes = ([norm_axis(i, r) for i in const_ints(op, a, "axes")] if a is not None
                else list(range(r)))
    full = [(0, 0)] * r
    for j, a in enumerate(axes):
        full[a] = (pads[j], pads[j + len(axes)])
    mode = op.s("mode", "constant")
    if mode == "constant":
        return F.pad(x, torch_pad(full), "constant", value)
    tmode = {"reflect": "reflect", "edge": "replicate", "wrap": "circular"}.get(mode)
    if tmode is None:
        raise op.err(f"pad mode {mode!r} is not supported")
    # torch pads the last 1-3 dimensions of a tensor with 1 or 2 more in these modes
    start = max(1, r - 3)
    first = next((i for i, p in enumerate(full) if p != (0, 0)), r)
    if first == r:
        return x
    if first < start or r > 5:
        raise op.err(f"{mode} padding of dimension {first} of a rank-{r} tensor is not "
                     "supported")
    return F.pad(x, torch_pad(full[start:]), tmode)
