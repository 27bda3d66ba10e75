"""Lowerings of ``Conv`` and ``ConvTranspose``: ``F.conv*d`` / ``F.conv_transpose*d`` (the ops
``nn.Conv2d``... run) when the padding is symmetric, otherwise the one custom op
:func:`.conv_op.onnx_conv` with ONNX's (begin, end) padding."""

from __future__ import annotations

from typing import Any

from ..node import OnnxOp
from .args import input_at, resolve_pads, spatial_attr
from .conv_op import CONV, CONV_TRANSPOSE, onnx_conv
from .registry import LoweringTable

LOWERINGS = LoweringTable()


@LOWERINGS.op("Conv")
def _conv(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x, w, b = xs[0], xs[1], input_at(xs, 2)
    nd = w.dim() - 2
    if nd not in CONV or x.dim() != nd + 2:
        raise op.err(f"input rank {x.dim()} / weight rank {w.dim()}: 1-D, 2-D or 3-D "
                     "batched convolutions only")
    k = [int(s) for s in w.shape[2:]]
    s = spatial_attr(op, "strides", nd, 1)
    d = spatial_attr(op, "dilations", nd, 1)
    g = op.i("group", 1)
    pads = resolve_pads(op, [int(v) for v in x.shape[2:]], k, s, d)
    if all(p == q for p, q in pads):
        return CONV[nd](x, w, b, s, [p for p, _ in pads], d, g)
    return onnx_conv(x, w, b, s, [p for p, _ in pads] + [q for _, q in pads], d, False,
                     [0] * nd, g)


@LOWERINGS.op("ConvTranspose")
def _conv_transpose(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x, w, b = xs[0], xs[1], input_at(xs, 2)
    nd = w.dim() - 2
    if nd not in CONV_TRANSPOSE or x.dim() != nd + 2:
        raise op.err(f"input rank {x.dim()} / weight rank {w.dim()}: 1-D, 2-D or 3-D "
                     "batched convolutions only")
    k = [int(v) for v in w.shape[2:]]
    s = spatial_attr(op, "strides", nd, 1)
    d = spatial_attr(op, "dilations", nd, 1)
    g = op.i("group", 1)
    opad = spatial_attr(op, "output_padding", nd, 0)
    sizes = [int(v) for v in x.shape[2:]]
    out_shape = op.ints("output_shape")
    ap = op.s("auto_pad", "NOTSET")
    if out_shape or ap in ("SAME_UPPER", "SAME_LOWER"):
        # ONNX's rule (as in its reference implementation): total padding from the
        # requested output size; SAME_UPPER puts the odd element at the end.
        target = out_shape[-nd:] if out_shape else [L * st for L, st in zip(sizes, s)]
        pads = []
        for i in range(nd):
            total = s[i] * (sizes[i] - 1) + opad[i] + (k[i] - 1) * d[i] + 1 - target[i]
            small, big = total // 2, total - total // 2
            pads.append((small, big) if ap == "SAME_UPPER" else (big, small))
    elif ap == "VALID":
        pads = [(0, 0)] * nd
    else:
        p = op.ints("pads") or [0] * (2 * nd)
        pads = [(p[i], p[i + nd]) for i in range(nd)]
    if any(p < 0 or q < 0 for p, q in pads):
        raise op.err(f"negative padding {pads} (an output_shape larger than the transposed "
                     "convolution's natural size) is not supported")
    if all(p == q for p, q in pads):
        return CONV_TRANSPOSE[nd](x, w, b, s, [p for p, _ in pads], opad, g, d)
    return onnx_conv(x, w, b, s, [p for p, _ in pads] + [q for _, q in pads], d, True,
                     opad, g)
