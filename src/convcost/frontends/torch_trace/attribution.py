"""Which module and phase each op of a run belongs to, and the record of the op
(:class:`State`, fed by the dispatch mode :class:`Recorder`).

* A ``TorchDispatchMode`` sees every aten op below autograd: forward ops, the backward ops
  the autograd engine runs, and the optimizer's ops (each recorded with
  :func:`~.meta.op_call`).
* Module forward pre/post hooks keep the stack of running modules (forward ops belong to
  the innermost). When a module's forward returns, the autograd nodes it created (those
  reachable from its outputs without crossing its inputs' nodes) are tagged with its path in
  ``Node.metadata``; during backward the op's module is read from the node the engine is
  running (``torch._C._current_autograd_node()``). Parameters' ``AccumulateGrad`` nodes
  belong to the module that owns the parameter.
* Backward ops the engine runs to sum the gradients of a tensor used more than once are
  marked (``OpRecord.accumulates``), in the innermost module containing all the producers.
* ``saved_tensors_hooks`` (:meth:`State.pack`) say which storages autograd saved, and in
  which module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from ..kernel_checks import check_call
from ..records import OpRecord
from .cuda import CudaPath
from .decompose import decompose
from .engine import EngineState
from .meta import op_call, op_name, tensors
from .storages import Storages

#: Key of the module path in autograd nodes' ``metadata``.
MODULE_KEY = "convcost.module"
#: Module tag of the autograd nodes of the loss the analyser adds.
LOSS_TAG = "\x00loss"

_ACCUMULATE_GRAD = "torch::autograd::AccumulateGrad"


class _Held:
    """A saved tensor as the Python engine's pack hook keeps it (see :meth:`State.pack`)."""

    __slots__ = ("tensor",)

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor


