"""PyTorch front end: run a model once on fake tensors and record every aten op.

How one run works (:func:`trace_model`):

* The model's parameters and buffers are replaced, for the duration of the run only, by
  fake tensors of the same shapes, strides and dtypes (``FakeTensorMode``: no data, nothing
  computed, nothing allocated), so time and memory of the analysis do not depend on batch
  size or resolution. This works for models built on the CPU as well as on the meta device;
  the model object itself is not changed (its training flags are restored afterwards).
* A ``TorchDispatchMode`` sees every aten op below autograd: forward ops, the backward ops
  the autograd engine runs, and the optimizer's ops. Each becomes an
  :class:`~convcost.ops.OpCall` (:func:`op_call`: tensors replaced by
  :class:`~convcost.ops.TensorMeta`, every argument named after the op's schema with the
  schema's defaults filled in; the op named by :func:`op_name`).
* Module forward pre/post hooks keep the stack of running modules (forward ops belong to
  the innermost). When a module's forward returns, the autograd nodes it created (those
  reachable from its outputs without crossing its inputs' nodes) are tagged with its path in
  ``Node.metadata``; during backward the op's module is read from the node the engine is
  running (``torch._C._current_autograd_node()``). Parameters' ``AccumulateGrad`` nodes
  belong to the module that owns the parameter.
* Every tensor storage is followed from the op that produced it until a weak-reference
  callback says it was freed; ``saved_tensors_hooks`` say which storages autograd saved.

Training step (``mode="train"``): forward with grad enabled (and autocast when ``amp`` is
given); the loss is the model's output when it is a scalar tensor (or a mapping/attribute
``loss`` that is), otherwise the sum of ``.sum()`` of every floating output tensor that
requires grad (phase ``loss``: not counted as the model's cost); ``backward`` from it with a
gradient of ones; then ``optimizer.step()`` of a real ``torch.optim`` optimizer built on the
fake trainable parameters (``foreach=False``, PyTorch's default for CPU tensors), and a
second ``step()`` recorded apart (``Trace.steady_optimizer``, for counting only): the ops of
every later step, in which the optimizer state exists (SGD's momentum buffers are updated,
not created). Backward ops the engine runs to sum the gradients of a tensor used more than
once are marked (``OpRecord.accumulates``). Inference (``mode="inference"``):
``model.eval()`` and a forward under ``torch.no_grad()``.

Activation checkpointing (``checkpoint=PATTERN``, training only): for the duration of the
run, the ``forward`` of every module whose path matches (``re.search``; not the root) runs
under non-reentrant ``torch.utils.checkpoint.checkpoint(..., use_reentrant=False)``, exactly
as a training script would wrap it (the model's own ``forward`` is restored afterwards).
Autograd then keeps only the region's inputs, and when the backward needs a saved tensor of
the region, PyTorch runs its forward again (stopping, as it does by default, once every
tensor it needs exists): those ops are recorded with phase ``recompute`` and the module
they run in.
"""

from __future__ import annotations

import contextlib
import logging
import re
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import (
    DataDependentOutputException,
    DynamicOutputShapeException,
    FakeTensorMode,
    UnsupportedOperatorException,
)
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.hooks import RemovableHandle
from torch.utils.weak import WeakIdKeyDictionary

from ..errors import ConvCostError, TraceError
from ..ops import OpCall, Param, TensorMeta, bind
from ..spec import InputSpec
from .kernel_checks import KernelRuleError, check_call
from .records import ModuleRecord, OpRecord, ParamGrad, StorageRecord, Trace

#: Key of the module path in autograd nodes' ``metadata``.
MODULE_KEY = "convcost.module"
#: Module tag of the autograd nodes of the loss the analyser adds.
LOSS_TAG = "\x00loss"

_ACCUMULATE_GRAD = "torch::autograd::AccumulateGrad"


def torch_dtype(name: str) -> torch.dtype:
    """The ``torch.dtype`` called ``name`` (``"float32"``, ``"int64"``...)."""
    d = getattr(torch, name, None)
    if not isinstance(d, torch.dtype):
        raise ValueError(name)
    return d


def dtype_name(d: torch.dtype) -> str:
    """``torch.float32`` -> ``"float32"``."""
    return str(d).removeprefix("torch.")


