"""Tensors a model keeps in plain attributes, saved before a trace and put back after it.

Some models cache tensors in ``forward``: torchvision's ``AnchorGenerator`` replaces its
``cell_anchors`` list by copies in the input's dtype and device. Under ``FakeTensorMode`` those
copies are fake tensors, and left in the model they reach a later real run (the analysis of
a data-dependent model runs it for real after its fake trace fails): there they re-enter fake
mode, or are read by native kernels as memory that does not exist. So a trace leaves every
module's plain attributes (not its parameters, buffers or submodules, which the trace never
changes) as it found them: values that held tensors are put back, and attributes the trace
added that hold tensors are removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["restore_attributes", "tensor_attributes"]

#: The attributes nn.Module keeps its own state in (the trace handles those itself).
OWN = frozenset({"_parameters", "_buffers", "_modules"})

Saved = list[tuple[nn.Module, dict[str, Any]]]


def _holds_tensor(v: Any, depth: int = 0) -> bool:
    if isinstance(v, torch.Tensor):
        return True
    if depth >= 3:
        return False
    if isinstance(v, (list, tuple)):
        return any(_holds_tensor(e, depth + 1) for e in v)
    if isinstance(v, Mapping):
        return any(_holds_tensor(e, depth + 1) for e in v.values())
    return False


def tensor_attributes(model: nn.Module) -> Saved:
    """Each module's plain attributes that hold tensors (directly, or in lists, tuples and
    dicts), and the names of all its plain attributes (``"__names__"``)."""
    saved: Saved = []
    for m in model.modules():
        d = vars(m)
        keep = {k: v for k, v in d.items() if k not in OWN and _holds_tensor(v)}
        keep["__names__"] = frozenset(d)
        saved.append((m, keep))
    return saved


def restore_attributes(saved: Saved) -> None:
    """Put back what :func:`tensor_attributes` saved; remove tensor-holding attributes added
    since."""
    for m, keep in saved:
        d = vars(m)
        names = keep["__names__"]
        for k in [k for k in d if k not in names and k not in OWN and _holds_tensor(d[k])]:
            del d[k]
        for k, v in keep.items():
            if k != "__names__":
                d[k] = v
