"""The ``table`` format: aligned plain text (what a file or pipe gets, and the golden files).

Owns the plain-text table drawer (:func:`text_table`, East Asian wide characters counted
twice) and the text layout of every report: a layer's summary and its ``explain``
derivation, a model's summary and per-module table, a sweep, a comparison, the device
catalogue. The ``rich`` format (:mod:`.terminal`) is the same layout drawn with rich's
tables.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from unicodedata import east_asian_width

from ..view import layer as layer_view
from ..view.cells import Table
from .cells import cells, text

if TYPE_CHECKING:
    from ..expr import Term
    from ..hardware.answer import Hardware
    from ..hardware.devices import DeviceCatalog
    from ..layer import ConvResult
    from ..model.results import ModelResult
    from ..study import Comparison, Sweep

#: ``(header, rows, indent, left-aligned columns) -> str``: plain text or a terminal renderer.
TableRenderer = Callable[[Sequence[str], Sequence[Sequence[str]], str, Sequence[int]], str]


def display_width(s: str) -> int:
    """Terminal columns of ``s`` (East Asian wide characters take two)."""
    return sum(2 if east_asian_width(c) in "WF" else 1 for c in s)


def _pad(s: str, w: int, right: bool) -> str:
    fill = " " * (w - display_width(s))
    return fill + s if right else s + fill


def text_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    indent: str = "",
    left: Sequence[int] = (0,),
) -> str:
    """Aligned columns: those in ``left`` left-aligned (default the first), others right."""
    cols = list(zip(header, *rows))
    widths = [max(display_width(c) for c in col) for col in cols]
    lines = []
    for i, r in enumerate([list(header), *[list(r) for r in rows]]):
        cells_ = [_pad(c, w, j not in left) for j, (c, w) in enumerate(zip(r, widths))]
        lines.append(indent + "  ".join(cells_).rstrip())
        if i == 0:
            lines.append(indent + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def draw(t: Table, drawer: TableRenderer = text_table) -> str:
    """A view table drawn by ``drawer`` with its cells written for people."""
    return drawer(t.header, cells(t), "", t.left)


# --------------------------------------------------------------------------- one layer


def layer_summary(r: ConvResult, lang: str = "en", header: bool = True,
                  drawer: TableRenderer = text_table) -> str:
    """The header lines, output shape and MACs, the cost table and the memory table."""
    top = list(layer_view.header(r, lang)) if header else []
    return "\n".join([
        *top,
        layer_view.output_line(r, lang),
        "",
        draw(layer_view.cost_table(r, lang), drawer),
        "",
        draw(layer_view.memory_table(r, lang), drawer),
    ]) + "\n"


def _title(s: str) -> str:
    return f"{s}\n{'-' * display_width(s)}"


def _para(s: str) -> str:
    return textwrap.fill(s, 92, initial_indent="  ", subsequent_indent="  ")


def _term(t: Term, meaning: str) -> str:
    """The meaning, then ``symbol = formula`` and ``= numbers``, ``= value`` below it,
    aligned on the equals sign."""
    steps = t.steps("plain")
    if len(steps) > 1:
        pad = " " * (len(steps[0]) + 1)
        steps = [f"{steps[0]} = {steps[1]}"] + [f"{pad}= {s}" for s in steps[2:]]
    return f"  {meaning}\n    " + "\n    ".join(steps)


def explain(r: ConvResult, lang: str = "en") -> str:
    """Show the work: each formula in symbols, with numbers substituted, then the value;
    order: output size → forward cost → forward memory → backward memory → backward cost →
    exact vs approximation → summary."""
    ex = layer_view.explanation(r, lang)
    blocks = [f"{ex.header[0]}\n{ex.header[1]}"]
    for sec in ex.sections:
        parts = [_title(sec.title)]
        if sec.intro:
            parts.append(_para(sec.intro))
        parts += [_term(t, meaning) for t, meaning in sec.terms]
        blocks.append("\n".join(parts))
    a = ex.approx
    parts = [_title(a.title), _para(a.intro), *(_term(t, m) for t, m in a.terms)]
    for c in ex.comparisons:
        if not c.reasons:
            parts.append("  " + c.sentence)
            continue
        parts.append("  " + c.sentence + "\n" + "  " + c.because + "\n"
                     + "\n".join("    - " + x for x in c.reasons))
    blocks.append("\n".join(parts))
    blocks.append(_title(ex.summary_title) + "\n\n" + layer_summary(r, lang, header=False))
    return "\n\n".join(blocks).rstrip() + "\n"


# --------------------------------------------------------------------------- model


def model_table(r: ModelResult, depth: int | None = 2, hw: Hardware | None = None,
                drawer: TableRenderer = text_table) -> str:
    """Summary lines, hardware lines and the per-module table to ``depth`` (``None``: every
    level), then the unsupported ops (when any)."""
    from ..view import model as model_view

    unsupported = model_view.unsupported_lines(r)
    parts = [
        *(text(x) for x in model_view.summary_lines(r)),
        *(text(x) for x in model_view.hardware_lines(r, hw)),
        "",
        draw(model_view.layer_table(r, hw, depth, human=True), drawer),
    ]
    parts += ["", *(text(x) for x in unsupported)] if unsupported else []
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- studies


def sweep(s: Sweep, drawer: TableRenderer = text_table) -> str:
    """The sweep's title and one row per setting, units humanised."""
    from ..view import study as study_view

    return study_view.sweep_title(s) + "\n\n" + draw(study_view.sweep_table(s), drawer) + "\n"


def comparison(c: Comparison, drawer: TableRenderer = text_table) -> str:
    """The entries' letters, then their headline numbers side by side."""
    from ..view import study as study_view

    return ("\n".join(study_view.compare_legend(c)) + "\n\n"
            + draw(study_view.compare_table(c), drawer) + "\n")


def device_catalog(c: DeviceCatalog, drawer: TableRenderer = text_table) -> str:
    """One row per device: dense peaks per dtype, bandwidth, memory, description."""
    from ..view import devices as devices_view

    return draw(devices_view.table(c), drawer) + "\n"


def layout(subject: str, result: Any, drawer: TableRenderer, **options: Any) -> str:
    """The text layout of ``result`` (a ``subject`` of :func:`convcost.renderers.render`)
    with its tables drawn by ``drawer``."""
    if subject == "layer":
        lang = layer_view.check_lang(options.get("lang", "en"))
        if options.get("explain", False):
            return explain(result, lang)
        return layer_summary(result, lang, drawer=drawer)
    if subject == "model":
        return model_table(result, options.get("depth", 2), options.get("hardware"), drawer)
    if subject == "sweep":
        return sweep(result, drawer)
    if subject == "comparison":
        return comparison(result, drawer)
    return device_catalog(result, drawer)


def render(subject: str, result: Any, **options: Any) -> str:
    """The ``table`` format of ``result``."""
    return layout(subject, result, text_table, **options)
