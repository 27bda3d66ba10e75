"""The convolution formulas as :class:`~convcost.expr.Term` trees: every quantity of
:func:`~convcost.formulas.conv.conv_numbers` with its symbols, its substituted numbers and its
value, in explanation order (output size, taps, forward, memory, backward, approximation).
The explanation renderers read these; nothing else needs them (they are built on demand).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..expr import Div, Expr, FloorDiv, Num, Sum, Term, Var, add, mul, sub
from ..spec import DIM_NAMES, ConvSpec
from .conv import check_counting
from .taps import DimTaps, dim_taps


@dataclass(frozen=True)
class Section:
    """An ordered group of terms, one step of the explanation.

    ``key`` is one of ``output``, ``taps``, ``forward``, ``memory_forward``,
    ``memory_backward``, ``grad_input``, ``grad_weight``, ``grad_bias``, ``backward``,
    ``approx``.
    """

    key: str
    terms: tuple[Term, ...]

    def get(self, key: str) -> Term | None:
        """The term with ``key``, or ``None``."""
        for t in self.terms:
            if t.key == key:
                return t
        return None


@dataclass(frozen=True)
class ConvTerms:
    """All terms of one layer under one counting convention, in explanation order."""

    spec: ConvSpec
    counting: str
    sections: tuple[Section, ...]

    def section(self, key: str) -> Section:
        """The section named ``key`` (empty if the layer has none, e.g. no bias)."""
        for s in self.sections:
            if s.key == key:
                return s
        return Section(key, ())

    def value(self, key: str) -> int:
        """Value of the term ``key`` (``"section.term"``); 0 when the term does not exist."""
        sec, _, name = key.partition(".")
        t = self.section(sec).get(name)
        return t.value if t is not None else 0


def _v(plain: str, latex: str, n: int) -> Var:
    return Var(plain, latex, n)


def conv_terms(spec: ConvSpec, counting: str = "dense") -> ConvTerms:
    """Build every term of ``spec`` under ``counting`` (``"dense"`` or ``"skip-padding"``)."""
    check_counting(counting)
    names = DIM_NAMES[spec.ndim]
    N = _v("N", "N", spec.batch)
    ci = _v("c_i", "c_i", spec.in_channels)
    co = _v("c_o", "c_o", spec.out_channels)
    g = _v("g", "g", spec.groups)
    X = [_v(n, n, x) for n, x in zip(names, spec.input_size)]
    K = [_v(f"k_{n}", f"k_{n}", k) for n, k in zip(names, spec.kernel)]
    S = [_v(f"s_{n}", f"s_{n}", s) for n, s in zip(names, spec.stride)]
    D = [_v(f"δ_{n}", rf"\delta_{n}", d) for n, d in zip(names, spec.dilation)]

    # 1. output size
    out_terms: list[Term] = []
    for j, n in enumerate(names):
        pb, pe = spec.padding[j]
        pad: Expr
        if pb == pe:
            pad = mul(2, _v(f"p_{n}", f"p_{n}", pb))
        else:
            pad = add(_v(f"pb_{n}", rf"p^{{b}}_{n}", pb), _v(f"pe_{n}", rf"p^{{e}}_{n}", pe))
        reach: Expr = sub(K[j], 1) if spec.dilation[j] == 1 else mul(D[j], sub(K[j], 1))
        expr: Expr
        if spec.transposed:
            items: list[tuple[int, Expr]] = [(1, mul(sub(X[j], 1), S[j])), (-1, pad), (1, reach)]
            if any(spec.output_padding):
                items.append((1, _v(f"op_{n}", rf"op_{n}", spec.output_padding[j])))
            items.append((1, Num(1)))
            expr = Sum(tuple(items))
        elif spec.dilation[j] == 1:
            expr = add(FloorDiv(Sum(((1, X[j]), (1, pad), (-1, K[j]))), S[j]), 1)
        else:
            expr = add(FloorDiv(Sum(((1, X[j]), (1, pad), (-1, reach), (-1, Num(1)))), S[j]), 1)
        t = Term(f"{n}_out", f"{n}_out", rf"{n}_{{out}}", expr)
        if t.value != spec.output_size[j]:  # internal consistency, never user input
            raise RuntimeError(f"output size term {t.value} != {spec.output_size[j]}")
        out_terms.append(t)
    Y = [t.var() for t in out_terms]

    # Conv view: the transposed layer is counted as the adjoint convolution.
    if spec.transposed:
        cv_ci, cv_co, cv_out, cv_in = co, ci, X, Y
    else:
        cv_ci, cv_co, cv_out, cv_in = ci, co, Y, X
    ci_g: Expr = cv_ci if spec.groups == 1 else Div(cv_ci, g)

    taps: list[DimTaps] = [
        dim_taps(cv_in[j].value, cv_out[j].value, spec.kernel[j], spec.stride[j],
                 spec.dilation[j], spec.padding[j][0])
        for j in range(spec.ndim)
    ]
    # Conv-view dimension names: for a transposed layer the conv's output runs over the
    # layer's input positions, so its per-dimension quantities are named after the input.
    T = [_v(f"T_{n}", f"T_{n}", t.taps) for n, t in zip(names, taps)]
    R = [_v(f"R_{n}", f"R_{n}", t.reached) for n, t in zip(names, taps)]
    Vo = [_v(f"Vout_{n}", rf"V^{{out}}_{n}", t.out_valid) for n, t in zip(names, taps)]
    Vk = [_v(f"Vk_{n}", rf"V^{{k}}_{n}", t.kernel_valid) for n, t in zip(names, taps)]
    Vi = [_v(f"Vin_{n}", rf"V^{{in}}_{n}", t.in_valid) for n, t in zip(names, taps)]

    sections: list[Section] = [Section("output", tuple(out_terms))]

    macs = Term("macs", "MACs", r"\mathrm{MACs}", mul(N, cv_co, ci_g, *cv_out, *K))
    dense = counting == "dense"
    tap_terms: list[Term] = []
    if dense:
        products = macs
        dest_a: Expr = mul(N, cv_co, *cv_out)
        dest_b: Expr = mul(N, cv_ci, *R)
        dest_w: Expr = mul(cv_co, ci_g, *K)
        tap_terms += [Term("reached", r.plain, r.latex, Num(r.value)) for r in R]
    else:
        products = Term("products", "P", "P", mul(N, cv_co, ci_g, *T))
        dest_a = mul(N, cv_co, *Vo)
        dest_b = mul(N, cv_ci, *Vi)
        dest_w = mul(cv_co, ci_g, *Vk)
        for group, key in ((T, "taps"), (Vo, "out_valid"), (Vk, "kernel_valid"), (Vi, "in_valid")):
            tap_terms += [Term(key, v.plain, v.latex, Num(v.value)) for v in group]
    if tap_terms:
        sections.append(Section("taps", tuple(tap_terms)))
    P = products.var()

    # Bias: one addition per layer output element that receives at least one product.
    bias_adds: Term | None = None
    if spec.bias:
        if spec.transposed:
            b_expr = mul(N, co, *Vi)
        else:
            b_expr = mul(N, co, *(Y if dense else Vo))
        bias_adds = Term("bias_adds", "A_b", "A_{b}", b_expr)

    fwd_dest, gi_dest = (dest_b, dest_a) if spec.transposed else (dest_a, dest_b)
    fwd: list[Term] = [macs] + ([products] if not dense else [])
    fwd += _cost_terms("fwd", P, fwd_dest, bias_adds)
    sections.append(Section("forward", tuple(fwd)))

    # Memory (elements), layer view.
    e = _v("e", "e", spec.element_bytes)
    w_expr = (
        mul(ci, co if spec.groups == 1 else Div(co, g), *K)
        if spec.transposed
        else mul(co, ci if spec.groups == 1 else Div(ci, g), *K)
    )
    m_in = Term("input", "|X|", "|X|", mul(N, ci, *X))
    m_w = Term("weight", "|W|", "|W|", w_expr)
    m_b = Term("bias", "|B|", "|B|", co if spec.bias else Num(0))
    m_out = Term("output", "|Y|", "|Y|", mul(N, co, *Y))
    fwd_mem = [m_in, m_w, m_b, m_out]
    sections.append(Section("memory_forward", tuple(_totals(fwd_mem, e))))
    bwd_mem = [
        m_in,
        m_w,
        m_b,
        Term("grad_output", "|∂Y|", r"|\partial Y|", m_out.var()),
        Term("grad_weight", "|∂W|", r"|\partial W|", m_w.var()),
        Term("grad_bias", "|∂B|", r"|\partial B|", m_b.var() if spec.bias else Num(0)),
        Term("grad_input", "|∂X|", r"|\partial X|", m_in.var() if spec.input_grad else Num(0)),
    ]
    sections.append(Section("memory_backward", tuple(_totals(bwd_mem, e))))

    gi: list[Term] = []
    if spec.input_grad:
        gi = _cost_terms("gi", P, gi_dest)
    gw = _cost_terms("gw", P, dest_w)
    gb: list[Term] = []
    if spec.bias:
        gb = [
            Term("mults", "M_gb", "M_{gb}", Num(0)),
            Term("adds", "A_gb", "A_{gb}", sub(mul(N, co, *Y), co)),
        ]
        gb.append(Term("flops", "F_gb", "F_{gb}", add(gb[0].var(), gb[1].var())))
    sections += [Section("grad_input", tuple(gi)), Section("grad_weight", tuple(gw)),
                 Section("grad_bias", tuple(gb))]

    parts = [Section("", tuple(p)) for p in (gi, gw, gb) if p]
    tot_m = Term("mults", "M_bwd", "M_{bwd}", add(*[_get(p, "mults").var() for p in parts]))
    tot_a = Term("adds", "A_bwd", "A_{bwd}", add(*[_get(p, "adds").var() for p in parts]))
    tot_f = Term("flops", "F_bwd", "F_{bwd}", add(tot_m.var(), tot_a.var()))
    sections.append(Section("backward", (tot_m, tot_a, tot_f)))

    sections.append(Section("approx", (
        Term("forward_flops", "F_fwd≈", r"F_{fwd}^{\approx}", mul(2, macs.var())),
        Term("backward_flops", "F_bwd≈", r"F_{bwd}^{\approx}", mul(4, macs.var())),
    )))
    return ConvTerms(spec, counting, tuple(sections))


def _cost_terms(tag: str, products: Var, dest_expr: Expr, bias: Term | None = None) -> list[Term]:
    """``[D, (A_b), M, A, F]``: adds = products − destinations (+ bias additions)."""
    dest = Term("destinations", f"D_{tag}", f"D_{{{tag}}}", dest_expr)
    m = Term("mults", f"M_{tag}", f"M_{{{tag}}}", products)
    adds: Expr = sub(products, dest.var())
    if bias is not None:
        adds = Sum(((1, products), (-1, dest.var()), (1, bias.var())))
    a = Term("adds", f"A_{tag}", f"A_{{{tag}}}", adds)
    f = Term("flops", f"F_{tag}", f"F_{{{tag}}}", add(m.var(), a.var()))
    return [dest, *([bias] if bias else []), m, a, f]


def _get(section: Section, key: str) -> Term:
    t = section.get(key)
    if t is None:  # pragma: no cover - internal wiring
        raise KeyError(key)
    return t


def _totals(entries: list[Term], e: Var) -> list[Term]:
    total = Term("total_elements", "|total|", r"|\mathrm{total}|", add(*[t.var() for t in entries]))
    nbytes = Term("total_bytes", "bytes", r"\mathrm{bytes}", mul(total.var(), e))
    return [*entries, total, nbytes]
