"""Reports of a whole-model analysis: table, Markdown, CSV, JSON. Pure formatting."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..model import LayerRow, ModelResult
from .jsonfmt import dumps
from .text import TableRenderer, markdown_table, text_table
from .units import exact, nbytes, si

if TYPE_CHECKING:
    from ..fit import FitResult
    from ..hardware.devices import DeviceSpec
    from ..hardware.distributed import DistributedStep
    from ..hardware.step import StepTime


@dataclass(frozen=True)
class Hardware:
    """Optional hardware answers to show beside a model's counts."""

    step: StepTime | None = None
    distributed: DistributedStep | None = None
    fit: FitResult | None = None
    fit_device: DeviceSpec | None = None

    def to_dict(self) -> dict[str, Any]:
        """``hardware``, ``distributed`` and ``fit`` keys (only those present)."""
        d: dict[str, Any] = {}
        if self.step is not None:
            d["hardware"] = self.step.to_dict()
        if self.distributed is not None:
            d["distributed"] = self.distributed.to_dict()
        if self.fit is not None and self.fit_device is not None:
            d["fit"] = {"device": self.fit_device.name, **self.fit.to_dict()}
        return d


def to_json(r: ModelResult, timeline: bool = False, hw: Hardware | None = None,
            ops: bool = False) -> str:
    """The JSON document (every layer row, exact integers), plus hardware answers; ``ops``
    adds every counted op (with its roofline when a device is given); ``timeline`` the
    live-bytes timelines."""
    d = {**r.to_dict(timeline), **(hw.to_dict() if hw else {})}
    if ops:
        d["ops"] = op_rows(r, hw)
    return dumps(d)


def op_rows(r: ModelResult, hw: Hardware | None = None) -> list[dict[str, Any]]:
    """Every counted op: cost, bytes read/written, and intensity/attainable/time/bound on
    the device when one is given."""
    rows = []
    step = hw.step if hw is not None else None
    roofs = dict((id(o), rf) for o, rf in step.ops) if step is not None else {}
    for o in r.ops:
        d = o.to_dict()
        rf = roofs.get(id(o))
        if rf is not None:
            d.update(intensity=None if rf.bytes == 0 else rf.intensity,
                     attainable_flops=rf.attainable if rf.bytes else rf.peak,
                     time_s=rf.time, bound=rf.bound)
        rows.append(d)
    return rows


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
    "bwd ∂params",
    "saved",
    "share",
]


def _seconds(t: float) -> str:
    if t >= 1:
        return f"{t:.3g} s"
    if t >= 1e-3:
        return f"{t * 1e3:.3g} ms"
    return f"{t * 1e6:.3g} µs"


def _layer_cells(
    r: ModelResult, row: LayerRow, human: bool, hw: Hardware | None = None
) -> list[str]:
    cells = _count_cells(r, row, human)
    if hw is not None and hw.step is not None:
        lt = next((x for x in hw.step.layers if x.name == row.name), None)
        if lt is not None:
            cells += [
                _seconds(lt.forward_s),
                _seconds(lt.backward_s) if r.mode == "train" else "",
                lt.bound(hw.step.device, hw.step.dtype, hw.step.tf32),
            ]
        else:
            cells += ["", "", ""]
    return cells


def _header(hw: Hardware | None) -> list[str]:
    if hw is not None and hw.step is not None:
        return [*LAYER_HEADER, "time fwd", "time bwd", "bound"]
    return LAYER_HEADER


def _count_cells(r: ModelResult, row: LayerRow, human: bool) -> list[str]:
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