# --------------------------------------------------------------------------- storages


class _Storages:
    """Ids, sizes and lifetimes of the tensor storages seen during one run."""

    def __init__(self) -> None:
        self._ids: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self._refs: list[weakref.ref[Any] | None] = []
        self.nbytes: list[int] = []
        self.origin: list[str] = []
        self.alloc: list[int] = []
        self.free: list[int | None] = []
        self.phase: list[str] = []
        self.clock = 0
        self.closed = False

    def get(self, t: torch.Tensor) -> int | None:
        """The id of ``t``'s storage, or ``None`` when it is not known (or has none)."""
        try:
            st = t.untyped_storage()
        except (RuntimeError, NotImplementedError, TypeError):
            return None
        sid: int | None = self._ids.get(st)  # type: ignore[no-untyped-call]
        return sid

    def add(self, t: torch.Tensor, origin: str, phase: str) -> int | None:
        """The id of ``t``'s storage, registering it (``origin``) when new."""
        try:
            st = t.untyped_storage()
        except (RuntimeError, NotImplementedError, TypeError):
            return None
        known: int | None = self._ids.get(st)  # type: ignore[no-untyped-call]
        if known is not None:
            return known
        sid = len(self.nbytes)
        self.nbytes.append(int(st.nbytes()))
        self.origin.append(origin)
        self.alloc.append(self.clock if origin == "op" else 0)
        self.free.append(None)
        self.phase.append(phase if origin == "op" else "")
        self._refs.append(weakref.ref(st, partial(self._freed, sid)))
        self._ids[st] = sid
        return sid

    def _freed(self, sid: int, _ref: object) -> None:
        if not self.closed:
            # Freed after the sample of the last op: not live from the next sample on.
            self.free[sid] = self.clock + 1
            self._refs[sid] = None

    def records(self) -> tuple[StorageRecord, ...]:
        return tuple(
            StorageRecord(i, self.nbytes[i], self.origin[i], self.alloc[i], self.free[i],
                          self.phase[i])
            for i in range(len(self.nbytes))
        )


# --------------------------------------------------------------------------- metadata


def _tensor_meta(t: torch.Tensor) -> TensorMeta:
    return TensorMeta(tuple(int(s) for s in t.shape), dtype_name(t.dtype))


