"""ONNX models: the same analysis as for PyTorch models, from an ``.onnx`` file.

An ONNX graph is turned into a ``torch.nn.Module`` that *interprets* it with torch ops
(:class:`OnnxModule`), and that module is analysed by :func:`convcost.analyze` on fake
tensors like any PyTorch model. So there is one set of per-op formulas, one set of backward
rules and one memory model for both front ends; nothing here counts anything (the only
formula-registry entries added here call the single-layer calculator, see below).

How the graph becomes a module (:func:`load_onnx`):

* The file is parsed **without executing anything** (external-data files are not read),
  checked (opset, ``onnx.checker``, external-data files present), and each graph input's
  shape is resolved: symbolic or unknown dimensions (``batch``) must be set with
  ``--input NAME=1x3x224x224`` (or ``--input 1x3x224x224``, which fills the graph's inputs in
  order). A symbolic dimension named the same in several inputs takes one value.
* **Initializers.** Every floating initializer the graph uses as data is a trainable
  ``nn.Parameter`` (on the meta device: no weight data is read). Two kinds are not: the
  running mean/variance of ``BatchNormalization`` are buffers (as in ``nn.BatchNorm``), and
  initializers read as *values* (shapes, axes, pads, scales, clip bounds; every integer or
  boolean initializer, every scalar such as an exponent or an epsilon) are constants.
  Each parameter is owned by the first node that uses it (a shared one stays with the
  first), so the per-layer table shows parameters where they are used. Parameter
  attributes are the sanitised initializer names (``layer1.0.conv1.weight`` ->
  ``layer1_0_conv1_weight``); ``freeze`` matches the ONNX initializer names themselves
  (``re.search``), which for a PyTorch export are the PyTorch parameter names.
* **Nodes.** Each node that computes on data becomes a small submodule whose class is named
  after the op type (the table's type column reads ``Conv``, ``Gemm``...). Node names with
  ``/`` (as exporters write them: ``/layer1/layer1.0/conv1/Conv``) become a module
  hierarchy, so ``--depth`` works as for PyTorch models; a scope holding a single node is
  that node. ``Identity`` nodes are aliases (no row).
* **Shape computations** (``Shape -> Gather -> Concat -> Reshape``, ``Constant`` nodes, any
  node whose inputs are all constant) are evaluated with concrete integers when the module
  runs, outside the fake-tensor run: they cost nothing, as Python integer arithmetic on
  ``x.shape`` costs nothing in a PyTorch model, and have no row.

Choices worth knowing:

* **Asymmetric padding** of ``Conv``/``ConvTranspose`` (explicit begin/end ``pads`` or
  ``auto_pad=SAME_*``) runs as one op, ``convcost_onnx::conv``, whose formulas are the
  single-layer calculator with the same ``(begin, end)`` padding (forward, grad-input,
  grad-weight, grad-bias; dense and skip-padding), and which saves its input and weight for
  backward like ``aten.convolution``. Symmetric padding runs ``aten.convolution`` itself.
  Pooling with asymmetric pads pads explicitly (``F.pad``), then pools without padding:
  the padded elements count as data.
* **BatchNormalization** follows the analysis mode, not the graph's ``training_mode``: a
  training analysis normalises with batch statistics and updates the running statistics
  (``F.batch_norm(training=True)``, the op ``nn.BatchNorm2d`` runs when training), an
  inference analysis uses the running statistics. ``Dropout`` likewise is active exactly in
  a training analysis (ratio > 0).
* **Ops without a mapping** (``Loop``, ``If``, ``NonMaxSuppression``, other domains...)
  are never silently dropped: if ONNX shape inference gives their output shapes, they run as
  a placeholder op ``onnx_op::<OpType>`` that has no formula, so it is listed in
  ``unsupported_ops`` (its cost is not in the totals) while gradients still flow to the
  layers before it; otherwise the analysis stops with an error naming the node. A constant
  node (all inputs constant) of such a type is evaluated with ONNX's reference
  implementation.
* ``Constant`` *nodes* are constants (no gradient) even when they hold floating weights;
  only initializers are parameters.

Errors (file missing, truncated or not ONNX, unsupported opset, missing external-data file,
unset symbolic dimension, unknown input name, wrong rank) are one-line
:class:`~convcost.errors.SpecError` messages naming the file or input and the problem.

``onnx`` is imported only by the functions that need it; this module imports torch, and
nothing in ``import convcost`` imports this module.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the usual spelling
from torch import Tensor, nn
from torch._subclasses.fake_tensor import FakeTensor
from torch.utils._python_dispatch import _disable_current_modes

from ...cost import Cost
from ...dtypes import ONNX_DTYPES
from ...errors import ConvCostError, SpecError
from ...layer import analyze_conv
from ...ops import OpCall, OpCost, TensorMeta, register
from ...spec import (
    ConvSpec,
    InputSpec,
    conv_output_length,
    conv_transpose_output_length,
    parse_shape,
)

__all__ = [
    "MIN_OPSET",
    "OnnxModule",
    "OnnxNodeError",
    "analyze_onnx",
    "load_onnx",
    "parse_input_args",
    "supported_ops",
]

#: Oldest default-domain opset read (numpy-style broadcasting everywhere from opset 7).
MIN_OPSET = 7

_DTYPES = ONNX_DTYPES
_ONNX_TYPE_OF = {v: k for k, v in _DTYPES.items()}
_FLOATING = {"float32", "float16", "float64", "bfloat16"}


class OnnxNodeError(ConvCostError):
    """One ONNX node cannot be run: names the node, its op type and the reason."""

    def __init__(self, node: str, op_type: str, reason: str) -> None:
        self.node = node
        self.op_type = op_type
        self.reason = reason
        super().__init__(f"ONNX node {node!r} ({op_type}): {reason}")


def _file_error(path: str, problem: str) -> SpecError:
    return SpecError("TARGET", path, problem)


# --------------------------------------------------------------------------- graph records


@dataclass
class _Op:
    """One ONNX node, with attributes as Python values (strings decoded)."""

    index: int
    type: str
    domain: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: dict[str, Any]
    opset: int
    subgraph: bool = False
    const: bool = False
    used: frozenset[str] = frozenset()
    proto_attrs: tuple[Any, ...] = ()  # the AttributeProtos, to rebuild the node

    @property
    def label(self) -> str:
        return self.name or f"#{self.index}"

    def err(self, reason: str) -> OnnxNodeError:
        return OnnxNodeError(self.label, self.type, reason)

    def i(self, key: str, default: int) -> int:
        v = self.attrs.get(key)
        return default if v is None else int(v)

    def f(self, key: str, default: float) -> float:
        v = self.attrs.get(key)
        return default if v is None else float(v)

    def s(self, key: str, default: str) -> str:
        v = self.attrs.get(key)
        return default if v is None else str(v)

    def ints(self, key: str) -> list[int] | None:
        v = self.attrs.get(key)
        return None if v is None else [int(x) for x in v]

    def floats(self, key: str) -> list[float] | None:
        v = self.attrs.get(key)
        return None if v is None else [float(x) for x in v]

    def wants(self, k: int) -> bool:
        """Whether output ``k`` is used (by a node or as a graph output)."""
        return k < len(self.outputs) and bool(self.outputs[k]) and self.outputs[k] in self.used


Impl = Callable[[_Op, list[Any], bool], Any]
_IMPLS: dict[str, Impl] = {}
# Input positions read as values (shapes, axes, pads...): an initializer only used there is
# a constant, not a parameter.
_VALUE_SLOTS: dict[str, frozenset[int]] = {}
_RANDOM = frozenset({"RandomUniformLike", "RandomNormalLike", "RandomUniform", "RandomNormal",
                     "Bernoulli", "Multinomial"})
_SHAPE_ONLY = frozenset({"Shape", "Size"})


def _impl(*types: str, values: Sequence[int] = ()) -> Callable[[Impl], Impl]:
    def deco(fn: Impl) -> Impl:
        for t in types:
            if t in _IMPLS:
                raise KeyError(f"ONNX op {t!r} mapped twice")
            _IMPLS[t] = fn
            if values:
                _VALUE_SLOTS[t] = frozenset(values)
        return fn

    return deco


def supported_ops() -> list[str]:
    """The ONNX op types (default domain) that have a torch mapping."""
    return sorted(_IMPLS)


# --------------------------------------------------------------------------- value helpers


def _is_fake(t: Any) -> bool:
    return isinstance(t, FakeTensor) or (isinstance(t, Tensor) and t.device.type == "meta")


def _values(op: _Op, t: Any, what: str) -> list[Any]:
    """The values of a constant input (shapes, axes...), flattened."""
    if t is None:
        return []
    if _is_fake(t):
        raise op.err(f"its {what} input is computed from tensor data, which cannot be known "
                     "without computing (only constant shape computations are followed)")
    with _no_modes():
        return list(t.reshape(-1).tolist())


def _ints(op: _Op, t: Any, what: str) -> list[int]:
    return [int(v) for v in _values(op, t, what)]


def _scalar(op: _Op, t: Any, what: str) -> float | int | bool | None:
    v = _values(op, t, what)
    if not v:
        return None
    if len(v) != 1:
        raise op.err(f"its {what} input must be a scalar, got {len(v)} values")
    out: float | int | bool = v[0]
    return out


def _input(xs: Sequence[Any], k: int) -> Any:
    return xs[k] if k < len(xs) else None


@contextlib.contextmanager
def _no_modes() -> Iterator[None]:
    """Leave the fake-tensor and recording modes (and autocast): compute for real."""
    with _disable_current_modes(), torch.no_grad(), torch.autocast("cpu", enabled=False):
        yield


def _torch_dtype(code: int) -> torch.dtype:
    name = _DTYPES.get(code)
    d = getattr(torch, name, None) if name else None
    if not isinstance(d, torch.dtype):
        raise ValueError(code)
    return d


def _axis(a: int, rank: int) -> int:
    return a + rank if a < 0 else a


def _prod(xs: Sequence[int]) -> int:
    n = 1
    for x in xs:
        n *= int(x)
    return n


# --------------------------------------------------------------------------- convolution


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


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
        return _CONV[nd](F.pad(x, pad_arg), w, b, stride, 0, dilation, groups)
    y = _CONV_T[nd](x, w, b, stride, 0, output_padding, groups, dilation)
    idx = [slice(None), slice(None)] + [slice(pads[i], int(y.shape[2 + i]) - pads[i + nd])
                                        for i in range(nd)]
    return y[tuple(idx)].contiguous()


@torch.library.custom_op("convcost_onnx::conv", mutates_args=())
def _conv_op(x: Tensor, w: Tensor, b: Tensor | None, stride: list[int], pads: list[int],
             dilation: list[int], transposed: bool, output_padding: list[int],
             groups: int) -> Tensor:
    """(Transposed) convolution with ONNX begin/end pads (pads = begins + ends)."""
    return _conv_real(x, w, b, stride, pads, dilation, transposed, output_padding, groups)


@_conv_op.register_fake
def _conv_op_fake(x: Tensor, w: Tensor, b: Tensor | None, stride: list[int], pads: list[int],
                  dilation: list[int], transposed: bool, output_padding: list[int],
                  groups: int) -> Tensor:
    return x.new_empty(_conv_out_shape(x, w, stride, pads, dilation, transposed,
                                       output_padding, groups))


@torch.library.custom_op("convcost_onnx::conv_backward", mutates_args=())
def _conv_backward_op(grad: Tensor, x: Tensor, w: Tensor, stride: list[int], pads: list[int],
                      dilation: list[int], transposed: bool, output_padding: list[int],
                      groups: int, mask: list[bool]) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of :func:`_conv_op` w.r.t. input, weight and bias (``mask`` says which)."""
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


