"""The view of a whole-model analysis (:class:`~convcost.model.ModelResult`) and its hardware
answers (:class:`~convcost.hardware.answer.Hardware`).

Every row of ``result.layers`` is flattened once into a :class:`LayerLine` (numbers stay
numbers; the step time of the layer joined in when a device is given); :data:`COLUMNS`
names what each column holds, and each renderer picks the columns it shows
(:data:`TABLE_COLUMNS`, :data:`CSV_COLUMNS`, :data:`HTML_COLUMNS`, :data:`FRAME_COLUMNS`).
Also here: the summary and hardware lines, the compute and memory breakdowns, the per-op rows
and the JSON document.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .cells import Cell, Kind, Line, Q, Table, line

if TYPE_CHECKING:
    from ..cost import Cost
    from ..hardware.answer import Hardware
    from ..hardware.estimate import Estimate
    from ..model.results import ModelResult


@dataclass(frozen=True)
class LayerLine:
    """One row of ``result.layers``, flattened: counts are exact integers, bytes are bytes,
    times are seconds (``None`` without a device). ``label`` is the last part of the module
    path indented two spaces per level below the top (``"(model)"`` for the root);
    ``parent`` the path of the enclosing row (``None`` for the root); ``share`` the row's
    forward + backward FLOPs over the step's, as ``(part, whole)``."""

    name: str
    label: str
    type: str
    depth: int
    leaf: bool
    calls: int
    parent: str | None
    has_children: bool
    output_shape: tuple[int, ...] | None
    params: int
    trainable_params: int
    forward_macs: int
    forward_mults: int
    forward_adds: int
    forward_other: int
    forward_flops: int
    grad_input_flops: int
    grad_weight_flops: int
    grad_bias_flops: int
    grad_params_flops: int
    backward_macs: int
    backward_flops: int
    saved_bytes: int
    share: tuple[int, int]
    est_forward_s: float | None = None
    est_backward_s: float | None = None
    forward_s: float | None = None
    backward_s: float | None = None
    forward_bytes: int | None = None
    backward_bytes: int | None = None
    bound: str | None = None
    peak_dtype: str | None = None
    peak_note: str | None = None


@dataclass(frozen=True)
class Column:
    """What one column holds: ``key`` (the :class:`LayerLine` field, and the CSV header),
    ``label`` (the header people read), ``kind`` (how its values are written), ``tip`` (a
    sentence saying what it is). ``train_only``: meaningful only for a training step (blank
    or dropped otherwise); ``blank_zero``: people see a blank instead of 0."""

    key: str
    label: str
    kind: Kind
    tip: str = ""
    train_only: bool = False
    blank_zero: bool = False


COLUMNS: dict[str, Column] = {c.key: c for c in (
    Column("label", "module", "text", "module path"),
    Column("name", "module", "text", "module path"),
    Column("type", "type", "text", "module class"),
    Column("depth", "depth", "int", "module level (0: the model)"),
    Column("leaf", "leaf", "flag", "the row has no children"),
    Column("calls", "calls", "int", "times the module ran"),
    Column("output_shape", "output", "shape", "output shape"),
    Column("params", "params", "count", "parameters (elements)", blank_zero=True),
    Column("trainable_params", "trainable", "count", "trainable parameters (elements)"),
    Column("forward_macs", "fwd MACs", "count", "forward multiply-accumulates"),
    Column("forward_mults", "fwd mults", "count", "forward multiplications"),
    Column("forward_adds", "fwd adds", "count", "forward additions"),
    Column("forward_other", "fwd other", "count", "forward other scalar operations"),
    Column("forward_flops", "fwd FLOPs", "count", "forward FLOPs (mults + adds + other)"),
    Column("grad_input_flops", "bwd ∂input", "count",
           "backward FLOPs for the gradient of the input", train_only=True),
    Column("grad_weight_flops", "bwd ∂weight", "count",
           "backward FLOPs for the gradient of the weight", train_only=True),
    Column("grad_bias_flops", "bwd ∂bias", "count",
           "backward FLOPs for the gradient of the bias", train_only=True),
    Column("grad_params_flops", "bwd ∂params", "count",
           "backward FLOPs for the gradients of weight and bias", train_only=True),
    Column("backward_macs", "bwd MACs", "count", "backward multiply-accumulates",
           train_only=True),
    Column("backward_flops", "bwd FLOPs", "count", "backward FLOPs", train_only=True),
    Column("saved_bytes", "saved", "bytes", "activations saved for backward (bytes)"),
    Column("share", "share", "share", "share of the step's forward + backward FLOPs"),
    Column("est_forward_s", "time fwd", "seconds",
           "estimated forward seconds (execution-time model: the layer's share of the step)"),
    Column("est_backward_s", "time bwd", "seconds",
           "estimated backward seconds (execution-time model: the layer's share of the step)",
           train_only=True),
    Column("forward_s", "roofline fwd", "seconds",
           "forward seconds at peak FLOP/s and bandwidth (roofline bound)"),
    Column("backward_s", "roofline bwd", "seconds",
           "backward seconds at peak FLOP/s and bandwidth (roofline bound)", train_only=True),
    Column("forward_bytes", "bytes fwd", "int", "bytes read and written by the forward ops"),
    Column("backward_bytes", "bytes bwd", "int", "bytes read and written by the backward ops",
           train_only=True),
    Column("bound", "bound", "text", "compute- or memory-bound (roofline, whole layer)"),
    Column("peak_dtype", "peak dtype", "text",
           "dtype whose peak FLOP/s the roofline uses (float32 when the device has none for "
           "the compute dtype)"),
    Column("peak_note", "peak note", "text",
           "why the peak is not the compute dtype's (blank when it is)"),
)}

