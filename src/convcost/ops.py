"""Op records and the one registry of per-op formulas (no torch here).

The trace front ends (PyTorch, later ONNX) turn every op they see into an :class:`OpCall`
— the op's name, its arguments with tensors replaced by :class:`TensorMeta`, and its
outputs — and ask :func:`lookup` for the formula. A formula is a pure function
``(OpCall, counting) -> OpCost``.

Op names are PyTorch's ``namespace::name.overload`` without the namespace, e.g.
``"convolution.default"``, ``"addmm.default"``, ``"add.Tensor"``. A formula may be
registered for a bare name (``"convolution"``), which then covers every overload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .cost import Cost
from .dtypes import ELEMENT_BYTES


@dataclass(frozen=True)
class TensorMeta:
    """Shape and dtype of one tensor argument or result (no data)."""

    shape: tuple[int, ...]
    dtype: str

    @property
    def numel(self) -> int:
        """Number of elements."""
        n = 1
        for s in self.shape:
            n *= s
        return n


@dataclass(frozen=True)
class OpCall:
    """One call of an op, with data replaced by metadata.

    ``args``/``kwargs`` hold :class:`TensorMeta` where the op got a tensor, tuples of them for
    tensor lists, and plain Python values (ints, floats, bools, None, tuples) otherwise.
    ``outputs`` is the flat tuple of result tensors (``None`` for a result that is not a
    tensor, e.g. an undefined gradient).
    """

    name: str
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...] = ()
    outputs: tuple[TensorMeta | None, ...] = ()

    def kwarg(self, key: str, default: Any = None) -> Any:
        """Value of keyword argument ``key`` (or ``default``)."""
        for k, v in self.kwargs:
            if k == key:
                return v
        return default

    def arg(self, i: int, key: str, default: Any = None) -> Any:
        """Positional argument ``i``, else keyword ``key``, else ``default``."""
        if i < len(self.args):
            return self.args[i]
        return self.kwarg(key, default)


@dataclass(frozen=True)
class OpCost:
    """Cost of one op call.

    ``cost`` is the whole op. ``parts`` optionally splits it by what it computes, with keys
    ``grad_input``, ``grad_weight``, ``grad_bias`` (backward ops that compute several
    gradients, like ``convolution_backward``); the parts add up to ``cost``.
    """

    cost: Cost
    parts: tuple[tuple[str, Cost], ...] = field(default=())


Formula = Callable[[OpCall, str], OpCost]

_REGISTRY: dict[str, Formula] = {}

#: Ops that compute nothing and move no data a kernel would count: views, reshapes,
#: metadata queries, aliasing. Each entry says why it is free.
ZERO_COST: dict[str, str] = {}


def register(*names: str) -> Callable[[Formula], Formula]:
    """Decorator: register ``fn`` as the formula of every op in ``names``.

    Registering a name twice (or a name that is in :data:`ZERO_COST`) is an error.
    """

    def deco(fn: Formula) -> Formula:
        for n in names:
            if n in _REGISTRY or n in ZERO_COST:
                raise KeyError(f"op {n!r} is registered twice")
            _REGISTRY[n] = fn
        return fn

    return deco


def zero_cost(reason: str, *names: str) -> None:
    """Declare ``names`` free (no arithmetic, no counted data movement) because ``reason``."""
    for n in names:
        if n in _REGISTRY or n in ZERO_COST:
            raise KeyError(f"op {n!r} is registered twice")
        ZERO_COST[n] = reason


def lookup(name: str) -> Formula | None:
    """The formula for op ``name`` (``"name.overload"`` or bare ``"name"``), or ``None``.

    Zero-cost ops return a formula that yields zero.
    """
    base = name.split(".", 1)[0]
    for key in (name, base):
        if key in _REGISTRY:
            return _REGISTRY[key]
        if key in ZERO_COST:
            return _zero
    return None


def _zero(call: OpCall, counting: str) -> OpCost:
    return OpCost(Cost())


#: Ops that read only part of a tensor argument: ``(argument index, reason)``. Their bytes
#: read for that argument are the output's size instead of the whole argument (an
#: embedding lookup reads the rows it gathers, not the whole table).
PARTIAL_READS: dict[str, tuple[int, str]] = {
    "embedding": (0, "reads only the gathered rows of the table"),
    "index_select": (0, "reads only the selected slices"),
}


#: Ops that use only the shape and dtype of their tensor arguments (they read no data).
SHAPE_ONLY: frozenset[str] = frozenset({
    "zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like",
    "randint_like", "new_zeros", "new_ones", "new_empty", "new_full", "new_empty_strided",
})


def nbytes(t: TensorMeta) -> int:
    """Bytes of ``t`` (dtype sizes from :data:`ELEMENT_BYTES`; unknown dtypes count 4)."""
    return t.numel * ELEMENT_BYTES.get(t.dtype, 4)


def traffic(call: OpCall) -> tuple[int, int]:
    """Bytes an op reads and writes: ``(read, written)``.

    Convention: every tensor argument is read once and every result written once (an
    in-place op reads and writes its target); zero-cost ops (views, metadata) move nothing.
    Ops in :data:`PARTIAL_READS` read only what they gather. No cache reuse between ops is
    assumed, which is the roofline's assumption too.
    """
    base = call.name.split(".", 1)[0]
    if call.name in ZERO_COST or base in ZERO_COST:
        return 0, 0
    written = sum(nbytes(o) for o in call.outputs if o is not None)
    if base in SHAPE_ONLY:
        return 0, written
    partial = PARTIAL_READS.get(base)
    read = 0
    items = list(call.args) + [v for _, v in call.kwargs]
    for i, a in enumerate(items):
        for t in _tensors(a):
            read += written if partial is not None and i == partial[0] else nbytes(t)
    return read, written


def _tensors(x: Any) -> list[TensorMeta]:
    if isinstance(x, TensorMeta):
        return [x]
    if isinstance(x, (tuple, list)):
        return [t for item in x for t in _tensors(item)]
    return []


def registered_ops() -> dict[str, Formula]:
    """A copy of the registry (for documentation and tests)."""
    return dict(_REGISTRY)
