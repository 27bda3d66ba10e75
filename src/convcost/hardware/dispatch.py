"""Which dispatch path a device's analysis is traced on, and the compute capability the CUDA
path makes its kernel choices for (:func:`dispatch_options`).

A GPU device (any preset or devices-file entry whose ``arch`` is not ``cpu``) is traced on the
CUDA path; the ``cpu`` device, and no device, on the CPU path. ``dispatch`` forces either.
The compute capability of each preset is data (``compute_capability.json``, with its source);
a device without an entry takes its architecture family's, and one without a known family
the H100's 9.0, which the report then says was assumed.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SpecError
from ..vocab import DEFAULT_CAPABILITY, DISPATCHES

if TYPE_CHECKING:
    from .devices import DeviceSpec



@cache
def _table() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (Path(__file__).with_name("compute_capability.json")).read_text(encoding="utf-8"))
    return data


def compute_capability(device: DeviceSpec) -> str:
    """``"9.0"`` for an H100, ``"rocm"`` for an AMD GPU: the preset's entry, else its
    architecture family's, else :data:`DEFAULT_CAPABILITY`."""
    t = _table()
    if device.arch in t["rocm"]:
        return "rocm"
    found = t["presets"].get(device.name) or t["families"].get(device.arch)
    return str(found) if found else DEFAULT_CAPABILITY


def is_gpu(device: DeviceSpec | None) -> bool:
    """Whether ``device`` is a GPU (its analysis is traced on the CUDA path by default)."""
    return device is not None and device.arch != "cpu"


def dispatch_options(device: DeviceSpec | None, dispatch: str | None,
                     field: str = "dispatch") -> dict[str, Any]:
    """:func:`convcost.model.analyze`'s ``dispatch`` and ``compute_capability`` for an
    analysis on ``device`` with ``dispatch`` forced (``None``: the device's path). A
    SpecError naming ``field`` for an unknown path, or ``cuda`` on the ``cpu`` device."""
    if dispatch is not None and dispatch not in DISPATCHES:
        raise SpecError(field, dispatch, "allowed: " + ", ".join(DISPATCHES))
    if dispatch == "cpu" or (dispatch is None and not is_gpu(device)):
        return {"dispatch": "cpu"}
    if device is not None and not is_gpu(device):
        raise SpecError(field, dispatch, f"the {device.name} device runs PyTorch's CPU "
                        "kernels (the CUDA path is for GPU devices)")
    cc = compute_capability(device) if device is not None else DEFAULT_CAPABILITY
    return {"dispatch": "cuda", "compute_capability": cc}
