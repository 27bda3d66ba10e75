"""Ops without a formula run again through their PyTorch decomposition (:func:`decompose`),
for counting only: the ops it runs are recorded in
:attr:`~convcost.frontends.records.OpRecord.decomposed`; nothing is tracked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ...ops import OpCall
from .meta import op_call, op_name

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
            sub = decompose(func, args, kwargs, self.needs_formula, self.depth + 1)
            if sub is not None:
                self.calls.extend(sub[0])
                return sub[1]
        out = func(*args, **kwargs)
        self.calls.append(op_call(func, args, kwargs, out))
        return out


def decompose(
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
