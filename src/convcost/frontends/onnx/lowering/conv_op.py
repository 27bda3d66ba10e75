"""The custom op ``convcost_onnx::conv``: a (transposed) convolution with ONNX's separate
begin/end padding, run as *one* op so that it is counted as one convolution (its formulas:
:mod:`..formulas`). Its real, fake (shape-only) and backward implementations; it saves its
input and weight for backward, like ``aten.convolution``. Symmetric padding does not need
it: the Conv lowering runs ``F.conv*d`` then. A negative transposed pad extends the output
with elements that get only the bias (an ONNX ``output_shape`` above the natural size)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the usual spelling
from torch import Tensor

from ....spec import conv_output_length, conv_transpose_output_length

#: Spatial rank -> ``F.conv*d`` / ``F.conv_transpose*d``.
CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _conv_out_shape(x: Tensor, w: Tensor, stride: Sequence[int], pads: Sequence[int],
                    dilation: Sequence[int], transposed: bool,
                    output_padding: Sequence[int], groups: int) -> list[int]:
    nd = w.dim() - 2
    c_out = w.shape[1] * groups if transposed else w.shape[0]
    out = [int(x.shape[0]), int(c_out)]
    for i in range(nd):
        k, L = int(w.shape[2 + i]), int(x.shape[2 + i])
        if transposed:
            out.append(conv_transpose_output_length(L, k, stride[i], pads[i], pads[i + nd],
                                                    dilation[i], output_padding[i]))
        else:
            out.append(conv_output_length(L, k, stride[i], pads[i], pads[i + nd], dilation[i]))
    return out


def _conv_real(x: Tensor, w: Tensor, b: Tensor | None, stride: list[int], pads: list[int],
               dilation: list[int], transposed: bool, output_padding: list[int],
               groups: int) -> Tensor:
    """What the op computes: explicit padding (or cropping) around an unpadded conv."""
    nd = w.dim() - 2
    if not transposed:
        pad_arg: list[int] = []
        for i in reversed(range(nd)):
            pad_arg += [pads[i], pads[i + nd]]
        return CONV[nd](F.pad(x, pad_arg), w, b, stride, 0, dilation, groups)
    # a positive pad crops the natural result, a negative one extends it with zeros (an
    # output_shape above the natural size); the bias goes on every output element
    y = CONV_TRANSPOSE[nd](x, w, None, stride, 0, output_padding, groups, dilation)
    idx = [slice(None), slice(None)] + [
        slice(max(pads[i], 0), int(y.shape[2 + i]) - max(pads[i + nd], 0)) for i in range(nd)]
    y = y[tuple(idx)]
    grow: list[int] = []
    for i in reversed(range(nd)):
        grow += [max(-pads[i], 0), max(-pads[i + nd], 0)]
    y = F.pad(y, grow) if any(grow) else y.contiguous()
    return y if b is None else y + b.reshape(1, -1, *([1] * nd))


@torch.library.custom_op("convcost_onnx::conv", mutates_args=())
def onnx_conv(x: Tensor, w: Tensor, b: Tensor | None, stride: list[int], pads: list[int],
              dilation: list[int], transposed: bool, output_padding: list[int],
              groups: int) -> Tensor:
    """(Transposed) convolution with ONNX begin/end pads (pads = begins + ends)."""
    return _conv_real(x, w, b, stride, pads, dilation, transposed, output_padding, groups)


@onnx_conv.register_fake
def _conv_op_fake(x: Tensor, w: Tensor, b: Tensor | None, stride: list[int], pads: list[int],
                  dilation: list[int], transposed: bool, output_padding: list[int],
                  groups: int) -> Tensor:
    return x.new_empty(_conv_out_shape(x, w, stride, pads, dilation, transposed,
                                       output_padding, groups))


@torch.library.custom_op("convcost_onnx::conv_backward", mutates_args=())
def _conv_backward_op(grad: Tensor, x: Tensor, w: Tensor, stride: list[int], pads: list[int],
                      dilation: list[int], transposed: bool, output_padding: list[int],
                      groups: int, mask: list[bool]) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of :func:`onnx_conv` w.r.t. input, weight and bias (``mask`` says which)."""
    with torch.enable_grad():
        xr = x.detach().requires_grad_(mask[0])
        wr = w.detach().requires_grad_(mask[1])
        c_out = w.shape[1] * groups if transposed else w.shape[0]
        br = x.new_zeros(c_out).requires_grad_(mask[2])
        y = _conv_real(xr, wr, br, stride, pads, dilation, transposed, output_padding, groups)
        wanted = [t for t, m in zip((xr, wr, br), mask) if m]
        got = iter(torch.autograd.grad(y, wanted, grad)) if wanted else iter(())
    return tuple(next(got) if m else x.new_empty(0) for m in mask)  # type: ignore[return-value]


@_conv_backward_op.register_fake
def _conv_backward_fake(grad: Tensor, x: Tensor, w: Tensor, stride: list[int],
                        pads: list[int], dilation: list[int], transposed: bool,
                        output_padding: list[int], groups: int,
                        mask: list[bool]) -> tuple[Tensor, Tensor, Tensor]:
    c_out = w.shape[1] * groups if transposed else w.shape[0]
    return (torch.empty_like(x) if mask[0] else x.new_empty(0),
            torch.empty_like(w) if mask[1] else w.new_empty(0),
            w.new_empty(c_out) if mask[2] else w.new_empty(0))


def _conv_setup(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    x, w, b, stride, pads, dilation, transposed, output_padding, groups = inputs
    ctx.save_for_backward(x, w)
    ctx.conv = (stride, pads, dilation, transposed, output_padding, groups, b is not None)


def _conv_grad(ctx: Any, grad: Tensor) -> tuple[Any, ...]:
    x, w = ctx.saved_tensors
    stride, pads, dilation, transposed, output_padding, groups, has_bias = ctx.conv
    need = ctx.needs_input_grad
    mask = [bool(need[0]), bool(need[1]), bool(has_bias and need[2])]
    gi, gw, gb = torch.ops.convcost_onnx.conv_backward(
        grad, x, w, stride, pads, dilation, transposed, output_padding, groups, mask)
    return (gi if mask[0] else None, gw if mask[1] else None, gb if mask[2] else None,
            None, None, None, None, None, None)


onnx_conv.register_autograd(_conv_grad, setup_context=_conv_setup)
