"""The optimizer of a training step and its later, steady steps.

``optimizer.step()`` runs a real ``torch.optim`` optimizer built on the fake trainable
parameters (:func:`make_optimizer`; ``foreach=False``, PyTorch's default for CPU tensors,
unless asked), and a second ``step()`` is recorded apart (:func:`steady_step`,
``Trace.steady_optimizer``, for counting only): the ops of every later step, in which the
optimizer state exists (SGD's momentum buffers are updated, not created).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ..records import OpRecord
from .decompose import decompose
from .meta import op_call, op_name


def make_optimizer(name: str, params: list[torch.Tensor], foreach: bool = False,
                   fused: bool = False) -> torch.optim.Optimizer:
    """The ``torch.optim`` optimizer ``name`` (``sgd``, ``momentum``, ``adam``, ``adamw``)
    on ``params``: per-parameter (for-loop) steps, multi-tensor ones with ``foreach``, or
    one fused kernel per step with ``fused`` (``_fused_adamw_``, ``_fused_sgd_``; its state's
    ``step`` is a tensor on the parameters' device)."""
    kernels: dict[str, Any] = {"fused": True} if fused else {"foreach": foreach}
    if name == "sgd":
        return torch.optim.SGD(params, lr=0.01, **kernels)
    if name == "momentum":
        return torch.optim.SGD(params, lr=0.01, momentum=0.9, **kernels)
    if name == "adam":
        return torch.optim.Adam(params, lr=1e-3, **kernels)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=1e-3, **kernels)
    raise ValueError(name)


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
            sub = decompose(func, args, kwargs, self.needs_formula, 1)
            decomposed = None if sub is None else sub[0]
        out = func(*args, **kwargs)
        self.ops.append(OpRecord(op_call(func, args, kwargs, out), "optimizer", "", (), (),
                                 decomposed))
        return out


#: Record a later optimizer step once per distinct parameter (see :func:`steady_step`);
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


def steady_step(opt: torch.optim.Optimizer,
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
