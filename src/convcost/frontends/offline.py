"""Building models without the network and without memory (imports torch lazily).

:func:`no_network` refuses every socket connection and name lookup while a model is built
(a builder that would download pretrained weights fails at once, never downloads and never
hangs); :func:`empty_parameters` moves every parameter to the meta device as it is
registered, for constructors that compute with tensors and so cannot run wholly on meta.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def empty_parameters() -> Iterator[None]:
    """While the block runs, every parameter a module registers is moved to the meta device
    at once (its initialisation then does nothing): for constructors that compute with
    tensors, which building wholly on the meta device cannot run. Each parameter exists on
    the CPU only until it is registered."""
    import torch
    from torch import nn

    original = nn.Module.register_parameter

    def register(self: nn.Module, name: str, param: nn.Parameter | None) -> None:
        if param is not None and param.device.type != "meta":
            param = nn.Parameter(param.detach().to("meta"), requires_grad=param.requires_grad)
        original(self, name, param)

    nn.Module.register_parameter = register  # type: ignore[method-assign]
    try:
        with torch.no_grad():
            yield
    finally:
        nn.Module.register_parameter = original  # type: ignore[method-assign]


class NetworkAttemptError(RuntimeError):
    """Raised inside :func:`no_network` when code tries to open a network connection."""


@contextlib.contextmanager
def no_network() -> Iterator[None]:
    """Refuse every socket connection and name lookup while the block runs (model builders
    that would download pretrained weights fail at once instead)."""
    import socket

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise NetworkAttemptError("tried to reach the network (a download of pretrained weights?); "
                             "convcost never downloads")

    saved = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo
    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.getaddrinfo = refuse
    try:
        yield
    finally:
        socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = saved  # type: ignore[method-assign]
