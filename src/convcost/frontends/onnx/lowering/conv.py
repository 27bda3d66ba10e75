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
    pads = transpose_pads(op, sizes, k, s, d, opad)
    if all(p == q for p, q in pads):
        return CONV_TRANSPOSE[nd](x, w, b, s, [p for p, _ in pads], opad, g, d)
    return onnx_conv(x, w, b, s, [p for p, _ in pads] + [q for _, q in pads], d, True,
                     opad, g)


def transpose_pads(op: OnnxOp, sizes: list[int], k: list[int], s: list[int], d: list[int],
                   opad: list[int]) -> list[tuple[int, int]]:
    """ConvTranspose's (begin, end) padding per spatial dimension, as onnxruntime (1.32, its
    CPU provider) computes it (checked element by element on impulse inputs).

    With ``output_shape`` (or ``auto_pad=SAME_*``, whose target size is ``in·stride``) the
    total padding is ``stride·(in-1) + output_padding + (kernel-1)·dilation + 1 - target``,
    split as the ONNX spec says (SAME_UPPER: the smaller half at the beginning; otherwise the
    larger). A *negative* total (an ``output_shape`` above the natural size) pads nothing
    and extends the output at the end: the natural result sits at the beginning, the extra
    elements get the bias alone (ONNX's reference implementation places it so too). It is
    returned as a negative end padding (``(0, -extra)``)
    for :func:`.conv_op.onnx_conv`. onnxruntime accepts at most ``stride - 1`` elements past
    the natural size without output padding (more would be the output of a longer input):
    more is an error. For ``SAME_*`` without ``output_shape``, onnxruntime clamps a negative
    total to no padding (the natural size, not ``in·stride``); so does this."""
    nd = len(sizes)
    out_shape = op.ints("output_shape")
    ap = op.s("auto_pad", "NOTSET")
    if not out_shape and ap not in ("SAME_UPPER", "SAME_LOWER"):
        if ap == "VALID":
            return [(0, 0)] * nd
        p = op.ints("pads") or [0] * (2 * nd)
        pads = [(p[i], p[i + nd]) for i in range(nd)]
        if any(a < 0 or b < 0 for a, b in pads):
            raise op.err(f"negative pads {list(p)}: ONNX pads are at least 0")
        return pads
    if out_shape and (len(out_shape) not in (nd, nd + 2) or min(out_shape[-nd:]) < 1):
        raise op.err(f"output_shape {list(out_shape)}: give {nd} spatial sizes (or {nd + 2} "
                     "with batch and channels), each at least 1")
    target = out_shape[-nd:] if out_shape else [L * st for L, st in zip(sizes, s)]
    pads = []
    for i in range(nd):
        span = (k[i] - 1) * d[i] + 1
        total = s[i] * (sizes[i] - 1) + opad[i] + span - target[i]
        if total >= 0:
            small, big = total // 2, total - total // 2
            pads.append((small, big) if ap == "SAME_UPPER" else (big, small))
            continue
        if not out_shape:  # SAME_*: onnxruntime clamps the total to 0
            pads.append((0, 0))
            continue
        most = s[i] * (sizes[i] - 1) + span + s[i] - 1
        if target[i] > most:
            raise op.err(f"output_shape {list(out_shape)}: {target[i]} along spatial axis {i} "
                         f"is above {most}, the most an input of {sizes[i]} gives (stride "
                         f"{s[i]}, kernel {k[i]}, dilation {d[i]}; onnxruntime refuses it)")
        pads.append((0, total))  # negative: the output extends past the natural size
    return pads
