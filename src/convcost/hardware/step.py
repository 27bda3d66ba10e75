"""Roofline time of a whole training step (or inference forward) from a model's op records.

Each counted op gets its own roofline (its FLOPs, the bytes it reads and writes, the peak of
its compute dtype, or the fp32 peak when the device has none for it); a layer's time is the
sum over its ops, the step's the sum over all ops (no overlap). See
:data:`~convcost.hardware.roofline.ASSUMPTIONS`.

Utilisation definitions:

* ``mfu`` — model FLOPs utilisation: (forward + backward FLOPs of the model) / (predicted
  step time × peak of the model's dtype).
* ``mfu_recompute`` — the same model FLOPs over the step time with full activation
  recomputation (every forward op runs again during backward).
* ``hfu_recompute`` — hardware FLOPs utilisation with full recomputation: the recomputed
  forward FLOPs count as work done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model import ModelResult, OpRow
from .devices import DeviceSpec, PeakChoice
from .estimate import Estimate, estimate
from .roofline import ASSUMPTIONS, Roofline, roofline


@dataclass(frozen=True)
class LayerTime:
    """Predicted seconds, FLOPs and bytes of one module (inclusive of its children).

    ``forward_s``/``backward_s`` are the roofline's; ``est_forward_s``/``est_backward_s``
    the execution-time estimate's (the module's ops' shares of the played step, see
    :mod:`convcost.hardware.estimate`), ``est_device_s``/``est_host_s`` its ops' device
    and host seconds."""

    name: str
    forward_s: float
    backward_s: float
    forward_flops: int
    backward_flops: int
    forward_bytes: int
    backward_bytes: int
    est_forward_s: float = 0.0
    est_backward_s: float = 0.0
    est_device_s: float = 0.0
    est_host_s: float = 0.0

    @property
    def intensity(self) -> float:
        """FLOPs per byte over forward and backward."""
        b = self.forward_bytes + self.backward_bytes
        return (self.forward_flops + self.backward_flops) / b if b else float("inf")

    def bound(self, device: DeviceSpec, dtype: str, tf32: bool = False) -> str:
        """``compute`` or ``memory`` for the layer as a whole."""
        r = Roofline(
            self.forward_flops + self.backward_flops,
            self.forward_bytes + self.backward_bytes,
            device.peak_for(dtype, tf32)[0],
            device.bandwidth,
        )
        return r.bound


@dataclass(frozen=True)
class StepTime:
    """Predicted time of one step of ``result`` on ``device`` (seconds): the roofline bound
    (``forward_s``, ``step_s``… : every op at peak) and the execution-time ``estimate``
    (:class:`~convcost.hardware.estimate.Estimate`), the headline of every report.
    ``backward_s`` includes the recomputation of activation-checkpointed modules (ops of
    phase ``recompute``, run during the backward); ``recompute_s`` is that part of it."""

    device: DeviceSpec
    dtype: str
    batch: int
    ops: tuple[tuple[OpRow, Roofline], ...]
    layers: tuple[LayerTime, ...]
    forward_s: float
    backward_s: float
    optimizer_s: float
    model_flops: int
    forward_flops: int
    tf32: bool = False
    estimate: Estimate | None = None
    recompute_s: float = 0.0

    @property
    def step_s(self) -> float:
        """Forward + backward + optimizer step."""
        return self.forward_s + self.backward_s + self.optimizer_s

    @property
    def samples_per_s(self) -> float:
        """Batch / step time."""
        return self.batch / self.step_s if self.step_s else float("inf")

    @property
    def peak(self) -> float:
        """Peak FLOP/s of the model's dtype on the device (TF32 when enabled for fp32)."""
        return self.device.peak_for(self.dtype, self.tf32)[0]

    @property
    def peak_choice(self) -> PeakChoice:
        """The peak used for the model's compute dtype (the fp32 one when the device has
        none for it)."""
        return self.device.peak_choice(self.dtype, self.tf32)

    @property
    def peak_dtype(self) -> str:
        """The dtype whose peak the step's roofline uses: the compute dtype, ``"tf32"``,
        or ``"float32"`` when the device has no peak for the compute dtype."""
        return self.peak_choice.dtype

    @property
    def peak_note(self) -> str | None:
        """Why the peak is not the compute dtype's (``"t4 has no bfloat16 peak: the
        float32 peak is used"``), or ``None``."""
        return self.peak_choice.note

    @property
    def mfu(self) -> float:
        """Model FLOPs / (step time × peak)."""
        return self.model_flops / (self.step_s * self.peak) if self.step_s else 0.0

    @property
    def mfu_recompute(self) -> float:
        """MFU when the forward is recomputed during backward (full checkpointing)."""
        t = self.step_s + self.forward_s
        return self.model_flops / (t * self.peak) if t else 0.0

    @property
    def hfu_recompute(self) -> float:
        """Hardware FLOPs utilisation with full recomputation (recomputed work counts)."""
        t = self.step_s + self.forward_s
        return (self.model_flops + self.forward_flops) / (t * self.peak) if t else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``layers`` keyed by module path)."""
        est = self.estimate
        return {
            "device": self.device.name,
            "estimate": est.to_dict() if est is not None else None,
            "assumptions": ASSUMPTIONS,
            "dtype": self.dtype,
            "peak_flops": self.peak,
            "peak_dtype": self.peak_dtype,
            "peak_note": self.peak_note,
            "bandwidth": self.device.bandwidth,
            "forward_s": self.forward_s,
            "backward_s": self.backward_s,
            "recompute_s": self.recompute_s,
            "optimizer_s": self.optimizer_s,
            "step_s": self.step_s,
            "samples_per_s": self.samples_per_s,
            "model_flops": self.model_flops,
            "mfu": self.mfu,
            "mfu_recompute": self.mfu_recompute,
            "hfu_recompute": self.hfu_recompute,
            "layers": {
                lt.name: {
                    "forward_s": lt.forward_s,
                    "backward_s": lt.backward_s,
                    "forward_bytes": lt.forward_bytes,
                    "backward_bytes": lt.backward_bytes,
                    "intensity": lt.intensity if lt.intensity != float("inf") else None,
                    "bound": lt.bound(self.device, self.dtype, self.tf32),
                    "estimate": {"forward_s": lt.est_forward_s,
                                 "backward_s": lt.est_backward_s,
                                 "device_s": lt.est_device_s, "host_s": lt.est_host_s},
                }
                for lt in self.layers
            },
        }


def step_time(result: ModelResult, device: DeviceSpec, tf32: bool = False,
              foreach: bool = True, channels_last: bool = False,
              stack: str | None = None) -> StepTime:
    """Roofline of every op of ``result`` on ``device``, summed per layer and per phase, and
    the execution-time estimate (``foreach``: the optimizer's multi-tensor kernels, PyTorch's
    default on CUDA; ``False``: one kernel per parameter and op; ``channels_last``: NHWC
    tensors, no layout conversion around tensor-core convolutions; ``stack``: the software
    stack of the host constants, :mod:`convcost.hardware.stacks`)."""
    per_op = tuple(
        (o, roofline(o.cost.flops, o.read + o.written, device, o.dtype, tf32)) for o in result.ops
    )
    est = estimate(result, device, tf32, foreach, channels_last, stack)
    times = {id(o): t for o, t in zip(result.ops, est.ops)}
    phase_s = {"forward": 0.0, "backward": 0.0, "recompute": 0.0, "optimizer": 0.0}
    for o, r in per_op:
        phase_s[o.phase] = phase_s.get(o.phase, 0.0) + r.time
    exact: dict[str, list[tuple[OpRow, Roofline]]] = {}
    inclusive: dict[str, list[tuple[OpRow, Roofline]]] = {}  # a module's ops and its children's
    for o, r in per_op:
        exact.setdefault(o.module, []).append((o, r))
        parts = o.module.split(".") if o.module else []
        for n in range(len(parts) + 1):
            inclusive.setdefault(".".join(parts[:n]), []).append((o, r))
    layers = []
    for row in result.layers:
        if row.type == "functional":  # a parent's own ops: exactly its module path
            own = row.name.rsplit(".", 1)[0] if "." in row.name else ""
            mine = exact.get(own, [])
        else:
            mine = inclusive.get(row.name, [])
        fw = [(o, r) for o, r in mine if o.phase == "forward"]
        # a checkpointed module's recomputation runs in (and is timed with) its backward
        bw = [(o, r) for o, r in mine if o.phase in ("backward", "recompute")]
        fw_t = [times[id(o)] for o, _ in fw]
        bw_t = [times[id(o)] for o, _ in bw]
        layers.append(
            LayerTime(
                row.name,
                sum(r.time for _, r in fw),
                sum(r.time for _, r in bw),
                sum(o.cost.flops for o, _ in fw),
                sum(o.cost.flops for o, _ in bw),
                sum(o.read + o.written for o, _ in fw),
                sum(o.read + o.written for o, _ in bw),
                sum(t.wall_s for t in fw_t),
                sum(t.wall_s for t in bw_t),
                sum(t.device_s for t in fw_t + bw_t),
                sum(t.host_s for t in fw_t + bw_t),
            )
        )
    batch = est.batch
    fwd = result.totals.forward.flops
    return StepTime(
        device=device,
        dtype=result.amp or result.dtype,
        batch=batch,
        ops=per_op,
        layers=tuple(layers),
        forward_s=phase_s["forward"],
        backward_s=phase_s["backward"] + phase_s["recompute"],
        optimizer_s=phase_s["optimizer"],
        model_flops=fwd + result.totals.backward.total.flops,
        forward_flops=fwd,
        tf32=tf32,
        estimate=est,
        recompute_s=phase_s["recompute"],
    )
