"""convcost: exact forward and backward cost and memory of neural-network layers and models.

Counting conventions: ``mults`` and ``adds`` are scalar multiplications and additions,
``other`` every other scalar operation (divisions, comparisons, exponentials...),
``flops = mults + adds + other``, ``macs`` are multiply-accumulates (products of convolution
and matmul loop nests). Bytes are bytes. See the README for the exact definitions.

Importing this package is cheap: every public name is loaded on first use (PEP 562 module
``__getattr__``), so ``convcost conv`` never imports the model analyser, the front ends or
torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "BackwardCost": "convcost.cost",
    "Cost": "convcost.cost",
    "fvcore_convention": "convcost.cost",
    "torch_flop_counter_convention": "convcost.cost",
    "ConvCostError": "convcost.errors",
    "SpecError": "convcost.errors",
    "TraceError": "convcost.errors",
    "ConvSpec": "convcost.spec",
    "InputSpec": "convcost.spec",
    "conv_spec": "convcost.spec",
    "ConvResult": "convcost.layer",
    "MemoryTable": "convcost.layer",
    "analyze_conv": "convcost.layer",
    "conv_cost": "convcost.layer",
    "FormulaRegistry": "convcost.formulas.registry",
    "default_registry": "convcost.formulas.catalog",
    "register_formula": "convcost.formulas.catalog",
    "OpCall": "convcost.ops",
    "OpCost": "convcost.ops",
    "TensorMeta": "convcost.ops",
    "render": "convcost.renderers",
    "write_plots": "convcost.renderers",
    "Hardware": "convcost.hardware.answer",
    "ModelResult": "convcost.model",
    "analyze": "convcost.model",
    "analyze_onnx": "convcost.model.onnx",
    "GenerationResult": "convcost.model.generate",
    "analyze_generation": "convcost.model.generate",
}

#: Kept in step with ``_EXPORTS`` by a test.
__all__ = [
    "BackwardCost",
    "ConvCostError",
    "ConvResult",
    "ConvSpec",
    "Cost",
    "FormulaRegistry",
    "GenerationResult",
    "Hardware",
    "InputSpec",
    "MemoryTable",
    "ModelResult",
    "OpCall",
    "OpCost",
    "SpecError",
    "TensorMeta",
    "TraceError",
    "__version__",
    "analyze",
    "analyze_conv",
    "analyze_generation",
    "analyze_onnx",
    "conv_cost",
    "conv_spec",
    "default_registry",
    "fvcore_convention",
    "register_formula",
    "render",
    "torch_flop_counter_convention",
    "write_plots",
]

if TYPE_CHECKING:
    from .cost import BackwardCost, Cost, fvcore_convention, torch_flop_counter_convention
    from .errors import ConvCostError, SpecError, TraceError
    from .formulas.catalog import default_registry, register_formula
    from .formulas.registry import FormulaRegistry
    from .hardware.answer import Hardware
    from .layer import ConvResult, MemoryTable, analyze_conv, conv_cost
    from .model import ModelResult, analyze
    from .model.generate import GenerationResult, analyze_generation
    from .model.onnx import analyze_onnx
    from .ops import OpCall, OpCost, TensorMeta
    from .renderers import render, write_plots
    from .spec import ConvSpec, InputSpec, conv_spec


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'convcost' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
