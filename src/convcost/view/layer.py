"""The view of one convolution layer (:class:`~convcost.layer.ConvResult`): its header lines,
the cost and memory tables, and the structured explanation (output size -> forward cost ->
memory -> backward cost -> exact vs approximation) that the text, Markdown and HTML
renderers all render. Labels and sentences come from :mod:`.words` in the chosen language.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import SpecError
from ..units import exact, shape, si
from ..vocab import LANGS, allowed
from .cells import Q, Table
from .words import INTROS, TERMS, TITLES, WORDS

if TYPE_CHECKING:
    from ..expr import Term
    from ..layer import ConvResult


def check_lang(lang: str) -> str:
    """``lang`` when it is one of :data:`~convcost.vocab.LANGS`; a SpecError naming
    ``lang`` otherwise."""
    if lang not in LANGS:
        raise SpecError("lang", lang, allowed(LANGS))
    return lang


def header(r: ConvResult, lang: str = "en") -> tuple[str, str]:
    """The title (kind of layer, counting) and the layer line (shapes and options)."""
    w = WORDS[lang]
    s = r.spec
    pads = "×".join(f"{b}" if b == e else f"{b}:{e}" for b, e in s.padding)
    kind = "conv_transpose" if s.transposed else "conv"
    return (
        w["title"].format(kind=w[kind], counting=r.counting),
        w["layer_line"].format(
            inp=shape(s.input_shape),
            w=shape(s.weight_shape),
            out=shape(s.output_shape),
            s="×".join(map(str, s.stride)),
            p=pads,
            d="×".join(map(str, s.dilation)),
            g=s.groups,
            b=w["yes"] if s.bias else w["no"],
            dt=s.dtype,
        ),
    )


def output_line(r: ConvResult, lang: str = "en") -> str:
    """``output shape: 1×64×112×112; MACs 118,013,952 (118.01 M)``."""
    w = WORDS[lang]
    macs = w["macs_line"].format(macs=f"{exact(r.macs)} ({si(r.macs)})")
    return f"{w['output_shape']}: {shape(r.output_shape)}; {macs}"


def cost_table(r: ConvResult, lang: str = "en") -> Table:
    """Mults, adds and FLOPs of the forward pass, each gradient and the backward total, with
    the classic approximations (``2·MACs``, ``4·MACs``) beside the forward and backward."""
    w = WORDS[lang]
    b = r.backward

    def row(label: str, mults: int, adds: int, flops: int,
            approx: int | None) -> tuple[str | Q, ...]:
        return (label, Q(mults, "exact_si"), Q(adds, "exact_si"), Q(flops, "exact_si"),
                Q(approx, "exact_si"))

    return Table(
        (w["col.what"], w["col.mults"], w["col.adds"], w["col.flops"], w["col.approx"]),
        (
            row(w["row.forward"], r.forward.mults, r.forward.adds, r.forward.flops,
                r.seed_forward_flops),
            row(w["row.grad_input"], b.grad_input.mults, b.grad_input.adds,
                b.grad_input.flops, None),
            row(w["row.grad_weight"], b.grad_weight.mults, b.grad_weight.adds,
                b.grad_weight.flops, None),
            row(w["row.grad_bias"], b.grad_bias.mults, b.grad_bias.adds, b.grad_bias.flops,
                None),
            row(w["row.backward"], b.total.mults, b.total.adds, b.total.flops,
                r.seed_backward_flops),
        ),
    )


def memory_table(r: ConvResult, lang: str = "en") -> Table:
    """Elements and bytes held in the forward and the backward pass, with their parts
    (indented two spaces)."""
    w = WORDS[lang]
    t = TERMS[lang]
    rows: list[tuple[str | Q, ...]] = []
    for title, table in ((w["mem.forward"], r.memory_forward),
                         (w["mem.backward"], r.memory_backward)):
        rows.append((title, Q(table.total_elements, "exact"), Q(table.total_bytes, "bytes")))
        for name, elems in table.entries:
            rows.append((f"  {t[name]}", Q(elems, "exact"),
                         Q(elems * table.element_bytes, "bytes")))
    return Table(("", w["col.elements"], w["col.bytes"]), tuple(rows))


def passes(r: ConvResult) -> tuple[tuple[str, int, int, int], ...]:
    """``(computation, mults, adds, flops)`` of ``forward``, ``grad_input``, ``grad_weight``,
    ``grad_bias`` and ``backward`` (the total): the rows of a data frame."""
    b = r.backward
    rows = {"forward": r.forward, "grad_input": b.grad_input, "grad_weight": b.grad_weight,
            "grad_bias": b.grad_bias, "backward": b.total}
    return tuple((k, c.mults, c.adds, c.flops) for k, c in rows.items())


def document(r: ConvResult) -> dict[str, Any]:
    """The JSON document (:meth:`~convcost.layer.ConvResult.to_dict`)."""
    return r.to_dict()


# --------------------------------------------------------------------------- explanation


class ExplainSection(NamedTuple):
    """One step of the explanation: a title, an optional introductory sentence, and its
    formula terms, each with the sentence saying what it is."""

    key: str
    title: str
    intro: str
    terms: tuple[tuple[Term, str], ...]


class Comparison(NamedTuple):
    """Exact count vs the classic approximation for one pass.

    ``sentence`` states both numbers and the difference (or that they are equal);
    ``reasons`` are the exact causes of the difference (empty when equal), introduced by
    ``because``.
    """

    what: str
    exact: int
    approx: int
    sentence: str
    because: str
    reasons: tuple[str, ...]


class Explanation(NamedTuple):
    """The explanation of one layer, in order: header lines, the formula sections (output
    size → forward cost → forward memory → backward memory → backward cost), the
    approximation section with its two comparisons, and the summary's title. Every
    renderer (text, Markdown, HTML) renders this one structure."""

    lang: str
    header: tuple[str, str]
    sections: tuple[ExplainSection, ...]
    approx: ExplainSection
    comparisons: tuple[Comparison, ...]
    summary_title: str


_ORDER = (
    "output",
    "taps",
    "forward",
    "memory_forward",
    "memory_backward",
    "grad_input",
    "grad_weight",
    "grad_bias",
    "backward",
)


def explanation(r: ConvResult, lang: str = "en") -> Explanation:
    """The structured explanation of ``r`` in ``lang`` (``"en"`` or ``"zh"``)."""
    titles, intros = TITLES[lang], INTROS[lang]
    sections: list[ExplainSection] = []
    for key in _ORDER:
        sec = r.terms.section(key)
        if key in ("taps", "grad_bias") and not sec.terms:
            continue
        sections.append(ExplainSection(
            key, titles[key], _intro(key, r, intros),
            tuple((t, _term_meaning(key, t, lang)) for t in sec.terms),
        ))
    approx = ExplainSection(
        "approx", titles["approx"], INTROS[lang]["approx"],
        tuple((t, TERMS[lang][t.key]) for t in r.terms.section("approx").terms),
    )
    return Explanation(lang, header(r, lang), tuple(sections), approx,
                       _comparisons(r, lang), titles["summary"])


def _term_meaning(section: str, t: Term, lang: str) -> str:
    terms = TERMS[lang]
    if section == "output":
        return f"{terms['output.out']} {t.plain.split('_')[0]}"
    if section == "taps":
        return f"{terms['taps.' + t.key]} ({t.plain})"
    return terms[t.key]


def _intro(key: str, r: ConvResult, intros: dict[str, str]) -> str:
    s = r.spec
    if key == "output":
        return intros["output.transposed" if s.transposed else "output"]
    if key == "taps":
        return intros[f"taps.{r.counting}"]
    if key == "forward":
        text = intros[f"forward.{r.counting}"]
        return text + (" " + intros["forward.transposed"] if s.transposed else "")
    if key == "grad_input":
        if not s.input_grad:
            return intros["grad_input.none"]
        return intros["grad_input.transposed" if s.transposed else "grad_input"]
    return intros.get(key, "")


def _comparisons(r: ConvResult, lang: str) -> tuple[Comparison, ...]:
    """Exact vs approximation, with the difference decomposed into its exact causes."""
    w = WORDS[lang]
    t = r.terms
    macs = r.macs

    def reasons_for(section: str, what: str) -> tuple[int, list[str]]:
        m = t.value(f"{section}.mults")
        skipped = macs - m
        dest = t.value(f"{section}.destinations")
        contrib = -2 * skipped - dest
        lines = []
        if skipped:
            lines.append(w["why.skipped"].format(n=skipped))
        lines.append(w["why.dest"].format(n=dest, what=what))
        return contrib, lines

    # forward
    c, lines = reasons_for("forward", w["row.forward"])
    bias = t.value("forward.bias_adds")
    if bias:
        c += bias
        lines.append(w["why.bias"].format(n=bias))
    fwd = _comparison(w, w["forward"], r.forward.flops, r.seed_forward_flops, c, lines)
    # backward
    total, lines = 0, []
    if r.spec.input_grad:
        c, ls = reasons_for("grad_input", w["row.grad_input"])
        total += c
        lines += ls
    else:
        total -= 2 * macs
        lines.append(w["why.no_gi"])
    c, ls = reasons_for("grad_weight", w["row.grad_weight"])
    total += c
    lines += ls
    gb = t.value("grad_bias.adds")
    if gb:
        total += gb
        lines.append(w["why.gb"].format(n=gb))
    bwd = _comparison(w, w["backward"], r.backward.total.flops, r.seed_backward_flops, total,
                      lines)
    return fwd, bwd


def _comparison(
    w: dict[str, str], what: str, ex: int, ap: int, explained: int, lines: list[str]
) -> Comparison:
    diff = ex - ap
    if explained != diff:  # the decomposition is exact; a mismatch is a bug, not user input
        raise RuntimeError(f"difference {diff} decomposed as {explained}")
    if diff == 0:
        return Comparison(what, ex, ap, f"{what}: {w['equal']}", w["why"], ())
    sentence = w["diff_line"].format(
        what=what, exact=exact(ex), approx=exact(ap), diff=diff, pct=100 * diff / ap
    )
    return Comparison(what, ex, ap, sentence, w["why"], tuple(lines))