#: Columns of the terminal, Markdown and notebook tables (time columns with a device).
TABLE_COLUMNS = ("label", "type", "output_shape", "params", "forward_flops",
                 "grad_input_flops", "grad_params_flops", "saved_bytes", "share")
#: Columns of the CSV (exact numbers).
CSV_COLUMNS = ("name", "type", "depth", "leaf", "calls", "output_shape", "params",
               "trainable_params", "forward_macs", "forward_mults", "forward_adds",
               "forward_other", "forward_flops", "grad_input_flops", "grad_weight_flops",
               "grad_bias_flops", "backward_macs", "backward_flops", "saved_bytes")
#: Columns of the HTML report's layer table (training-only ones dropped for inference).
HTML_COLUMNS = ("name", "type", "output_shape", "params", "forward_macs", "forward_flops",
                "grad_input_flops", "grad_params_flops", "saved_bytes", "share")
#: Columns of the pandas data frame (every level, exact numbers; indexed by ``name``).
FRAME_COLUMNS = ("name", "type", "depth", "leaf", "output_shape", "params",
                 "trainable_params", "forward_macs", "forward_mults", "forward_adds",
                 "forward_other", "forward_flops", "grad_input_flops", "grad_weight_flops",
                 "grad_bias_flops", "backward_macs", "backward_flops", "saved_bytes")
#: Time columns the tables add when a device is given.
TABLE_TIME_COLUMNS = ("est_forward_s", "est_backward_s", "forward_s", "backward_s", "bound")
#: Time columns of the HTML report's layer table (the roofline's seconds are in its summary,
#: the CSV and the JSON; the page stays within a laptop's width).
HTML_TIME_COLUMNS = ("est_forward_s", "est_backward_s", "bound")
CSV_TIME_COLUMNS = ("est_forward_s", "est_backward_s", "forward_s", "backward_s",
                    "forward_bytes", "backward_bytes", "peak_dtype", "peak_note")


def _parents(names: Sequence[str], depths: Sequence[int]) -> list[str | None]:
    """Each row's parent path (``None`` for the root), from the depth-first row order."""
    stack: list[tuple[str, int]] = []
    out: list[str | None] = []
    for name, depth in zip(names, depths):
        while stack and stack[-1][1] >= depth:
            stack.pop()
        out.append(stack[-1][0] if stack else None)
        stack.append((name, depth))
    return out


def _label(name: str, depth: int) -> str:
    if name == "":
        return "(model)"
    return "  " * (depth - 1) + name.rsplit(".", 1)[-1] if depth > 1 else name


