"""The hardware flags of ``convcost model`` and ``compare``, checked before any model work:
``--device``, ``--devices-file``, ``--reserve``, ``--devices``/``--strategy``/``--interconnect``
(the link assumed from the device preset when not given: a T4 has no NVLink),
``--optimizer-kernels`` (the optimizer implementation traced and timed: the CPU's is
per-parameter unless foreach is asked for), ``--tf32``, ``--channels-last``, ``--stack``.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .common import with_reserve

if TYPE_CHECKING:
    from ..hardware.devices import DeviceSpec
    from ..hardware.distributed import Interconnect


def hardware_options(a: argparse.Namespace) -> tuple[DeviceSpec | None, Interconnect]:
    """Validate the hardware flags before any model work: (device or None, interconnect)."""
    from ..errors import SpecError
    from ..hardware.devices import get_device, load_hardware
    from ..hardware.distributed import get_interconnect

    devices, links = load_hardware(a.devices_file) if a.devices_file else ({}, {})
    if a.devices < 1:
        raise SpecError("--devices", a.devices, "must be 1 or more")
    if a.mode != "train" and a.input_grad:
        raise SpecError("--input-grad", True, "needs --mode train (input gradients exist "
                        "only in a training step)")
    if a.mode != "train" and getattr(a, "freeze", None) is not None:
        raise SpecError("--freeze", a.freeze, "has no effect without --mode train (an "
                        "inference run computes no gradient)")
    if a.mode != "train" and (a.fit or a.devices > 1):
        raise SpecError("--mode", a.mode, "--fit and --devices need --mode train")
    if a.fit and a.device is None:
        raise SpecError("--fit", True, "needs --device (whose memory the batch must fit)")
    if a.channels_last and a.device is None:
        raise SpecError("--channels-last", True, "has no effect without --device (it shapes "
                        "the device's time estimate)")
    if a.tf32 and a.device is None:
        raise SpecError("--tf32", True, "has no effect without --device (it sets the fp32 "
                        "matrix peak of the device's roofline)")
    if getattr(a, "stack", None) is not None and a.device is None:
        raise SpecError("--stack", a.stack, "has no effect without --device (it sets the "
                        "host costs of the device's time estimate)")
    if a.optimizer_kernels is not None and a.device is None:
        raise SpecError("--optimizer-kernels", a.optimizer_kernels, "has no effect without "
                        "--device (it shapes the device's time estimate)")
    if a.optimizer_kernels is not None and (a.mode != "train" or a.optimizer == "none"):
        raise SpecError("--optimizer-kernels", a.optimizer_kernels, "has no effect without "
                        "an optimizer step (--mode train and --optimizer other than none)")
    for flag, value in (("--strategy", a.strategy), ("--interconnect", a.interconnect)):
        if value is not None and a.devices == 1:
            raise SpecError(flag, value, "has no effect without --devices N (N >= 2): "
                            "training on one device is neither sharded nor communicates")
    device = get_device(a.device, devices) if a.device is not None else None
    if a.reserve is not None:
        device = with_reserve(device, a.reserve)
    if device is not None and getattr(a, "stack", None) is not None:
        from ..hardware.stacks import with_stack

        device = with_stack(device, a.stack, "--stack")
    if device is not None and getattr(a, "channels_last", False):
        from ..hardware.estimate import converts_layout, layout_refusal

        if not converts_layout(device):
            raise SpecError("--channels-last", True, layout_refusal(device))
    a.optimizer_foreach = gpu_foreach(device, a.optimizer_kernels)
    from ..hardware.dispatch import dispatch_options

    a.dispatch_options = dispatch_options(device, getattr(a, "dispatch", None), "--dispatch")
    if a.optimizer_kernels == "fused":
        a.dispatch_options["optimizer_fused"] = True
    if getattr(a, "hold_output", None) is False:
        a.dispatch_options["hold_output"] = False
    if a.interconnect is not None or a.devices < 2:
        return device, get_interconnect(a.interconnect or "nvlink4", links)
    from ..hardware.distributed import assumed_interconnect

    return device, assumed_interconnect(device)


def timed_foreach(a: argparse.Namespace) -> bool:
    """Whether the time estimate (and its label) uses the foreach kernels: as the step was
    traced — foreach on a GPU unless ``per-parameter`` is asked for, fused timed like
    foreach — so the CPU's per-parameter step is not labelled "(foreach)"."""
    return bool(getattr(a, "optimizer_foreach", False)) or a.optimizer_kernels == "fused"


def gpu_foreach(device: DeviceSpec | None, optimizer_kernels: str | None) -> bool:
    """Whether the optimizer step is analysed with PyTorch's multi-tensor (foreach)
    implementation: on a GPU device unless ``per-parameter`` kernels are asked for (on the
    CPU, and without a device, the per-parameter implementation, PyTorch's CPU default).
    ``foreach`` asked for on a CPU device is honoured (``torch.optim``'s ``foreach=True``
    runs there too), not silently dropped."""
    if device is not None and optimizer_kernels == "foreach":
        return True
    return (device is not None and device.arch != "cpu"
            and optimizer_kernels not in ("per-parameter", "fused"))
