"""The view of several analyses (:mod:`convcost.study`): the headline numbers of each, a
sweep's table (one row per setting), a comparison's table (one column per entry, and B / A
for two), and their JSON documents.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .cells import Cell, Kind, Q, Table

if TYPE_CHECKING:
    from ..hardware.answer import Hardware
    from ..model.results import ModelResult
    from ..study import Comparison, Sweep

Metric = tuple[str, str, Any]


def metrics(r: ModelResult, hw: Hardware) -> list[Metric]:
    """(key, label, exact value) of the headline numbers of one analysis."""
    t, m = r.totals, r.memory
    out: list[Metric] = [
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
        est = hw.step.estimate
        if est is not None:
            out += [("est_step_s", "step time (estimate)", est.step_s),
                    ("est_samples_per_s", "samples/s (estimate)", est.samples_per_s),
                    ("est_host_s", "  host (estimate)", est.host_s),
                    ("est_device_s", "  device (estimate)", est.device_s)]
        out += [("step_s", "step time (roofline)", hw.step.step_s),
                ("samples_per_s", "samples/s (roofline)", hw.step.samples_per_s),
                ("mfu", "MFU", hw.step.mfu)]
    if hw.memory is not None:
        out += [("device_reserved_bytes", "reserved peak on device", hw.memory.reserved),
                ("device_usable_bytes", "usable on device", hw.memory.usable)]
    d = hw.distributed
    if d is not None:  # the JSON's "distributed" keys, for the tables too
        st = d.states
        out += [("devices", "devices", st.devices),
                ("strategy", "sharding strategy", st.strategy),
                ("interconnect", "interconnect", d.link.name),
                ("params_bytes_per_device", "params per device", st.params),
                ("grads_bytes_per_device", "grads per device", st.grads),
                ("optimizer_bytes_per_device", "optimizer per device", st.optimizer),
                ("peak_bytes_per_device", "peak per device", d.peak_bytes),
                ("comm_bytes_per_step", "sent per step", st.comm_bytes),
                ("comm_time_s", "communication per step", d.comm_time)]
    return out


#: How the headline numbers that are not counts or bytes are written.
_KINDS: dict[str, Kind] = {"step_s": "ms", "est_step_s": "ms", "est_samples_per_s": "number",
                           "est_host_s": "ms", "est_device_s": "ms",
                           "mfu": "percent", "samples_per_s": "number",
                           "unsupported_ops": "int", "devices": "int", "strategy": "text",
                           "interconnect": "text", "comm_bytes_per_step": "bytes",
                           "comm_time_s": "ms"}


def _kind(key: str) -> Kind:
    if key.endswith("_bytes") or "_bytes_per_" in key:
        return "bytes"
    return _KINDS.get(key, "count")


def _q(key: str, v: Any, human: bool) -> Q:
    # people see '-' for a missing value; the CSV keeps Python's word for it, as it always has
    return Q(v, _kind(key), missing="-" if human else "None")


#: The rows of a sharded step (``--devices N``, ``--strategy``), shown for every entry of a
#: comparison when one of them has them.
SHARDING_KEYS = frozenset({"devices", "strategy", "interconnect", "params_bytes_per_device",
                           "grads_bytes_per_device", "optimizer_bytes_per_device",
                           "peak_bytes_per_device", "comm_bytes_per_step", "comm_time_s"})

SWEEP_KEYS = ("forward_flops", "backward_flops", "forward_macs", "saved_activations_bytes",
              "peak_train_bytes", "peak_inference_bytes", "device_reserved_bytes",
              "est_step_s", "est_samples_per_s", "step_s", "samples_per_s")


def sweep_title(s: Sweep) -> str:
    """``convcost sweep: MODEL — mode, dtype …, optimizer …, counting …``."""
    r0 = s.rows[0].result
    amp = f", amp {r0.amp}" if r0.amp else ""
    return (f"convcost sweep: {r0.model} — {r0.mode}, dtype {r0.dtype}{amp}, optimizer "
            f"{r0.optimizer}, counting {r0.counting}")


def sweep_table(s: Sweep, human: bool = True) -> Table:
    """One row per setting: batch, resolution and the headline numbers (``human``: labels
    for people; otherwise machine headers with underscores)."""
    first = dict((k, lab) for k, lab, _ in metrics(s.rows[0].result, s.rows[0].hw))
    keys = [k for k in SWEEP_KEYS if k in first]
    header = ["batch", "resolution", *[first[k].strip() for k in keys]]
    if not human:
        header = [h.replace(" ", "_") for h in header]
    body = []
    for row in s.rows:
        vals = {k: v for k, _, v in metrics(row.result, row.hw)}
        body.append((Q(row.batch, "int", missing="-"), Q(row.resolution, "int", missing="-"),
                     *[_q(k, vals.get(k), human) for k in keys]))
    return Table(tuple(header), tuple(body))


def compare_legend(c: Comparison) -> list[str]:
    """``A: LABEL``, ``B: LABEL``, … (the entries as typed)."""
    return [f"{chr(65 + i)}: {e.label}" for i, e in enumerate(c.entries)]


def compare_table(c: Comparison, human: bool = True) -> Table:
    """One row per headline number every entry has, and the rows of sharding (``devices``,
    ``strategy``, per-device bytes, communication) when any entry is sharded (``-`` for an
    entry that is not: one device); one column per entry, and ``B / A`` for two entries
    (``human``: an empty first header; otherwise ``metric``)."""
    ms = [metrics(e.result, e.hw) for e in c.entries]
    keys = [(k, lab) for k, lab, _ in ms[0]]
    for m in ms[1:]:  # keep only the metrics every entry has
        have = {k for k, _, _ in m}
        keys = [(k, lab) for k, lab in keys if k in have]
    shared = {k for k, _ in keys}
    for m in ms:  # ...but the sharding rows of any entry (the JSON has them)
        keys += [(k, lab) for k, lab, _ in m if k in SHARDING_KEYS and k not in shared]
        shared |= {k for k, _, _ in m if k in SHARDING_KEYS}
    two = len(c.entries) == 2
    header = ["" if human else "metric", *[e.label for e in c.entries]]
    if two:
        header.append("B / A")
    body = []
    for k, lab in keys:
        vals = [dict((kk, v) for kk, _, v in m).get(k, 1 if k == "devices" else None)
                for m in ms]
        cells: list[Cell] = [lab, *[_q(k, v, human) for v in vals]]
        if two:
            a, b = vals
            ratio = (b / a if isinstance(a, (int, float)) and a and isinstance(b, (int, float))
                     else None)
            cells.append(Q(ratio, "ratio", missing="-"))
        body.append(tuple(cells))
    return Table(tuple(header), tuple(body))


def _without_layers(r: ModelResult) -> dict[str, Any]:
    d = r.to_dict()
    d.pop("layers")
    return d


def sweep_document(s: Sweep) -> dict[str, Any]:
    """``{"sweep": [{"batch", "resolution", … result without layers, hardware}]}``."""
    return {"sweep": [{"batch": row.batch, "resolution": row.resolution,
                       **_without_layers(row.result), **row.hw.to_dict()} for row in s.rows]}


def compare_document(c: Comparison) -> dict[str, Any]:
    """``{"compare": [{"label", … result without layers, hardware}]}``."""
    return {"compare": [{"label": e.label, **_without_layers(e.result), **e.hw.to_dict()}
                        for e in c.entries]}