def _meta(x: Any) -> Any:
    """Replace tensors by TensorMeta, lists by tuples, torch objects by their names."""
    if isinstance(x, torch.Tensor):
        return _tensor_meta(x)
    if x is None or isinstance(x, (bool, int, float, str, complex)):
        return x
    if isinstance(x, (list, tuple)):
        return tuple(_meta(e) for e in x)
    if isinstance(x, torch.dtype):
        return dtype_name(x)
    if isinstance(x, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        return x.node.hint if hasattr(x.node, "hint") else str(x)
    if isinstance(x, Mapping):
        return tuple((k, _meta(v)) for k, v in x.items())
    return str(x)


def _tensors(x: Any) -> Iterator[torch.Tensor]:
    """Every tensor in ``x`` (nested lists, tuples, dicts, dataclass-like outputs)."""
    if isinstance(x, torch.Tensor):
        yield x
    elif isinstance(x, (list, tuple)):
        for e in x:
            yield from _tensors(e)
    elif isinstance(x, Mapping):
        for e in x.values():
            yield from _tensors(e)


def _out_meta(out: Any) -> tuple[TensorMeta | None, ...]:
    if isinstance(out, torch.Tensor):
        return (_tensor_meta(out),)
    if isinstance(out, (list, tuple)):
        return tuple(_tensor_meta(o) if isinstance(o, torch.Tensor) else None for o in out)
    return ()


def op_name(func: Any) -> str:
    """The name convcost records for op ``func``: ``aten.convolution.default`` ->
    ``"convolution.default"``; any other namespace keeps it, the way torch spells a
    qualified op: ``torch.ops.mylib.myop.default`` -> ``"mylib::myop.default"``."""
    ns = str(getattr(func, "namespace", "aten"))
    full = str(func)
    rest = full[len(ns) + 1:] if full.startswith(ns + ".") else full
    return rest if ns == "aten" else f"{ns}::{rest}"


_SIGNATURES: dict[Any, tuple[Param, ...]] = {}


def signature(func: Any) -> tuple[Param, ...]:
    """The parameters of ``func``'s schema (cached per op; empty when it has no schema)."""
    sig = _SIGNATURES.get(func)
    if sig is None:
        schema = getattr(func, "_schema", None)
        sig = tuple(
            Param(a.name, bool(a.kwarg_only), bool(a.has_default_value()),
                  _meta(a.default_value) if a.has_default_value() else None)
            for a in (schema.arguments if schema is not None else ())
        )
        _SIGNATURES[func] = sig
    return sig


def op_call(func: Any, args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> OpCall:
    """The :class:`~convcost.ops.OpCall` of one dispatched call of ``func`` (arguments named
    by its schema, defaults filled in, tensors replaced by their metadata)."""
    return bind(op_name(func), signature(func), [_meta(a) for a in args],
                {k: _meta(v) for k, v in kwargs.items()}, _out_meta(out))


# --------------------------------------------------------------------------- recording


class _State:
    """Everything the dispatch mode and the hooks share during one run."""

    def __init__(
        self,
        modules: dict[str, nn.Module],
        on_sample: Callable[[], None] | None,
        needs_formula: Callable[[str], bool] | None = None,
    ) -> None:
        self.needs_formula = needs_formula
        self.storages = _Storages()
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

    # -- ops
    def where(self, reads: Sequence[int]) -> tuple[str, str, bool]:
        """Phase and module of the op being recorded, and whether the autograd engine runs
        it to sum gradient contributions (or to hand a gradient to a ``.grad``)."""
        if self.phase == "backward":
            node: Any = torch._C._current_autograd_node()
            tag = node.metadata.get(MODULE_KEY) if node is not None else None
            if tag == LOSS_TAG:
                return "loss", "", False
            module = tag if isinstance(tag, str) else ""
            summing = node is not None and id(node) == self.node_done
            if summing:
                # The engine summing gradients of a tensor used several times: that
                # fan-out happened in the innermost module containing all the producers.
                for sid in reads:
                    other = self.writer_module.get(sid)
                    if other is not None:
                        module = _common_module(module, other)
            elif node is not None and node.name() == _ACCUMULATE_GRAD:
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
        decomposed = None
        if self.needs_formula is not None and self.needs_formula(name):
            sub = _decompose(func, args, kwargs, self.needs_formula, 1)
            decomposed = None if sub is None else sub[0]
        if name.startswith("lift_fresh"):
            # torch.tensor(...) under fake mode: the argument is the constant being turned
            # into a fake tensor, not memory of the run.
            args, kwargs = (), {}
        for t in _tensors(args):
            sid = st.add(t, "external", "")
            if sid is not None:
                reads.append(sid)
        for t in _tensors(kwargs):
            sid = st.add(t, "external", "")
            if sid is not None:
                reads.append(sid)
        st.clock += 1
        phase, module, summing = self.where(reads)
        self.last_module = module
        writes = []
        for t in _tensors(out):
            sid = st.add(t, "op", phase)
            if sid is not None:
                writes.append(sid)
                if phase == "backward":
                    self.writer_module[sid] = module
        call = op_call(func, args, kwargs, out)
        self.ops.append(OpRecord(call, phase, module, tuple(reads), tuple(writes), decomposed,
                                 summing))
        if self.on_sample is not None:
            self.on_sample()

    # -- saved tensors
    def pack(self, t: torch.Tensor) -> torch.Tensor:
        sid = self.storages.add(t, "external", "")
        if sid is not None and sid not in self.saved and self.phase in ("forward", "loss"):
            self.saved[sid] = self.stack[-1][0] if self.stack else ""
        return t

    # -- modules
    def pre_hook(self, path: str, mod: nn.Module, args: Any, kwargs: Any) -> None:
        if self.phase != "recompute":  # a checkpointed forward run again is not a call
            self.calls[path] += 1
        nodes: list[Any] = []
        if self.claim:
            for t in (*_tensors(args), *_tensors(kwargs)):
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
            first = next(_tensors(out), None)
            self.output_shapes[path] = None if first is None else tuple(int(s) for s in first.shape)
        if self.claim and entry is not None:
            roots = [t.grad_fn for t in _tensors(out) if t.grad_fn is not None]
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


def _common_module(a: str, b: str) -> str:
    """The innermost module path containing both ``a`` and ``b``."""
    pa, pb = a.split(".") if a else [], b.split(".") if b else []
    common = []
    for x, y in zip(pa, pb):
        if x != y:
            break
        common.append(x)
    return ".".join(common)


#: How deep decompositions of decompositions are followed.
_MAX_DECOMPOSITION_DEPTH = 4


class _Decomposer(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Records the ops a decomposition runs (for counting only; nothing is tracked)."""

    def __init__(self, needs_formula: Callable[[str], bool], depth: int) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.needs_formula = needs_formula
        self.depth = depth
        self.calls: list[OpCall] = []

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        if func.namespace == "prim":
            return func(*args, **kwargs)
        name = op_name(func)
        if self.depth < _MAX_DECOMPOSITION_DEPTH and self.needs_formula(name):
            sub = _decompose(func, args, kwargs, self.needs_formula, self.depth + 1)
            if sub is not None:
                self.calls.extend(sub[0])
                return sub[1]
        out = func(*args, **kwargs)
        self.calls.append(op_call(func, args, kwargs, out))
        return out


def _decompose(
    func: Any,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    needs_formula: Callable[[str], bool],
    depth: int,
) -> tuple[tuple[OpCall, ...], Any] | None:
    """Run ``func``'s PyTorch decomposition (``torch._decomp`` table, else its
    CompositeImplicitAutograd kernel) and return the ops it ran and its result, or ``None``
    when it has none. Ops that mutate their arguments are never decomposed (that would
    apply the mutation twice); autograd is off, so nothing is saved or recorded for it."""
    if func._schema.is_mutable:
        return None
    from torch._decomp import decomposition_table

    fn = decomposition_table.get(func)
    if fn is None and torch._C._dispatch_has_kernel_for_dispatch_key(
            func.name(), "CompositeImplicitAutograd"):
        fn = func.decompose
    if fn is None:
        return None
    rec = _Decomposer(needs_formula, depth)
    try:
        with torch.no_grad(), rec:
            out = fn(*args, **kwargs)
    except Exception:
        return None
    if out is NotImplemented:
        return None
    return tuple(rec.calls), out


class _Recorder(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Hands every op (except ``prim`` metadata queries) to the state after running it."""

    def __init__(self, state: _State) -> None:
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
        out = func(*args, **kwargs)
        if func.namespace != "prim":
            self.state.on_op(func, args, kwargs, out)
        return out


class _StepRecorder(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Records the ops of a later optimizer step, for counting only: no storage is followed
    (the memory of the run stays the first step's)."""

    def __init__(self, needs_formula: Callable[[str], bool] | None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.needs_formula = needs_formula
        self.ops: list[OpRecord] = []

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        if func.namespace == "prim":
            return func(*args, **kwargs)
        decomposed = None
        if self.needs_formula is not None and self.needs_formula(op_name(func)):
            sub = _decompose(func, args, kwargs, self.needs_formula, 1)
            decomposed = None if sub is None else sub[0]
        out = func(*args, **kwargs)
        self.ops.append(OpRecord(op_call(func, args, kwargs, out), "optimizer", "", (), (),
                                 decomposed))
        return out


#: Record a later optimizer step once per distinct parameter (see :func:`_steady_step`);
#: ``False`` records every parameter (the tests compare the two).
DEDUPLICATE_STEADY_STEP = True

_PROFILER_OPS = ("profiler::_record_function_enter_new", "profiler::_record_function_exit")


def _param_key(opt: torch.optim.Optimizer, p: torch.Tensor) -> tuple[Any, ...]:
    """What a per-parameter optimizer step's ops depend on: the parameter's and its
    gradient's shape, strides and dtype, and the shapes and dtypes of its state."""
    state = opt.state.get(p, {})
    st = tuple(sorted((k, tuple(v.shape), tuple(v.stride()), v.dtype, v.device.type)
                      if isinstance(v, torch.Tensor) else (k, type(v).__name__, v)
                      for k, v in state.items()))
    g = p.grad
    return (tuple(p.shape), tuple(p.stride()), p.dtype,
            None if g is None else (tuple(g.shape), tuple(g.stride()), g.dtype), st)


def _steady_step(opt: torch.optim.Optimizer,
                 needs_formula: Callable[[str], bool] | None) -> tuple[OpRecord, ...]:
    """The ops of a later step of ``opt`` (its state exists). The per-parameter (for-loop)
    implementations run the same ops for every parameter of the same shapes, strides and
    dtypes: with one parameter group, such a step is recorded once per distinct parameter
    and its ops repeated, in parameter order, for every parameter like it (the profiler's
    enter/exit markers once around them) — the same records as a full step, in a fraction
    of the time for a model of many identical layers. A foreach or fused step, several
    groups, or parameters all distinct: the whole step is recorded."""
    groups = opt.param_groups
    params = groups[0]["params"] if len(groups) == 1 else []
    per_param = not (len(groups) != 1 or groups[0].get("foreach") or groups[0].get("fused"))
    keys = [_param_key(opt, p) for p in params] if per_param else []
    if not DEDUPLICATE_STEADY_STEP or not per_param or len(set(keys)) == len(keys):
        rec = _StepRecorder(needs_formula)
        with rec:
            opt.step()
        return tuple(rec.ops)
    first: dict[tuple[Any, ...], torch.Tensor] = {}
    for k, p in zip(keys, params):
        first.setdefault(k, p)
    recorded: dict[tuple[Any, ...], list[OpRecord]] = {}
    enter: list[OpRecord] = []
    exit_: list[OpRecord] = []
    try:
        for k, p in first.items():
            groups[0]["params"] = [p]
            rec = _StepRecorder(needs_formula)
            with rec:
                opt.step()
            ops = rec.ops
            lead = [o for o in ops[:1] if o.call.name.startswith(_PROFILER_OPS[0])]
            tail = [o for o in ops[-1:] if o.call.name.startswith(_PROFILER_OPS[1])]
            enter, exit_ = enter or lead, exit_ or tail
            recorded[k] = ops[len(lead):len(ops) - len(tail)]
    finally:
        groups[0]["params"] = params
    return tuple([*enter, *(o for k in keys for o in recorded[k]), *exit_])


# --------------------------------------------------------------------------- checkpointing


def _run_region(state: _State, path: str, fn: Callable[..., Any], *args: Any,
                **kwargs: Any) -> Any:
    """Run a checkpointed module's own forward: the first time (forward phase) as usual;
    when the backward runs it again, as phase ``recompute`` inside module ``path``."""
    if state.phase != "backward":
        return fn(*args, **kwargs)
    depth = len(state.stack)
    state.phase = "recompute"
    state.stack.append((path, set(), []))
    try:
        return fn(*args, **kwargs)
    finally:  # PyTorch stops a recomputation early by raising
        state.phase = "backward"
        del state.stack[depth:]


def checkpointed_paths(modules: Mapping[str, nn.Module], pattern: re.Pattern[str]) -> list[str]:
    """Paths of the modules ``pattern`` checkpoints (``re.search``; the root never)."""
    return [p for p in modules if p and pattern.search(p) is not None]


def _checkpoint_forwards(
    modules: Mapping[str, nn.Module], pattern: re.Pattern[str], state: _State
) -> list[tuple[nn.Module, Any]]:
    """Wrap the matching modules' ``forward`` in non-reentrant checkpointing; returns what
    to restore (each module and its own ``forward`` attribute, or ``None``)."""
    from torch.utils.checkpoint import checkpoint

    restore: list[tuple[nn.Module, Any]] = []
    for path in checkpointed_paths(modules, pattern):
        mod = modules[path]
        region = partial(_run_region, state, path, mod.forward)

        def forward(*args: Any, _region: Any = region, **kwargs: Any) -> Any:
            return checkpoint(_region, *args, use_reentrant=False, **kwargs)

        restore.append((mod, mod.__dict__.get("forward")))
        mod.forward = forward
    return restore


# --------------------------------------------------------------------------- the run


def _make_optimizer(name: str, params: list[torch.Tensor],
                    foreach: bool = False) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=0.01, foreach=foreach)
    if name == "momentum":
        return torch.optim.SGD(params, lr=0.01, momentum=0.9, foreach=foreach)
    if name == "adam":
        return torch.optim.Adam(params, lr=1e-3, foreach=foreach)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=1e-3, foreach=foreach)
    raise ValueError(name)


def _loss_of(out: Any) -> torch.Tensor | None:
    """The scalar to differentiate (see the module docstring)."""
    if isinstance(out, torch.Tensor) and out.dim() == 0 and out.is_floating_point():
        return out
    cand = out.get("loss") if isinstance(out, Mapping) else getattr(out, "loss", None)
    if isinstance(cand, torch.Tensor) and cand.dim() == 0 and cand.requires_grad:
        return cand
    total: torch.Tensor | None = None
    for t in _tensors(out):
        if t.requires_grad and t.is_floating_point():
            s = t.sum()
            total = s if total is None else total + s
    return total


def _convert(t: torch.Tensor, dtype: torch.dtype | None) -> torch.dtype:
    if dtype is not None and t.is_floating_point():
        return dtype
    return t.dtype


def _fake_like(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    # Same shape and strides, on the CPU, whatever device the model was built on.
    return torch.empty_strided(tuple(t.shape), tuple(t.stride()), dtype=dtype, device="cpu")


def _failure(state: _State, exc: BaseException) -> TraceError:
    path = state.stack[-1][0] if state.stack else state.last_module
    mod = state.modules.get(path)
    mtype = type(mod).__name__ if mod is not None else "?"
    first = (str(exc).strip().splitlines() or [""])[0]
    reason = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    if isinstance(exc, KernelRuleError):
        reason = first
    dependent = isinstance(exc, (DataDependentOutputException, DynamicOutputShapeException))
    if dependent:
        reason += (" (the model reads tensor values or makes shapes depend on them, "
                   "which cannot be known without computing)")
    elif isinstance(exc, UnsupportedOperatorException):
        reason += " (this op has no shape-only (meta) implementation in PyTorch)"
    return TraceError(path, mtype, state.phase, reason, dependent)


def trace_model(
    model: nn.Module,
    args: Sequence[torch.Tensor | InputSpec | Any],
    kwargs: Mapping[str, torch.Tensor | InputSpec | Any] | None = None,
    *,
    mode: str = "train",
    dtype: torch.dtype | None = None,
    amp: torch.dtype | None = None,
    optimizer: str = "none",
    optimizer_foreach: bool = False,
    freeze: re.Pattern[str] | None = None,
    checkpoint: re.Pattern[str] | None = None,
    real: bool = False,
    on_sample: Callable[[], None] | None = None,
    needs_formula: Callable[[str], bool] | None = None,
    input_grad: bool = False,
) -> Trace:
    """Run one training step (``mode="train"``) or one inference forward of ``model``.

    ``args``/``kwargs`` hold example tensors (only their shape, strides and dtype are used),
    :class:`InputSpec` records, or other values passed through unchanged. ``dtype`` converts
    floating parameters, buffers and inputs; ``amp`` runs the forward under
    ``torch.autocast("cpu", amp)``; parameters whose name matches ``freeze`` get no
    gradient. In a training step, floating inputs require a gradient when ``input_grad``
    is true or their :class:`InputSpec` says ``requires_grad`` (tensors: only their shape and
    dtype are used); their ``.grad`` storages are :attr:`Trace.input_grads`. Arguments are
    assumed valid (:func:`convcost.model.analyze` checks them). ``checkpoint`` (training
    only) runs the modules whose path it matches under non-reentrant activation
    checkpointing (see the module docstring). The optimizer is ``torch.optim``'s
    per-parameter (for-loop) implementation, PyTorch's default on the CPU, or with
    ``optimizer_foreach`` its multi-tensor (``foreach``) one, the default on a GPU, whose
    step holds temporaries for all parameters at once.

    ``real=True`` runs the same step for real on the model's own tensors (inputs are
    random): used to measure what the fake run predicts. ``on_sample`` is called after
    every op. ``needs_formula(op_name)`` says which ops have no formula: those are also run
    through their PyTorch decomposition (fake runs only), recorded in
    :attr:`~convcost.frontends.records.OpRecord.decomposed`.
    """
    kwargs = dict(kwargs or {})
    train = mode == "train"
    modules = dict(model.named_modules())
    state = _State(modules, on_sample, None if real else needs_formula)
    for path, mod in modules.items():
        for pname, p in mod.named_parameters(recurse=False):
            state.param_owner.setdefault(id(p), path)
            del pname

    names = [n for n, _ in model.named_parameters()]
    trainable = {
        n: p.requires_grad and (freeze is None or freeze.search(n) is None)
        for n, p in model.named_parameters()
    }
    fake_mode: FakeTensorMode | None = None if real else FakeTensorMode(allow_non_fake_inputs=True)
    flags = {m: m.training for m in model.modules()}
    handles: list[RemovableHandle] = []
    wrapped: list[tuple[nn.Module, Any]] = []
    # FakeTensorMode logs a traceback when a meta kernel rejects its inputs; the error is
    # re-raised as a TraceError naming the module instead.
    fake_log = logging.getLogger("torch._subclasses.fake_tensor")
    log_level = fake_log.level
    fake_log.setLevel(logging.CRITICAL)
    try:
        outer = contextlib.nullcontext() if fake_mode is None else fake_mode
        with outer:
            params, buffers, pos, kw, restore = _prepare(
                model, args, kwargs, dtype, trainable, real, state, train, input_grad
            )
        for path, mod in modules.items():
            handles.append(mod.register_forward_pre_hook(
                partial(state.pre_hook, path), with_kwargs=True))
            handles.append(mod.register_forward_hook(
                partial(state.post_hook, path), with_kwargs=True))
        if train and checkpoint is not None:
            wrapped = _checkpoint_forwards(modules, checkpoint, state)
        model.train(train)
        opt = None
        if train and optimizer != "none":
            opt = _make_optimizer(optimizer, [p for n, p in params.items() if p.requires_grad],
                                  optimizer_foreach)
        from torch.nn.utils.stateless import _reparametrize_module

        with outer, _reparametrize_module(model, {**params, **buffers}, tie_weights=True):
            with _Recorder(state):
                _step(model, pos, kw, state, train, amp, opt)
            grads = []
            for n in names:
                p = params.get(n)
                g = None if p is None else p.grad
                if g is not None:
                    sid = state.storages.get(g)
                    if sid is not None:
                        leaf = n.rsplit(".", 1)[-1]  # bias, in_proj_bias, bias_ih_l0
                        is_bias = g.dim() == 1 and (leaf.endswith("bias")
                                                    or leaf.startswith("bias"))
                        grads.append(ParamGrad(sid, n, is_bias))
            input_grads = []
            for t in [*pos, *kw.values()]:
                g = t.grad if isinstance(t, torch.Tensor) and t.requires_grad else None
                sid = None if g is None else state.storages.get(g)
                if sid is not None:
                    input_grads.append(sid)
            steady: tuple[OpRecord, ...] = ()
            if opt is not None and state.phase == "optimizer":
                # A later step of the loop (its optimizer state exists): what a step costs
                # from then on. Storages are no longer followed: memory is the first step's.
                state.storages.closed = True
                steady = _steady_step(opt, state.needs_formula)
        for p, rg in restore:
            p.requires_grad_(rg)
    except ConvCostError:
        raise
    except Exception as exc:
        raise _failure(state, exc) from exc
    finally:
        fake_log.setLevel(log_level)
        state.storages.closed = True
        for h in handles:
            h.remove()
        for mod, own in wrapped:
            if own is None:
                del mod.forward
            else:
                mod.forward = own
        for m, f in flags.items():
            m.training = f

    named = [(f"arg{i}", t) for i, t in enumerate(pos) if isinstance(t, torch.Tensor)]
    named += [(k, t) for k, t in kw.items() if isinstance(t, torch.Tensor)]
    inputs = tuple((n, _tensor_meta(t)) for n, t in named)
    mrecs = []
    for path, mod in modules.items():
        seen: set[int] = set()
        total = train_total = 0
        for n, p in mod.named_parameters(prefix=path):
            if id(p) in seen:
                continue
            seen.add(id(p))
            total += p.numel()
            if trainable.get(n, False):
                train_total += p.numel()
        children = tuple(f"{path}.{c}" if path else c for c, _ in mod.named_children())
        mrecs.append(ModuleRecord(path, type(mod).__name__, children, total, train_total,
                                  state.output_shapes.get(path), state.calls[path]))
    trace = Trace(
        mode=mode,
        ops=tuple(state.ops),
        storages=state.storages.records(),
        saved=tuple(state.saved.items()),
        param_grads=tuple(grads),
        modules=tuple(mrecs),
        inputs=inputs,
        steady_optimizer=steady,
        input_requires_grad=tuple(bool(t.requires_grad) for _, t in named),
        input_grads=tuple(input_grads),
    )
    return trace


def _prepare(
    model: nn.Module,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    dtype: torch.dtype | None,
    trainable: Mapping[str, bool],
    real: bool,
    state: _State,
    train: bool = False,
    input_grad: bool = False,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], list[Any], dict[str, Any],
           list[tuple[torch.Tensor, bool]]]:
    """Parameters, buffers and inputs for the run (fake ones unless ``real``), registered.
    Floating inputs require a gradient when ``input_grad`` is true (all of them) or their
    InputSpec asks for it, in a training step (``train``) only."""
    st = state.storages
    params: dict[str, torch.Tensor] = {}
    restore: list[tuple[torch.Tensor, bool]] = []
    for n, p in model.named_parameters():
        if real:
            restore.append((p, p.requires_grad))
            p.requires_grad_(trainable[n])
            params[n] = p
        else:
            fp = nn.Parameter(_fake_like(p, _convert(p, dtype)), requires_grad=trainable[n])
            state.param_owner[id(fp)] = state.param_owner.get(id(p), "")
            params[n] = fp
        st.add(params[n], "parameter", "")
    buffers: dict[str, torch.Tensor] = {}
    for n, b in model.named_buffers():
        buffers[n] = b if real else _fake_like(b, _convert(b, dtype))
        st.add(buffers[n], "buffer", "")

    def make(x: Any) -> Any:
        grad = train and input_grad
        if isinstance(x, InputSpec):
            grad = train and (input_grad or x.requires_grad)
            d = torch_dtype(x.dtype)
            if dtype is not None and d.is_floating_point:
                d = dtype
            if real:
                t = torch.randn(x.shape, dtype=d) if d.is_floating_point else torch.zeros(
                    x.shape, dtype=d)
            else:
                t = torch.empty(x.shape, dtype=d, device="cpu")
        elif isinstance(x, torch.Tensor):
            d = _convert(x, dtype)
            if real:
                t = x.detach().to(dtype=d)
            else:
                t = _fake_like(x, d)
        else:
            return x
        if grad and t.is_floating_point():
            t.requires_grad_(True)
        st.add(t, "input", "")
        return t

    pos = [make(a) for a in args]
    kw = {k: make(v) for k, v in kwargs.items()}
    return params, buffers, pos, kw, restore


def _step(
    model: nn.Module,
    args: list[Any],
    kwargs: dict[str, Any],
    state: _State,
    train: bool,
    amp: torch.dtype | None,
    opt: torch.optim.Optimizer | None,
) -> None:
    """Forward (+ loss, backward, optimizer step when training). Locals are deleted as soon
    as a training loop would drop them, so storages die when they would for real."""
    state.phase = "forward"
    state.claim = train
    autocast = (torch.autocast(device_type="cpu", dtype=amp) if amp is not None
                else contextlib.nullcontext())
    if not train:
        with torch.no_grad(), autocast:
            out = model(*args, **kwargs)
        del out
        return
    hooks = torch.autograd.graph.saved_tensors_hooks(state.pack, lambda x: x)
    with torch.enable_grad(), hooks:
        with autocast:
            out = model(*args, **kwargs)
        state.phase = "loss"
        state.claim = False
        loss = _loss_of(out)
        del out
    if loss is None or not loss.requires_grad:
        return
    state.tag_nodes([loss.grad_fn], set(), LOSS_TAG)
    seed = torch.ones_like(loss)
    state.phase = "backward"
    torch.autograd.backward(loss, seed)
    del loss, seed
    if opt is not None:
        state.phase = "optimizer"
        opt.step()
