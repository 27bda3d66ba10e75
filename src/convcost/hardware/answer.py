"""The hardware answers a report shows beside a model's counts (:class:`Hardware`): the
roofline step time on a device, the step sharded over several devices, and the largest
batch whose training peak fits a device — and :func:`answer` / :func:`fit_on`, which find
them for a :class:`~convcost.model.ModelResult`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..fit import FitResult
    from ..memory.model import RunMemory
    from ..model.results import ModelResult
    from .device_memory import DeviceMemory
    from .devices import DeviceSpec
    from .distributed import DistributedStep, Interconnect
    from .step import StepTime


@dataclass(frozen=True)
class Hardware:
    """Optional hardware answers to show beside a model's counts: ``step`` (roofline time
    on a device), ``distributed`` (the step sharded over several devices), ``fit`` (the
    largest batch that fits ``fit_device``), ``memory`` (the step's peak on the device:
    live tensors, the caching allocator's allocated and reserved peaks, usable capacity)."""

    step: StepTime | None = None
    distributed: DistributedStep | None = None
    fit: FitResult | None = None
    fit_device: DeviceSpec | None = None
    memory: DeviceMemory | None = None

    def to_dict(self) -> dict[str, Any]:
        """``hardware``, ``distributed`` and ``fit`` keys (only those present)."""
        d: dict[str, Any] = {}
        if self.step is not None:
            d["hardware"] = self.step.to_dict()
            if self.memory is not None:
                d["hardware"]["memory"] = self.memory.to_dict()
        if self.distributed is not None:
            d["distributed"] = self.distributed.to_dict()
        if self.fit is not None and self.fit_device is not None:
            d["fit"] = {"device": self.fit_device.name, **self.fit.to_dict()}
        return d


def answer(result: ModelResult, device: DeviceSpec | None = None, *, tf32: bool = False,
           devices: int = 1, strategy: str = "ddp",
           interconnect: Interconnect | None = None, foreach: bool = True,
           channels_last: bool = False, stack: str | None = None) -> Hardware:
    """The step time of ``result`` on ``device`` (when given; ``tf32``: fp32 matrix work on
    TF32 tensor cores; ``foreach``: the optimizer's multi-tensor kernels, else one per
    parameter; ``channels_last``: NHWC tensors, so tensor-core convolutions convert no
    layout; ``stack``: the software stack of the host constants,
    :mod:`convcost.hardware.stacks`) — the roofline bound and the execution-time
    estimate — and, for more than one device or a sharding ``strategy`` other than
    ``ddp``, the per-device memory and
    communication of the step over ``interconnect``
    (default NVLink 4)."""
    step = None
    memory = None
    if device is not None:
        from .device_memory import device_memory
        from .step import step_time

        step = step_time(result, device, tf32, foreach, channels_last, stack)
        m = result.memory
        events = m.train_events if result.mode == "train" else m.inference_events
        # under ZeRO/FSDP sharding the replayed step is not what one device runs: the
        # sharded line (live tensors per device) is the answer there
        if events is not None and strategy == "ddp":
            memory = device_memory(events, device, training=result.mode == "train")
    distributed = None
    if devices > 1 or strategy != "ddp":
        from .distributed import INTERCONNECTS, distributed_step

        m = result.memory
        timelines = [t for t in (m.train_timeline, m.train_steady_timeline) if t is not None]
        distributed = distributed_step(timelines, strategy, devices, m.params_bytes,
                                       m.grads_bytes, m.optimizer_bytes,
                                       interconnect or INTERCONNECTS["nvlink4"])
    return Hardware(step, distributed, memory=memory)


def per_device_peak(devices: int = 1, strategy: str = "ddp",
                    device: DeviceSpec | None = None) -> Callable[[RunMemory], float]:
    """The bytes one device holds at the peak of a training step: the larger of the first
    and later steps' peaks, with ``strategy``'s sharding over ``devices``. With a
    ``device`` that has PyTorch's caching allocator and an unsharded strategy (``ddp``):
    the predicted reserved peak of a training loop
    (:func:`convcost.hardware.device_memory.required_bytes`), to compare with the device's
    usable bytes (:func:`fit_capacity`)."""

    def measure(mem: RunMemory) -> float:
        if device is not None and strategy == "ddp":
            from .device_memory import required_bytes

            return float(required_bytes(mem, device))
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

    on = allocator_device(device, strategy)
    found = fit_batch(model, inputs, fit_capacity(device), kwargs=kwargs,
                      measure=per_device_peak(devices, strategy, on), **options)
    return replace(found, basis="reserved" if on is not None else "live",
                   total=device.memory, reserve=device.reserve_bytes)


def allocator_device(device: DeviceSpec, strategy: str = "ddp") -> DeviceSpec | None:
    """``device`` when a fit on it compares the caching allocator's reserved peak with its
    usable bytes (a GPU, unsharded strategy), else ``None`` (live tensor bytes are compared:
    on a CPU, and under ZeRO/FSDP sharding, whose allocator behaviour is not modelled)."""
    from .device_memory import uses_caching_allocator

    return device if uses_caching_allocator(device) and strategy == "ddp" else None


def fit_capacity(device: DeviceSpec) -> int:
    """The bytes a training step may take on ``device``: its usable bytes (total memory
    less the reserve of the CUDA context, libraries and driver). A SpecError naming
    ``reserve`` when nothing is left."""
    if device.usable_bytes <= 0:
        from ..errors import SpecError

        raise SpecError("reserve", device.reserve_bytes,
                        f"leaves nothing of {device.name}'s {device.memory} bytes: give a "
                        "smaller reserve (--reserve, or reserve_mib in the devices file)")
    return device.usable_bytes
