"""Convolution ops of a traced model, counted by the single-layer calculator's kernel.

The formulas live in :mod:`convcost.formulas.conv` (:func:`~convcost.formulas.conv.conv_numbers`,
the same numbers :func:`convcost.layer.analyze_conv` reports); this module only turns an
op's arguments into a :class:`~convcost.spec.ConvSpec`.
"""

from __future__ import annotations

from typing import Any

from ..cost import Cost
from ..dtypes import LAYER_DTYPES
from ..ops import OpCall, OpCost, TensorMeta
from ..spec import ConvSpec
from .conv import conv_numbers
from .opargs import ints, mask, need_tensor, tensor
from .registry import FormulaRegistry

#: This module's formulas (merged into the default registry by :mod:`.catalog`).
FORMULAS = FormulaRegistry()


def spec_from_args(
    x: TensorMeta,
    w: TensorMeta,
    bias: bool,
    stride: Any,
    padding: Any,
    dilation: Any,
    transposed: Any,
    output_padding: Any,
    groups: Any,
    input_grad: bool = True,
) -> ConvSpec:
    """The layer described by aten ``convolution``-style arguments.

    ``x`` may be unbatched (one dimension fewer than the weight); batch is then 1. Padding is
    symmetric per dimension, as aten's convolution takes it.
    """
    nd = len(w.shape) - 2
    batched = len(x.shape) == len(w.shape)
    batch = x.shape[0] if batched else 1
    c_in = x.shape[1] if batched else x.shape[0]
    g = int(groups or 1)
    tr = bool(transposed)
    c_out = w.shape[1] * g if tr else w.shape[0]
    pad = ints(padding, nd, 0)
    op = ints(output_padding, nd, 0) if tr else (0,) * nd
    return ConvSpec(
        in_channels=c_in,
        out_channels=c_out,
        input_size=tuple(x.shape[-nd:]),
        kernel=tuple(w.shape[2:]),
        stride=ints(stride, nd, 1),
        padding=tuple((p, p) for p in pad),
        dilation=ints(dilation, nd, 1),
        groups=g,
        batch=batch,
        bias=bias,
        transposed=tr,
        output_padding=op,
        dtype=x.dtype if x.dtype in LAYER_DTYPES else "float32",
        input_grad=input_grad,
    )


def _layer(call: OpCall, bias: bool, input_grad: bool = True) -> ConvSpec:
    """The layer of an aten ``convolution``/``convolution_backward`` call (named arguments)."""
    return spec_from_args(
        need_tensor(call, "input"),
        need_tensor(call, "weight"),
        bias,
        call.arg("stride"),
        call.arg("padding"),
        call.arg("dilation"),
        call.arg("transposed", False),
        call.arg("output_padding"),
        call.arg("groups", 1),
        input_grad=input_grad,
    )


@FORMULAS.register("convolution", "_convolution")
def convolution(call: OpCall, counting: str) -> OpCost:
    """``convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding,
    groups)`` (``_convolution`` has the same leading arguments).

    forward: exactly the single-layer calculator's forward (``conv_numbers``): per output
    element ``k = c_in/g · Πkernel`` products (dense) and ``k − 1`` additions, plus one bias
    addition when a bias is given (zero for an input batch of zero samples); backward: see
    ``convolution_backward``.
    """
    if _empty_batch(call):  # e.g. a detection head given no boxes: nothing to compute
        return OpCost(Cost())
    spec = _layer(call, tensor(call, "bias") is not None)
    return OpCost(conv_numbers(spec, counting).forward)


def _empty_batch(call: OpCall) -> bool:
    """A batched input with no sample (a layer over zero items costs nothing)."""
    x, w = need_tensor(call, "input"), need_tensor(call, "weight")
    return len(x.shape) == len(w.shape) and x.shape[0] == 0


@FORMULAS.register("convolution_backward")
def convolution_backward(call: OpCall, counting: str) -> OpCost:
    """``convolution_backward(grad_output, input, weight, bias_sizes, stride, padding, dilation,
    transposed, output_padding, groups, output_mask)``.

    forward: see ``convolution``; backward: the single-layer calculator's grad-input
    (only if ``output_mask[0]``), grad-weight (``output_mask[1]``) and grad-bias
    (``output_mask[2]`` and a bias), returned as the parts ``grad_input``, ``grad_weight``,
    ``grad_bias``; a gradient that is not requested costs nothing.
    """
    if _empty_batch(call):
        z = Cost()
        return OpCost(z, (("grad_input", z), ("grad_weight", z), ("grad_bias", z)))
    m = mask(call.arg("output_mask"), 3)
    has_bias = m[2] and call.arg("bias_sizes") is not None
    spec = _layer(call, has_bias, input_grad=m[0])
    b = conv_numbers(spec, counting).backward
    gi = b.grad_input if m[0] else Cost()
    gw = b.grad_weight if m[1] else Cost()
    gb = b.grad_bias if has_bias else Cost()
    return OpCost(gi + gw + gb, (("grad_input", gi), ("grad_weight", gw), ("grad_bias", gb)))