_conv_op.register_autograd(_conv_grad, setup_context=_conv_setup)


def _conv_spec(x: TensorMeta, w: TensorMeta, bias: bool, stride: Any, pads: Any,
               dilation: Any, transposed: Any, output_padding: Any, groups: Any,
               input_grad: bool = True) -> ConvSpec:
    nd = len(w.shape) - 2
    g = int(groups)
    tr = bool(transposed)
    p = [int(v) for v in pads]
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
        dtype=x.dtype if x.dtype in _FLOATING else "float32",
        input_grad=input_grad,
    )


def _meta_arg(call: OpCall, i: int) -> TensorMeta:
    v = call.arg(i, "")
    if not isinstance(v, TensorMeta):
        raise ValueError(f"{call.name}: argument {i} is not a tensor")
    return v


@register("convcost_onnx.conv.default")
def _conv_formula(call: OpCall, counting: str) -> OpCost:
    """``convcost_onnx::conv(x, w, b, stride, pads, dilation, transposed, output_padding,
    groups)``: an ONNX (transposed) convolution with begin/end padding. forward: the
    single-layer calculator with that padding; backward: ``convolution_backward``-like."""
    spec = _conv_spec(_meta_arg(call, 0), _meta_arg(call, 1),
                      isinstance(call.arg(2, "b"), TensorMeta), *call.args[3:9])
    return OpCost(analyze_conv(spec, counting).forward)


@register("convcost_onnx.conv_backward.default")
def _conv_backward_formula(call: OpCall, counting: str) -> OpCost:
    """``convcost_onnx::conv_backward(grad, x, w, stride, pads, dilation, transposed,
    output_padding, groups, mask)``: the backward of ``convcost_onnx::conv`` (its forward:
    see there): the single-layer calculator's grad-input, grad-weight and grad-bias, each
    only when ``mask`` asks for it, returned as the parts."""
    m = [bool(v) for v in call.arg(9, "mask")]
    a = call.args
    spec = _conv_spec(_meta_arg(call, 1), _meta_arg(call, 2), m[2], a[3], a[4], a[5], a[6],
                      a[7], a[8], input_grad=m[0])
    b = analyze_conv(spec, counting).backward
    gi = b.grad_input if m[0] else Cost()
    gw = b.grad_weight if m[1] else Cost()
    gb = b.grad_bias if m[2] else Cost()
    return OpCost(gi + gw + gb, (("grad_input", gi), ("grad_weight", gw), ("grad_bias", gb)))


def _pads(op: _Op, sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
          dilations: Sequence[int]) -> list[tuple[int, int]]:
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


def _spatial(op: _Op, key: str, nd: int, default: int) -> list[int]:
    v = op.ints(key)
    return list(v) if v else [default] * nd


@_impl("Conv")
def _conv(op: _Op, xs: list[Any], training: bool) -> Any:
    x, w, b = xs[0], xs[1], _input(xs, 2)
    nd = w.dim() - 2
    if nd not in _CONV or x.dim() != nd + 2:
        raise op.err(f"input rank {x.dim()} / weight rank {w.dim()}: 1-D, 2-D or 3-D "
                     "batched convolutions only")
    k = [int(s) for s in w.shape[2:]]
    s = _spatial(op, "strides", nd, 1)
    d = _spatial(op, "dilations", nd, 1)
    g = op.i("group", 1)
    pads = _pads(op, [int(v) for v in x.shape[2:]], k, s, d)
    if all(p == q for p, q in pads):
        return _CONV[nd](x, w, b, s, [p for p, _ in pads], d, g)
    return torch.ops.convcost_onnx.conv(x, w, b, s, [p for p, _ in pads] + [q for _, q in pads],
                                        d, False, [0] * nd, g)


@_impl("ConvTranspose")
def _conv_transpose(op: _Op, xs: list[Any], training: bool) -> Any:
    x, w, b = xs[0], xs[1], _input(xs, 2)
    nd = w.dim() - 2
    if nd not in _CONV_T or x.dim() != nd + 2:
        raise op.err(f"input rank {x.dim()} / weight rank {w.dim()}: 1-D, 2-D or 3-D "
                     "batched convolutions only")
    k = [int(v) for v in w.shape[2:]]
    s = _spatial(op, "strides", nd, 1)
    d = _spatial(op, "dilations", nd, 1)
    g = op.i("group", 1)
    opad = _spatial(op, "output_padding", nd, 0)
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
        return _CONV_T[nd](x, w, b, s, [p for p, _ in pads], opad, g, d)
    return torch.ops.convcost_onnx.conv(x, w, b, s, [p for p, _ in pads] + [q for _, q in pads],
                                        d, True, opad, g)


# --------------------------------------------------------------------------- matmul family


@_impl("Gemm")
def _gemm(op: _Op, xs: list[Any], training: bool) -> Any:
    a, b, c = xs[0], xs[1], _input(xs, 2)
    if op.i("transA", 0):
        a = a.t()
    if op.i("transB", 0):
        b = b.t()
    alpha, beta = op.f("alpha", 1.0), op.f("beta", 1.0)
    if c is not None and beta != 0:
        if alpha == 1.0 and beta == 1.0:
            return torch.addmm(c, a, b)
        return torch.addmm(c, a, b, beta=beta, alpha=alpha)
    y = torch.mm(a, b)
    return y if alpha == 1.0 else y * alpha


@_impl("MatMul")
def _matmul(op: _Op, xs: list[Any], training: bool) -> Any:
    return torch.matmul(xs[0], xs[1])


@_impl("Einsum")
def _einsum(op: _Op, xs: list[Any], training: bool) -> Any:
    return torch.einsum(op.s("equation", "").replace(" ", ""), *xs)


@_impl("Attention")
def _attention(op: _Op, xs: list[Any], training: bool) -> Any:
    q, k, v, mask = xs[0], xs[1], xs[2], _input(xs, 3)
    if any(_input(xs, i) is not None for i in (4, 5, 6)) or op.f("softcap", 0.0) != 0.0 \
            or any(op.wants(i) for i in (1, 2, 3)):
        raise op.err("only Attention without past key/values, softcap or extra outputs is "
                     "supported")
    three_d = q.dim() == 3
    if three_d:
        hq, hkv = op.i("q_num_heads", 0), op.i("kv_num_heads", 0)
        if hq <= 0 or hkv <= 0:
            raise op.err("3-D inputs need q_num_heads and kv_num_heads")
        bsz, sq = int(q.shape[0]), int(q.shape[1])
        q = q.reshape(bsz, sq, hq, -1).transpose(1, 2)
        k = k.reshape(bsz, int(k.shape[1]), hkv, -1).transpose(1, 2)
        v = v.reshape(bsz, int(v.shape[1]), hkv, -1).transpose(1, 2)
    scale = op.attrs.get("scale")
    y = F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, is_causal=bool(op.i("is_causal", 0)),
        scale=None if scale is None else float(scale),
        enable_gqa=int(q.shape[1]) != int(k.shape[1]))
    if three_d:
        y = y.transpose(1, 2).reshape(int(y.shape[0]), int(y.shape[2]), -1)
    return y


# --------------------------------------------------------------------------- elementwise


def _const_scalar(t: Any) -> Any:
    """A constant one-element operand as a Python number (so that ``x * 0.5`` is the same
    aten op as in PyTorch code); anything else unchanged."""
    if isinstance(t, Tensor) and not _is_fake(t) and t.dim() == 0:
        with _no_modes():
            return t.item()
    return t


def _binary(fn: Callable[[Any, Any], Any], commutative: bool = False,
            scalars: bool = True) -> Impl:
    def run(op: _Op, xs: list[Any], training: bool) -> Any:
        a, b = xs[0], xs[1]
        if scalars and isinstance(a, Tensor) and _is_fake(a):
            return fn(a, _const_scalar(b))
        if scalars and commutative and isinstance(b, Tensor) and _is_fake(b):
            return fn(b, _const_scalar(a))
        return fn(a, b)

    return run


_impl("Add")(_binary(torch.add, True))
_impl("Sub")(_binary(torch.sub))
_impl("Mul")(_binary(torch.mul, True))
_impl("Pow")(_binary(torch.pow))
_impl("Equal")(_binary(torch.eq))
_impl("Less")(_binary(torch.lt))
_impl("LessOrEqual")(_binary(torch.le))
_impl("Greater")(_binary(torch.gt))
_impl("GreaterOrEqual")(_binary(torch.ge))
_impl("And")(_binary(torch.logical_and, scalars=False))
_impl("Or")(_binary(torch.logical_or, scalars=False))
_impl("Xor")(_binary(torch.logical_xor, scalars=False))
_impl("BitwiseAnd")(_binary(torch.bitwise_and, scalars=False))
_impl("BitwiseOr")(_binary(torch.bitwise_or, scalars=False))
_impl("BitwiseXor")(_binary(torch.bitwise_xor, scalars=False))


