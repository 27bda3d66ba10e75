"""Software stacks: the host time eager PyTorch takes to issue one op, per generation of
PyTorch, CUDA and host CPU (data: ``hardware/stacks.json``, each constant with its source).

The execution-time estimate (:mod:`convcost.hardware.estimate`) charges every op the host
time of its class (``host_us.<class>``, microseconds):

* ``library``: a library call that chooses an algorithm (a cuDNN convolution);
* ``blas``: a library call without an algorithm search (cuBLAS GEMMs, the attention
  kernels, cuDNN's batch norm);
* ``kernel``: an op that launches its own kernel;
* ``none``: an op that launches nothing (views, reshapes);
* ``module``: each ``nn.Module`` the forward enters (Python's ``__call__``).

A device's own ``timing`` (a devices file, ``convcost calibrate --target cuda``) overrides
a stack's value constant by constant. :func:`default_stack` names the stack used when none
is given (``--stack``, API ``stack``, a devices file's ``stack = "…"``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from ..errors import SpecError

if TYPE_CHECKING:
    from .device_spec import DeviceSpec

#: Host op classes of a stack (the ``host_us.<class>`` keys).
HOST_CLASSES: tuple[str, ...] = ("library", "blas", "kernel", "none", "module")
#: What a decode step of ``generate()`` issues outside the forward: ops launching a kernel,
#: ops launching none, Python function calls, and the host microseconds of one such call.
LOOP_KEYS: tuple[str, ...] = ("kernel_ops", "no_kernel_ops", "python_calls", "python_call_us")


@dataclass(frozen=True)
class Stack:
    """One software stack: ``name``, what it describes, the host microseconds per op class
    (:data:`HOST_CLASSES`), whether ``generate()`` waits for the device at the end of every
    decode step, what one decode step of ``generate()`` runs on the host outside the model's
    forward (``generate_loop``: :data:`LOOP_KEYS`), and where each number comes from
    (``sources``, keyed ``host_us.<class>``, ``generate_sync_per_step``, ``generate_loop``)."""

    name: str
    description: str
    host_us: dict[str, float]
    generate_sync_per_step: bool
    generate_loop: dict[str, float]
    sources: dict[str, str]


def _numbers(where: str, t: Any, keys: tuple[str, ...]) -> dict[str, float]:
    """An object with exactly ``keys``, each a number >= 0; a SpecError naming the field."""
    if not isinstance(t, dict) or set(t) != set(keys):
        raise SpecError(where, t, f"needs exactly {', '.join(keys)}")
    for k, v in t.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise SpecError(f"{where}.{k}", v, "must be a number >= 0")
    return {k: float(v) for k, v in t.items()}


def parse_stack(name: str, t: Any) -> Stack:
    """One stack of the data file, checked: a SpecError naming the field otherwise."""
    where = f"stacks.json: stacks.{name}"
    if not isinstance(t, dict):
        raise SpecError(where, t, "must be an object")
    known = {"description", "host_us", "generate_sync_per_step", "generate_loop", "sources"}
    for k in t:
        if k not in known:
            raise SpecError(f"{where}.{k}", k, f"unknown key; allowed: {', '.join(sorted(known))}")
    host = _numbers(f"{where}.host_us", t.get("host_us"), HOST_CLASSES)
    sync = t.get("generate_sync_per_step")
    if not isinstance(sync, bool):
        raise SpecError(f"{where}.generate_sync_per_step", sync, "must be true or false")
    loop = _numbers(f"{where}.generate_loop", t.get("generate_loop"), LOOP_KEYS)
    sources = t.get("sources", {})
    need = [*(f"host_us.{k}" for k in HOST_CLASSES), "generate_sync_per_step", "generate_loop"]
    missing = [k for k in need if k not in sources]
    if missing:
        raise SpecError(f"{where}.sources", ", ".join(missing), "every constant needs a source")
    return Stack(name, str(t.get("description", "")), host, sync, loop,
                 {str(k): str(v) for k, v in sources.items()})


@cache
def _load() -> tuple[str, dict[str, Stack]]:
    text = resources.files("convcost.hardware").joinpath("stacks.json").read_text("utf-8")
    data = json.loads(text)
    stacks = {n: parse_stack(n, t) for n, t in data["stacks"].items()}
    if data["default"] not in stacks:
        raise SpecError("stacks.json: default", data["default"], "must name a stack")
    return data["default"], stacks


def stacks() -> dict[str, Stack]:
    """Every known stack, by name."""
    return dict(_load()[1])


def default_stack() -> str:
    """The name of the stack used when none is given."""
    return _load()[0]



def get_stack(name: str | None, field: str = "stack") -> Stack:
    """The stack called ``name`` (``None`` or ``""``: the default). A
    :class:`~convcost.errors.SpecError` naming ``field`` for an unknown name."""
    default, known = _load()
    if not name:
        return known[default]
    if not isinstance(name, str) or name not in known:
        raise SpecError(field, name, f"allowed: {', '.join(known)}")
    return known[name]


def with_stack(device: DeviceSpec, name: str | None, field: str = "stack") -> DeviceSpec:
    """``device`` whose estimate uses stack ``name`` (checked; ``None``: ``device``
    unchanged). The device's own ``timing`` values still override the stack's."""
    if name is None:
        return device
    return replace(device, stack=get_stack(name, field).name)
