"""Resolve a model target (the CLI's TARGET) into a ``torch.nn.Module`` (imports torch).

* ``torchvision:NAME`` — ``torchvision.models.get_model(NAME, weights=None, …)`` with
  every pretrained-weight argument of the builder (``weights``, ``weights_backbone``, any
  other ``weights_*``) set to ``None``: random weights, nothing is downloaded.

No torchvision or timm target ever reaches the network: it is built with socket connections
refused
(:func:`no_network`), so a builder that still tries to download (a pretrained-weight
argument convcost does not know) is a one-line :class:`SpecError` naming ``target`` and the
arguments that were set, never a download and never a hang.
* ``timm:NAME`` — ``timm.create_model(NAME, pretrained=False)`` when timm is installed.
* ``package.module:factory`` — imports ``package.module`` (found on the import path with the
  current directory first, as ``python -m`` does) and calls ``factory()`` (or, when
  ``factory`` is an ``nn.Module`` instance, uses it as it is). This runs that code, as
  importing it would; anything it raises becomes a one-line :class:`SpecError` naming
  ``target``, chained from the original exception.
* a path ending in ``.onnx`` (or any existing file) — an ONNX model, read without executing
  anything (:func:`convcost.frontends.onnx.load_onnx`). The CLI passes ``--input NAME=SHAPE``
  to it; :func:`load_target` alone needs a graph whose input shapes are all static.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import Any

from ..errors import SpecError


def is_onnx_target(target: str) -> bool:
    """True when ``target`` names an ONNX file: it ends in ``.onnx`` or is an existing file."""
    return target.lower().endswith(".onnx") or os.path.isfile(target)


def load_target(target: str) -> Any:
    """Build the model named by ``target``; raise :class:`SpecError` naming what is wrong."""
    if is_onnx_target(target):
        from .onnx import load_onnx

        return load_onnx(target)[0]
    kind, sep, rest = target.partition(":")
    if not sep or not kind or not rest:
        raise SpecError(
            "target", target, "write torchvision:NAME, timm:NAME, package.module:factory or "
            "the path of an .onnx file"
        )
    import torch

    if kind == "torchvision":
        import torchvision

        names = torchvision.models.list_models()
        if rest not in names:
            raise SpecError("target", target, "not a torchvision model"
                            f"{_hint(rest, names)}; see torchvision.models.list_models()")
        off = weight_arguments(torchvision.models.get_model_builder(rest))
        args = ", ".join(f"{k}=None" for k in off)
        model = _build(target, f"torchvision.models.get_model({rest!r}, {args})",
                       lambda: torchvision.models.get_model(rest, **dict.fromkeys(off)),
                       offline=True)
    elif kind == "timm":
        try:
            timm = importlib.import_module("timm")
        except ImportError:
            raise SpecError("target", target, "timm is not installed (pip install timm)") from None
        names = timm.list_models()
        if rest not in names:
            raise SpecError("target", target,
                            f"not a timm model{_hint(rest, names)}; see timm.list_models()")
        model = _build(target, f"timm.create_model({rest!r})",
                       lambda: timm.create_model(rest, pretrained=False), offline=True)
    else:
        module = _import(target, kind)
        obj = _build(target, f"{kind}.{rest}", lambda: getattr(module, rest, None))
        if isinstance(obj, torch.nn.Module):  # a module instance: used as it is
            return obj
        if not callable(obj):
            raise SpecError("target", target, f"module {kind!r} has no callable or nn.Module "
                            f"{rest!r}{_hint(rest, _public_names(module))}")
        model = _build(target, f"{rest}()", obj)
    if not isinstance(model, torch.nn.Module):
        raise SpecError("target", target, f"built a {type(model).__name__}, not a torch.nn.Module")
    return model


def weight_arguments(builder: Callable[..., Any]) -> list[str]:
    """The parameters of a torchvision model builder that load pretrained weights
    (``weights``, ``weights_backbone``, any ``weights_*`` or ``*_weights``): set to ``None``
    they leave the model randomly initialised."""
    import inspect

    try:
        params = inspect.signature(builder).parameters
    except (TypeError, ValueError):
        return ["weights"]
    found = [p for p in params
             if p == "weights" or p.startswith("weights_") or p.endswith("_weights")]
    return found or ["weights"]


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


def _hint(name: str, names: Iterable[str]) -> str:
    """Close matches of ``name`` among ``names`` as a ``" (did you mean …?)"`` hint."""
    from ..vocab import did_you_mean

    return did_you_mean(name, names)


def _public_names(module: ModuleType) -> list[str]:
    return [n for n in vars(module) if not n.startswith("_")]


def _import(target: str, name: str) -> ModuleType:
    """Import the module of a ``package.module:factory`` target. Anything its code raises
    (a SyntaxError, an exception at import, ``sys.exit``) is a SpecError naming ``target``,
    chained from the original."""
    cwd = os.getcwd()
    added = cwd not in sys.path  # as `python -m` does: the current directory comes first
    if added:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and name.startswith(e.name) and name[len(e.name):][:1] in ("", "."):
            raise SpecError("target", target, f"no module named {e.name!r}") from e
        raise SpecError("target", target,
                        f"importing module {name!r} raised {_describe(e)}") from e
    except (Exception, SystemExit) as e:  # the user's code failed: say where, no traceback
        raise SpecError("target", target,
                        f"importing module {name!r} raised {_describe(e)}") from e
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def _build(target: str, what: str, make: Callable[[], Any], offline: bool = False) -> Any:
    """``make()`` (with the network refused when ``offline``: torchvision and timm builders);
    anything it raises is a SpecError naming ``target`` (chained)."""
    try:
        if not offline:
            return make()
        with no_network():
            return make()
    except (Exception, SystemExit) as e:  # the user's code failed: say where, no traceback
        raise SpecError("target", target, f"{what} raised {_describe(e)}") from e


def _describe(e: BaseException) -> str:
    """``"ValueError: bad thing"`` (``"SystemExit: 3"``) on one line."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
