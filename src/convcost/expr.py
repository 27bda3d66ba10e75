"""A tiny integer expression tree: the single source of every number and its explanation.

Formulas build :class:`Expr` trees out of named quantities (:class:`Var`) and integers;
the reported number is ``expr.value`` and the explanation renders the same tree
symbolically (``render(..., numeric=False)``) and with numbers substituted
(``numeric=True``). Because both come from one tree they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Style = Literal["plain", "latex"]

# Binding strength, used to decide where parentheses are needed.
_ATOM, _PROD, _SUM = 3, 2, 1


class Expr:
    """Base class: an integer-valued expression that can render itself."""

    prec: int = _ATOM

    @property
    def value(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def render(self, style: Style = "plain", numeric: bool = False) -> str:  # pragma: no cover
        raise NotImplementedError

    def _wrapped(self, style: Style, numeric: bool, at_least: int) -> str:
        text = self.render(style, numeric)
        if self.prec < at_least:
            return rf"\left({text}\right)" if style == "latex" else f"({text})"
        return text


@dataclass(frozen=True)
class Num(Expr):
    """An integer literal that is part of the formula itself (the 2 in ``2·p``)."""

    n: int

    @property
    def value(self) -> int:
        return self.n

    def render(self, style: Style = "plain", numeric: bool = False) -> str:
        return _fmt(self.n, style)


@dataclass(frozen=True)
class Var(Expr):
    """A named quantity of the layer: ``plain``/``latex`` are its symbol, ``n`` its value."""

    plain: str
    latex: str
    n: int

    @property
    def value(self) -> int:
        return self.n

    def render(self, style: Style = "plain", numeric: bool = False) -> str:
        if numeric:
            return _fmt(self.n, style)
        return self.latex if style == "latex" else self.plain


@dataclass(frozen=True)
class Sum(Expr):
    """``t0 ± t1 ± …``; each item is ``(sign, expr)`` with sign +1 or -1."""

    items: tuple[tuple[int, Expr], ...]
    prec = _SUM

    @property
    def value(self) -> int:
        return sum(sign * e.value for sign, e in self.items)

    def render(self, style: Style = "plain", numeric: bool = False) -> str:
        minus = "-" if style == "latex" else "−"
        out = ""
        for i, (sign, e) in enumerate(self.items):
            text = e._wrapped(style, numeric, _SUM + (1 if sign < 0 else 0))
            if i == 0:
                out = text if sign > 0 else f"{minus}{text}"
            else:
                out += f" {'+' if sign > 0 else minus} {text}"
        return out


@dataclass(frozen=True)
class Prod(Expr):
    """``f0 · f1 · …``."""

    factors: tuple[Expr, ...]
    prec = _PROD

    @property
    def value(self) -> int:
        v = 1
        for f in self.factors:
            v *= f.value
        return v

    def render(self, style: Style = "plain", numeric: bool = False) -> str:
        sep = r" \cdot " if style == "latex" else "·"
        return sep.join(f._wrapped(style, numeric, _ATOM) for f in self.factors)


@dataclass(frozen=True)
class Div(Expr):
    """Exact integer division ``a / b`` (used for ``c_i / g``); ``b`` must divide ``a``."""

    a: Expr
    b: Expr
    prec = _ATOM

    @property
    def value(self) -> int:
        q, r = divmod(self.a.value, self.b.value)
        if r:
            raise ArithmeticError(f"{self.a.value} is not divisible by {self.b.value}")
        return q

    def render(self, style: Style = "plain", numeric: bool = False) -> str:
        a = self.a._wrapped(style, numeric, _ATOM)
        b = self.b._wrapped(style, numeric, _ATOM)
        return rf"({a}/{b})" if style == "plain" else rf"\left({a}/{b}\right)"


@dataclass(frozen=True)
class FloorDiv(Expr):
    """``⌊a / b⌋``."""

    a: Expr
    b: Expr
    prec = _ATOM

    @property
    def value(self) -> int:
        return self.a.value // self.b.value

    def render(self, style: Style = "plain", numeric: bool = False) -> str:
        a = self.a.render(style, numeric)
        b = self.b._wrapped(style, numeric, _ATOM)
        if style == "latex":
            return rf"\left\lfloor \frac{{{a}}}{{{b}}} \right\rfloor"
        return f"⌊({a})/{b}⌋"


def _fmt(n: int, style: Style) -> str:
    if style == "latex":
        return f"{n:,}".replace(",", "{,}")
    return f"{n:,}"


def add(*items: Expr | int) -> Sum:
    """``a + b + …`` (ints become :class:`Num`)."""
    return Sum(tuple((1, _e(i)) for i in items))


def sub(a: Expr | int, *bs: Expr | int) -> Sum:
    """``a − b − …``."""
    return Sum(((1, _e(a)), *((-1, _e(b)) for b in bs)))


def mul(*factors: Expr | int) -> Prod:
    """``a · b · …``."""
    return Prod(tuple(_e(f) for f in factors))


def _e(x: Expr | int) -> Expr:
    return x if isinstance(x, Expr) else Num(x)


@dataclass(frozen=True)
class Term:
    """A named result of a formula: ``symbol = expr = value``.

    ``key`` is a stable identifier (``"forward.adds"``) that the explanation uses to look up
    the sentence describing this term in each language.
    """

    key: str
    plain: str
    latex: str
    expr: Expr

    @property
    def value(self) -> int:
        return self.expr.value

    def var(self) -> Var:
        """This term as a named quantity, to be used inside later formulas."""
        return Var(self.plain, self.latex, self.value)
