"""The hardware answers a report shows beside a model's counts (:class:`Hardware`): the
roofline step time on a device, the step sharded over several devices, and the largest
batch whose training peak fits a device — and :func:`answer` / :func:`fit_on`, which find
them for a :class:`~convcost.model.ModelResult`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..fit import FitResult
    from ..memory.model import RunMemory
    from ..model.results import ModelResult
    from .devices import DeviceSpec
    from .distributed import DistributedStep, Interconnect
    from .step import StepTime


@dataclass(frozen=True)
class Hardware:
    """Optional hardware answers to show beside a model's counts: ``step`` (roofline time
    on a device), ``distributed`` (the step sharded over several devices), ``fit`` (the
    largest batch that fits ``fit_device``)."""

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


def answer(result: ModelResult, device: DeviceSpec | None = None, *, tf32: bool = False,
           devices: int = 1, strategy: str = "ddp",
           interconnect: Interconnect | None = None, foreach: bool = True) -> Hardware:
    """The step time of ``result`` on ``device`` (when given; ``tf32``: fp32 matrix work on
    TF32 tensor cores; ``foreach``: the optimizer's multi-tensor kernels, else one per
    parameter) — the roofline bound and the execution-time estimate — and, for more than
    one device or a sharding ``strategy`` other than ``ddp``, the per-device memory and
    communication of the step over ``interconnect``
    (default NVLink 4)."""
    step = None
    if device is not None:
        from .step import step_time

        step = step_time(result, device, tf32, foreach)
    distributed = None
    if devices > 1 or strategy != "ddp":
        from .distributed import INTERCONNECTS, distributed_step

        m = result.memory
        timelines = [t for t in (m.train_timeline, m.train_steady_timeline) if t is not None]
        distributed = distributed_step(timelines, strategy, devices, m.params_bytes,
                                       m.grads_bytes, m.optimizer_bytes,
                                       interconnect or INTERCONNECTS["nvlink4"])
    return Hardware(step, distributed)


def per_device_peak(devices: int = 1, strategy: str = "ddp") -> Callable[[RunMemory], float]:
    """The bytes one device holds at the peak of a training step: the larger of the first
    and later steps' peaks, with ``strategy``'s sharding over ``devices``."""

    def measure(mem: RunMemory) -> float:
        if devices == 1 and strategy == "ddp":
            return float(max(mem.peak, mem.steady_peak))
        from .distributed import sharded_peak

        return max(sharded_peak(t, strategy, devices)[0]
                   for t in (mem.timeline, mem.steady_timeline) if t is not None)

    return measure


def fit_on(device: DeviceSpec, model: Any, inputs: Sequence[Any], *,
           kwargs: Mapping[str, Any] | None = None, devices: int = 1, strategy: str = "ddp",
           **options: Any) -> FitResult:
    """The largest batch whose per-device training peak fits ``device``'s memory
    (:func:`convcost.fit.fit_batch`; ``options`` as for :func:`convcost.model.analyze`:
    dtype, amp, optimizer, freeze)."""
    from ..fit import fit_batch

    return fit_batch(model, inputs, device.memory, kwargs=kwargs,
                     measure=per_device_peak(devices, strategy), **options)