def layer_lines(r: ModelResult, hw: Hardware | None = None) -> tuple[LayerLine, ...]:
    """Every row of ``r.layers``, in order, with its step time when ``hw.step`` is given."""
    rows = r.layers
    total = (r.totals.forward.flops + r.totals.backward.total.flops) or 1
    step = hw.step if hw is not None else None
    times = {lt.name: lt for lt in step.layers} if step is not None else {}
    parents = _parents([x.name for x in rows], [x.depth for x in rows])
    out = []
    for i, (row, parent) in enumerate(zip(rows, parents)):
        f, b = row.forward, row.backward
        lt = times.get(row.name)
        timing: dict[str, Any] = {}
        if lt is not None and step is not None:
            timing = dict(est_forward_s=lt.est_forward_s, est_backward_s=lt.est_backward_s,
                          forward_s=lt.forward_s, backward_s=lt.backward_s,
                          forward_bytes=lt.forward_bytes, backward_bytes=lt.backward_bytes,
                          bound=lt.bound(step.device, step.dtype, step.tf32),
                          peak_dtype=step.peak_dtype, peak_note=step.peak_note or "")
        out.append(LayerLine(
            name=row.name, label=_label(row.name, row.depth), type=row.type, depth=row.depth,
            leaf=row.leaf, calls=row.calls, parent=parent,
            has_children=i + 1 < len(rows) and rows[i + 1].depth > row.depth,
            output_shape=row.output_shape, params=row.params,
            trainable_params=row.trainable_params, forward_macs=f.macs,
            forward_mults=f.mults, forward_adds=f.adds, forward_other=f.other,
            forward_flops=f.flops, grad_input_flops=b.grad_input.flops,
            grad_weight_flops=b.grad_weight.flops, grad_bias_flops=b.grad_bias.flops,
            grad_params_flops=b.grad_weight.flops + b.grad_bias.flops,
            backward_macs=b.total.macs, backward_flops=b.total.flops,
            saved_bytes=row.saved_bytes, share=(f.flops + b.total.flops, total), **timing,
        ))
    return tuple(out)


def select(lines: Sequence[LayerLine], depth: int | None = None,
           hide_empty: bool = False) -> list[LayerLine]:
    """Lines to ``depth`` (``None``: every level); ``hide_empty`` drops functional rows with
    no cost and no saved memory."""
    return [
        x for x in lines
        if (depth is None or x.depth <= depth)
        and not (hide_empty and x.type == "functional" and not x.saved_bytes
                 and not x.forward_flops and not x.backward_flops)
    ]


def columns(keys: Sequence[str], hw: Hardware | None, extra: Sequence[str]) -> list[Column]:
    """The columns ``keys``, then ``extra`` when ``hw`` holds a step time."""
    has_step = hw is not None and hw.step is not None
    return [COLUMNS[k] for k in (*keys, *(extra if has_step else ()))]


def layer_table(r: ModelResult, hw: Hardware | None, depth: int | None, human: bool,
                keys: Sequence[str] = TABLE_COLUMNS,
                time_keys: Sequence[str] = TABLE_TIME_COLUMNS) -> Table:
    """The per-layer table to ``depth``. ``human``: the table people read (functional rows
    without cost hidden, zero parameters and training-only columns of an inference result
    blank); otherwise every row, every value (CSV)."""
    train = r.mode == "train"
    cols = columns(keys, hw, time_keys)
    lines = select(layer_lines(r, hw), depth, hide_empty=human)
    rows: list[tuple[Cell, ...]] = []
    for x in lines:
        cells: list[Cell] = []
        for c in cols:
            v = getattr(x, c.key)
            if human and ((c.blank_zero and not v) or (c.train_only and not train)):
                cells.append("")
            else:
                cells.append(Q(v, c.kind))
        rows.append(tuple(cells))
    header = tuple(c.label if human else c.key for c in cols)
    return Table(header, tuple(rows), (0, 1))


# --------------------------------------------------------------------------- summary lines


def _inputs(r: ModelResult, dtypes: bool = True) -> list[Cell]:
    parts: list[Cell] = []
    for i, (n, meta) in enumerate(r.inputs):
        parts += [", " if i else "", f"{n} ", Q(tuple(meta.shape), "shape")]
        if dtypes:
            parts.append(f" {meta.dtype}")
        if r.requires_grad(i):
            parts.append(" (requires grad)")
    return parts


def title(r: ModelResult) -> Line:
    """``convcost: MODEL — mode, inputs …, dtype …, optimizer …, counting …``."""
    return line(
        f"convcost: {r.model} — {r.mode}, inputs ", *_inputs(r),
        f", dtype {r.dtype}" + (f", amp {r.amp}" if r.amp else "")
        + f", optimizer {r.optimizer}, counting {r.counting}"
        + (f", frozen /{r.freeze}/" if r.freeze else "")
        + (f", checkpointed /{r.checkpoint}/" if r.checkpoint else ""),
    )