@_impl("Div")
def _div(op: _Op, xs: list[Any], training: bool) -> Any:
    a, b = xs[0], xs[1]
    if not a.is_floating_point() and not (isinstance(b, Tensor) and b.is_floating_point()):
        return torch.div(a, b, rounding_mode="trunc")  # ONNX integer division truncates
    return torch.div(a, _const_scalar(b) if _is_fake(a) else b)


@_impl("Mod")
def _mod(op: _Op, xs: list[Any], training: bool) -> Any:
    return (torch.fmod if op.i("fmod", 0) else torch.remainder)(xs[0], xs[1])


def _variadic(fn: Callable[[Any, Any], Any]) -> Impl:
    def run(op: _Op, xs: list[Any], training: bool) -> Any:
        ts = [x for x in xs if x is not None]
        y = ts[0]
        for t in ts[1:]:
            y = fn(y, t)
        return y

    return run


_impl("Max")(_variadic(torch.maximum))
_impl("Min")(_variadic(torch.minimum))
_impl("Sum")(_variadic(torch.add))


@_impl("Mean")
def _mean(op: _Op, xs: list[Any], training: bool) -> Any:
    ts = [x for x in xs if x is not None]
    y = _variadic(torch.add)(op, ts, training)
    return y / len(ts) if len(ts) > 1 else y


def _unary(fn: Callable[[Any], Any]) -> Impl:
    def run(op: _Op, xs: list[Any], training: bool) -> Any:
        return fn(xs[0])

    return run


_UNARY: dict[str, Callable[..., Any]] = {
    "Relu": F.relu, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "Exp": torch.exp,
    "Log": torch.log, "Sqrt": torch.sqrt, "Neg": torch.neg, "Abs": torch.abs,
    "Reciprocal": torch.reciprocal, "Erf": torch.erf, "Floor": torch.floor,
    "Ceil": torch.ceil, "Round": torch.round, "Sign": torch.sign, "Sin": torch.sin,
    "Cos": torch.cos, "Tan": torch.tan, "Asin": torch.asin, "Acos": torch.acos,
    "Atan": torch.atan, "Sinh": torch.sinh, "Cosh": torch.cosh, "Asinh": torch.asinh,
    "Acosh": torch.acosh, "Atanh": torch.atanh, "Not": torch.logical_not,
    "BitwiseNot": torch.bitwise_not, "IsNaN": torch.isnan, "IsInf": torch.isinf,
    "Softsign": F.softsign, "Softplus": F.softplus, "HardSwish": F.hardswish,
    "Mish": F.mish,
}
for _name, _fn in _UNARY.items():
    _impl(_name)(_unary(_fn))


@_impl("LeakyRelu")
def _leaky_relu(op: _Op, xs: list[Any], training: bool) -> Any:
    return F.leaky_relu(xs[0], op.f("alpha", 0.01))


@_impl("PRelu")
def _prelu(op: _Op, xs: list[Any], training: bool) -> Any:
    x, slope = xs[0], xs[1]
    c = int(x.shape[1]) if x.dim() >= 2 else 1
    # nn.PReLU's op when the slope is one per channel (or one in all).
    if slope.numel() in (1, c) and all(int(s) == 1 for s in slope.shape[1:]) \
            and (slope.dim() <= 1 or slope.dim() < x.dim()):
        return F.prelu(x, slope.reshape(-1))
    return torch.where(x >= 0, x, x * slope)


@_impl("Elu")
def _elu(op: _Op, xs: list[Any], training: bool) -> Any:
    return F.elu(xs[0], op.f("alpha", 1.0))


@_impl("Celu")
def _celu(op: _Op, xs: list[Any], training: bool) -> Any:
    return F.celu(xs[0], op.f("alpha", 1.0))


@_impl("Selu")
def _selu(op: _Op, xs: list[Any], training: bool) -> Any:
    alpha, gamma = op.f("alpha", 1.6732632423543772), op.f("gamma", 1.0507009873554805)
    if abs(alpha - 1.6732632423543772) < 1e-6 and abs(gamma - 1.0507009873554805) < 1e-6:
        return F.selu(xs[0])
    return gamma * F.elu(xs[0], alpha)


@_impl("HardSigmoid")
def _hard_sigmoid(op: _Op, xs: list[Any], training: bool) -> Any:
    alpha, beta = op.f("alpha", 0.2), op.f("beta", 0.5)
    if abs(alpha - 1 / 6) < 1e-6 and abs(beta - 0.5) < 1e-6:
        return F.hardsigmoid(xs[0])
    return torch.clamp(xs[0] * alpha + beta, 0.0, 1.0)


@_impl("ThresholdedRelu")
def _thresholded_relu(op: _Op, xs: list[Any], training: bool) -> Any:
    return F.threshold(xs[0], op.f("alpha", 1.0), 0.0)


@_impl("Gelu")
def _gelu(op: _Op, xs: list[Any], training: bool) -> Any:
    return F.gelu(xs[0], approximate=op.s("approximate", "none"))


@_impl("Shrink")
def _shrink(op: _Op, xs: list[Any], training: bool) -> Any:
    bias, lambd = op.f("bias", 0.0), op.f("lambd", 0.5)
    if bias == 0.0:
        return F.hardshrink(xs[0], lambd)
    if bias == lambd:
        return F.softshrink(xs[0], lambd)
    raise op.err(f"bias {bias} other than 0 or lambd is not supported")


