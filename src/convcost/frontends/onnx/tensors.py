"""Tensors at the torch boundary: telling traced (fake or meta) tensors from real constants,
leaving the fake-tensor modes to compute constants for real, and the torch dtype of an ONNX
element type (from the one dtype table, :data:`convcost.dtypes.ONNX_DTYPES`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor
from torch._subclasses.fake_tensor import FakeTensor
from torch.utils._python_dispatch import _disable_current_modes

from ...dtypes import DTYPES, ONNX_DTYPES

#: Floating element types that may be trainable parameters and a convolution's dtype. The
#: 8-bit float types are storage formats: initializers of those types stay constants.
FLOATING: frozenset[str] = frozenset(
    n for n, d in DTYPES.items() if d.floating and d.bytes >= 2)


def is_fake(t: Any) -> bool:
    """Whether ``t`` is a traced tensor (fake or on the meta device), not a known constant."""
    return isinstance(t, FakeTensor) or (isinstance(t, Tensor) and t.device.type == "meta")


@contextlib.contextmanager
def no_modes() -> Iterator[None]:
    """Leave the fake-tensor and recording modes (and autocast): compute for real."""
    with _disable_current_modes(), torch.no_grad(), torch.autocast("cpu", enabled=False):
        yield


def torch_dtype(code: int) -> torch.dtype:
    """The torch dtype of ONNX element type ``code``; ``ValueError(code)`` if it has none."""
    name = ONNX_DTYPES.get(code)
    d = getattr(torch, name, None) if name else None
    if not isinstance(d, torch.dtype):
        raise ValueError(code)
    return d
