"""convcost: exact forward and backward cost and memory of neural-network layers and models.

Counting conventions: ``mults`` and ``adds`` are scalar multiplications and additions,
``flops = mults + adds``, ``macs`` are multiply-accumulates (products of convolution and
matmul loop nests). See the README for the exact definitions.
"""

from __future__ import annotations

from .cost import BackwardCost, Cost, fvcore_convention, torch_flop_counter_convention
from .errors import ConvCostError, SpecError
from .layer import ConvResult, MemoryTable, analyze_conv, conv_cost
from .model import InputSpec, ModelResult, analyze
from .spec import ConvSpec, conv_spec

__version__ = "0.1.0"

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
    "__version__",
    "analyze",
    "analyze_conv",
    "conv_cost",
    "conv_spec",
    "fvcore_convention",
    "torch_flop_counter_convention",
]