class State:
    """Everything the dispatch mode and the hooks share during one run."""

    def __init__(
        self,
        modules: dict[str, nn.Module],
        on_sample: Callable[[], None] | None,
        needs_formula: Callable[[str], bool] | None = None,
    ) -> None:
        self.needs_formula = needs_formula
        self.storages = Storages()
        self.ops: list[OpRecord] = []
        self.phase = "forward"
        self.stack: list[tuple[str, set[int], list[Any]]] = []
        self.last_module = ""
        self.claim = False
        self.modules = modules
        self.calls: dict[str, int] = dict.fromkeys(modules, 0)
        self.output_shapes: dict[str, tuple[int, ...] | None] = {}
        self.param_owner: dict[int, str] = {}
        self.saved: dict[int, str] = {}
        self.on_sample = on_sample
        # Backward: the node whose function has returned (its post-hook ran); ops the engine
        # runs after that, still "in" the node, accumulate gradients into input buffers.
        self.node_done: int | None = None
        self.writer_module: dict[int, str] = {}
        # The Python autograd engine's view of the backward (the CUDA path), and the CUDA
        # path's record of the kernels chosen; both None on the CPU path.
        self.engine: EngineState | None = None
        self.cuda: CudaPath | None = None
        self.quiet = False  # an op the recorder runs for itself: not part of the run
        self.cuda_amp: torch.dtype | None = None  # the CUDA path's autocast dtype

    # -- ops
    def where(self, reads: Sequence[int]) -> tuple[str, str, bool]:
        """Phase and module of the op being recorded, and whether the autograd engine runs
        it to sum gradient contributions (or to hand a gradient to a ``.grad``)."""
        if self.phase == "backward":
            if self.engine is not None:
                tag, name, summing = (self.engine.metadata.get(MODULE_KEY), self.engine.name,
                                      self.engine.summing)
            else:
                node: Any = torch._C._current_autograd_node()
                summing = node is not None and id(node) == self.node_done
                tag = node.metadata.get(MODULE_KEY) if node is not None else None
                name = node.name() if node is not None else ""
            if tag == LOSS_TAG:
                return "loss", "", False
            module = tag if isinstance(tag, str) else ""
            if summing:
                # The engine summing gradients of a tensor used several times: that
                # fan-out happened in the innermost module containing all the producers.
                for sid in reads:
                    other = self.writer_module.get(sid)
                    if other is not None:
                        module = common_module(module, other)
            elif name == _ACCUMULATE_GRAD:
                # AccumulateGrad copies a gradient into .grad or adds it to an existing one.
                summing = True
            return "backward", module, summing
        if self.phase == "optimizer":
            return "optimizer", "", False
        return self.phase, self.stack[-1][0] if self.stack else "", False

    def on_op(self, func: Any, args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> None:
        st = self.storages
        reads = []
        name = op_name(func)
        if self.cuda is not None:
            self.cuda.observe(name)
        decomposed = None
        if self.needs_formula is not None and self.needs_formula(name):
            sub = decompose(func, args, kwargs, self.needs_formula, 1)
            decomposed = None if sub is None else sub[0]
        if name.startswith("lift_fresh"):
            # torch.tensor(...) under fake mode: the argument is the constant being turned
            # into a fake tensor, not memory of the run.
            args, kwargs = (), {}
        float_reads = []
        for t in (*tensors(args), *tensors(kwargs)):
            sid = st.add(t, "external", "")
            if sid is not None:
                reads.append(sid)
                if t.is_floating_point() or t.is_complex():
                    float_reads.append(sid)
        st.clock += 1
        phase, module, summing = self.where(reads)
        self.last_module = module
        writes = []
        for t in tensors(out):
            sid = st.add(t, "op", phase)
            if sid is not None:
                writes.append(sid)
                if phase == "backward":
                    self.writer_module[sid] = module
        call = op_call(func, args, kwargs, out)
        self.ops.append(OpRecord(call, phase, module, tuple(reads), tuple(writes), decomposed,
                                 summing, tuple(float_reads)))
        if self.on_sample is not None:
            self.on_sample()

    # -- saved tensors
    def pack(self, t: torch.Tensor) -> torch.Tensor:
        sid = self.storages.add(t, "external", "")
        if sid is not None and sid not in self.saved and self.phase in ("forward", "loss"):
            self.saved[sid] = self.stack[-1][0] if self.stack else ""
        if self.engine is None or t.grad_fn is None:
            return t
        # Saved through a hook, a tensor is kept whole, grad_fn included: a node saving its
        # own output would hold itself, and only PyTorch's engine (release_variables) breaks
        # that cycle. The Python engine frees saved tensors by letting nodes die, so it
        # saves an alias without the grad_fn (same storage; the alias is not recorded).
        self.quiet = True
        try:
            return _Held(t.detach())  # type: ignore[return-value]
        finally:
            self.quiet = False

    @staticmethod
    def unpack(x: Any) -> Any:
        """The tensor :meth:`pack` saved."""
        return x.tensor if isinstance(x, _Held) else x

    # -- modules
    def pre_hook(self, path: str, mod: nn.Module, args: Any, kwargs: Any) -> None:
        if self.phase != "recompute":  # a checkpointed forward run again is not a call
            self.calls[path] += 1
        nodes: list[Any] = []
        if self.claim:
            for t in (*tensors(args), *tensors(kwargs)):
                if t.grad_fn is not None:
                    nodes.append(t.grad_fn)
        self.stack.append((path, {id(n) for n in nodes}, nodes))

    def post_hook(self, path: str, mod: nn.Module, args: Any, kwargs: Any, out: Any) -> None:
        # Pop up to this module (a child that raised and was caught leaves its entry).
        entry = None
        while self.stack:
            entry = self.stack.pop()
            if entry[0] == path:
                break
        if path not in self.output_shapes:
            first = next(tensors(out), None)
            self.output_shapes[path] = None if first is None else tuple(int(s) for s in first.shape)
        if self.claim and entry is not None:
            roots = [t.grad_fn for t in tensors(out) if t.grad_fn is not None]
            self.tag_nodes(roots, entry[1], path)

    def tag_nodes(self, roots: list[Any], stop: set[int], path: str) -> None:
        """Tag the untagged autograd nodes reachable from ``roots`` (not crossing ``stop``)."""
        seen: set[int] = set()
        keep: list[Any] = []  # keeps node wrappers alive so ids stay unique during the walk
        todo = list(roots)
        while todo:
            n = todo.pop()
            if id(n) in seen or id(n) in stop:
                continue
            seen.add(id(n))
            keep.append(n)
            md = n.metadata
            if MODULE_KEY not in md:
                if n.name() == _ACCUMULATE_GRAD:
                    md[MODULE_KEY] = self.param_owner.get(id(n.variable), path)
                else:
                    md[MODULE_KEY] = path
                    n.register_hook(partial(self._node_done, id(n)))
            for nxt, _ in n.next_functions:
                if nxt is not None:
                    todo.append(nxt)

    def _node_done(self, node: int, grad_inputs: Any, grad_outputs: Any) -> None:
        self.node_done = node


def common_module(a: str, b: str) -> str:
    """The innermost module path containing both ``a`` and ``b``."""
    pa, pb = a.split(".") if a else [], b.split(".") if b else []
    common = []
    for x, y in zip(pa, pb):
        if x != y:
            break
        common.append(x)
    return ".".join(common)


class Recorder(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Hands every op (except ``prim`` metadata queries) to the state after running it."""

    def __init__(self, state: State) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.state = state

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        check_call(func, args, kwargs)  # what the real kernel would refuse
        if self.state.cuda is not None and func.namespace != "prim":
            out = self.state.cuda.run(func, args, kwargs)
        else:
            out = func(*args, **kwargs)
        engine = self.state.engine
        if (func.namespace != "prim" and not self.state.quiet
                and not (engine is not None and engine.artefact(func, args))):
            self.state.on_op(func, args, kwargs, out)
        return out
