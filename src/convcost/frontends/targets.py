"""Resolve a model target (the CLI's TARGET) into a ``torch.nn.Module`` (imports torch).

* ``torchvision:NAME`` — ``torchvision.models.get_model(NAME, weights=None)``: random
  weights, nothing is downloaded.
* ``timm:NAME`` — ``timm.create_model(NAME, pretrained=False)`` when timm is installed.
* ``package.module:factory`` — imports ``package.module`` and calls ``factory()``. This runs
  that code, as importing it would.
* a path ending in ``.onnx`` (or any existing file) — an ONNX model, read without executing
  anything (:func:`convcost.frontends.onnx.load_onnx`). The CLI passes ``--input NAME=SHAPE``
  to it; :func:`load_target` alone needs a graph whose input shapes are all static.
"""

from __future__ import annotations

import importlib
import os
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
            close = [n for n in names if rest.lower() in n.lower()][:5]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise SpecError(
                "target",
                target,
                f"not a torchvision model{hint}; see torchvision.models.list_models()",
            )
        model = torchvision.models.get_model(rest, weights=None)
    elif kind == "timm":
        try:
            timm = importlib.import_module("timm")
        except ImportError:
            raise SpecError("target", target, "timm is not installed (pip install timm)") from None
        if rest not in timm.list_models():
            raise SpecError("target", target, "not a timm model; see timm.list_models()")
        model = timm.create_model(rest, pretrained=False)
    else:
        try:
            module = importlib.import_module(kind)
        except ImportError as e:
            raise SpecError("target", target, f"cannot import module {kind!r} ({e})") from None
        factory = getattr(module, rest, None)
        if not callable(factory):
            raise SpecError("target", target, f"module {kind!r} has no callable {rest!r}")
        try:
            model = factory()
        except Exception as e:  # the user's code failed: say where, not a traceback
            raise SpecError("target", target, f"{rest}() raised {type(e).__name__}: {e}") from None
    if not isinstance(model, torch.nn.Module):
        raise SpecError("target", target, f"built a {type(model).__name__}, not a torch.nn.Module")
    return model
