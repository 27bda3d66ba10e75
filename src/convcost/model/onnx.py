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
    options.setdefault("name", os.fspath(path))
    result = analyze(module, specs, **options)
    pat = None if freeze is None else (freeze.pattern if isinstance(freeze, re.Pattern)
                                       else str(freeze))
    return module.relabel(result, pat)
