"""A training-step memory oracle that shares nothing with convcost (test helper).

A plain PyTorch training-loop body — ``out = model(x)``, the loss, ``loss.backward()``, the
optimizer step — runs for real on the CPU while a dispatch mode follows the bytes of every
live tensor storage: a storage is counted from the op that first returns it until a weak
reference says it was freed; the peak is taken after every op. Parameters, buffers and the
inputs are live from the start. Nothing of convcost's tracer (hooks, storage records,
lifetimes) is used.
"""

from __future__ import annotations

import functools
import operator
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class LiveBytes(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Bytes of the live tensor storages, and their peak after every op."""

    def __init__(self, existing: Sequence[torch.Tensor]) -> None:
        super().__init__()
        self.sizes: dict[int, int] = {}  # data pointer -> bytes
        self._refs: list[weakref.ref[Any]] = []
        self.live = 0
        for t in existing:
            self._add(t.untyped_storage())
        self.peak = self.live

    def _add(self, st: Any) -> None:
        ptr = int(st.data_ptr())
        if ptr == 0 or ptr in self.sizes:  # no data, or a storage already followed
            return
        self.sizes[ptr] = int(st.nbytes())
        self.live += self.sizes[ptr]
        self._refs.append(weakref.ref(st, functools.partial(self._freed, ptr)))

    def _freed(self, ptr: int, _ref: object) -> None:
        self.live -= self.sizes.pop(ptr, 0)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (),
                           kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self._add(t.untyped_storage())
        self.peak = max(self.peak, self.live)
        return out


def training_step_peak(model: torch.nn.Module, x: torch.Tensor,
                       optimizer: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]
                       | None = None, hold_output: bool = True) -> int:
    """Peak live tensor bytes of one real training step of ``model`` on ``x``: gradients start
    as ``None``; the loss is the sum of ``.sum()`` of every floating output tensor; ``out``
    and ``loss`` are held until the step ends, as the variables of a training loop hold
    them (``hold_output`` false: only ``loss``, as ``loss = f(model(x))``)."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.grad = None
    opt = None if optimizer is None else optimizer(params)
    model.train()
    meter = LiveBytes([*model.parameters(), *model.buffers(), x])
    with meter:
        out = model(x)
        sums = [t.sum() for t in tree_leaves(out)
                if isinstance(t, torch.Tensor) and t.is_floating_point()]
        loss = functools.reduce(operator.add, sums)
        del sums
        if not hold_output:
            del out
            out = None
        loss.backward()
        if opt is not None:
            opt.step()
        del out, loss
    for p in params:
        p.grad = None
    return meter.peak
