"""Nodes without a lowering. They are never silently dropped:

* on traced inputs, :func:`run_placeholder` runs the placeholder op ``onnx_op::<OpType>``
  with the output shapes ONNX shape inference gives; no formula is registered for it, so
  each call is listed in ``unsupported_ops`` (its cost is in no total), while its backward
  hands empty gradients to its inputs so that the layers before it are still counted. When
  shape inference cannot give the shapes, the node is an error naming it;
* on constant inputs, :func:`reference_eval` evaluates the node with ONNX's reference
  implementation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from ...dtypes import ONNX_DTYPES
from .node import OnnxOp
from .tensors import is_fake, no_modes, torch_dtype

_ONNX_TYPE_OF = {v: k for k, v in ONNX_DTYPES.items()}

_OPAQUE_LIB: Any = None
_OPAQUE_DEFINED: set[str] = set()


def _opaque_name(op: OnnxOp) -> str:
    dom = "" if op.default_domain else re.sub(r"\W", "_", op.domain)
    return f"{dom}__{op.type}" if dom else op.type


def _opaque_fn(shapes: list[list[int]], dtypes: list[int]) -> list[Tensor]:
    return [torch.empty(s, dtype=torch_dtype(d)) for s, d in zip(shapes, dtypes)]


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


def _onnx_proto(op: OnnxOp, xs: Sequence[Any], opsets: Mapping[str, int]) -> Any:
    """A one-node model of ``op`` with its inputs' types (constants with their values)."""
    import onnx
    from onnx import helper, numpy_helper

    names = [f"in{i}" if n else "" for i, n in enumerate(op.inputs)]
    vis, inits = [], []
    for n, x in zip(names, xs):
        if not n or x is None:
            continue
        code = _ONNX_TYPE_OF.get(str(x.dtype).removeprefix("torch."), 1)
        if is_fake(x):
            vis.append(helper.make_tensor_value_info(n, code, [int(s) for s in x.shape]))
        else:
            with no_modes():
                inits.append(numpy_helper.from_array(x.numpy(), n))
    node = helper.make_node(op.type, names, [f"out{i}" if n else "" for i, n in
                                             enumerate(op.outputs)], domain=op.domain)
    node.attribute.extend(op.proto_attrs)
    outs = [helper.make_value_info(f"out{i}", onnx.TypeProto())
            for i, n in enumerate(op.outputs) if n]
    graph = helper.make_graph([node], "node", vis, outs, initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v)
                                                   for d, v in opsets.items()])


def _infer_outputs(op: OnnxOp, xs: Sequence[Any],
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
                d.HasField("dim_value") for d in tt.shape.dim) or tt.elem_type not in ONNX_DTYPES:
            raise op.err(why)
        shapes.append([int(d.dim_value) for d in tt.shape.dim])
        dtypes.append(int(tt.elem_type))
    return shapes, dtypes


def reference_eval(op: OnnxOp, xs: Sequence[Any], opsets: Mapping[str, int]) -> list[Any]:
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
    with no_modes():  # real constants, like every other constant
        return [torch.from_numpy(np.array(next(it))) if n else None for n in op.outputs]


def run_placeholder(op: OnnxOp, xs: Sequence[Any], opsets: Mapping[str, int]) -> tuple[Any, ...]:
    """Run ``op`` (no lowering) as its placeholder op: one output per ONNX output (``None``
    for an omitted one), shaped by ONNX shape inference."""
    shapes, dtypes = _infer_outputs(op, xs, opsets)
    fn = _opaque_op(_opaque_name(op))
    outs = iter(_Opaque.apply(fn, shapes, dtypes, *xs))
    return tuple(next(outs) if n else None for n in op.outputs)
