"""ONNX files analysed as whole models (:func:`analyze_onnx`): the ONNX front end
(:func:`convcost.frontends.onnx.load_onnx`) turns the file into a module, :func:`analyze`
analyses it, and the result is relabelled with the graph's names. It lives here, above the
front ends, because front ends never call the analyser. Importing it imports torch.
"""

from __future__ import annotations

import os
import re
from typing import Any

from ..frontends.onnx import load_onnx
from . import analyze


def analyze_onnx(path: str | os.PathLike[str], inputs: Any = None, *,
                 freeze: str | re.Pattern[str] | None = None, **options: Any) -> Any:
    """:func:`convcost.analyze` of the ONNX model at ``path``: ``inputs`` and ``freeze`` as
    for :func:`~convcost.frontends.onnx.load_onnx` (``freeze`` matches initializer names),
    ``options`` as for :func:`convcost.analyze` (``mode``, ``dtype``, ``amp``, ``optimizer``,
    ``counting``). Returns a :class:`~convcost.model.ModelResult` whose inputs carry the
    graph's names."""
    module, specs = load_onnx(path, inputs, freeze)
    if freeze is not None:
        check_onnx_freeze(module, specs, freeze, options)
    options.setdefault("name", os.fspath(path))
    result = analyze(module, specs, **options)
    pat = None if freeze is None else (freeze.pattern if isinstance(freeze, re.Pattern)
                                       else str(freeze))
    return module.relabel(result, pat)


def check_onnx_freeze(module: Any, specs: Any, freeze: str | re.Pattern[str],
                      options: dict[str, Any]) -> None:
    """``freeze`` (applied when the graph was loaded) must matter: a SpecError naming it
    outside a training step, and when it froze every initializer while no input requires a
    gradient (nothing is left to differentiate: a real ``loss.backward()`` raises)."""
    from ..errors import SpecError
    from ..frontends.torch_trace.run import NO_GRAD_FN

    text = freeze.pattern if isinstance(freeze, re.Pattern) else str(freeze)
    if options.get("mode", "train") != "train":
        raise SpecError("freeze", text, "freezing parameters only changes a training step "
                        "(mode='train'): an inference run computes no gradient")
    if options.get("input_grad") or any(s.requires_grad for s in specs):
        return
    if not any(p.requires_grad for p in module.parameters()):
        raise SpecError("freeze", text, "matches every initializer, and no input requires a "
                        "gradient: nothing is left to differentiate (a real loss.backward() "
                        f"raises {NO_GRAD_FN}); freeze fewer, or ask for input gradients")
