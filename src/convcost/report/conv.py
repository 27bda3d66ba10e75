"""Reports of one layer: summary table (text/Markdown), explanation and JSON."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from ..expr import Term
from ..layer import ConvResult
from .explain_text import INTROS, TERMS, TITLES, WORDS
from .jsonfmt import dumps
from .text import TableRenderer, display_width, markdown_table, text_table
from .units import exact, nbytes, si


def to_json(result: ConvResult) -> str:
    """The JSON document (exact integers)."""
    return dumps(result.to_dict())


def _shape(s: tuple[int, ...]) -> str:
    return "×".join(map(str, s))


def _header(r: ConvResult, lang: str) -> list[str]:
    w = WORDS[lang]
    s = r.spec
    pads = "×".join(f"{b}" if b == e else f"{b}:{e}" for b, e in s.padding)
    kind = "conv_transpose" if s.transposed else "conv"
    return [
        w["title"].format(kind=w[kind], counting=r.counting),
        w["layer_line"].format(
            inp=_shape(s.input_shape),
            w=_shape(s.weight_shape),
            out=_shape(s.output_shape),
            s="×".join(map(str, s.stride)),
            p=pads,
            d="×".join(map(str, s.dilation)),
            g=s.groups,
            b=w["yes"] if s.bias else w["no"],
            dt=s.dtype,
        ),
    ]


def _summary_rows(r: ConvResult, lang: str, human: bool) -> tuple[list[str], list[list[str]]]:
    w = WORDS[lang]

    def n(v: int) -> str:
        return f"{exact(v)} ({si(v)})" if human and v >= 10**4 else exact(v)

    header = [w["col.what"], w["col.mults"], w["col.adds"], w["col.flops"], w["col.approx"]]
    b = r.backward
    rows = [
        [
            w["row.forward"],
            n(r.forward.mults),
            n(r.forward.adds),
            n(r.forward.flops),
            n(r.seed_forward_flops),
        ],
        [
            w["row.grad_input"],
            n(b.grad_input.mults),
            n(b.grad_input.adds),
            n(b.grad_input.flops),
            "",
        ],
        [
            w["row.grad_weight"],
            n(b.grad_weight.mults),
            n(b.grad_weight.adds),
            n(b.grad_weight.flops),
            "",
        ],
        [w["row.grad_bias"], n(b.grad_bias.mults), n(b.grad_bias.adds), n(b.grad_bias.flops), ""],
        [
            w["row.backward"],
            n(b.total.mults),
            n(b.total.adds),
            n(b.total.flops),
            n(r.seed_backward_flops),
        ],
    ]
    return header, rows


def _memory_rows(r: ConvResult, lang: str) -> tuple[list[str], list[list[str]]]:
    w = WORDS[lang]
    t = TERMS[lang]
    header = ["", w["col.elements"], w["col.bytes"]]
    rows: list[list[str]] = []
    for title, table in (
        (w["mem.forward"], r.memory_forward),
        (w["mem.backward"], r.memory_backward),
    ):
        rows.append([title, exact(table.total_elements), nbytes(table.total_bytes)])
        for name, elems in table.entries:
            rows.append([f"  {t[name]}", exact(elems), nbytes(elems * table.element_bytes)])
    return header, rows


def summary(
    r: ConvResult,
    fmt: str = "table",
    lang: str = "en",
    header: bool = True,
    render: TableRenderer = text_table,
) -> str:
    """The result as an aligned text table (``fmt="table"``) or Markdown tables."""
    w = WORDS[lang]
    head = _header(r, lang)
    ch, crow = _summary_rows(r, lang, human=True)
    mh, mrow = _memory_rows(r, lang)
    macs = w["macs_line"].format(macs=f"{exact(r.macs)} ({si(r.macs)})")
    out_shape = f"{w['output_shape']}: {_shape(r.output_shape)}"
    top = [f"### {head[0]}", head[1]] if header else []
    if fmt == "markdown":
        return (
            "\n\n".join(
                [
                    *top,
                    f"{out_shape}; {macs}",
                    markdown_table(ch, crow),
                    markdown_table(mh, mrow),
                ]
            )
            + "\n"
        )
    top = head if header else []
    return (
        "\n".join(
            [
                *top,
                f"{out_shape}; {macs}",
                "",
                render(ch, crow, "", (0,)),
                "",
                render(mh, mrow, "", (0,)),
            ]
        )
        + "\n"
    )


@dataclass(frozen=True)
class _Style:
    markdown: bool

    def title(self, text: str) -> str:
        return f"## {text}" if self.markdown else f"{text}\n{'-' * display_width(text)}"

    def para(self, text: str) -> str:
        if self.markdown:
            return text
        return textwrap.fill(text, 92, initial_indent="  ", subsequent_indent="  ")

    def term(self, t: Term, meaning: str) -> str:
        value = exact(t.value)
        if self.markdown:
            steps = [
                t.latex,
                t.expr.render("latex"),
                t.expr.render("latex", numeric=True),
                exact(t.value).replace(",", "{,}"),
            ]
            return f"{meaning}:\n\n$$ {' = '.join(_dedupe(steps))} $$"
        steps = [t.plain, t.expr.render("plain"), t.expr.render("plain", numeric=True), value]
        return f"  {meaning}\n    " + "\n    ".join(_align(_dedupe(steps)))


def _dedupe(steps: list[str]) -> list[str]:
    out: list[str] = []
    for s in steps:
        if not out or s != out[-1]:
            out.append(s)
    return out


def _align(steps: list[str]) -> list[str]:
    """``a = b`` on the first line, ``  = c`` below, aligned on the equals sign."""
    pad = " " * (len(steps[0]) + 1)
    return (
        [f"{steps[0]} = {steps[1]}"] + [f"{pad}= {s}" for s in steps[2:]]
        if len(steps) > 1
        else steps
    )


def _term_meaning(section: str, t: Term, lang: str) -> str:
    terms = TERMS[lang]
    if section == "output":
        return f"{terms['output.out']} {t.plain.split('_')[0]}"
    if section == "taps":
        return f"{terms['taps.' + t.key]} ({t.plain})"
    return terms[t.key]


@dataclass(frozen=True)
class ExplainSection:
    """One step of the explanation: a title, an optional introductory sentence, and its
    formula terms, each with the sentence saying what it is."""

    key: str
    title: str
    intro: str
    terms: tuple[tuple[Term, str], ...]


@dataclass(frozen=True)
class Comparison:
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


@dataclass(frozen=True)
class Explanation:
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
    head = _header(r, lang)
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
    return Explanation(lang, (head[0], head[1]), tuple(sections), approx,
                       _comparisons(r, lang), titles["summary"])


def explain(r: ConvResult, lang: str = "en", fmt: str = "text") -> str:
    """Show the work: each formula in symbols, with numbers substituted, then the value.

    Order: output size → forward cost → forward memory → backward memory → backward cost
    (grad-input, grad-weight, grad-bias) → exact vs approximation → summary. ``lang`` is
    ``"en"`` or ``"zh"``; ``fmt`` is ``"text"`` or ``"markdown"`` (LaTeX math).
    """
    st = _Style(markdown=(fmt == "markdown"))
    ex = explanation(r, lang)
    blocks: list[str] = []
    head = ex.header
    blocks.append(f"# {head[0]}\n\n{head[1]}" if st.markdown else f"{head[0]}\n{head[1]}")
    for sec in ex.sections:
        parts = [st.title(sec.title)]
        if sec.intro:
            parts.append(st.para(sec.intro))
        parts += [st.term(t, meaning) for t, meaning in sec.terms]
        blocks.append("\n\n".join(parts) if st.markdown else "\n".join(parts))
    blocks.append(_approx_block(ex, st))
    fmt_summary = "markdown" if st.markdown else "table"
    blocks.append(st.title(ex.summary_title) + "\n\n" + summary(r, fmt_summary, lang, False))
    return "\n\n".join(blocks).rstrip() + "\n"


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


def _approx_block(ex: Explanation, st: _Style) -> str:
    sec = ex.approx
    parts = [st.title(sec.title), st.para(sec.intro)]
    parts += [st.term(term, meaning) for term, meaning in sec.terms]
    bullet = "- " if st.markdown else "    - "
    lead = "" if st.markdown else "  "
    sep = "\n\n" if st.markdown else "\n"
    for c in ex.comparisons:
        if not c.reasons:
            parts.append(lead + c.sentence)
            continue
        parts.append(lead + c.sentence + sep + lead + c.because + "\n"
                     + "\n".join(bullet + line for line in c.reasons))
    return "\n\n".join(parts) if st.markdown else "\n".join(parts)
