"""The cost record shared by every formula.

Conventions (used everywhere in convcost):

* ``mults`` — scalar multiplications; ``adds`` — scalar additions (a subtraction counts as one).
* ``other`` — every other scalar operation, one each: divisions, comparisons (max, relu),
  exponentials, logarithms, square roots, tanh/erf and the like. Convolutions and matrix
  products have none.
* ``flops = mults + adds + other``: every scalar operation is one floating-point operation.
  This is *not* the "FLOPs = MACs" label some tools use.
* ``macs`` — multiply-accumulates, the products of convolution/matmul loop nests. Stored
  separately because it is a property of the op, not derivable from mults and adds.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cost:
    """Operation counts of one computation (all exact integers).

    ``macs`` is the number of multiply-accumulate products (0 for ops that are not
    convolutions or matrix products). ``flops`` is derived as ``mults + adds + other``.
    """

    mults: int = 0
    adds: int = 0
    macs: int = 0
    other: int = 0

    @property
    def flops(self) -> int:
        """Floating-point operations: multiplications + additions + other scalar operations."""
        return self.mults + self.adds + self.other

    def __add__(self, o: Cost) -> Cost:
        return Cost(
            self.mults + o.mults, self.adds + o.adds, self.macs + o.macs, self.other + o.other
        )

    def __mul__(self, k: int) -> Cost:
        return Cost(self.mults * k, self.adds * k, self.macs * k, self.other * k)

    __rmul__ = __mul__

    def to_dict(self) -> dict[str, int]:
        """``{"macs", "mults", "adds", "other", "flops"}`` — the one JSON form of a cost,
        used by every document (a layer's, a model's, an op's)."""
        return {"macs": self.macs, "mults": self.mults, "adds": self.adds,
                "other": self.other, "flops": self.flops}


@dataclass(frozen=True)
class BackwardCost:
    """Backward-pass cost split by gradient. ``total`` is their sum."""

    grad_input: Cost
    grad_weight: Cost
    grad_bias: Cost

    @property
    def total(self) -> Cost:
        """grad-input + grad-weight + grad-bias."""
        return self.grad_input + self.grad_weight + self.grad_bias

    def to_dict(self) -> dict[str, dict[str, int]]:
        """JSON form: ``{"grad_input", "grad_weight", "grad_bias", "total"}``, each a
        :meth:`Cost.to_dict`."""
        return {
            "grad_input": self.grad_input.to_dict(),
            "grad_weight": self.grad_weight.to_dict(),
            "grad_bias": self.grad_bias.to_dict(),
            "total": self.total.to_dict(),
        }


def torch_flop_counter_convention(macs: int) -> int:
    """FLOPs as ``torch.utils.flop_counter.FlopCounterMode`` reports them: ``2 · MACs``."""
    return 2 * macs


def fvcore_convention(macs: int) -> int:
    """ "FLOPs" as fvcore, ptflops and thop report them: one per MAC."""
    return macs
