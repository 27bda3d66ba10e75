"""Formulas of the ONNX front end's own convolution ops (``convcost_onnx::conv`` and
``convcost_onnx::conv_backward``, defined in :mod:`convcost.frontends.onnx.lowering.conv_op`).

ONNX pads each spatial dimension with its own begin and end; aten's convolution cannot, so
the ONNX front end runs these custom ops instead. They are counted by the single-layer
kernel (:func:`~convcost.formulas.conv.conv_numbers`) with that (begin, end) padding, so that
nothing in the front end counts anything itself. A negative pad of a transposed op (an ONNX
``output_shape`` above the natural size, as onnxruntime runs it) adds output elements that
receive no product, only the bias: the layer is counted without them (by the counting
conventions, a bias written into an element that gets no product is no addition), and
grad-bias sums every element of the output gradient, theirs included. They are part of the
default registry because they are convcost's own ops: any analysis of a lowered ONNX graph
(API, CLI, sweeps, compare) finds them.
"""

from __future__ import annotations

from typing import Any

from ..cost import Cost
from ..ops import OpCall, OpCost, TensorMeta
from ..spec import ConvSpec
from ..vocab import MODEL_DTYPES
from .conv import conv_numbers
from .opargs import need_tensor
from .registry import FormulaRegistry

#: This module's formulas (merged into the default registry by :mod:`.catalog`).
FORMULAS = FormulaRegistry()


def onnx_conv_spec(x: TensorMeta, w: TensorMeta, bias: bool, stride: Any, pads: Any,
                   dilation: Any, transposed: Any, output_padding: Any, groups: Any,
                   input_grad: bool = True) -> ConvSpec:
    """The layer described by the ONNX conv op's arguments; ``pads`` is ONNX's
    ``begins + ends`` list."""
    nd = len(w.shape) - 2
    g = int(groups)
    tr = bool(transposed)
    # a negative transposed pad extends the output with bias-only elements: the layer
    # counted is the one without it (see onnx_conv_backward for the one number it changes)
    p = [max(int(v), 0) if tr else int(v) for v in pads]
    return ConvSpec(
        in_channels=x.shape[1],
        out_channels=w.shape[1] * g if tr else w.shape[0],
        input_size=tuple(x.shape[2:]),
        kernel=tuple(w.shape[2:]),
        stride=tuple(int(s) for s in stride),
        padding=tuple((p[i], p[i + nd]) for i in range(nd)),
        dilation=tuple(int(d) for d in dilation),
        groups=g,
        batch=x.shape[0],
        bias=bias,
        transposed=tr,
        output_padding=tuple(int(o) for o in output_padding) if tr else (),
        dtype=x.dtype if x.dtype in MODEL_DTYPES else "float32",
        input_grad=input_grad,
    )


def grad_output_elements(call: OpCall) -> int:
    """Elements of the op's output (its gradient), extension by negative pads included."""
    grad = need_tensor(call, "grad")
    n = 1
    for v in grad.shape:
        n *= int(v)
    return n


@FORMULAS.register("convcost_onnx::conv")
def onnx_conv(call: OpCall, counting: str) -> OpCost:
    """``convcost_onnx::conv(x, w, b, stride, pads, dilation, transposed, output_padding,
    groups)``: an ONNX (transposed) convolution with begin/end padding, counted as the
    single layer's forward with that padding (its backward is ``conv_backward``)."""
    spec = onnx_conv_spec(
        need_tensor(call, "x"), need_tensor(call, "w"), isinstance(call.arg("b"), TensorMeta),
        call["stride"], call["pads"], call["dilation"], call["transposed"],
        call["output_padding"], call["groups"])
    return OpCost(conv_numbers(spec, counting).forward)


@FORMULAS.register("convcost_onnx::conv_backward")
def onnx_conv_backward(call: OpCall, counting: str) -> OpCost:
    """``convcost_onnx::conv_backward(grad, x, w, stride, pads, dilation, transposed,
    output_padding, groups, mask)``: the backward of ``conv`` (whose forward is the single
    layer's): grad-input, grad-weight and grad-bias, each only when ``mask`` asks for it,
    returned as the parts."""
    m = [bool(v) for v in call["mask"]]
    spec = onnx_conv_spec(
        need_tensor(call, "x"), need_tensor(call, "w"), m[2], call["stride"], call["pads"],
        call["dilation"], call["transposed"], call["output_padding"], call["groups"],
        input_grad=m[0])
    b = conv_numbers(spec, counting).backward
    gi = b.grad_input if m[0] else Cost()
    gw = b.grad_weight if m[1] else Cost()
    gb = Cost(0, grad_output_elements(call) - spec.out_channels) if m[2] else Cost()
    return OpCost(gi + gw + gb, (("grad_input", gi), ("grad_weight", gw), ("grad_bias", gb)))
