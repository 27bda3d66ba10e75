"""The torch ``nn.Module`` that runs a lowered ONNX graph: :class:`OnnxModule` evaluates the
graph's steps in order (:class:`Plan`), each node a small :class:`OnnxNode` submodule whose
class is named after its op type, constant nodes computed for real outside the trace; and
:meth:`OnnxModule.relabel`, which gives an analysis of it the graph's input names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from torch import Tensor, nn

from ...errors import ConvCostError
from .fallback import reference_eval, run_placeholder
from .lowering import Lowering, lowering_table
from .names import sanitize, unique
from .node import OnnxOp
from .reader import GraphInput
from .tensors import no_modes


class OnnxNode(nn.Module):
    """One ONNX node (subclassed per op type, so the table's type column is the op type)."""

    def __init__(self, op: OnnxOp, impl: Lowering | None, opsets: Mapping[str, int]) -> None:
        super().__init__()
        self._onnx_op = op
        self._impl = impl
        self._opsets = dict(opsets)

    @property
    def onnx_op(self) -> str:
        """The node's ONNX op type (with its domain when that is not the default one)."""
        op = self._onnx_op
        return op.type if op.default_domain else f"{op.domain}::{op.type}"

    def forward(self, *xs: Any) -> tuple[Any, ...]:
        op = self._onnx_op
        if self._impl is None:
            return run_placeholder(op, xs, self._opsets)
        return _outputs(op, self._impl(op, list(xs), self.training))


class OnnxScope(nn.Module):
    """A group of ONNX nodes sharing a name prefix (``/layer1/...``); it is never called."""


_NODE_CLASSES: dict[str, type[OnnxNode]] = {}


def node_class(op_type: str) -> type[OnnxNode]:
    """The :class:`OnnxNode` subclass named after ``op_type`` (made once per op type)."""
    cls = _NODE_CLASSES.get(op_type)
    if cls is None:
        name = op_type if op_type.isidentifier() else "OnnxNode"
        cls = type(name, (OnnxNode,), {"__module__": __name__,
                                       "__doc__": f"ONNX {op_type} node."})
        _NODE_CLASSES[op_type] = cls
    return cls


def _outputs(op: OnnxOp, out: Any) -> tuple[Any, ...]:
    outs = tuple(out) if isinstance(out, (tuple, list)) else (out,)
    if len(outs) < len(op.outputs):
        missing = [n for n in op.outputs[len(outs):] if n and n in op.used]
        if missing:
            raise op.err(f"output(s) {missing} are not supported")
        outs = outs + (None,) * (len(op.outputs) - len(outs))
    return outs[: len(op.outputs)]


@dataclass
class Step:
    """One node in evaluation order: its module (``None`` for a constant node) and the
    values no later step reads (dropped after it, so that memory follows real lifetimes)."""

    op: OnnxOp
    module: OnnxNode | None
    free: tuple[str, ...] = ()


@dataclass
class Plan:
    """Everything :class:`OnnxModule` needs to evaluate the graph."""

    path: str
    inputs: list[GraphInput]
    outputs: list[str]
    steps: list[Step]
    consts: dict[str, Tensor]
    weights: dict[str, tuple[str, str]]  # initializer -> (module path, attribute)
    opsets: dict[str, int]
    alias: dict[str, str] = field(default_factory=dict)


class OnnxModule(nn.Module):
    """An ONNX graph as a ``torch.nn.Module`` whose ``forward`` evaluates the nodes in graph
    order with torch ops (see :mod:`convcost.frontends.onnx`). Build one with
    :func:`~.load.load_onnx`.

    ``forward(*inputs)`` takes the graph's inputs in graph order (initializers excluded) and
    returns its output (a tuple when it has several). Parameters live on the meta device:
    the module is meant to be analysed (:func:`convcost.analyze`), not to compute.
    """

    def __init__(self, plan: Plan, scopes: Mapping[str, nn.Module],
                 root_weights: Sequence[tuple[str, nn.Parameter | Tensor]] = ()) -> None:
        super().__init__()
        self._plan = plan
        for name, mod in scopes.items():
            self.add_module(name, mod)
        self._owners: list[tuple[str, nn.Module, str]] = [
            (init, self.get_submodule(path) if path else self, attr)
            for init, (path, attr) in plan.weights.items()
        ]
        _attach_root_weights(self, root_weights)

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


def _attach_root_weights(module: OnnxModule,
                         weights: Sequence[tuple[str, nn.Parameter | Tensor]]) -> None:
    """Register the initializers no node owns (``weights``) on the root module itself."""
    plan = module._plan
    taken = set(dir(module)) | set(module._modules)
    for name, p in weights:
        attr = unique(sanitize(name), taken)
        taken.add(attr)
        if isinstance(p, nn.Parameter):
            module.register_parameter(attr, p)
        else:
            module.register_buffer(attr, p)
        plan.weights[name] = ("", attr)
        module._owners.append((name, module, attr))


def _run_const(op: OnnxOp, xs: list[Any], opsets: Mapping[str, int]) -> tuple[Any, ...]:
    """A node whose inputs are constants: computed for real (tiny: shape arithmetic)."""
    impl = lowering_table().get(op.type) if op.default_domain else None
    if impl is None:
        return tuple(reference_eval(op, xs, opsets))
    try:
        with no_modes():
            return _outputs(op, impl(op, xs, False))
    except ConvCostError:
        raise
    except Exception as exc:
        raise op.err(f"failed on its constant inputs ({type(exc).__name__}: "
                     f"{(str(exc).splitlines() or [''])[0]})") from exc

