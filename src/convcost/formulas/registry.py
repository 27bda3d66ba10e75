"""The formula registry: which formula counts which op, and which ops are free.

A :class:`FormulaRegistry` maps op names to formulas (``(OpCall, counting) -> OpCost``, see
:data:`convcost.ops.Formula`) and holds the explicit zero-cost set (views, metadata
queries...: ops that compute nothing and move no data), each entry with its reason.
Nothing here is global: every formula module declares its formulas on its own
``FORMULAS = FormulaRegistry()``, and :func:`convcost.formulas.catalog.default_registry`
merges them into the full registry when it is first asked for. Importing a module changes
no shared state.

Names (see :mod:`convcost.ops`): ``"add.Tensor"`` (one overload) or ``"add"`` (every
overload) for aten ops, ``"mylib::myop.default"`` or ``"mylib::myop"`` for other
namespaces. An ``aten::`` prefix is accepted and dropped; torch's dotted spelling of a
namespaced overload (``"mylib.myop.default"``, as ``str(torch.ops.mylib.myop.default)``
prints it) is accepted and read as ``"mylib::myop.default"``. :meth:`FormulaRegistry.lookup`
tries the exact ``name.overload`` first, then the bare name.

Registering without ``replace=True`` refuses every spelling of an op already counted: the
overload ``"add.Tensor"`` of a bare ``"add"`` that has a formula (it would win over the
built-in for that overload), and a bare name whose overloads have entries. Every formula's
result goes through :func:`check_op_cost` when it is used: negative or non-integer counts
are an error naming the op, not a silently wrong total.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from ..cost import Cost
from ..errors import SpecError
from ..ops import Formula, OpCall, OpCost

F = TypeVar("F", bound=Formula)

NAME_HELP = ("an op name such as 'add.Tensor', 'add', 'mylib::myop.default' or "
             "'mylib::myop'")


def canonical_op_name(name: object) -> str:
    """``name`` in the form the tracer records (see the module doc).

    Raises :class:`~convcost.errors.SpecError` (field ``names``) for a name that is not a
    non-empty string of that form.
    """
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        raise SpecError("names", name, NAME_HELP)
    if name.startswith("aten::"):
        name = name[len("aten::"):]
    elif name.startswith("aten.") and name.count(".") == 1:  # torch's packet: aten.add
        name = name[len("aten."):]
    elif "::" not in name and name.count(".") == 2:
        ns, rest = name.split(".", 1)
        name = rest if ns == "aten" else f"{ns}::{rest}"
    ns, sep, rest = name.rpartition("::")
    if (sep and (not ns or "::" in ns or "." in ns)) or not rest or rest.count(".") > 1 \
            or rest.startswith(".") or rest.endswith("."):
        raise SpecError("names", name, NAME_HELP)
    return name


def bare_name(name: str) -> str:
    """``"add.Tensor"`` -> ``"add"``; ``"mylib::myop.default"`` -> ``"mylib::myop"``."""
    return name.split(".", 1)[0]


def _names(names: object) -> list[object]:
    """``names`` (one name or an iterable of them) as a list; anything else (a number...) is
    a SpecError naming ``names``."""
    if isinstance(names, str):
        return [names]
    if isinstance(names, (bytes, Mapping)) or not isinstance(names, Iterable):
        raise SpecError("names", names, NAME_HELP + ", or a list of them")
    return list(names)


#: The counts of a :class:`~convcost.cost.Cost`, checked on every formula's result.
_COUNTS = ("mults", "adds", "macs", "other")


def check_op_cost(name: str, result: object) -> OpCost:
    """``result`` of the formula of op ``name``, checked: an :class:`~convcost.ops.OpCost`
    whose cost and parts hold non-negative whole numbers (Python ``int``; no float, bool or
    negative count). Anything else is a :class:`~convcost.errors.SpecError` naming the op
    (field ``formula``): a formula that returns ``-1`` or ``2.5`` products would give a
    silently wrong total."""
    if not isinstance(result, OpCost):
        raise SpecError("formula", name, f"the formula of this op returned "
                        f"{type(result).__name__}, not OpCost")
    for part, cost in (("cost", result.cost), *result.parts):
        if not isinstance(cost, Cost):
            raise SpecError("formula", name, f"the formula of this op returned an OpCost "
                            f"whose {part} is {type(cost).__name__}, not Cost")
        for count in _COUNTS:
            v = getattr(cost, count)
            if type(v) is not int or v < 0:
                raise SpecError("formula", name, f"the formula of this op returned "
                                f"{count}={v!r} in its {part}: counts are whole numbers "
                                "(int) >= 0")
    return result


def _zero(call: OpCall, counting: str) -> OpCost:
    """forward: 0 (a zero-cost op); backward: none."""
    return OpCost(Cost())


class FormulaRegistry:
    """Formulas by op name, and the zero-cost set.

    * :meth:`register` (decorator) / :meth:`add` — the formula of one or more ops;
      registering any spelling of an op that already has a formula or is zero-cost
      (``add``, ``add.Tensor``, ``aten::add.Tensor`` when ``add`` has one) raises
      :class:`~convcost.errors.SpecError` unless ``replace=True``.
    * :meth:`zero_cost` — declare ops free, with the reason.
    * :meth:`lookup` — the formula for a recorded name (exact, then bare), or ``None``.
    * :meth:`copy`, :meth:`include`, :meth:`with_overrides` — derive registries.
    * :meth:`registered_ops`, :meth:`zero_cost_ops`, :meth:`zero_cost_reason` — introspection.
    """

    def __init__(self) -> None:
        self._formulas: dict[str, Formula] = {}
        self._zero: dict[str, str] = {}

    # ------------------------------------------------------------------ building
    def register(self, *names: str, replace: bool = False) -> Callable[[F], F]:
        """Decorator: ``fn`` is the formula of every op in ``names`` (see :meth:`add`)."""

        def deco(fn: F) -> F:
            self.add(names, fn, replace=replace)
            return fn

        return deco

    def add(self, names: str | Iterable[str], formula: Formula, *,
            replace: bool = False) -> None:
        """Make ``formula`` the formula of every op in ``names`` (one name or several).

        A name that already has a formula, or is zero-cost, is an error unless ``replace``;
        replacing a bare name also drops the entries of its overloads, so the new formula
        covers every overload.
        """
        if not callable(formula):
            raise SpecError("formula", formula, "a function (call: OpCall, counting: str) "
                            "-> OpCost")
        keys = [canonical_op_name(n) for n in _names(names)]
        if not keys:
            raise SpecError("names", names, "at least one " + NAME_HELP)
        self._claim_all(keys, replace)
        for key in keys:
            self._formulas[key] = formula

    def zero_cost(self, reason: str, *names: str, replace: bool = False) -> None:
        """Declare ``names`` free (no arithmetic, no data moved) because ``reason``."""
        if not reason:
            raise SpecError("reason", reason, "say why the ops are free")
        keys = [canonical_op_name(n) for n in _names(names)]
        self._claim_all(keys, replace)
        for key in keys:
            self._zero[key] = reason

    def _claim_all(self, keys: list[str], replace: bool) -> None:
        """Check (or, with ``replace``, free) every key before anything is stored."""
        for i, key in enumerate(keys):
            if key in keys[:i]:
                raise SpecError("names", key, "registered once: the name is given twice")
            self._claim(key, replace)

    def _claim(self, key: str, replace: bool) -> None:
        if not replace:
            taken = self._taken(key)
            if taken is not None:
                raise SpecError("names", key, f"registered once: {taken} (pass replace=True "
                                "to replace it)")
            return
        shadowed = [key] if "." in key else [
            k for k in (*self._formulas, *self._zero) if k == key or bare_name(k) == key]
        for k in shadowed:
            self._formulas.pop(k, None)
            self._zero.pop(k, None)

    def _taken(self, key: str) -> str | None:
        """Why ``key`` cannot be registered without ``replace`` (None: it is free). Every
        spelling of an op that is counted already is taken: the name itself, an overload
        of a bare name that has an entry (``add.Tensor`` when ``add`` has a formula: it
        would silently win over it), and a bare name some of whose overloads have one."""
        def what(k: str) -> str:
            return "is zero-cost" if k in self._zero else "has a formula"

        if key in self._formulas or key in self._zero:
            return f"this op {what(key)} already"
        bare = bare_name(key)
        if bare != key and (bare in self._formulas or bare in self._zero):
            return f"every overload of {bare!r} is counted already ({bare!r} {what(bare)})"
        if bare == key:
            for k in (*self._formulas, *self._zero):
                if bare_name(k) == key:
                    return f"its overload {k!r} {what(k)} already"
        return None

    def include(self, other: FormulaRegistry, *, replace: bool = False) -> None:
        """Add every entry of ``other`` (an op in both is an error unless ``replace``)."""
        for key, fn in other._formulas.items():
            self.add(key, fn, replace=replace)
        for key, reason in other._zero.items():
            self.zero_cost(reason, key, replace=replace)

    def copy(self) -> FormulaRegistry:
        """An independent registry with the same entries."""
        new = FormulaRegistry()
        new._formulas = dict(self._formulas)
        new._zero = dict(self._zero)
        return new

    def with_overrides(self, formulas: Mapping[str, Formula] | FormulaRegistry) -> \
            FormulaRegistry:
        """A copy in which ``formulas`` (op name -> formula, or another registry) win.

        An override for a bare name covers every overload, including overloads this
        registry has its own entry for; an override for ``name.overload`` covers that
        overload only. ``self`` is not changed. Raises
        :class:`~convcost.errors.SpecError` naming ``formulas`` for a bad mapping.
        """
        new = self.copy()
        if isinstance(formulas, FormulaRegistry):
            new.include(formulas, replace=True)
            return new
        if not isinstance(formulas, Mapping):
            raise SpecError("formulas", formulas, "a mapping of op name to formula "
                            "(call: OpCall, counting: str) -> OpCost")
        for name, fn in formulas.items():
            try:
                key = canonical_op_name(name)
            except SpecError:
                raise SpecError("formulas", name, "keys must be " + NAME_HELP) from None
            if not callable(fn):
                raise SpecError("formulas", fn, f"the value for {key!r} must be a function "
                                "(call: OpCall, counting: str) -> OpCost")
            new.add(key, fn, replace=True)
        return new

    # ------------------------------------------------------------------ reading
    def _entry(self, name: str) -> tuple[Formula | None, str | None]:
        if name.startswith("aten::"):
            name = name[len("aten::"):]
        for key in (name, bare_name(name)):
            fn = self._formulas.get(key)
            if fn is not None:
                return fn, None
            reason = self._zero.get(key)
            if reason is not None:
                return _zero, reason
        return None, None

    def lookup(self, name: str) -> Formula | None:
        """The formula for op ``name`` (exact ``name.overload`` first, then the bare name),
        or ``None`` when the op has none. A zero-cost op gets a formula that returns 0."""
        return self._entry(name)[0]

    def zero_cost_reason(self, name: str) -> str | None:
        """Why op ``name`` is free, or ``None`` when it is not in the zero-cost set (it has
        a formula of its own, or none)."""
        return self._entry(name)[1]

    def is_zero_cost(self, name: str) -> bool:
        """Whether op ``name`` resolves to the zero-cost set."""
        return self._entry(name)[1] is not None

    def missing(self, name: str) -> bool:
        """Whether op ``name`` has neither a formula nor a zero-cost entry."""
        return self._entry(name)[0] is None

    def registered_ops(self) -> dict[str, Formula]:
        """Every registered formula by name (a copy; zero-cost ops not included)."""
        return dict(self._formulas)

    def zero_cost_ops(self) -> dict[str, str]:
        """The zero-cost set: name -> reason (a copy)."""
        return dict(self._zero)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and not self.missing(name)

    def __len__(self) -> int:
        return len(self._formulas) + len(self._zero)

    def __repr__(self) -> str:
        return f"FormulaRegistry({len(self._formulas)} formulas, {len(self._zero)} zero-cost)"
