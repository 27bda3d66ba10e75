"""ONNX front end: an ONNX graph interpreted by torch ops and analysed by the same tracer.

Imports torch and onnx; import it only for ``.onnx`` targets.
"""

from __future__ import annotations

from .graph import analyze_onnx, load_onnx

__all__ = ["analyze_onnx", "load_onnx"]
