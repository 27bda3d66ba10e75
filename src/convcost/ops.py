"""Op records (no torch here): one call of an op, its named arguments, and its cost.

A front end (the PyTorch tracer, the ONNX front end) turns every op it sees into an
:class:`OpCall` — the op's name, its arguments with tensors replaced by :class:`TensorMeta`,
and its outputs — and a formula (a pure function ``(OpCall, counting) -> OpCost``, see
:data:`Formula`) found in a :class:`~convcost.formulas.registry.FormulaRegistry` counts it.

Arguments are *named*: a front end that knows the op's schema builds the call with
:func:`bind`, which names every argument after the schema and fills in the schema's
defaults, so a formula reads ``call["weight"]`` or ``call.arg("stride", 1)`` whatever
positions or keywords the caller used.

Op names are what the tracer records: ``name.overload`` for PyTorch's ``aten`` ops
(``"convolution.default"``, ``"add.Tensor"``) and ``namespace::name.overload`` for every
other namespace (``"mylib::myop.default"`` for a ``torch.library`` custom op
``mylib::myop``). A name without its overload (``"add"``, ``"mylib::myop"``) is the *bare*
name; a formula registered for it covers every overload.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .cost import Cost


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
class Param:
    """One parameter of an op's schema: its name, whether it is keyword-only, and its
    default (``has_default`` tells a default of ``None`` from no default)."""

    name: str
    kw_only: bool = False
    has_default: bool = False
    default: Any = None


@dataclass(frozen=True)
class OpCall:
    """One call of an op, with data replaced by metadata.

    Values are :class:`TensorMeta` where the op got a tensor, tuples of them for tensor
    lists, and plain Python values (ints, floats, bools, strings, None, tuples) otherwise.

    * ``args`` — the positional arguments, in the schema's order; ``names`` names them (a
      call built by :func:`bind` names every one; a call built without a schema may leave
      ``names`` empty, and formulas, which read names, then see no positional argument).
    * ``kwargs`` — the keyword-only arguments as ``(name, value)`` pairs.
    * ``outputs`` — the flat tuple of result tensors (``None`` for a result that is not a
      tensor, e.g. an undefined gradient).

    Read an argument by name: ``call["weight"]`` (``KeyError`` naming the op when absent),
    ``call.arg("alpha", 1)`` (a default when absent), ``"bias" in call``; all of them with
    :meth:`named`, every value with :meth:`values`.
    """

    name: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    outputs: tuple[TensorMeta | None, ...] = ()
    names: tuple[str, ...] = ()

    def _find(self, key: str) -> tuple[bool, Any]:
        for i, n in enumerate(self.names):
            if n == key:
                return i < len(self.args), self.args[i] if i < len(self.args) else None
        for k, v in self.kwargs:
            if k == key:
                return True, v
        return False, None

    def arg(self, key: str, default: Any = None) -> Any:
        """The argument named ``key`` (positional or keyword), else ``default``.

        An argument that was given (or defaulted by the schema) as ``None`` is ``None``.
        """
        found, value = self._find(key)
        return value if found else default

    def __getitem__(self, key: str) -> Any:
        found, value = self._find(key)
        if not found:
            raise KeyError(f"{self.name}: no argument {key!r}")
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._find(key)[0]

    def named(self) -> tuple[tuple[str, Any], ...]:
        """Every named argument as ``(name, value)``: positional ones first, then keywords."""
        return tuple(zip(self.names, self.args)) + self.kwargs

    def values(self) -> tuple[Any, ...]:
        """Every argument value: positional ones first, then keywords."""
        return self.args + tuple(v for _, v in self.kwargs)


def bind(
    name: str,
    signature: Sequence[Param],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    outputs: tuple[TensorMeta | None, ...] = (),
) -> OpCall:
    """The :class:`OpCall` of op ``name`` called with ``args``/``kwargs``, normalised by its
    schema ``signature``.

    Positional parameters are filled in order (from ``args``, else from a keyword of that
    name, else from the schema's default) as long as each has a value; keyword-only
    parameters get their keyword or their default. Keywords the schema does not know are
    kept; positional values beyond the schema are named ``arg<i>``. Values are taken as
    given (a front end converts tensors to :class:`TensorMeta` first).
    """
    given = dict(kwargs)
    positional = [p for p in signature if not p.kw_only]
    values = list(args)
    for p in positional[len(values):]:
        if p.name in given:
            values.append(given.pop(p.name))
        elif p.has_default:
            values.append(p.default)
        else:
            break
    names = tuple(p.name for p in positional[: len(values)])
    names += tuple(f"arg{i}" for i in range(len(names), len(values)))
    named: list[tuple[str, Any]] = []
    for p in signature:
        if p.name in given:
            named.append((p.name, given.pop(p.name)))
        elif p.kw_only and p.has_default:
            named.append((p.name, p.default))
    named.extend(given.items())
    return OpCall(name, tuple(values), tuple(named), outputs, names)


@dataclass(frozen=True)
class OpCost:
    """Cost of one op call.

    ``cost`` is the whole op. ``parts`` optionally splits it by what it computes, with keys
    ``grad_input``, ``grad_weight``, ``grad_bias`` (backward ops that compute several
    gradients, like ``convolution_backward``); the parts add up to ``cost``.
    """

    cost: Cost
    parts: tuple[tuple[str, Cost], ...] = field(default=())


#: A per-op formula: ``formula(call, counting) -> OpCost``. ``counting`` is ``"dense"`` or
#: ``"skip-padding"`` (see :mod:`convcost.cost` and the README's counting conventions); the
#: counts are exact integers.
Formula = Callable[[OpCall, str], OpCost]
