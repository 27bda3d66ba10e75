"""Memory of a step on a device as the device sees it: live tensors, the caching
allocator's allocated and reserved peaks, and the usable capacity they must fit.

A GPU's total memory is not all PyTorch's: the CUDA context and the libraries' own
allocations (kernel images, cuDNN/cuBLAS handles) take a reserve before the model allocates
anything (:attr:`DeviceSpec.reserve_bytes`, overridable with ``--reserve``); the rest is
*usable*. PyTorch's caching allocator (:mod:`convcost.memory.allocator`) reserves segments
from it; a step fits when the allocator never needs more than the usable bytes (it releases
its free cached segments and retries before giving up, as PyTorch does).

On a device without the CUDA caching allocator (``arch = "cpu"``) the live-tensor peak is
compared with the capacity directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..memory.allocator import (
    CUBLAS_WORKSPACE,
    TORCH_VERSION,
    AllocatorPeaks,
    StepEvents,
    simulate,
)

if TYPE_CHECKING:
    from ..memory.model import RunMemory
    from .devices import DeviceSpec

#: cuBLAS workspace assumed for a device of unknown architecture (the pre-Hopper default).
DEFAULT_CUBLAS_WORKSPACE = CUBLAS_WORKSPACE["ampere"]


def uses_caching_allocator(device: DeviceSpec) -> bool:
    """Whether ``device``'s memory is managed by PyTorch's CUDA (or ROCm) caching
    allocator: every GPU preset and user device whose ``arch`` is not ``cpu``."""
    return device.arch != "cpu"


def cublas_workspace(device: DeviceSpec) -> int:
    """Bytes of the cuBLAS workspace PyTorch allocates on ``device`` at its first GEMM."""
    return CUBLAS_WORKSPACE.get(device.arch, DEFAULT_CUBLAS_WORKSPACE)


@dataclass(frozen=True)
class DeviceMemory:
    """The peak memory of a step on ``device`` (bytes) beside what it has.

    ``capacity`` — the device's total memory; ``reserve`` — taken by the CUDA context and
    libraries before the model allocates; ``usable`` — ``capacity - reserve``; ``live`` —
    largest live tensor bytes; ``allocated`` / ``reserved`` — predicted
    ``torch.cuda.max_memory_allocated()`` / ``max_memory_reserved()`` (equal to ``live``
    on a device without the caching allocator); ``fits`` — the step runs within ``usable``;
    ``clearance`` — ``usable - reserved`` (negative: short by that much); ``peaks`` — the
    allocator model's details (``None`` without one).
    """

    device: str
    capacity: int
    reserve: int
    usable: int
    live: int
    allocated: int
    reserved: int
    fits: bool
    peaks: AllocatorPeaks | None

    @property
    def required(self) -> int:
        """The bytes the step needs of ``usable``: the reserved peak when it fits; when it runs
        out of memory, its allocated peak (or one byte more than ``usable`` when
        fragmentation, not the allocated bytes, is what runs out)."""
        return self.reserved if self.fits else max(self.allocated, self.usable + 1)

    @property
    def clearance(self) -> int:
        """Bytes left of ``usable`` at the reserved peak (negative when it does not fit)."""
        return self.usable - self.reserved

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``hardware.memory``)."""
        return {
            "device": self.device,
            "capacity_bytes": self.capacity,
            "reserve_bytes": self.reserve,
            "usable_bytes": self.usable,
            "live_peak_bytes": self.live,
            "allocated_peak_bytes": self.allocated,
            "reserved_peak_bytes": self.reserved,
            "clearance_bytes": self.clearance,
            "fits": self.fits,
            "allocator": (None if self.peaks is None
                          else {"model": f"PyTorch {TORCH_VERSION} CUDACachingAllocator "
                                         "(default configuration)", **self.peaks.to_dict()}),
        }


def device_memory(events: StepEvents, device: DeviceSpec, *, training: bool = True,
                  live: int | None = None) -> DeviceMemory:
    """The step recorded in ``events`` on ``device`` (``training``: a loop of training
    steps; else one inference forward). ``live`` overrides the live-tensor peak shown on a
    device without the caching allocator (default: the replay's)."""
    usable = device.usable_bytes
    if not uses_caching_allocator(device):
        p = simulate(events, training=training, steps=2)
        peak = p.live if live is None else live
        return DeviceMemory(device.name, device.memory, device.reserve_bytes, usable, peak,
                            peak, peak, peak <= usable, None)
    p = simulate(events, capacity=usable, cublas_workspace=cublas_workspace(device),
                 cudnn_workspace=device.cudnn_workspace, training=training)
    return DeviceMemory(device.name, device.memory, device.reserve_bytes, usable, p.live,
                        p.allocated, p.reserved, not p.oom, p)


def run_device_memory(mem: RunMemory, device: DeviceSpec) -> DeviceMemory:
    """:func:`device_memory` of a recorded training step (:class:`RunMemory`)."""
    assert mem.events is not None  # run_memory always records them
    return device_memory(mem.events, device, training=True)


def required_bytes(mem: RunMemory, device: DeviceSpec) -> int:
    """The bytes a training step needs of ``device``'s usable memory
    (:attr:`DeviceMemory.required`)."""
    return run_device_memory(mem, device).required
