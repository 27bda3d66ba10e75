"""A tiny integer expression tree: the single source of every number and its explanation.

Formulas build :class:`Expr` trees out of named quantities (:class:`Var`) and integers;
the reported number is ``expr.value`` and the explanation renders the same tree
symbolically (``render(..., numeric=False)``) and with numbers substituted
(``numeric=True``). Because both come from one tree they cannot disagree.

Three render styles: ``"plain"`` (Unicode text), ``"latex"`` (for Markdown math) and
``"mathml"`` (presentation MathML fragments without the ``<math>`` element, for HTML:
browsers render MathML Core natively).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Literal

Style = Literal["plain", "latex", "mathml"]

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
            if style == "mathml":
                return f"<mrow><mo>(</mo>{text}<mo>)</mo></mrow>"
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
        if style == "mathml":
            return latex_mathml(self.latex)
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
        if style == "mathml":
            parts = []
            for i, (sign, e) in enumerate(self.items):
                if i > 0 or sign < 0:
                    parts.append("<mo>+</mo>" if sign > 0 else "<mo>−</mo>")
                parts.append(e._wrapped(style, numeric, _SUM + (1 if sign < 0 else 0)))
            return _mrow(parts)
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
        if style == "mathml":
            parts: list[str] = []
            for i, f in enumerate(self.factors):
                if i > 0:
                    parts.append("<mo>·</mo>")
                parts.append(f._wrapped(style, numeric, _ATOM))
            return _mrow(parts)
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
        if style == "mathml":
            return f"<mrow><mo>(</mo>{a}<mo>/</mo>{b}<mo>)</mo></mrow>"
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
        if style == "mathml":
            return f"<mrow><mo>⌊</mo><mfrac>{_mrow([a])}{_mrow([b])}</mfrac><mo>⌋</mo></mrow>"
        return f"⌊({a})/{b}⌋"


def _fmt(n: int, style: Style) -> str:
    if style == "latex":
        return f"{n:,}".replace(",", "{,}")
    if style == "mathml":
        return f"<mn>{n:,}</mn>" if n >= 0 else f"<mrow><mo>−</mo><mn>{-n:,}</mn></mrow>"
    return f"{n:,}"


def _mrow(parts: list[str]) -> str:
    """One MathML element: a single part as is, several grouped in ``<mrow>``."""
    return parts[0] if len(parts) == 1 else "<mrow>" + "".join(parts) + "</mrow>"


# --------------------------------------------------------------------------- LaTeX -> MathML

#: The LaTeX commands symbol names use, as (MathML element, text).
_COMMANDS: dict[str, tuple[str, str]] = {
    "delta": ("mi", "δ"),
    "partial": ("mi", "∂"),
    "approx": ("mo", "≈"),
    "cdot": ("mo", "·"),
}


def latex_mathml(src: str) -> str:
    """Presentation MathML of a symbol written in the small LaTeX subset symbol names use.

    Supported: letters (a run of letters is one identifier, so ``op_h`` is *op* with
    subscript *h*), digits, ``_x``/``_{...}`` subscripts, ``^x``/``^{...}`` superscripts,
    ``{...}`` groups, ``\\mathrm{...}``, ``\\delta``, ``\\partial``, ``\\approx``,
    ``\\cdot``; any other character becomes an operator. ``h_{out}`` gives
    ``<msub><mi>h</mi><mi>out</mi></msub>``.
    """
    parts, _ = _parse_seq(src, 0, closing=False)
    return _mrow(parts) if parts else "<mrow></mrow>"


def _parse_seq(s: str, i: int, closing: bool) -> tuple[list[str], int]:
    """Parse items up to the end (or the ``}`` closing a group); returns them and the index
    after the group."""
    parts: list[str] = []
    while i < len(s):
        if s[i] == "}":
            if closing:
                return parts, i + 1
            raise ValueError(f"unbalanced '}}' in symbol {s!r}")
        if s[i].isspace():
            i += 1
            continue
        atom, i = _parse_atom(s, i)
        sub = sup = None
        while i < len(s) and s[i] in "_^":
            which = s[i]
            arg, i = _parse_atom(s, i + 1)
            if which == "_":
                sub = arg
            else:
                sup = arg
        if sub is not None and sup is not None:
            atom = f"<msubsup>{atom}{sub}{sup}</msubsup>"
        elif sub is not None:
            atom = f"<msub>{atom}{sub}</msub>"
        elif sup is not None:
            atom = f"<msup>{atom}{sup}</msup>"
        parts.append(atom)
    if closing:
        raise ValueError(f"unbalanced '{{' in symbol {s!r}")
    return parts, i


def _parse_atom(s: str, i: int) -> tuple[str, int]:
    if i >= len(s):
        raise ValueError(f"symbol {s!r} ends where an argument is expected")
    c = s[i]
    if c == "{":
        parts, i = _parse_seq(s, i + 1, closing=True)
        return (_mrow(parts) if parts else "<mrow></mrow>"), i
    if c == "\\":
        j = i + 1
        while j < len(s) and s[j].isalpha():
            j += 1
        name = s[i + 1:j]
        if name == "mathrm":
            if j >= len(s) or s[j] != "{":
                raise ValueError(f"\\mathrm needs a {{group}} in symbol {s!r}")
            end = s.index("}", j)
            text = s[j + 1:end]
            variant = ' mathvariant="normal"' if len(text) == 1 else ""
            return f"<mi{variant}>{escape(text)}</mi>", end + 1
        if name not in _COMMANDS:
            raise ValueError(f"unsupported LaTeX command \\{name} in symbol {s!r}")
        tag, text = _COMMANDS[name]
        return f"<{tag}>{text}</{tag}>", j
    if c.isalpha():
        j = i
        while j < len(s) and s[j].isalpha():
            j += 1
        return f"<mi>{escape(s[i:j])}</mi>", j
    if c.isdigit():
        j = i
        while j < len(s) and s[j].isdigit():
            j += 1
        return f"<mn>{s[i:j]}</mn>", j
    return f"<mo>{escape(c)}</mo>", i + 1


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

    def symbol(self, style: Style = "plain") -> str:
        """The term's symbol in ``style`` (``"mathml"``: a MathML fragment)."""
        if style == "mathml":
            return latex_mathml(self.latex)
        return self.latex if style == "latex" else self.plain

    def steps(self, style: Style = "plain") -> list[str]:
        """``[symbol, formula, formula with numbers, value]`` rendered in ``style``, with
        consecutive repeats dropped (a formula that is just a number is shown once)."""
        steps = [
            self.symbol(style),
            self.expr.render(style),
            self.expr.render(style, numeric=True),
            _fmt(self.value, style),
        ]
        out: list[str] = []
        for step in steps:
            if not out or step != out[-1]:
                out.append(step)
        return out

    def render(self, style: Style = "plain") -> str:
        """``symbol = formula = formula with numbers = value`` in ``style`` (MathML: one
        ``<mrow>``, to be put inside a ``<math>`` element)."""
        steps = self.steps(style)
        if style == "mathml":
            return "<mrow>" + "<mo>=</mo>".join(steps) + "</mrow>"
        return " = ".join(steps)