def run_line(r: ModelResult, device: str | None = None) -> Line:
    """``mode, inputs …, dtype …, optimizer …, counting …[, device …]`` (a page's subtitle)."""
    return line(
        f"{r.mode}, inputs ", *_inputs(r, dtypes=False), f", dtype {r.dtype}"
        + (f", amp {r.amp}" if r.amp else "")
        + f", optimizer {r.optimizer}, counting {r.counting}"
        + (f", device {device}" if device is not None else ""),
    )


#: How the report names each host class of the estimate.
CLASS_NAMES = {"library": "cuDNN convolutions", "blas": "other library calls",
               "kernel": "own kernels", "none": "no kernel", "module": "module calls"}


def estimate_parts(est: Estimate) -> list[Line]:
    """The estimate's parts: host and device seconds per phase and per op class, and the
    software stack its host constants come from."""
    from ..hardware.stacks import get_stack

    ph: list[Cell] = ["          host/device per phase:"]
    for name, p in est.phases.items():
        ph += [f" {name} ", Q(p["host_s"], "seconds"), " / ", Q(p["device_s"], "seconds"), ";"]
    ph[-1] = str(ph[-1]).rstrip(";")
    cl: list[Cell] = ["          per op class (ops, host / device):"]
    for name, k in est.classes.items():
        cl += [f" {CLASS_NAMES.get(name, name)} {int(k['ops'])}, ", Q(k["host_s"], "seconds")]
        cl += [" / ", Q(k["device_s"], "seconds"), ";"] if name != "module" else [";"]
    cl[-1] = str(cl[-1]).rstrip(";")
    c = est.constants
    stack = get_stack(c.stack)
    own = [k for k, v in c.origin.items() if k.startswith("host_us.") and v == "device"]
    host = ", ".join(f"{k} {v * 1e6:g} µs" for k, v in c.host_s.items())
    st = (f"          stack {stack.name} ({stack.description}): host {host}"
          + (f" ({', '.join(own)} the device's own)" if own else ""))
    return [line(*ph), line(*cl), line(st)]


def summary_lines(r: ModelResult) -> list[Line]:
    """The title, parameters, forward/backward/optimizer cost, memory and peaks (and how
    data-dependent ops were handled, when the analysis met them or was asked to)."""
    t, m = r.totals, r.memory

    def c(v: int | float) -> Q:
        return Q(v, "count")

    def by(v: int) -> Q:
        return Q(v, "bytes")

    f = t.forward
    lines = [
        title(r),
        line("params ", Q(t.params, "exact"), " (", c(t.params), "), trainable ",
             Q(t.trainable_params, "exact")),
        line("forward   MACs ", c(f.macs), "  FLOPs ", c(f.flops), " (mults ", c(f.mults),
             ", adds ", c(f.adds), ", other ", c(f.other), ")"),
    ]
    if r.mode == "train":
        b = t.backward
        lines.append(line("backward  MACs ", c(b.total.macs), "  FLOPs ", c(b.total.flops),
                          " (∂input ", c(b.grad_input.flops), ", ∂weight ",
                          c(b.grad_weight.flops), ", ∂bias ", c(b.grad_bias.flops), ")"))
        if t.recompute.flops or t.recompute.macs:
            lines.append(line("recompute FLOPs ", c(t.recompute.flops), " (MACs ",
                              c(t.recompute.macs), "): checkpointed forwards run again in "
                              "the backward"))
        if r.optimizer != "none":
            opt: list[Cell] = ["optimizer FLOPs ", c(t.optimizer.flops)]
            if t.first_step_optimizer != t.optimizer:
                opt += [" per step after the first (first step ",
                        c(t.first_step_optimizer.flops), ")"]
            lines.append(line(*opt))
    mem: list[Cell] = ["memory    params ", by(m.params_bytes), ", buffers ",
                       by(m.buffers_bytes), ", inputs ", by(m.inputs_bytes)]
    if r.mode == "train":
        mem += [", grads ", by(m.grads_bytes), ", optimizer ", by(m.optimizer_bytes),
                ", saved activations ", by(m.saved_activations_bytes)]
    lines.append(line(*mem))
    peak: list[Cell] = ["peak      inference ", by(m.peak_inference_bytes)]
    if m.peak_train_bytes is not None:
        peak += [", training step ", by(m.peak_train_bytes)]
        steady = m.peak_train_steady_bytes
        if steady is not None and steady != m.peak_train_bytes:
            peak += [" (later steps ", by(steady), ")"]
    lines.append(line(*peak))
    if r.mode == "train" and not r.hold_output:  # the default (held) is the README's rule
        lines.append(line("loop      the output is not held to the end of the step "
                          "(loss = f(model(x)); --no-hold-output)"))
    if r.data_dependent is not None:
        lines.append(line(f"data-dep  {r.data_dependent.note}"))
    if r.construction is not None and r.construction.startswith("cpu ("):  # a reason
        lines.append(line(f"built     on the {r.construction.replace('cpu', 'CPU', 1)}"))
    note = dispatch_note(r)
    if note is not None and r.dispatch == "cuda":
        lines.append(line(f"dispatch  {note}"))
    return lines


