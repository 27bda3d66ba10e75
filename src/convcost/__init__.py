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
    "ModelResult": "convcost.model",
    "analyze": "convcost.model",
}

#: Kept in step with ``_EXPORTS`` by a test.
__all__ = [
    "BackwardCost",
    "ConvCostError",
    "ConvResult",
    "ConvSpec",
    "Cost",
    "InputSpec",
    "MemoryTable",
    "ModelResult",
    "SpecError",
    "TraceError",
    "__version__",
    "analyze",
    "analyze_conv",
    "conv_cost",
    "conv_spec",
    "fvcore_convention",
    "torch_flop_counter_convention",
]

if TYPE_CHECKING:
    from .cost import BackwardCost, Cost, fvcore_convention, torch_flop_counter_convention
    from .errors import ConvCostError, SpecError, TraceError
    from .layer import ConvResult, MemoryTable, analyze_conv, conv_cost
    from .model import ModelResult, analyze
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
