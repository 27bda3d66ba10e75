"""The ``markdown`` format: GitHub-flavoured Markdown (tables with numeric columns
right-aligned; a layer's ``explain`` derivation with LaTeX math in ``$$`` blocks).

Owns :func:`markdown_table` and the Markdown layout of a layer, a model, a sweep and a
comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..view import layer as layer_view
from ..view.cells import Table
from .cells import cells, text

if TYPE_CHECKING:
    from ..expr import Term
    from ..hardware.answer import Hardware
    from ..layer import ConvResult
    from ..model.results import ModelResult


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table (numeric columns right-aligned)."""
    out = ["| " + " | ".join(header) + " |"]
    out.append("|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|")
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def draw(t: Table) -> str:
    """A view table as Markdown, its cells written for people."""
    return markdown_table(t.header, cells(t))


def layer_summary(r: ConvResult, lang: str = "en", header: bool = True) -> str:
    """Header, output shape and MACs, then the cost and memory tables."""
    head = layer_view.header(r, lang)
    top = [f"### {head[0]}", head[1]] if header else []
    return "\n\n".join([
        *top,
        layer_view.output_line(r, lang),
        draw(layer_view.cost_table(r, lang)),
        draw(layer_view.memory_table(r, lang)),
    ]) + "\n"


def _term(t: Term, meaning: str) -> str:
    return f"{meaning}:\n\n$$ {' = '.join(t.steps('latex'))} $$"


def explain(r: ConvResult, lang: str = "en") -> str:
    """The derivation (see :func:`convcost.renderers.text.explain`) with LaTeX math."""
    ex = layer_view.explanation(r, lang)
    blocks = [f"# {ex.header[0]}\n\n{ex.header[1]}"]
    for sec in ex.sections:
        parts = [f"## {sec.title}"]
        if sec.intro:
            parts.append(sec.intro)
        parts += [_term(t, meaning) for t, meaning in sec.terms]
        blocks.append("\n\n".join(parts))
    a = ex.approx
    parts = [f"## {a.title}", a.intro, *(_term(t, m) for t, m in a.terms)]
    for c in ex.comparisons:
        if not c.reasons:
            parts.append(c.sentence)
            continue
        parts.append(c.sentence + "\n\n" + c.because + "\n"
                     + "\n".join("- " + x for x in c.reasons))
    blocks.append("\n\n".join(parts))
    blocks.append(f"## {ex.summary_title}\n\n" + layer_summary(r, lang, header=False))
    return "\n\n".join(blocks).rstrip() + "\n"


def model_report(r: ModelResult, depth: int | None = 2, hw: Hardware | None = None) -> str:
    """The summary as a list, the per-module table, the unsupported ops (when any)."""
    from ..view import model as model_view

    t = model_view.layer_table(r, hw, depth, human=True)
    rows = cells(t)
    for row in rows:
        row[0] = row[0].replace("  ", "&nbsp;&nbsp;")
    summary = [text(x) for x in model_view.summary_lines(r) + model_view.hardware_lines(r, hw)]
    out = [f"### {summary[0]}", "", *[f"- {s}" for s in summary[1:]], "",
           markdown_table(t.header, rows)]
    unsupported = model_view.unsupported_lines(r)
    out += ["", *(f"**{text(s)}**" for s in unsupported)] if unsupported else []
    return "\n".join(out) + "\n"


def render(subject: str, result: Any, **options: Any) -> str:
    """The ``markdown`` format of ``result``."""
    from ..view import study as study_view

    if subject == "layer":
        lang = layer_view.check_lang(options.get("lang", "en"))
        if options.get("explain", False):
            return explain(result, lang)
        return layer_summary(result, lang)
    if subject == "model":
        return model_report(result, options.get("depth", 2), options.get("hardware"))
    if subject == "sweep":
        return draw(study_view.sweep_table(result)) + "\n"
    return draw(study_view.compare_table(result)) + "\n"