def dispatch_note(r: ModelResult) -> str | None:
    """Which dispatch path the step was traced on and the kernels chosen on it, in words:
    ``"cuda (fake CUDA tensors, compute capability 9.0): sdpa flash, batch_norm cudnn"``;
    ``None`` for the CPU path (the default without a GPU device)."""
    if r.dispatch != "cuda":
        return None
    chosen = ", ".join(f"{k} {v}" for k, v in r.backends)
    cc = r.compute_capability or "unknown"
    target = ("an AMD GPU: ROCm's kernel set" if cc == "rocm"
              else f"compute capability {cc}")
    return (f"cuda (fake CUDA tensors through PyTorch's CUDA dispatch, {target})"
            + (f": {chosen}" if chosen else ""))


def unsupported_lines(r: ModelResult) -> list[Line]:
    """One line naming the ops without a formula (whose cost is not in the totals), if any."""
    if not r.unsupported_ops:
        return []
    ops = ", ".join(f"{op} ×{n}" for op, n in r.unsupported_ops)
    return [line(f"UNSUPPORTED ops (no formula; not in the totals): {ops}")]


def hardware_lines(r: ModelResult, hw: Hardware | None) -> list[Line]:
    """The device and roofline step time, the sharded step, the largest batch that fits
    (each when ``hw`` holds it)."""
    if hw is None:
        return []
    lines: list[Line] = []
    st = hw.step
    if st is not None and r.dispatch == "cpu" and st.device.arch not in ("cpu", ""):
        lines.append(line("dispatch  cpu (forced): memory and ops are those of PyTorch's CPU "
                          "kernels, not of what CUDA runs"))
    if st is not None:
        from ..hardware.roofline import ASSUMPTIONS

        shown = st.dtype if st.peak_note is None else st.peak_dtype  # whose peak it is
        lines.append(line(
            f"device    {st.device.name} ({st.device.description}): ",
            Q(st.peak, "count", "FLOP/s"), f" {shown}, ",
            Q(st.device.bandwidth, "count", "B/s"), ", ", Q(st.device.memory, "bytes")))
        if st.peak_note is not None:
            lines.append(line(f"note      {st.peak_note}"))
        est = st.estimate
        if est is not None:
            from ..hardware.estimate import ESTIMATE_ASSUMPTIONS, converts_layout

            e: list[Cell] = ["estimate  forward ", Q(est.forward_s, "seconds")]
            if r.mode == "train":
                e += [", backward ", Q(est.backward_s, "seconds")]
                if est.optimizer_s:
                    e += [", optimizer ", Q(est.optimizer_s, "seconds"),
                          " (foreach)" if est.foreach else " (per-parameter)"]
                e += ["; step ", Q(est.step_s, "seconds")]
            e += [", ", Q(est.samples_per_s, "number"), " samples/s; host ",
                  Q(est.host_s, "seconds"), ", device ", Q(est.device_s, "seconds"),
                  " (host-bound)" if est.host_bound else ""]
            lines.append(line(*e))
            lines += estimate_parts(est)
            layout = ("" if not converts_layout(st.device) else
                      "; channels-last (NHWC) tensors" if est.channels_last else
                      "; contiguous (NCHW) tensors: tensor-core convolutions convert them to "
                      "NHWC and back")
            lines.append(line(f"          assumes {ESTIMATE_ASSUMPTIONS}{layout}"))
        step: list[Cell] = ["roofline  (bound) forward ", Q(st.forward_s, "seconds")]
        if r.mode == "train":
            step += [", backward ", Q(st.backward_s, "seconds")]
            if st.optimizer_s:
                step += [", optimizer ", Q(st.optimizer_s, "seconds")]
            step += ["; step ", Q(st.step_s, "seconds"), ", ", Q(st.samples_per_s, "number"),
                     " samples/s, MFU ", Q(st.mfu, "percent"),
                     " (with full recomputation: MFU ", Q(st.mfu_recompute, "percent"),
                     ", HFU ", Q(st.hfu_recompute, "percent"), ")"]
        lines.append(line(*step))
        lines.append(line(f"          assumes {ASSUMPTIONS}"))
    lines += device_memory_lines(hw, r.optimizer_foreach)
    d = hw.distributed
    if d is not None:
        s = d.states
        lines.append(line(
            f"sharded   {s.strategy} over {s.devices} devices: per device params ",
            Q(s.params, "bytes"), ", grads ", Q(s.grads, "bytes"), ", optimizer ",
            Q(s.optimizer, "bytes"), ", peak ", Q(d.peak_bytes, "bytes"), "; sends ",
            Q(s.comm_bytes, "bytes"), " per step, ", Q(d.comm_time, "seconds"),
            f" over {d.link.name}", *assumed(d.link.description)))
    f, dev = hw.fit, hw.fit_device
    if f is not None and dev is not None:
        what = "reserved peak" if f.basis == "reserved" else "peak"
        usable: list[Cell] = ["usable ", Q(f.capacity, "bytes")]
        if f.reserve:
            usable += [" = ", Q(f.total, "bytes"), " - ", Q(f.reserve, "bytes"), " reserve"]
        if f.batch == 0:
            need = "allocated peak" if f.basis == "reserved" else "peak"
            lines.append(line(f"fit       not even batch 1 fits {dev.name} (", *usable,
                              f"): needs {need} ", Q(f.next_peak_bytes, "bytes")))
        else:
            nxt = (f"; batch {f.batch + 1} runs out of memory: allocated peak "
                   if f.basis == "reserved" else f"; batch {f.batch + 1} needs ")
            lines.append(line(
                f"fit       largest batch on {dev.name} (", *usable, f"): {f.batch} ({what} ",
                Q(f.peak_bytes, "bytes"), ", clears by ", Q(f.clearance, "bytes"), nxt,
                Q(f.next_peak_bytes, "bytes"), ")"))
    return lines


