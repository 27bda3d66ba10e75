"""Reports over several analyses: sweeps (one row per setting) and side-by-side comparisons."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from ..model import ModelResult
from .jsonfmt import dumps
from .model import Hardware
from .text import TableRenderer, markdown_table, text_table
from .units import nbytes, si


@dataclass(frozen=True)
class SweepRow:
    """One setting of a sweep: the batch and/or resolution it used, and its analysis."""

    batch: int | None
    resolution: int | None
    result: ModelResult
    hw: Hardware


def _metrics(r: ModelResult, hw: Hardware) -> list[tuple[str, str, Any]]:
    """(key, label, exact value) of the headline numbers of one analysis."""
    t, m = r.totals, r.memory
    out: list[tuple[str, str, Any]] = [
        ("params", "params", t.params),
        ("trainable_params", "trainable params", t.trainable_params),
        ("forward_macs", "forward MACs", t.forward.macs),
        ("forward_flops", "forward FLOPs", t.forward.flops),
        ("backward_flops", "backward FLOPs", t.backward.total.flops),
        ("backward_grad_input_flops", "  ∂input", t.backward.grad_input.flops),
        ("backward_grad_params_flops", "  ∂params",
         t.backward.grad_weight.flops + t.backward.grad_bias.flops),
        ("optimizer_flops", "optimizer FLOPs", t.optimizer.flops),
        ("params_bytes", "params bytes", m.params_bytes),
        ("grads_bytes", "grads bytes", m.grads_bytes),
        ("optimizer_bytes", "optimizer bytes", m.optimizer_bytes),
        ("saved_activations_bytes", "saved activations", m.saved_activations_bytes),
        ("peak_train_bytes", "peak training step", m.peak_train_bytes),
        ("peak_inference_bytes", "peak inference", m.peak_inference_bytes),
        ("unsupported_ops", "unsupported ops", sum(n for _, n in r.unsupported_ops)),
    ]
    if hw.step is not None:
        out += [("step_s", "step time (roofline)", hw.step.step_s),
                ("samples_per_s", "samples/s", hw.step.samples_per_s),
                ("mfu", "MFU", hw.step.mfu)]
    return out


def _human(key: str, v: Any) -> str:
    if v is None:
        return "-"
    if key.endswith("_bytes") or key == "saved_activations_bytes":
        return nbytes(v)
    if key == "step_s":
        return f"{v * 1e3:.3g} ms"
    if key == "mfu":
        return f"{100 * v:.1f}%"
    if key == "samples_per_s":
        return f"{v:,.1f}"
    if key == "unsupported_ops":
        return str(v)
    return si(v)


SWEEP_KEYS = ("forward_flops", "backward_flops", "forward_macs", "saved_activations_bytes",
              "peak_train_bytes", "peak_inference_bytes", "step_s", "samples_per_s")


def _sweep_cells(rows: list[SweepRow], human: bool) -> tuple[list[str], list[list[str]]]:
    first = dict((k, lab) for k, lab, _ in _metrics(rows[0].result, rows[0].hw))
    keys = [k for k in SWEEP_KEYS if k in first]
    header = ["batch", "resolution", *[first[k].strip() for k in keys]]
    body = []
    for row in rows:
        vals = {k: v for k, _, v in _metrics(row.result, row.hw)}
        body.append([
            "-" if row.batch is None else str(row.batch),
            "-" if row.resolution is None else str(row.resolution),
            *[_human(k, vals[k]) if human else str(vals[k]) for k in keys],
        ])
    return header, body


def sweep_table(rows: list[SweepRow], render: TableRenderer = text_table) -> str:
    """One row per setting, units humanised."""
    header, body = _sweep_cells(rows, True)
    r0 = rows[0].result
    amp = f", amp {r0.amp}" if r0.amp else ""
    title = (f"convcost sweep: {r0.model} — {r0.mode}, dtype {r0.dtype}{amp}, optimizer "
             f"{r0.optimizer}, counting {r0.counting}")
    return title + "\n\n" + render(header, body, "", (0,)) + "\n"


def sweep_markdown(rows: list[SweepRow]) -> str:
    """The sweep as a Markdown table."""
    header, body = _sweep_cells(rows, True)
    return markdown_table(header, body) + "\n"


def _csv(header: list[str], body: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(body)
    return buf.getvalue()


def sweep_csv(rows: list[SweepRow]) -> str:
    """The sweep as CSV with exact numbers."""
    header, body = _sweep_cells(rows, False)
    return _csv([h.replace(" ", "_") for h in header], body)


def sweep_json(rows: list[SweepRow]) -> str:
    """``{"sweep": [{"batch", "resolution", "result": {... without layers}}]}``."""
    items = []
    for row in rows:
        d = row.result.to_dict()
        d.pop("layers")
        items.append({"batch": row.batch, "resolution": row.resolution, **d,
                      **row.hw.to_dict()})
    return dumps({"sweep": items})


@dataclass(frozen=True)
class CompareEntry:
    """One side of a comparison: its label (the entry as typed) and its analysis."""

    label: str
    result: ModelResult
    hw: Hardware


def _compare_cells(entries: list[CompareEntry], human: bool) -> tuple[list[str],
                                                                         list[list[str]]]:
    metrics = [_metrics(e.result, e.hw) for e in entries]
    keys = [(k, lab) for k, lab, _ in metrics[0]]
    for m in metrics[1:]:  # keep only the metrics every entry has
        have = {k for k, _, _ in m}
        keys = [(k, lab) for k, lab in keys if k in have]
    header = ["", *[e.label for e in entries]]
    if len(entries) == 2:
        header.append("B / A")
    body = []
    for k, lab in keys:
        vals = [dict((kk, v) for kk, _, v in m)[k] for m in metrics]
        cells = [lab, *[(_human(k, v) if human else str(v)) for v in vals]]
        if len(entries) == 2:
            a, b = vals
            cells.append(f"{b / a:.3f}" if isinstance(a, (int, float)) and a and
                         isinstance(b, (int, float)) else "-")
        body.append(cells)
    return header, body


def compare_table(entries: list[CompareEntry], render: TableRenderer = text_table) -> str:
    """Headline numbers side by side (and B / A for two entries)."""
    header, body = _compare_cells(entries, True)
    lines = [f"{chr(65 + i)}: {e.label}" for i, e in enumerate(entries)]
    return "\n".join(lines) + "\n\n" + render(header, body, "", (0,)) + "\n"


def compare_markdown(entries: list[CompareEntry]) -> str:
    """The comparison as a Markdown table."""
    header, body = _compare_cells(entries, True)
    return markdown_table(header, body) + "\n"


def compare_csv(entries: list[CompareEntry]) -> str:
    """The comparison as CSV (exact numbers), one row per metric."""
    header, body = _compare_cells(entries, False)
    return _csv(["metric", *header[1:]], body)


def compare_json(entries: list[CompareEntry]) -> str:
    """``{"compare": [{"label", ... result without layers, hardware}]}``."""
    items = []
    for e in entries:
        d = e.result.to_dict()
        d.pop("layers")
        items.append({"label": e.label, **d, **e.hw.to_dict()})
    return dumps({"compare": items})