@_impl("Clip", values=(1, 2))
def _clip(op: _Op, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    if op.opset < 11:
        lo: Any = op.attrs.get("min")
        hi: Any = op.attrs.get("max")
    else:
        lo, hi = _input(xs, 1), _input(xs, 2)
        lo = None if lo is None else (lo if _is_fake(lo) else _scalar(op, lo, "min"))
        hi = None if hi is None else (hi if _is_fake(hi) else _scalar(op, hi, "max"))
    if lo is None and hi is None:
        return x
    if (x.is_floating_point() and isinstance(lo, (int, float)) and isinstance(hi, (int, float))):
        return F.hardtanh(x, float(lo), float(hi))  # nn.ReLU6's op
    return torch.clamp(x, lo, hi)


@_impl("Where")
def _where(op: _Op, xs: list[Any], training: bool) -> Any:
    return torch.where(xs[0], xs[1], xs[2])


@_impl("Cast")
def _cast(op: _Op, xs: list[Any], training: bool) -> Any:
    try:
        return xs[0].to(_torch_dtype(op.i("to", 1)))
    except ValueError:
        raise op.err(f"cast to ONNX type {op.i('to', 1)} is not supported") from None


@_impl("CastLike")
def _cast_like(op: _Op, xs: list[Any], training: bool) -> Any:
    return xs[0].to(xs[1].dtype)


# --------------------------------------------------------------------------- normalisation


@_impl("BatchNormalization")
def _batch_norm(op: _Op, xs: list[Any], training: bool) -> Any:
    x, scale, bias, mean, var = xs[:5]
    if op.opset < 9 and op.i("spatial", 1) == 0:
        raise op.err("spatial=0 (per-activation statistics) is not supported")
    eps, momentum = op.f("epsilon", 1e-5), op.f("momentum", 0.9)
    rm, rv = mean, var
    if training and not all(_is_fake(t) and not t.requires_grad for t in (rm, rv)):
        rm = rv = None  # only running-statistics buffers are updated in place
    y = F.batch_norm(x, rm, rv, scale, bias, training=training, momentum=1.0 - momentum,
                     eps=eps)
    return (y, mean, var, mean, var)[: max(1, len(op.outputs))]


@_impl("InstanceNormalization")
def _instance_norm(op: _Op, xs: list[Any], training: bool) -> Any:
    return F.instance_norm(xs[0], weight=xs[1], bias=xs[2], eps=op.f("epsilon", 1e-5))


@_impl("LayerNormalization")
def _layer_norm(op: _Op, xs: list[Any], training: bool) -> Any:
    x, scale, bias = xs[0], xs[1], _input(xs, 2)
    axis = _axis(op.i("axis", -1), x.dim())
    shape = tuple(int(s) for s in x.shape[axis:])
    eps = op.f("epsilon", 1e-5)
    if op.wants(1) or op.wants(2):
        raise op.err("the Mean/InvStdDev outputs are not supported")
    if tuple(scale.shape) == shape and (bias is None or tuple(bias.shape) == shape):
        return F.layer_norm(x, shape, scale, bias, eps)
    y = F.layer_norm(x, shape, None, None, eps) * scale
    return y if bias is None else y + bias


@_impl("GroupNormalization")
def _group_norm(op: _Op, xs: list[Any], training: bool) -> Any:
    x, scale, bias = xs[0], xs[1], xs[2]
    g, c = op.i("num_groups", 1), int(x.shape[1])
    if int(scale.numel()) != c:  # opset 18: one scale/bias per group
        scale = scale.repeat_interleave(c // g)
        bias = bias.repeat_interleave(c // g)
    return F.group_norm(x, g, scale, bias, op.f("epsilon", 1e-5))


@_impl("RMSNormalization")
def _rms_norm(op: _Op, xs: list[Any], training: bool) -> Any:
    x, scale = xs[0], xs[1]
    axis = _axis(op.i("axis", -1), x.dim())
    shape = tuple(int(s) for s in x.shape[axis:])
    if tuple(scale.shape) == shape:
        return F.rms_norm(x, shape, scale, op.f("epsilon", 1e-5))
    return F.rms_norm(x, shape, None, op.f("epsilon", 1e-5)) * scale


@_impl("LRN")
def _lrn(op: _Op, xs: list[Any], training: bool) -> Any:
    return F.local_response_norm(xs[0], op.i("size", 1), op.f("alpha", 1e-4),
                                 op.f("beta", 0.75), op.f("bias", 1.0))


@_impl("LpNormalization")
def _lp_norm(op: _Op, xs: list[Any], training: bool) -> Any:
    return F.normalize(xs[0], float(op.i("p", 2)), op.i("axis", -1))


@_impl("Softmax", "LogSoftmax")
def _softmax(op: _Op, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    fn = F.softmax if op.type == "Softmax" else F.log_softmax
    r = x.dim()
    axis = _axis(op.i("axis", -1 if op.opset >= 13 else 1), r)
    if op.opset >= 13 or axis == r - 1:
        return fn(x, dim=axis)
    # Before opset 13: the input is coerced to 2-D [prod(shape[:axis]), prod(shape[axis:])].
    shape = tuple(int(s) for s in x.shape)
    return fn(x.reshape(_prod(shape[:axis]), _prod(shape[axis:])), dim=1).reshape(shape)


@_impl("Dropout", values=(1, 2))
def _dropout(op: _Op, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    if op.opset < 12:
        ratio = op.f("ratio", 0.5)
    else:
        r = _scalar(op, _input(xs, 1), "ratio")
        ratio = 0.5 if r is None else float(r)
    active = training and ratio > 0
    if op.wants(1):
        y, mask = torch.native_dropout(x, ratio, active)
        return y, mask
    return F.dropout(x, ratio, active)


# --------------------------------------------------------------------------- pooling


_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
_ADAPTIVE_AVG = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}
_ADAPTIVE_MAX = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}


def _torch_pad(pairs: Sequence[tuple[int, int]]) -> list[int]:
    """Per-dimension (begin, end) pairs, first dimension first -> F.pad's order."""
    out: list[int] = []
    for b, e in reversed(pairs):
        out += [b, e]
    return out


@_impl("MaxPool", "AveragePool")
def _pool(op: _Op, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    nd = x.dim() - 2
    if nd not in _MAX_POOL:
        raise op.err(f"input rank {x.dim()}: 1-D, 2-D or 3-D batched pooling only")
    k = op.ints("kernel_shape")
    if not k:
        raise op.err("kernel_shape is required")
    s = _spatial(op, "strides", nd, 1)
    d = _spatial(op, "dilations", nd, 1)
    ceil = bool(op.i("ceil_mode", 0))
    pads = _pads(op, [int(v) for v in x.shape[2:]], k, s, d)
    symmetric = all(p == q and 2 * p <= kk for (p, q), kk in zip(pads, k))
    if op.type == "MaxPool":
        if op.i("storage_order", 0):
            raise op.err("storage_order=1 is not supported")
        if not symmetric:
            x = F.pad(x, _torch_pad(pads), value=-math.inf)
        p = [pp for pp, _ in pads] if symmetric else [0] * nd
        fn: Any = _MAX_POOL[nd]
        return fn(x, k, s, p, d, ceil_mode=ceil, return_indices=op.wants(1))
    if any(v != 1 for v in d):
        raise op.err("AveragePool with dilations is not supported")
    if not symmetric:
        x = F.pad(x, _torch_pad(pads))
    p = [pp for pp, _ in pads] if symmetric else [0] * nd
    include = bool(op.i("count_include_pad", 0))
    avg: Any = _AVG_POOL[nd]
    return avg(x, k, s, p, ceil, include)


@_impl("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(op: _Op, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    nd = x.dim() - 2
    if nd not in _ADAPTIVE_AVG:
        raise op.err(f"input rank {x.dim()}: 1-D, 2-D or 3-D only")
    if op.type == "GlobalAveragePool":
        return _ADAPTIVE_AVG[nd](x, 1)  # nn.AdaptiveAvgPool2d(1)'s op
    fn: Any = _ADAPTIVE_MAX[nd]
    return fn(x, 1)


# --------------------------------------------------------------------------- shapes


@_impl("Identity")
def _identity(op: _Op, xs: list[Any], training: bool) -> Any:
    return xs[0]


@_impl("Flatten")
def _flatten(op: _Op, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    axis = _axis(op.i("axis", 1), x.dim())
    shape = [int(s) for s in x.shape]
    return x.reshape(_prod(shape[:axis]), _prod(shape[axis:]))


@_impl("Reshape", values=(1,))
def _reshape(op: _Op, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    shape = _ints(op, xs[1], "shape") if op.opset >= 5 else (op.ints("shape") or [])
    if not op.i("allowzero", 0):
        shape = [int(x.shape[i]) if v == 0 else v for i, v in enumerate(shape)]
    return x.reshape(shape)


@_impl("Transpose")
def _transpose(op: _Op, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    perm = op.ints("perm") or list(reversed(range(x.dim())))
    return x.permute(perm)


def _axes(op: _Op, xs: list[Any], from_input: bool) -> list[int] | None:
    if from_input:
        t = _input(xs, 1)
        return None if t is None else _ints(op, t, "axes")
    return op.ints("axes")


@_impl("Squeeze", values=(1,))
def _squeeze(op: _Op, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    axes = _axes(op, xs, op.opset >= 13)
    if not axes:
        return x.squeeze()
    return x.squeeze(tuple(_axis(a, x.dim()) for a in axes))


@_impl("Unsqueeze", values=(1,))
def _unsqueeze(op: _Op, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    axes = _axes(op, xs, op.opset >= 13) or []
    rank = x.dim() + len(axes)
    for a in sorted(_axis(a, rank) for a in axes):
        x = x.unsqueeze(a)
    return x


@_impl("Concat")
def _concat(op: _Op, xs: list[Any], training: bool) -> Any:
    ts = [t for t in xs if t is not None]
    axis = op.i("axis", 0)
    return torch.cat(ts, dim=_axis(axis, ts[0].dim()))


@_impl("Split", values=(1,))
def _split(op: _Op, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    axis = _axis(op.i("axis", 0), x.dim())
    length = int(x.shape[axis])
    sizes = (_ints(op, _input(xs, 1), "split") if op.opset >= 13
             else (op.ints("split") or []))
    if not sizes:
        n = op.i("num_outputs", len(op.outputs))
        chunk = -(-length // n)
        sizes = [min(chunk, length - i * chunk) for i in range(n)]
    return tuple(torch.split(x, sizes, dim=axis))


@_impl("Slice", values=(1, 2, 3, 4))
def _slice(op: _Op, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    if op.opset < 10:
        starts, ends = op.ints("starts") or [], op.ints("ends") or []
        axes = op.ints("axes") or list(range(len(starts)))
        steps = [1] * len(starts)
    else:
        starts, ends = _ints(op, xs[1], "starts"), _ints(op, xs[2], "ends")
        ax = _input(xs, 3)
        axes = _ints(op, ax, "axes") if ax is not None else list(range(len(starts)))
        st = _input(xs, 4)
        steps = _ints(op, st, "steps") if st is not None else [1] * len(starts)
    y = x
    for start, end, a, step in zip(starts, ends, axes, steps):
        a = _axis(a, x.dim())
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


@_impl("Gather", values=())
def _gather(op: _Op, xs: list[Any], training: bool) -> Any:
    data, idx = xs[0], xs[1]
    axis = _axis(op.i("axis", 0), data.dim())
    n = int(data.shape[axis])
    if not _is_fake(idx):
        with _no_modes():
            idx = torch.where(idx < 0, idx + n, idx)
            scalar = int(idx.item()) if idx.dim() == 0 else None
        if scalar is not None:
            return data.select(axis, scalar)  # x[:, 0]: a view, as in PyTorch code
    if axis == 0 and data.dim() == 2 and data.is_floating_point():
        return F.embedding(idx, data)  # nn.Embedding's op
    shape = [int(s) for s in data.shape]
    out = torch.index_select(data, axis, idx.reshape(-1))
    return out.reshape(shape[:axis] + [int(s) for s in idx.shape] + shape[axis + 1:])


@_impl("GatherElements")
def _gather_elements(op: _Op, xs: list[Any], training: bool) -> Any:
    return torch.gather(xs[0], _axis(op.i("axis", 0), xs[0].dim()), xs[1])


@_impl("GatherND")
def _gather_nd(op: _Op, xs: list[Any], training: bool) -> Any:
    data, idx = xs[0], xs[1]
    if op.i("batch_dims", 0):
        raise op.err("batch_dims other than 0 is not supported")
    return data[tuple(idx[..., i] for i in range(int(idx.shape[-1])))]


@_impl("ScatterND")
def _scatter_nd(op: _Op, xs: list[Any], training: bool) -> Any:
    data, idx, updates = xs[0], xs[1], xs[2]
    index = tuple(idx[..., i] for i in range(int(idx.shape[-1])))
    reduction = op.s("reduction", "none")
    if reduction not in ("none", "add"):
        raise op.err(f"reduction {reduction!r} is not supported")
    return data.index_put(index, updates, accumulate=reduction == "add")


@_impl("ScatterElements")
def _scatter_elements(op: _Op, xs: list[Any], training: bool) -> Any:
    data, idx, updates = xs[0], xs[1], xs[2]
    axis = _axis(op.i("axis", 0), data.dim())
    reduction = op.s("reduction", "none")
    if reduction == "none":
        return data.scatter(axis, idx, updates)
    how = {"add": "sum", "mul": "prod", "max": "amax", "min": "amin"}.get(reduction)
    if how is None:
        raise op.err(f"reduction {reduction!r} is not supported")
    return data.scatter_reduce(axis, idx, updates, how)


@_impl("Shape")
def _shape(op: _Op, xs: list[Any], training: bool) -> Any:
    dims = [int(s) for s in xs[0].shape]
    start = op.attrs.get("start")
    end = op.attrs.get("end")
    return torch.tensor(dims[slice(start, end)], dtype=torch.int64)


@_impl("Size")
def _size(op: _Op, xs: list[Any], training: bool) -> Any:
    return torch.tensor(_prod([int(s) for s in xs[0].shape]), dtype=torch.int64)


def _tensor_attr(t: Any) -> Tensor:
    from onnx import numpy_helper

    arr = numpy_helper.to_array(t)
    return torch.from_numpy(arr.copy()) if arr.dtype.kind != "U" else torch.tensor(0)


@_impl("Constant")
def _constant(op: _Op, xs: list[Any], training: bool) -> Any:
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


@_impl("ConstantOfShape", values=(0,))
def _constant_of_shape(op: _Op, xs: list[Any], training: bool) -> Any:
    shape = _ints(op, xs[0], "shape")
    value = op.attrs.get("value")
    if value is None:
        return torch.zeros(shape, dtype=torch.float32)
    v = _tensor_attr(value).reshape(-1)
    return torch.full(shape, v[0].item(), dtype=v.dtype)


@_impl("Expand", values=(1,))
def _expand(op: _Op, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    shape = torch.broadcast_shapes(  # type: ignore[no-untyped-call]
        tuple(int(s) for s in x.shape), tuple(_ints(op, xs[1], "shape")))
    return x.expand(shape)


@_impl("Tile", values=(1,))
def _tile(op: _Op, xs: list[Any], training: bool) -> Any:
    return xs[0].repeat(_ints(op, xs[1], "repeats"))


@_impl("Range", values=(0, 1, 2))
def _range(op: _Op, xs: list[Any], training: bool) -> Any:
    start, limit, delta = (_scalar(op, xs[i], n) for i, n in enumerate(("start", "limit",
                                                                        "delta")))
    return torch.arange(start, limit, delta, dtype=xs[0].dtype)  # type: ignore[arg-type]


@_impl("Trilu", values=(1,))
def _trilu(op: _Op, xs: list[Any], training: bool) -> Any:
    k = _scalar(op, _input(xs, 1), "k")
    diag = 0 if k is None else int(k)
    return (torch.triu if op.i("upper", 1) else torch.tril)(xs[0], diag)


@_impl("CumSum", values=(1,))
def _cumsum(op: _Op, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    axis = _axis(int(_scalar(op, xs[1], "axis") or 0), x.dim())
    if op.i("reverse", 0):
        x = x.flip(axis)
    y = torch.cumsum(x, axis)
    if op.i("exclusive", 0):
        y = y - x
    return y.flip(axis) if op.i("reverse", 0) else y


@_impl("TopK", values=(1,))
def _topk(op: _Op, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    k = op.i("k", 1) if op.opset < 10 else int(_scalar(op, xs[1], "k") or 0)
    values, indices = torch.topk(x, k, dim=op.i("axis", -1), largest=bool(op.i("largest", 1)),
                                 sorted=bool(op.i("sorted", 1)))
    return values, indices


@_impl("ArgMax", "ArgMin")
def _argmax(op: _Op, xs: list[Any], training: bool) -> Any:
    fn = torch.argmax if op.type == "ArgMax" else torch.argmin
    return fn(xs[0], dim=op.i("axis", 0), keepdim=bool(op.i("keepdims", 1)))


@_impl("Pad", values=(1, 2, 3))
def _pad(op: _Op, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    r = x.dim()
    value: Any
    if op.opset < 11:
        pads = op.ints("pads") or [0] * (2 * r)
        value = op.f("value", 0.0)
        axes = list(range(r))
    else:
        pads = _ints(op, xs[1], "pads")
        v = _input(xs, 2)
        value = 0 if v is None else (_scalar(op, v, "constant_value") or 0)
        a = _input(xs, 3)
        axes = [_axis(i, r) for i in _ints(op, a, "axes")] if a is not None else list(range(r))
    full = [(0, 0)] * r
    for j, a in enumerate(axes):
        full[a] = (pads[j], pads[j + len(axes)])
    mode = op.s("mode", "constant")
    if mode == "constant":
        return F.pad(x, _torch_pad(full), "constant", value)
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
    return F.pad(x, _torch_pad(full[start:]), tmode)


@_impl("Resize", "Upsample", values=(1, 2, 3))
def _resize(op: _Op, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    r = x.dim()
    shape = [int(s) for s in x.shape]
    scales: list[float] | None = None
    sizes: list[int] | None = None
    if op.type == "Upsample":
        scales = op.floats("scales") if op.opset < 9 else [float(v) for v in
                                                            _values(op, xs[1], "scales")]
        ctm = "asymmetric"
    else:
        ctm = op.s("coordinate_transformation_mode", "half_pixel")
        if op.opset < 11:
            scales = [float(v) for v in _values(op, xs[1], "scales")]
        else:
            sc, sz = _input(xs, 2), _input(xs, 3)
            if sz is not None and sz.numel() > 0:
                sizes = _ints(op, sz, "sizes")
            elif sc is not None and sc.numel() > 0:
                scales = [float(v) for v in _values(op, sc, "scales")]
    axes = [_axis(a, r) for a in (op.ints("axes") or range(r))]
    if sizes is not None:
        full = list(shape)
        policy = op.s("keep_aspect_ratio_policy", "stretch")
        if policy != "stretch":
            ratios = [sizes[j] / shape[a] for j, a in enumerate(axes)]
            ratio = min(ratios) if policy == "not_larger" else max(ratios)
            sizes = [round(shape[a] * ratio) for a in axes]
        for j, a in enumerate(axes):
            full[a] = sizes[j]
    elif scales is not None:
        full = list(shape)
        for j, a in enumerate(axes):
            full[a] = math.floor(shape[a] * scales[j])
    else:
        raise op.err("neither scales nor sizes given")
    if full[:2] != shape[:2] or not 1 <= r - 2 <= 3:
        raise op.err(f"resizing {shape} to {full}: only the spatial dimensions of a batched "
                     "1-D/2-D/3-D input can be resized")
    mode = op.s("mode", "nearest")
    out = full[2:]
    nd = r - 2
    if mode == "nearest":
        return F.interpolate(x, size=out, mode="nearest")
    if mode in ("linear", "bilinear"):
        tm = {1: "linear", 2: "bilinear", 3: "trilinear"}[nd]
        aa = bool(op.i("antialias", 0)) and nd == 2
        return F.interpolate(x, size=out, mode=tm, align_corners=ctm == "align_corners",
                             antialias=aa)
    if mode in ("cubic", "bicubic") and nd == 2:
        return F.interpolate(x, size=out, mode="bicubic", align_corners=ctm == "align_corners",
                             antialias=bool(op.i("antialias", 0)))
    raise op.err(f"mode {mode!r} on a {nd}-D input is not supported")


@_impl("DepthToSpace")
def _depth_to_space(op: _Op, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    bs = op.i("blocksize", 1)
    if op.s("mode", "DCR") == "CRD":
        return F.pixel_shuffle(x, bs)
    b, c, h, w = (int(s) for s in x.shape)
    y = x.reshape(b, bs, bs, c // (bs * bs), h, w).permute(0, 3, 4, 1, 5, 2)
    return y.reshape(b, c // (bs * bs), h * bs, w * bs)


@_impl("SpaceToDepth")
def _space_to_depth(op: _Op, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    bs = op.i("blocksize", 1)
    b, c, h, w = (int(s) for s in x.shape)
    y = x.reshape(b, c, h // bs, bs, w // bs, bs).permute(0, 3, 5, 1, 2, 4)
    return y.reshape(b, c * bs * bs, h // bs, w // bs)


# --------------------------------------------------------------------------- reductions


def _reduce_dims(op: _Op, xs: list[Any]) -> list[int] | None:
    """Reduced dimensions (sorted), or ``None`` for "return the input" (noop)."""
    x = xs[0]
    from_input = op.opset >= 18 or (op.type == "ReduceSum" and op.opset >= 13)
    axes = _axes(op, xs, from_input)
    if not axes:
        if from_input and op.i("noop_with_empty_axes", 0):
            return None
        return list(range(x.dim()))
    return sorted(_axis(a, x.dim()) for a in axes)


@_impl("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
       "ReduceL2", "ReduceSumSquare", "ReduceLogSumExp", "ReduceLogSum", values=(1,))
def _reduce(op: _Op, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    dims = _reduce_dims(op, xs)
    if dims is None or x.dim() == 0:
        return x
    keep = bool(op.i("keepdims", 1))
    t = op.type
    if t == "ReduceMean":
        return torch.mean(x, dims, keepdim=keep)
    if t == "ReduceSum":
        return torch.sum(x, dims, keepdim=keep)
    if t == "ReduceMax":
        return torch.amax(x, dims, keepdim=keep)
    if t == "ReduceMin":
        return torch.amin(x, dims, keepdim=keep)
    if t == "ReduceL1":
        return torch.linalg.vector_norm(x, 1, dims, keepdim=keep)
    if t == "ReduceL2":
        return torch.linalg.vector_norm(x, 2, dims, keepdim=keep)
    if t == "ReduceSumSquare":
        return torch.sum(x * x, dims, keepdim=keep)
    if t == "ReduceLogSumExp":
        return torch.logsumexp(x, dims, keepdim=keep)
    if t == "ReduceLogSum":
        return torch.log(torch.sum(x, dims, keepdim=keep))
    for d in sorted(dims, reverse=True):  # ReduceProd: one dimension at a time
        x = torch.prod(x, d, keepdim=keep)
    return x


# --------------------------------------------------------------------------- random


@_impl("RandomUniformLike", "RandomNormalLike")
def _random_like(op: _Op, xs: list[Any], training: bool) -> Any:
    code = op.attrs.get("dtype")
    dtype = xs[0].dtype if code is None else _torch_dtype(int(code))
    fn = torch.rand_like if op.type == "RandomUniformLike" else torch.randn_like
    return fn(xs[0], dtype=dtype)


@_impl("RandomUniform", "RandomNormal")
def _random(op: _Op, xs: list[Any], training: bool) -> Any:
    dtype = _torch_dtype(op.i("dtype", 1))
    fn = torch.rand if op.type == "RandomUniform" else torch.randn
    return fn(op.ints("shape") or [], dtype=dtype)


@_impl("Bernoulli")
def _bernoulli(op: _Op, xs: list[Any], training: bool) -> Any:
    return torch.bernoulli(xs[0])


# --------------------------------------------------------------------------- unsupported ops


_OPAQUE_LIB: Any = None
_OPAQUE_DEFINED: set[str] = set()


def _opaque_name(op: _Op) -> str:
    dom = re.sub(r"\W", "_", op.domain) if op.domain not in ("", "ai.onnx") else ""
    return f"{dom}__{op.type}" if dom else op.type


def _opaque_fn(shapes: list[list[int]], dtypes: list[int]) -> list[Tensor]:
    return [torch.empty(s, dtype=_torch_dtype(d)) for s, d in zip(shapes, dtypes)]


def _opaque_op(name: str) -> Any:
    """The placeholder op ``onnx_op::<name>`` (defined once): no formula is registered for
    it, so every call is listed in ``unsupported_ops``."""
    global _OPAQUE_LIB
    if _OPAQUE_LIB is None:
        _OPAQUE_LIB = torch.library.Library("onnx_op", "FRAGMENT")  # type: ignore[no-untyped-call]
    if name not in _OPAQUE_DEFINED:
        _OPAQUE_LIB.define(f"{name}(Tensor?[] inputs, SymInt[][] shapes, int[] dtypes) -> Tensor[]")

        def impl(inputs: Any, shapes: Any, dtypes: Any) -> list[Tensor]:
            return _opaque_fn(shapes, dtypes)

        _OPAQUE_LIB.impl(name, impl, "CompositeExplicitAutograd")
        torch.library.register_fake(f"onnx_op::{name}", impl, lib=_OPAQUE_LIB)
        _OPAQUE_DEFINED.add(name)
    return getattr(torch.ops.onnx_op, name).default


class _Opaque(torch.autograd.Function):
    """Runs a placeholder op; its backward hands empty gradients back to its inputs, so the
    layers before it still get their own backward counted."""

    @staticmethod
    def forward(ctx: Any, fn: Any, shapes: list[list[int]], dtypes: list[int],
                *xs: Any) -> Any:
        ctx.metas = [(tuple(x.shape), x.dtype) if isinstance(x, Tensor) else None for x in xs]
        outs = fn(list(xs), shapes, dtypes)
        ctx.mark_non_differentiable(*[o for o in outs if not o.is_floating_point()])
        return tuple(outs)

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        gs = [torch.empty(m[0], dtype=m[1]) if m is not None and need else None
              for m, need in zip(ctx.metas, ctx.needs_input_grad[3:])]
        return (None, None, None, *gs)


def _onnx_proto(op: _Op, xs: Sequence[Any], opsets: Mapping[str, int]) -> Any:
    """A one-node model of ``op`` with its inputs' types (constants with their values)."""
    import onnx
    from onnx import helper, numpy_helper

    names = [f"in{i}" if n else "" for i, n in enumerate(op.inputs)]
    vis, inits = [], []
    for n, x in zip(names, xs):
        if not n or x is None:
            continue
        code = _ONNX_TYPE_OF.get(str(x.dtype).removeprefix("torch."), 1)
        if _is_fake(x):
            vis.append(helper.make_tensor_value_info(n, code, [int(s) for s in x.shape]))
        else:
            with _no_modes():
                inits.append(numpy_helper.from_array(x.numpy(), n))
    node = helper.make_node(op.type, names, [f"out{i}" if n else "" for i, n in
                                             enumerate(op.outputs)], domain=op.domain)
    node.attribute.extend(op.proto_attrs)
    outs = [helper.make_value_info(f"out{i}", onnx.TypeProto())
            for i, n in enumerate(op.outputs) if n]
    graph = helper.make_graph([node], "node", vis, outs, initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v)
                                                   for d, v in opsets.items()])


def _infer_outputs(op: _Op, xs: Sequence[Any],
                   opsets: Mapping[str, int]) -> tuple[list[list[int]], list[int]]:
    import onnx

    why = "it has no mapping to torch ops and ONNX shape inference cannot give its output shapes"
    try:
        model = onnx.shape_inference.infer_shapes(_onnx_proto(op, xs, opsets),
                                                  strict_mode=False, data_prop=True)
    except Exception:
        raise op.err(why) from None
    found = {v.name: v for v in (*model.graph.output, *model.graph.value_info)}
    shapes, dtypes = [], []
    for i, n in enumerate(op.outputs):
        if not n:
            continue
        v = found.get(f"out{i}")
        tt = v.type.tensor_type if v is not None else None
        if tt is None or not tt.HasField("shape") or not all(
                d.HasField("dim_value") for d in tt.shape.dim) or tt.elem_type not in _DTYPES:
            raise op.err(why)
        shapes.append([int(d.dim_value) for d in tt.shape.dim])
        dtypes.append(int(tt.elem_type))
    return shapes, dtypes


def _reference_eval(op: _Op, xs: Sequence[Any], opsets: Mapping[str, int]) -> list[Any]:
    """Evaluate a constant node with ONNX's reference implementation."""
    import numpy as np
    from onnx.reference import ReferenceEvaluator

    model = _onnx_proto(op, [None if x is None else x for x in xs], opsets)
    try:
        outs = ReferenceEvaluator(model).run(None, {})
    except Exception as exc:
        raise op.err(f"has no torch mapping and ONNX's reference implementation failed on "
                     f"its constant inputs ({type(exc).__name__}: {exc})") from None
    it = iter(outs)
    with _no_modes():  # real constants, like every other constant
        return [torch.from_numpy(np.array(next(it))) if n else None for n in op.outputs]


# --------------------------------------------------------------------------- modules


class OnnxNode(nn.Module):
    """One ONNX node (subclassed per op type, so the table's type column is the op type)."""

    def __init__(self, op: _Op, impl: Impl | None, opsets: Mapping[str, int]) -> None:
        super().__init__()
        self._onnx_op = op
        self._impl = impl
        self._opsets = dict(opsets)

    @property
    def onnx_op(self) -> str:
        """The node's ONNX op type (with its domain when that is not the default one)."""
        op = self._onnx_op
        return op.type if op.domain in ("", "ai.onnx") else f"{op.domain}::{op.type}"

    def forward(self, *xs: Any) -> tuple[Any, ...]:
        op = self._onnx_op
        if self._impl is None:
            shapes, dtypes = _infer_outputs(op, xs, self._opsets)
            fn = _opaque_op(_opaque_name(op))
            outs = iter(_Opaque.apply(fn, shapes, dtypes, *xs))
            return tuple(next(outs) if n else None for n in op.outputs)
        return _outputs(op, self._impl(op, list(xs), self.training))


class OnnxScope(nn.Module):
    """A group of ONNX nodes sharing a name prefix (``/layer1/...``); it is never called."""


_NODE_CLASSES: dict[str, type[OnnxNode]] = {}


def _node_class(op_type: str) -> type[OnnxNode]:
    cls = _NODE_CLASSES.get(op_type)
    if cls is None:
        name = op_type if op_type.isidentifier() else "OnnxNode"
        cls = type(name, (OnnxNode,), {"__module__": __name__,
                                       "__doc__": f"ONNX {op_type} node."})
        _NODE_CLASSES[op_type] = cls
    return cls


def _outputs(op: _Op, out: Any) -> tuple[Any, ...]:
    outs = tuple(out) if isinstance(out, (tuple, list)) else (out,)
    if len(outs) < len(op.outputs):
        missing = [n for n in op.outputs[len(outs):] if n and n in op.used]
        if missing:
            raise op.err(f"output(s) {missing} are not supported")
        outs = outs + (None,) * (len(op.outputs) - len(outs))
    return outs[: len(op.outputs)]


@dataclass
class _Step:
    op: _Op
    module: OnnxNode | None
    free: tuple[str, ...] = ()


@dataclass
class _GraphInput:
    name: str
    dtype: str
    dims: list[int | str | None] | None  # None: the graph does not give the rank


@dataclass
class _Plan:
    path: str
    inputs: list[_GraphInput]
    outputs: list[str]
    steps: list[_Step]
    consts: dict[str, Tensor]
    weights: dict[str, tuple[str, str]]  # initializer -> (module path, attribute)
    opsets: dict[str, int]
    alias: dict[str, str] = field(default_factory=dict)


class OnnxModule(nn.Module):
    """An ONNX graph as a ``torch.nn.Module`` whose ``forward`` evaluates the nodes in graph
    order with torch ops (see the module docstring). Build one with :func:`load_onnx`.

    ``forward(*inputs)`` takes the graph's inputs in graph order (initializers excluded) and
    returns its output (a tuple when it has several). Parameters live on the meta device:
    the module is meant to be analysed (:func:`convcost.analyze`), not to compute.
    """

    def __init__(self, plan: _Plan, scopes: Mapping[str, nn.Module]) -> None:
        super().__init__()
        self._plan = plan
        for name, mod in scopes.items():
            self.add_module(name, mod)
        self._owners: list[tuple[str, nn.Module, str]] = [
            (init, self.get_submodule(path) if path else self, attr)
            for init, (path, attr) in plan.weights.items()
        ]

    @property
    def input_names(self) -> list[str]:
        """Names of the graph inputs, in ``forward``'s order."""
        return [i.name for i in self._plan.inputs]

    @property
    def source(self) -> str:
        """The file the graph was read from."""
        return self._plan.path

    def forward(self, *args: Any) -> Any:
        plan = self._plan
        if len(args) != len(plan.inputs):
            raise TypeError(f"expected {len(plan.inputs)} inputs ({self.input_names}), "
                            f"got {len(args)}")
        env: dict[str, Any] = dict(plan.consts)
        for spec, t in zip(plan.inputs, args):
            env[spec.name] = t
        for init, mod, attr in self._owners:
            env[init] = getattr(mod, attr)
        for step in plan.steps:
            op = step.op
            xs = [env[n] if n else None for n in op.inputs]
            if step.module is None:
                outs = _run_const(op, xs, plan.opsets)
            else:
                outs = step.module(*xs)
            for n, v in zip(op.outputs, outs):
                if n:
                    env[n] = v
            for n in step.free:
                env.pop(n, None)
        result = [env[n] for n in plan.outputs]
        return result[0] if len(result) == 1 else tuple(result)

    def relabel(self, result: Any, freeze: str | None = None) -> Any:
        """``result`` (a :class:`~convcost.model.ModelResult` of this module) with the
        graph's input names and the ``freeze`` pattern applied at load time."""
        names = self.input_names
        inputs = tuple((names[int(n[3:])] if n.startswith("arg") and n[3:].isdigit()
                        and int(n[3:]) < len(names) else n, m) for n, m in result.inputs)
        return replace(result, inputs=inputs, freeze=freeze if freeze else result.freeze)


def _run_const(op: _Op, xs: list[Any], opsets: Mapping[str, int]) -> tuple[Any, ...]:
    """A node whose inputs are constants: computed for real (tiny: shape arithmetic)."""
    impl = _IMPLS.get(op.type) if op.domain in ("", "ai.onnx") else None
    if impl is None:
        return tuple(_reference_eval(op, xs, opsets))
    try:
        with _no_modes():
            return _outputs(op, impl(op, xs, False))
    except ConvCostError:
        raise
    except Exception as exc:
        raise op.err(f"failed on its constant inputs ({type(exc).__name__}: "
                     f"{(str(exc).splitlines() or [''])[0]})") from exc


# --------------------------------------------------------------------------- loading


def parse_input_args(values: Sequence[str] | None) -> list[tuple[str | None, str]]:
    """CLI ``--input`` values (``NAME=1x3x224x224`` or ``1x3x224x224``) -> (name, shape
    text) pairs; the name is ``None`` for a positional value."""
    out: list[tuple[str | None, str]] = []
    for v in values or []:
        name, eq, shape = v.rpartition("=")
        out.append((name, shape) if eq and name else (None, v))
    return out


def _shape_of(field_name: str, value: Any) -> tuple[tuple[int, ...], str | None]:
    """A shape (``"1x3x224x224[:dtype]"``, optionally after ``NAME=``, or a sequence of
    ints) and its dtype, if given."""
    if isinstance(value, str):
        return parse_shape(field_name, value.rpartition("=")[2])
    if not isinstance(value, Sequence):
        raise SpecError(field_name, value, "give a shape such as 1x3x224x224")
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in value):
        raise SpecError(field_name, value, "every dimension must be an integer >= 1")
    return tuple(int(d) for d in value), None


def _given_inputs(inputs: Any) -> list[tuple[str | None, Any]]:
    if inputs is None:
        return []
    if isinstance(inputs, Mapping):
        return [(str(k), v) for k, v in inputs.items()]
    if isinstance(inputs, str):
        return list(parse_input_args([inputs]))
    if isinstance(inputs, Sequence) and inputs and all(
            isinstance(d, int) and not isinstance(d, bool) for d in inputs):
        return [(None, inputs)]
    if isinstance(inputs, Sequence):
        out: list[tuple[str | None, Any]] = []
        for v in inputs:
            out.extend(parse_input_args([v]) if isinstance(v, str) else [(None, v)])
        return out
    raise SpecError("--input", inputs, "give NAME=SHAPE or SHAPE values")


def _resolve_inputs(path: str, graph_inputs: list[_GraphInput],
                    inputs: Any) -> list[InputSpec]:
    by_name = {g.name: g for g in graph_inputs}
    chosen: dict[str, tuple[tuple[int, ...], str]] = {}
    positional: list[tuple[tuple[int, ...], str | None, str]] = []
    for name, value in _given_inputs(inputs):
        label = str(value) if name is None else f"{name}={value}"
        shape, dtype = _shape_of("--input", label if isinstance(value, str) else value)
        if name is None:
            positional.append((shape, dtype, label))
            continue
        if name not in by_name:
            raise SpecError("--input", label, "the graph has no input called "
                            f"{name!r}; its inputs are " + ", ".join(by_name))
        if name in chosen:
            raise SpecError("--input", label, f"input {name!r} is given twice")
        _check_dtype(by_name[name], dtype, label)
        chosen[name] = (shape, label)
    free = [g for g in graph_inputs if g.name not in chosen]
    if len(positional) > len(free):
        raise SpecError("--input", [lab for *_, lab in positional],
                        f"more shapes than graph inputs left to set ({len(free)}: "
                        + ", ".join(g.name for g in free) + "); name them with NAME=SHAPE")
    for g, (shape, dtype, label) in zip(free, positional):
        _check_dtype(g, dtype, label)
        chosen[g.name] = (shape, label)
    symbols: dict[str, int] = {}
    for g in graph_inputs:
        if g.name in chosen:
            shape, label = chosen[g.name]
            if g.dims is None:
                continue
            if len(shape) != len(g.dims):
                raise SpecError("--input", label, f"input {g.name!r} has rank {len(g.dims)} "
                                f"({_dims_text(g.dims)}), not {len(shape)}")
            for d, v in zip(g.dims, shape):
                if isinstance(d, str):
                    if symbols.setdefault(d, v) != v:
                        raise SpecError("--input", label, f"dimension {d!r} is "
                                        f"{symbols[d]} in another input")
    specs = []
    for g in graph_inputs:
        if g.name in chosen:
            shape = chosen[g.name][0]
        elif g.dims is None:
            raise SpecError("--input", g.name, f"the graph does not give the shape of input "
                            f"{g.name!r}; set it with --input {g.name}=SHAPE")
        else:
            dims = []
            for k, d in enumerate(g.dims):
                if isinstance(d, int):
                    dims.append(d)
                elif isinstance(d, str) and d in symbols:
                    dims.append(symbols[d])
                else:
                    what = f"symbolic ({d!r})" if isinstance(d, str) else "unknown"
                    raise SpecError("--input", g.name, f"dimension {k} of input {g.name!r} "
                                    f"({_dims_text(g.dims)}) is {what}; set the shape with "
                                    f"--input {g.name}=" + "x".join(
                                        str(x) if isinstance(x, int) else "N" for x in g.dims))
            shape = tuple(dims)
        specs.append(InputSpec(shape, g.dtype))
    return specs


def _check_dtype(g: _GraphInput, dtype: str | None, label: str) -> None:
    if dtype is not None and dtype != g.dtype:
        raise SpecError("--input", label, f"the graph declares {g.dtype} for input {g.name!r} "
                        "(leave the dtype out)")


def _dims_text(dims: Sequence[int | str | None]) -> str:
    return "x".join("?" if d is None else str(d) for d in dims) or "scalar"


def _read_model(path: str) -> Any:
    import onnx

    if not os.path.exists(path):
        raise _file_error(path, "file not found")
    if not os.path.isfile(path):
        raise _file_error(path, "is not a file")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise _file_error(path, f"cannot be read ({exc.strerror})") from None
    if not data:
        raise _file_error(path, "is empty, not an ONNX model")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise _file_error(path, "is not a valid ONNX model: it cannot be parsed (truncated "
                          f"or corrupt file, or another format) ({exc})") from None
    if model.ir_version <= 0 or not model.HasField("graph"):
        raise _file_error(path, "is not an ONNX model (no IR version or no graph: a "
                          "truncated or corrupt file, or another format)")
    return model


def _check_opsets(path: str, model: Any) -> dict[str, int]:
    import onnx

    opsets = {("" if o.domain == "ai.onnx" else o.domain): int(o.version)
              for o in model.opset_import}
    newest = onnx.defs.onnx_opset_version()
    v = opsets.get("")
    if v is None:
        raise _file_error(path, "imports no default-domain (ai.onnx) opset")
    if v < MIN_OPSET:
        raise _file_error(path, f"uses opset {v}; convcost reads opsets {MIN_OPSET} to "
                          f"{newest} (convert it with onnx.version_converter)")
    if v > newest:
        raise _file_error(path, f"uses opset {v}, newer than the installed onnx package "
                          f"knows ({newest}); upgrade onnx")
    if model.ir_version > onnx.IR_VERSION:
        raise _file_error(path, f"has IR version {model.ir_version}, newer than the installed "
                          f"onnx package reads ({onnx.IR_VERSION}); upgrade onnx")
    return opsets


def _check_external(path: str, model: Any) -> None:
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    base = os.path.dirname(os.path.abspath(path))
    tensors = list(model.graph.initializer)
    for t in tensors:
        if not uses_external_data(t):
            continue
        info = ExternalDataInfo(t)
        loc = os.path.join(base, info.location)
        if not os.path.isfile(loc):
            raise _file_error(path, f"external data file {info.location!r} (initializer "
                              f"{t.name!r}) not found next to the model")
        size = os.path.getsize(loc)
        offset = int(info.offset or 0)
        length = int(info.length or 0)
        if offset + length > size:
            raise _file_error(path, f"external data file {info.location!r} is too short "
                              f"for initializer {t.name!r} (truncated?)")


def _attr_values(node: Any) -> tuple[dict[str, Any], bool]:
    from onnx import AttributeProto, helper

    out: dict[str, Any] = {}
    sub = False
    for a in node.attribute:
        if a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS):
            sub = True
            continue
        v = helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        elif isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [b.decode("utf-8", "replace") for b in v]
        out[a.name] = v
    return out, sub


def _sanitize(name: str) -> str:
    s = re.sub(r"\W", "_", name)
    return s if s else "_"


def _unique(name: str, taken: Any) -> str:
    n, k = name, 0
    while n in taken:
        k += 1
        n = f"{name}_{k}"
    return n


def _value_dims(vi: Any) -> list[int | str | None] | None:
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return None
    dims: list[int | str | None] = []
    for d in tt.shape.dim:
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return dims


def _tree_insert(tree: dict[str, Any], parts: list[str], leaf: Any) -> None:
    """Insert ``leaf`` at ``parts``; names clashing with a leaf/scope get a suffix."""
    node = tree
    for p in parts[:-1]:
        name = p
        k = 0
        while name in node and not isinstance(node[name], dict):
            k += 1
            name = f"{p}_{k}"
        node = node.setdefault(name, {})
    node[_unique(parts[-1], node)] = leaf


def _collapse(tree: dict[str, Any]) -> dict[str, Any]:
    """A scope holding exactly one node becomes that node (named as the scope)."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            v = _collapse(v)
            if len(v) == 1 and not isinstance(next(iter(v.values())), dict):
                v = next(iter(v.values()))
        out[k] = v
    return out


# Names a child module cannot take (attributes of the modules it would be added to).
_RESERVED = (set(dir(OnnxScope())) | set(dir(OnnxNode)) | set(dir(OnnxModule))
             | {"_plan", "_owners"})


def _build_modules(tree: dict[str, Any], prefix: str,
                   paths: dict[int, str]) -> dict[str, nn.Module]:
    mods: dict[str, nn.Module] = {}
    for k, v in tree.items():
        name = _unique(k, _RESERVED | set(mods)) if k in _RESERVED else k
        path = f"{prefix}.{name}" if prefix else name
        if isinstance(v, dict):
            scope = OnnxScope()
            for ck, cm in _build_modules(v, path, paths).items():
                scope.add_module(ck, cm)
            mods[name] = scope
        else:
            mods[name] = v
            paths[id(v)] = path
    return mods


def load_onnx(
    path: str | os.PathLike[str],
    inputs: Any = None,
    freeze: str | re.Pattern[str] | None = None,
) -> tuple[OnnxModule, list[InputSpec]]:
    """Read the ONNX model at ``path`` (nothing is executed) and return the module that
    interprets it and the input specs to analyse it with (graph order).

    ``inputs`` sets the graph inputs' shapes: a mapping ``{name: shape}``, or a list of
    ``"NAME=1x3x224x224"`` / ``"1x3x224x224"`` strings or shapes (unnamed ones fill the
    graph's inputs in order); symbolic dimensions must all be set. ``freeze`` — a regular
    expression: initializers whose ONNX name it matches (``re.search``) get no gradient.
    Raises :class:`~convcost.errors.SpecError` (field ``TARGET`` for the file, ``--input``
    for the shapes).
    """
    try:
        import onnx
    except ImportError:
        raise SpecError("TARGET", str(path), "reading ONNX files needs the onnx package "
                        "(pip install 'convcost[onnx]' or pip install onnx)") from None
    from onnx import numpy_helper

    spath = os.fspath(path)
    pattern: re.Pattern[str] | None = None
    if freeze is not None:
        try:
            pattern = freeze if isinstance(freeze, re.Pattern) else re.compile(str(freeze))
        except re.error as exc:
            raise SpecError("freeze", freeze, f"not a valid regular expression ({exc})") \
                from None
    model = _read_model(spath)
    opsets = _check_opsets(spath, model)
    _check_external(spath, model)
    if len(model.functions):
        import onnx.inliner

        try:
            model = onnx.inliner.inline_local_functions(model)
        except Exception as exc:
            raise _file_error(spath, f"its local functions cannot be inlined ({exc})") \
                from None
    try:
        from onnx.external_data_helper import uses_external_data

        if any(uses_external_data(t) for t in model.graph.initializer) and not model.functions:
            onnx.checker.check_model(spath)  # finds the data files next to the model
        else:
            onnx.checker.check_model(model)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or ["?"])[0]
        raise _file_error(spath, f"is not a valid ONNX model ({first})") from None
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    if len(graph.sparse_initializer):
        raise _file_error(spath, "sparse initializers are not supported")

    graph_inputs: list[_GraphInput] = []
    for vi in graph.input:
        if vi.name in inits:
            continue
        if not vi.type.HasField("tensor_type"):
            raise _file_error(spath, f"input {vi.name!r} is not a tensor (sequences, maps "
                              "and optionals are not supported)")
        code = vi.type.tensor_type.elem_type
        dtype = _DTYPES.get(code)
        if dtype is None or dtype.startswith("complex"):
            raise _file_error(spath, f"input {vi.name!r} has ONNX element type {code}, which "
                              "is not supported")
        graph_inputs.append(_GraphInput(vi.name, dtype, _value_dims(vi)))
    if not graph_inputs:
        raise _file_error(spath, "the graph has no inputs (only initializers)")
    specs = _resolve_inputs(spath, graph_inputs, inputs)

    # ---- nodes, Identity aliases
    alias: dict[str, str] = {}

    def resolve(n: str) -> str:
        while n in alias:
            n = alias[n]
        return n

    graph_outputs = [o.name for o in graph.output]
    ops: list[_Op] = []
    for k, node in enumerate(graph.node):
        attrs, sub = _attr_values(node)
        domain = "" if node.domain == "ai.onnx" else node.domain
        op = _Op(k, node.op_type, domain, node.name, tuple(resolve(i) for i in node.input),
                 tuple(node.output), attrs, opsets.get(domain, opsets[""]), sub,
                 proto_attrs=tuple(node.attribute))
        if op.type == "Identity" and not domain and op.inputs and op.inputs[0] \
                and op.outputs[0] not in graph_outputs:
            alias[op.outputs[0]] = op.inputs[0]
            continue
        ops.append(op)
    outputs = [resolve(n) for n in graph_outputs]
    used = frozenset(n for op in ops for n in op.inputs if n) | frozenset(outputs)
    for op in ops:
        op.used = used

    # ---- initializers: parameters, buffers (BN statistics) or constants (values)
    roles: dict[str, set[str]] = {}
    for op in ops:
        default = op.domain in ("", "ai.onnx")
        for j, n in enumerate(op.inputs):
            if n not in inits:
                continue
            if default and op.type in _SHAPE_ONLY:
                role = "shape"
            elif default and j in _VALUE_SLOTS.get(op.type, ()):
                role = "value"
            elif default and op.type == "BatchNormalization" and j in (3, 4):
                role = "stat"
            else:
                role = "data"
            roles.setdefault(n, set()).add(role)
    consts: dict[str, Tensor] = {}
    kinds: dict[str, str] = {}
    base = os.path.dirname(os.path.abspath(spath))
    for name, t in inits.items():
        dtype = _DTYPES.get(t.data_type)
        r = roles.get(name, set())
        if dtype in _FLOATING and len(t.dims) == 0:
            kinds[name] = "const"  # a scalar (an exponent, a scale, an epsilon): a constant
        elif dtype in _FLOATING and ("data" in r or not r or r == {"shape"}):
            kinds[name] = "param"
        elif dtype in _FLOATING and "stat" in r:
            kinds[name] = "buffer"
        if kinds.get(name, "const") == "const":
            kinds[name] = "const"
            try:
                from onnx.external_data_helper import (
                    load_external_data_for_tensor,
                    uses_external_data,
                )

                if uses_external_data(t):
                    t = onnx.TensorProto.FromString(t.SerializeToString())
                    load_external_data_for_tensor(t, base)
                arr = numpy_helper.to_array(t)
                consts[name] = torch.from_numpy(arr.copy())
            except Exception as exc:
                raise _file_error(spath, f"initializer {name!r} cannot be read ({exc})") \
                    from None

    # ---- constant nodes: every input constant (or only the input's shape is read)
    known = set(consts)
    for op in ops:
        default = op.domain in ("", "ai.onnx")
        if op.subgraph or (op.type in _RANDOM and default):
            continue
        if (default and op.type in _SHAPE_ONLY) or all(not n or n in known for n in op.inputs):
            op.const = True
            known.update(n for n in op.outputs if n)

    # ---- modules, parameter ownership (first node using the initializer)
    params: dict[str, nn.Parameter | Tensor] = {}
    for name, t in inits.items():
        if kinds[name] in ("param", "buffer"):
            meta = torch.empty(tuple(int(d) for d in t.dims),
                               dtype=getattr(torch, _DTYPES[t.data_type]), device="meta")
            if kinds[name] == "param":
                trainable = pattern is None or pattern.search(name) is None
                params[name] = nn.Parameter(meta, requires_grad=trainable)
            else:
                params[name] = meta
    tree: dict[str, Any] = {}
    steps: list[_Step] = []
    owned: dict[str, OnnxNode] = {}
    for op in ops:
        if op.const:
            steps.append(_Step(op, None))
            continue
        impl = _IMPLS.get(op.type) if op.domain in ("", "ai.onnx") and not op.subgraph else None
        mod = _node_class(op.type)(op, impl, opsets)
        for n in op.inputs:
            if n in params and n not in owned:
                owned[n] = mod
        parts = [_sanitize(p) for p in op.name.split("/") if p] if op.name else []
        if not parts:
            parts = [f"node_{op.index}_{_sanitize(op.type)}"]
        _tree_insert(tree, parts, mod)
        steps.append(_Step(op, mod))
    # strip a leading scope shared by every node (exporters' "StatefulPartitionedCall/...")
    while len(tree) == 1 and isinstance(next(iter(tree.values())), dict):
        tree = next(iter(tree.values()))
    paths: dict[int, str] = {}
    scopes = _build_modules(_collapse(tree), "", paths)
    weights: dict[str, tuple[str, str]] = {}
    root_params: list[tuple[str, nn.Parameter | Tensor]] = []
    for name, p in params.items():
        owner = owned.get(name)
        if owner is None:
            root_params.append((name, p))
            continue
        attr = _unique(_sanitize(name), set(dir(owner)) | set(owner._parameters)
                       | set(owner._buffers))
        if isinstance(p, nn.Parameter):
            owner.register_parameter(attr, p)
        else:
            owner.register_buffer(attr, p)
        weights[name] = (paths[id(owner)], attr)

    # ---- when each value can be dropped (so that memory follows real lifetimes)
    last: dict[str, int] = {}
    for k, step in enumerate(steps):
        for n in step.op.inputs:
            if n:
                last[n] = k
        for n in step.op.outputs:
            if n:
                last.setdefault(n, k)
    keep = set(outputs) | set(consts) | set(params) | {g.name for g in graph_inputs}
    frees: dict[int, list[str]] = {}
    for n, k in last.items():
        if n not in keep:
            frees.setdefault(k, []).append(n)
    for k, step in enumerate(steps):
        step.free = tuple(frees.get(k, ()))
    missing = [n for n in outputs if n not in last and n not in keep]
    if missing:
        raise _file_error(spath, f"graph output(s) {missing} are produced by no node")

    plan = _Plan(spath, graph_inputs, outputs, steps, consts, weights, opsets, alias)
    module = OnnxModule(plan, scopes)
    taken = set(dir(module)) | set(module._modules)
    for name, p in root_params:
        attr = _unique(_sanitize(name), taken)
        taken.add(attr)
        if isinstance(p, nn.Parameter):
            module.register_parameter(attr, p)
        else:
            module.register_buffer(attr, p)
        plan.weights[name] = ("", attr)
        module._owners.append((name, module, attr))
    return module, specs


def analyze_onnx(path: str | os.PathLike[str], inputs: Any = None, *,
                 freeze: str | re.Pattern[str] | None = None, **options: Any) -> Any:
    """:func:`convcost.analyze` of the ONNX model at ``path``: ``inputs`` and ``freeze`` as
    for :func:`load_onnx` (``freeze`` matches initializer names), ``options`` as for
    :func:`convcost.analyze` (``mode``, ``dtype``, ``amp``, ``optimizer``, ``counting``).
    Returns a :class:`~convcost.model.ModelResult` whose inputs carry the graph's names."""
    from ...model import analyze

    module, specs = load_onnx(path, inputs, freeze)
    options.setdefault("name", os.fspath(path))
    result = analyze(module, specs, **options)
    pat = None if freeze is None else (freeze.pattern if isinstance(freeze, re.Pattern)
                                       else str(freeze))
    return module.relabel(result, pat)