def device_memory_rows(hw: Hardware | None) -> list[tuple[str, int]]:
    """``(what, bytes)`` of the step's peak on the device beside its capacity: live tensors,
    allocated and reserved (the caching allocator's peaks; absent on a CPU), usable, the
    reserve and the total memory; empty without a device."""
    dm = hw.memory if hw is not None else None
    if dm is None:
        return []
    rows = [("live tensors", dm.live)]
    if dm.peaks is not None:
        rows += [("allocated (max_memory_allocated)", dm.allocated),
                 ("reserved (max_memory_reserved)", dm.reserved)]
    return [*rows, ("usable", dm.usable), ("reserve (context, libraries, driver)", dm.reserve),
            (f"{dm.device} memory", dm.capacity)]


def assumed(description: str) -> list[Cell]:
    """`` (assumed for t4 (a PCIe card, no NVLink): give --interconnect to choose)`` when the
    interconnect was not chosen but assumed from the device (its description says so)."""
    _, sep, rest = description.partition("; assumed for ")
    return [f" (assumed for {rest})"] if sep else []


def device_memory_lines(hw: Hardware, foreach: bool = False) -> list[Line]:
    """The step's peak on the device: live tensors, the caching allocator's allocated and
    reserved peaks, and the usable capacity (with by how much it clears or misses);
    ``foreach``: the optimizer step was analysed with the multi-tensor implementation."""
    dm = hw.memory
    if dm is None:
        return []
    head: list[Cell] = [f"memory    on {dm.device}: live tensors ", Q(dm.live, "bytes")]
    if dm.peaks is not None:
        head += [", allocated ", Q(dm.allocated, "bytes"), ", reserved ",
                 Q(dm.reserved, "bytes")]
    head += [" of usable ", Q(dm.usable, "bytes"), " (", Q(dm.capacity, "bytes"), " - ",
             Q(dm.reserve, "bytes"), " reserve): "]
    if dm.fits:
        releases = dm.peaks.cache_releases if dm.peaks is not None else 0
        head += ["fits" + (f" (the allocator empties its cache {releases} time"
                           f"{'s' if releases > 1 else ''} to make room)" if releases else ""),
                 ", clears by ", Q(dm.clearance, "bytes")]
    else:
        head += ["DOES NOT FIT, short by ", Q(-dm.clearance, "bytes")]
    out = [line(*head)]
    if dm.peaks is not None:
        from ..memory.allocator import TORCH_VERSION

        p = dm.peaks
        ws: list[Cell] = ["cuBLAS workspace ", Q(p.cublas_workspace, "bytes")]
        if p.cudnn_workspace:
            ws += [", cuDNN workspace ", Q(p.cudnn_workspace, "bytes"), " per convolution"]
        else:
            ws.append(", cuDNN workspaces not modelled")
        if foreach:
            ws += ["; optimizer step: foreach implementation (PyTorch's GPU default)"]
        out.append(line(f"          PyTorch {TORCH_VERSION} caching allocator, default "
                        f"configuration, {p.steps} steps from a fresh process; ", *ws))
    return out


