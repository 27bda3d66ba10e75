"""The view of the device catalogue (:class:`~convcost.hardware.devices.DeviceCatalog`): one
row per device with its dense peaks per dtype (TFLOP/s), bandwidth (GB/s), memory and the
part of it PyTorch can use (GiB), SM count and L2 (MiB) — ``-`` where not known — and the
JSON document with every number's source.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .cells import Cell, Q, Table

if TYPE_CHECKING:
    from ..hardware.devices import DeviceCatalog

def table(c: DeviceCatalog) -> Table:
    """``device``, a peak per dtype (``-`` when the device has none), ``GB/s``, ``GiB``
    (total memory), ``usable GiB`` (without the reserve of the CUDA context and libraries),
    ``SMs`` (streaming multiprocessors or compute units), ``L2 MiB`` (``-`` when not known),
    ``description``; numbers in the short exact ``general`` form (``989.5``, ``1979``)."""
    from ..hardware.devices import PEAK_KEYS

    rows = []
    for name, dev in c.devices:
        peaks: list[Cell] = [Q(dev.peak[k] / 1e12 if k in dev.peak else None, "general",
                               missing="-") for k in PEAK_KEYS]
        rows.append((name, *peaks, Q(dev.bandwidth / 1e9, "general"),
                     Q(dev.memory / 2**30, "general"),
                     Q(round(dev.usable_bytes / 2**30, 2), "general"),
                     Q(dev.sms or None, "general", missing="-"),
                     Q(dev.l2_bytes / 2**20 if dev.l2_bytes else None, "general", missing="-"),
                     dev.description))
    header = ("device", *(f"{k} TF/s" for k in PEAK_KEYS), "GB/s", "GiB", "usable GiB",
              "SMs", "L2 MiB",
              "description")
    return Table(header, tuple(rows), (0, len(header) - 1))


def document(c: DeviceCatalog) -> dict[str, Any]:
    """``{NAME: device.to_dict()}`` in catalogue order."""
    return c.to_dict()
