"""Reports of a whole-model analysis: table, Markdown, CSV, JSON. Pure formatting."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from ..model import LayerRow, ModelResult
from .jsonfmt import dumps
from .text import markdown_table, text_table
from .units import exact, nbytes, si


def to_json(r: ModelResult, timeline: bool = False) -> str:
    """The JSON document (every layer row, exact integers)."""
    return dumps(r.to_dict(timeline))


def _rows(r: ModelResult, depth: int | None, hide_empty: bool = False) -> list[LayerRow]:
    """Rows to ``depth``; ``hide_empty`` drops functional rows with no cost and no memory."""
    return [
        row
        for row in r.layers
        if (depth is None or row.depth <= depth)
        and not (
            hide_empty
            and row.type == "functional"
            and not row.saved_bytes
            and not row.forward.flops
            and not row.backward.total.flops
        )
    ]


def _step_flops(r: ModelResult) -> int:
    return r.totals.forward.flops + r.totals.backward.total.flops


def _shape(s: Sequence[int] | None) -> str:
    return "" if s is None else "×".join(map(str, s))


def _label(row: LayerRow) -> str:
    if row.name == "":
        return "(model)"
    return "  " * (row.depth - 1) + row.name.rsplit(".", 1)[-1] if row.depth > 1 else row.name


LAYER_HEADER = [
    "module",
    "type",
    "output",
    "params",
    "fwd FLOPs",
    "bwd ∂input",
    "bwd ∂weight",
    "saved",
    "share",
]


def _layer_cells(r: ModelResult, row: LayerRow, human: bool) -> list[str]:
    total = _step_flops(r) or 1
    b = row.backward
    own = row.forward.flops + b.total.flops
    fmt = si if human else exact
    return [
        _label(row) if human else row.name,
        row.type,
        _shape(row.output_shape),
        fmt(row.params) if row.params else "",
        fmt(row.forward.flops),
        fmt(b.grad_input.flops) if r.mode == "train" else "",
        fmt(b.grad_weight.flops + b.grad_bias.flops) if r.mode == "train" else "",
        nbytes(row.saved_bytes) if human else exact(row.saved_bytes),
        f"{100 * own / total:.1f}%",
    ]


def _summary_lines(r: ModelResult) -> list[str]:
    t, m = r.totals, r.memory
    ins = ", ".join(f"{n} {_shape(meta.shape)} {meta.dtype}" for n, meta in r.inputs)
    amp = f", amp {r.amp}" if r.amp else ""
    lines = [
        f"convcost: {r.model} — {r.mode}, inputs {ins}, dtype {r.dtype}{amp}, "
        f"optimizer {r.optimizer}, counting {r.counting}"
        + (f", frozen /{r.freeze}/" if r.freeze else ""),
        f"params {exact(t.params)} ({si(t.params)}), trainable {exact(t.trainable_params)}",
        f"forward   MACs {si(t.forward.macs)}  FLOPs {si(t.forward.flops)} "
        f"(mults {si(t.forward.mults)}, adds {si(t.forward.adds)}, other {si(t.forward.other)})",
    ]
    if r.mode == "train":
        b = t.backward
        lines.append(
            f"backward  MACs {si(b.total.macs)}  FLOPs {si(b.total.flops)} "
            f"(∂input {si(b.grad_input.flops)}, ∂weight {si(b.grad_weight.flops)}, "
            f"∂bias {si(b.grad_bias.flops)})"
        )
        if r.optimizer != "none":
            lines.append(f"optimizer FLOPs {si(t.optimizer.flops)}")
    mem = (
        f"memory    params {nbytes(m.params_bytes)}, buffers {nbytes(m.buffers_bytes)}, "
        f"inputs {nbytes(m.inputs_bytes)}"
    )
    if r.mode == "train":
        mem += (
            f", grads {nbytes(m.grads_bytes)}, optimizer {nbytes(m.optimizer_bytes)}, "
            f"saved activations {nbytes(m.saved_activations_bytes)}"
        )
    lines.append(mem)
    peak = f"peak      inference {nbytes(m.peak_inference_bytes)}"
    if m.peak_train_bytes is not None:
        peak += f", training step {nbytes(m.peak_train_bytes)}"
        steady = m.peak_train_steady_bytes
        if steady is not None and steady != m.peak_train_bytes:
            peak += f" (later steps {nbytes(steady)})"
    lines.append(peak)
    return lines


def _unsupported_lines(r: ModelResult) -> list[str]:
    if not r.unsupported_ops:
        return []
    ops = ", ".join(f"{op} ×{n}" for op, n in r.unsupported_ops)
    return [f"UNSUPPORTED ops (no formula; not in the totals): {ops}"]


def table(r: ModelResult, depth: int | None = 2) -> str:
    """Summary lines and the per-module table to ``depth`` (``None``: every level)."""
    rows = [_layer_cells(r, row, True) for row in _rows(r, depth, hide_empty=True)]
    parts = [*_summary_lines(r), "", text_table(LAYER_HEADER, rows, left=(0, 1))]
    parts += ["", *_unsupported_lines(r)] if r.unsupported_ops else []
    return "\n".join(parts) + "\n"


def markdown(r: ModelResult, depth: int | None = 2) -> str:
    """Markdown: summary as a list, the per-module table."""
    rows = [_layer_cells(r, row, True) for row in _rows(r, depth, hide_empty=True)]
    for cells in rows:
        cells[0] = cells[0].replace("  ", "&nbsp;&nbsp;")
    summary = _summary_lines(r)
    out = [
        f"### {summary[0]}",
        "",
        *[f"- {s}" for s in summary[1:]],
        "",
        markdown_table(LAYER_HEADER, rows),
    ]
    out += ["", *(f"**{s}**" for s in _unsupported_lines(r))] if r.unsupported_ops else []
    return "\n".join(out) + "\n"


CSV_HEADER = [
    "name",
    "type",
    "depth",
    "leaf",
    "calls",
    "output_shape",
    "params",
    "trainable_params",
    "forward_macs",
    "forward_mults",
    "forward_adds",
    "forward_other",
    "forward_flops",
    "grad_input_flops",
    "grad_weight_flops",
    "grad_bias_flops",
    "backward_macs",
    "backward_flops",
    "saved_bytes",
]


def to_csv(r: ModelResult, depth: int | None = None) -> str:
    """One row per module (to ``depth``), exact integers, shape as ``8x64x56x56``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADER)
    for row in _rows(r, depth):
        b = row.backward
        f = row.forward
        w.writerow(
            [
                row.name,
                row.type,
                row.depth,
                int(row.leaf),
                row.calls,
                "" if row.output_shape is None else "x".join(map(str, row.output_shape)),
                row.params,
                row.trainable_params,
                f.macs,
                f.mults,
                f.adds,
                f.other,
                f.flops,
                b.grad_input.flops,
                b.grad_weight.flops,
                b.grad_bias.flops,
                b.total.macs,
                b.total.flops,
                row.saved_bytes,
            ]
        )
    return buf.getvalue()
