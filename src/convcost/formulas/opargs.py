"""Reading an :class:`~convcost.ops.OpCall`'s arguments: shapes, element counts, flags.

Shared by the per-op formula modules; pure Python, no torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..ops import OpCall, TensorMeta


def numel(shape: Iterable[int]) -> int:
    """Product of ``shape`` (1 for a scalar)."""
    n = 1
    for s in shape:
        n *= s
    return n


def tensor(call: OpCall, key: str) -> TensorMeta | None:
    """Argument ``key`` when it is a tensor, else ``None`` (absent, ``None`` or not a tensor)."""
    v = call.arg(key)
    return v if isinstance(v, TensorMeta) else None


def need_tensor(call: OpCall, key: str) -> TensorMeta:
    """Argument ``key``, which must be a tensor."""
    t = tensor(call, key)
    if t is None:
        raise ValueError(f"{call.name}: argument {key!r} is not a tensor")
    return t


def tensor_list(call: OpCall, key: str) -> tuple[TensorMeta, ...]:
    """Argument ``key`` as a tuple of tensors (``None`` entries dropped)."""
    v = call.arg(key)
    if isinstance(v, TensorMeta):
        return (v,)
    if isinstance(v, (tuple, list)):
        return tuple(t for t in v if isinstance(t, TensorMeta))
    return ()


def output(call: OpCall, i: int = 0) -> TensorMeta | None:
    """Result ``i`` when it is a tensor."""
    if i < len(call.outputs):
        return call.outputs[i]
    return None


def broadcast(shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    """NumPy/PyTorch broadcast of ``shapes``."""
    nd = max((len(s) for s in shapes), default=0)
    out = [1] * nd
    for s in shapes:
        for j, d in enumerate(s):
            k = nd - len(s) + j
            if d != 1:
                out[k] = d
    return tuple(out)


def elements(call: OpCall) -> int:
    """Elements an elementwise op produces.

    A ``_foreach_*`` op (its argument ``self`` a tensor list) produces the elements of every
    tensor of that list. Otherwise the first result's elements, or, when the tracer gave no
    result (an in-place op returning nothing), the broadcast of every tensor argument.
    """
    first = call.arg("self")
    if isinstance(first, (tuple, list)) and any(isinstance(t, TensorMeta) for t in first):
        return sum(t.numel for t in first if isinstance(t, TensorMeta))
    out = output(call)
    if out is not None:
        return out.numel
    shapes = [t.shape for t in _all_tensors(call)]
    return numel(broadcast(shapes)) if shapes else 0


def _all_tensors(call: OpCall) -> list[TensorMeta]:
    found: list[TensorMeta] = []
    for v in call.values():
        if isinstance(v, TensorMeta):
            found.append(v)
        elif isinstance(v, (tuple, list)):
            found.extend(t for t in v if isinstance(t, TensorMeta))
    return found


def is_one(v: Any) -> bool:
    """Whether a scalar factor (``alpha``, ``value``, ``beta``) is absent or exactly 1.

    A tensor or list of factors counts as "not 1" unless every entry is 1.
    """
    if v is None:
        return True
    if isinstance(v, (tuple, list)):
        return all(is_one(x) for x in v)
    if isinstance(v, TensorMeta):
        return False
    return bool(v == 1)


def is_zero(v: Any) -> bool:
    """Whether a scalar is exactly 0 (tensors and lists are not)."""
    return not isinstance(v, (TensorMeta, tuple, list)) and v is not None and bool(v == 0)


def ints(v: Any, n: int, default: int) -> tuple[int, ...]:
    """An int-list argument expanded to ``n`` values (PyTorch's 1-value shorthand)."""
    if v is None or (isinstance(v, (tuple, list)) and len(v) == 0):
        return (default,) * n
    if isinstance(v, int):
        return (v,) * n
    vals = tuple(int(x) for x in v)
    if len(vals) == 1:
        return vals * n
    return vals[-n:] if len(vals) > n else vals


def mask(v: Any, n: int) -> tuple[bool, ...]:
    """An ``output_mask`` argument as ``n`` booleans (absent: all True)."""
    if v is None:
        return (True,) * n
    vals = tuple(bool(x) for x in v)
    return vals + (True,) * (n - len(vals))


def reduced_rows(shape: tuple[int, ...], dims: Any) -> tuple[int, int]:
    """``(rows, length)`` of a reduction of ``shape`` over ``dims`` (None or []: all)."""
    nd = len(shape)
    if dims is None or (isinstance(dims, (tuple, list)) and len(dims) == 0):
        return 1, numel(shape)
    ds = (dims,) if isinstance(dims, int) else tuple(dims)
    norm = {d % nd if nd else 0 for d in ds}
    length = numel(shape[d] for d in norm) if nd else 1
    return numel(shape) // length if length else 0, length
