"""Roofline model: time of an op from its FLOPs, the bytes it moves and a device.

Assumptions (stated in every report that uses them): dense kernels reaching the dtype's peak
FLOP/s, memory traffic at the device's peak bandwidth, each op's data read once and written
once (no cache reuse across ops), and no overlap between ops.
"""

from __future__ import annotations

from dataclasses import dataclass

from .devices import DeviceSpec

ASSUMPTIONS = (
    "dense kernels at the dtype's peak FLOP/s; bytes moved at peak memory bandwidth; "
    "each op reads its inputs and writes its outputs once; no overlap between ops; a bound "
    "on the traced implementation at datasheet clocks only: fused kernels (fewer bytes "
    "moved) or clocks above the datasheet boost can beat it"
)


@dataclass(frozen=True)
class Roofline:
    """Roofline verdict for one op or layer.

    ``intensity`` is FLOPs per byte; ``attainable`` FLOP/s = min(peak, intensity × bandwidth);
    ``time`` seconds = max(FLOPs / peak, bytes / bandwidth); ``bound`` is ``"compute"`` or
    ``"memory"``. ``peak_dtype`` is the dtype whose peak ``peak`` is
    (:class:`~convcost.hardware.devices.PeakChoice`: ``"float32"`` when the device has no
    peak for the op's dtype; ``None`` when not known).
    """

    flops: int
    bytes: int
    peak: float
    bandwidth: float
    peak_dtype: str | None = None

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, FLOPs per byte (inf when no bytes move)."""
        return self.flops / self.bytes if self.bytes else float("inf")

    @property
    def ridge(self) -> float:
        """Intensity at which the device turns compute-bound."""
        return self.peak / self.bandwidth

    @property
    def time(self) -> float:
        """Predicted seconds."""
        return max(self.flops / self.peak, self.bytes / self.bandwidth)

    @property
    def bound(self) -> str:
        """``"compute"`` or ``"memory"``."""
        return "compute" if self.flops / self.peak >= self.bytes / self.bandwidth else "memory"

    @property
    def attainable(self) -> float:
        """Attainable FLOP/s for this intensity."""
        return min(self.peak, self.intensity * self.bandwidth)


def roofline(
    flops: int, nbytes: int, device: DeviceSpec, dtype: str, tf32: bool = False
) -> Roofline:
    """Roofline of ``flops`` operations moving ``nbytes`` bytes on ``device`` in ``dtype``
    (at the fp32 peak when the device has none for ``dtype``: ``peak_dtype`` says which)."""
    c = device.peak_choice(dtype, tf32)
    return Roofline(flops, nbytes, c.flops, device.bandwidth, c.dtype)


def mfu(
    model_flops: int, step_time: float, device: DeviceSpec, dtype: str, devices: int = 1
) -> float:
    """Model FLOPs utilisation: model FLOPs per step / (step time × peak × devices).

    With ``model_flops`` = forward + backward FLOPs of the model itself this is MFU; counting
    recomputed forward work too (activation checkpointing) gives hardware FLOPs utilisation.
    """
    peak, _ = device.peak_for(dtype)
    return model_flops / (step_time * peak * devices)