def _hardware_lines(r: ModelResult, hw: Hardware | None) -> list[str]:
    if hw is None:
        return []
    lines: list[str] = []
    st = hw.step
    if st is not None:
        from ..hardware.roofline import ASSUMPTIONS

        lines.append(
            f"device    {st.device.name} ({st.device.description}): {si(st.peak, 'FLOP/s')} "
            f"{st.dtype}, {si(st.device.bandwidth, 'B/s')}, {nbytes(st.device.memory)}"
        )
        step = f"roofline  forward {_seconds(st.forward_s)}"
        if r.mode == "train":
            step += f", backward {_seconds(st.backward_s)}"
            if st.optimizer_s:
                step += f", optimizer {_seconds(st.optimizer_s)}"
            step += (
                f"; step {_seconds(st.step_s)}, {st.samples_per_s:,.1f} samples/s, "
                f"MFU {100 * st.mfu:.1f}% (with full recomputation: MFU "
                f"{100 * st.mfu_recompute:.1f}%, HFU {100 * st.hfu_recompute:.1f}%)"
            )
        lines.append(step)
        lines.append(f"          assumes {ASSUMPTIONS}")
    d = hw.distributed
    if d is not None:
        s = d.states
        lines.append(
            f"sharded   {s.strategy} over {s.devices} devices: per device params "
            f"{nbytes(s.params)}, grads {nbytes(s.grads)}, optimizer {nbytes(s.optimizer)}, "
            f"peak {nbytes(d.peak_bytes)}; sends {nbytes(s.comm_bytes)} per step, "
            f"{_seconds(d.comm_time)} over {d.link.name}"
        )
    f, dev = hw.fit, hw.fit_device
    if f is not None and dev is not None:
        if f.batch == 0:
            lines.append(
                f"fit       not even batch 1 fits {dev.name} ({nbytes(f.capacity)}): "
                f"needs {nbytes(f.next_peak_bytes)}"
            )
        else:
            lines.append(
                f"fit       largest batch on {dev.name} ({nbytes(f.capacity)}): {f.batch} "
                f"(peak {nbytes(f.peak_bytes)}; batch {f.batch + 1} needs "
                f"{nbytes(f.next_peak_bytes)})"
            )
    return lines


def table(
    r: ModelResult,
    depth: int | None = 2,
    hw: Hardware | None = None,
    render: TableRenderer = text_table,
) -> str:
    """Summary lines and the per-module table to ``depth`` (``None``: every level)."""
    rows = [_layer_cells(r, row, True, hw) for row in _rows(r, depth, hide_empty=True)]
    parts = [
        *_summary_lines(r),
        *_hardware_lines(r, hw),
        "",
        render(_header(hw), rows, "", (0, 1)),
    ]
    parts += ["", *_unsupported_lines(r)] if r.unsupported_ops else []
    return "\n".join(parts) + "\n"


def markdown(r: ModelResult, depth: int | None = 2, hw: Hardware | None = None) -> str:
    """Markdown: summary as a list, the per-module table."""
    rows = [_layer_cells(r, row, True, hw) for row in _rows(r, depth, hide_empty=True)]
    for cells in rows:
        cells[0] = cells[0].replace("  ", "&nbsp;&nbsp;")
    summary = _summary_lines(r) + _hardware_lines(r, hw)
    out = [
        f"### {summary[0]}",
        "",
        *[f"- {s}" for s in summary[1:]],
        "",
        markdown_table(_header(hw), rows),
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


def to_csv(r: ModelResult, depth: int | None = None, hw: Hardware | None = None) -> str:
    """One row per module (to ``depth``), exact integers, shape as ``8x64x56x56``; with a
    device, also predicted seconds and bytes moved per pass."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    step = hw.step if hw is not None else None
    times = {lt.name: lt for lt in step.layers} if step is not None else {}
    extra = ["forward_s", "backward_s", "forward_bytes", "backward_bytes"] if step else []
    w.writerow(CSV_HEADER + extra)
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
                *(
                    [
                        times[row.name].forward_s,
                        times[row.name].backward_s,
                        times[row.name].forward_bytes,
                        times[row.name].backward_bytes,
                    ]
                    if row.name in times
                    else []
                ),
            ]
        )
    return buf.getvalue()