# --------------------------------------------------------------------------- breakdowns


def compute_rows(r: ModelResult) -> list[tuple[str, Cost]]:
    """``(what, cost)`` of the forward pass and, for training, the backward pass and its
    gradients and the optimizer step (when there is one: a later step's, and the first
    step's below it when that differs)."""
    t = r.totals
    rows: list[tuple[str, Cost]] = [("forward", t.forward)]
    if r.mode == "train":
        b = t.backward
        rows += [("backward", b.total), ("  ∂input", b.grad_input),
                 ("  ∂weight", b.grad_weight), ("  ∂bias", b.grad_bias)]
        if t.recompute.flops or t.recompute.macs:
            rows.append(("recompute (checkpointing)", t.recompute))
        if r.optimizer != "none":
            rows.append(("optimizer step", t.optimizer))
            if t.first_step_optimizer != t.optimizer:
                rows.append(("  first step (state created)", t.first_step_optimizer))
    return rows


def memory_rows(r: ModelResult) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Bytes by category, and the peaks (training first step, later steps, inference)."""
    m = r.memory
    items = [("parameters", m.params_bytes), ("buffers", m.buffers_bytes),
             ("inputs", m.inputs_bytes)]
    if r.mode == "train":
        items += [("gradients", m.grads_bytes), ("optimizer state", m.optimizer_bytes),
                  ("saved activations", m.saved_activations_bytes),
                  ("temporaries (all of the step, not live at once)", m.temporaries_bytes)]
    peaks = [("peak, inference forward", m.peak_inference_bytes)]
    if m.peak_train_bytes is not None:
        peaks.insert(0, ("peak, training step (first)", m.peak_train_bytes))
        if m.peak_train_steady_bytes is not None:
            peaks.insert(1, ("peak, later training steps", m.peak_train_steady_bytes))
    return items, peaks


@dataclass(frozen=True)
class PeakBreakdown:
    """Where the peak of the step's timeline is: after op ``index`` (its ``label``), and the
    bytes of each memory category then (non-zero ones, in category order)."""

    index: int
    label: str
    categories: tuple[tuple[str, int], ...]


def peak_breakdown(r: ModelResult) -> PeakBreakdown | None:
    """The peak of the training timeline (inference: the forward's), or ``None``."""
    from ..memory.timeline import CATEGORIES

    tl = r.memory.train_timeline if r.mode == "train" else r.memory.inference_timeline
    if tl is None or not tl.rows:
        return None
    p = tl.peak_index
    label = tl.labels[p] if p < len(tl.labels) else ""
    return PeakBreakdown(p, label, tuple((c, v) for c, v in zip(CATEGORIES, tl.rows[p]) if v))


# --------------------------------------------------------------------------- JSON


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
                     time_s=rf.time, bound=rf.bound, peak_dtype=rf.peak_dtype)
        rows.append(d)
    return rows


def document(r: ModelResult, hw: Hardware | None = None, timeline: bool = False,
             ops: bool = False) -> dict[str, Any]:
    """The JSON document: every layer row (exact integers) and the hardware answers;
    ``ops`` adds every counted op (with its roofline when a device is given), ``timeline``
    the live-bytes timelines."""
    d = {**r.to_dict(timeline), **(hw.to_dict() if hw is not None else {})}
    if ops:
        d["ops"] = op_rows(r, hw)
    return d
