"""Accelerator presets and user devices: the module to import.

The pieces live in three modules, all re-exported here:
:mod:`~convcost.hardware.device_spec` (:class:`DeviceSpec`, :class:`PeakChoice`, units, keys,
:func:`default_reserve`), :mod:`~convcost.hardware.device_files` (user devices files in TOML:
:func:`load_devices`, :func:`load_hardware`, :func:`device_to_toml`) and
:mod:`~convcost.hardware.device_presets` (:data:`PRESETS`, read from the data file
``device_presets.json``, which holds every preset's figures with their sources).

Throughputs are *dense* peaks (vendor "with sparsity" figures halved) in FLOP/s, counting a
fused multiply-add as two operations — the same convention as convcost's ``flops``
(one multiplication plus one addition per MAC). Bandwidth is bytes/s, capacity bytes.
A dtype a device has no fast path for is absent from ``peak``; :meth:`DeviceSpec.peak_choice`
(and :meth:`DeviceSpec.peak_for`) then falls back to the fp32 rate and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..vocab import did_you_mean
from .device_files import DEVICE_KEYS, device_to_toml, load_devices, load_hardware, parse_device
from .device_presets import (
    HBM_PRESETS,
    MEMORY_IS_BINARY,
    PRESETS,
    REPORTED_TOTAL,
    PresetData,
    load_preset_file,
)
from .device_spec import (
    ARCHS,
    CONTEXT_RESERVE,
    DTYPE_TO_PEAK,
    GB,
    GIB,
    MIB,
    PEAK_KEYS,
    SMI_GAP,
    TIMING_KEYS,
    DeviceSpec,
    PeakChoice,
    T,
    default_reserve,
)

__all__ = [
    "ARCHS",
    "CONTEXT_RESERVE",
    "DEVICE_KEYS",
    "DTYPE_TO_PEAK",
    "GB",
    "GIB",
    "HBM_PRESETS",
    "MEMORY_IS_BINARY",
    "MIB",
    "PEAK_KEYS",
    "PRESETS",
    "REPORTED_TOTAL",
    "SMI_GAP",
    "TIMING_KEYS",
    "DeviceCatalog",
    "DeviceSpec",
    "PeakChoice",
    "PresetData",
    "T",
    "catalog",
    "default_reserve",
    "device_to_toml",
    "get_device",
    "load_devices",
    "load_hardware",
    "load_preset_file",
    "parse_device",
]


def get_device(name: str, extra: dict[str, DeviceSpec] | None = None) -> DeviceSpec:
    """A preset or user device by name (case-insensitive)."""
    pool = {**PRESETS, **(extra or {})}
    key = name.strip().lower()
    for k, v in pool.items():
        if k.lower() == key:
            return v
    raise SpecError("device", name,
                    f"unknown device{did_you_mean(name, pool)}; known devices: {', '.join(pool)}")


@dataclass(frozen=True)
class DeviceCatalog:
    """Devices to list, by name, in order (presets first, then a file's)."""

    devices: tuple[tuple[str, DeviceSpec], ...]

    def to_dict(self) -> dict[str, Any]:
        """``{NAME: device.to_dict()}`` in order (every number with its source)."""
        return {k: v.to_dict() for k, v in self.devices}


def catalog(devices_file: str | Path | None = None) -> DeviceCatalog:
    """The presets, followed (or overridden by name) by the devices of ``devices_file``."""
    devs = dict(PRESETS)
    if devices_file:
        devs.update(load_devices(devices_file))
    return DeviceCatalog(tuple(devs.items()))
