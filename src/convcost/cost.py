"""The cost record shared by every formula.

Conventions (used everywhere in convcost):

* ``mults`` — scalar multiplications; ``adds`` — scalar additions (a subtraction counts as one).
* ``flops = mults + adds``: every scalar multiplication and addition is one floating-point
  operation. This is *not* the "FLOPs = MACs" label some tools use.
* ``macs`` — multiply-accumulates, the products of convolution/matmul loop nests. Stored
  separately because it is a property of the op, not derivable from mults and adds.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cost:
    """Operation counts of one computation (all exact integers).

    ``macs`` is the number of multiply-accumulate products (0 for ops that are not
    convolutions or matrix products). ``flops`` is derived as ``mults + adds``.
    """

    mults: int = 0
    adds: int = 0
    macs: int = 0

    @property
    def flops(self) -> int:
        """Floating-point operations: multiplications plus additions."""
        return self.mults + self.adds

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.mults + other.mults, self.adds + other.adds, self.macs + other.macs)

    def __mul__(self, k: int) -> Cost:
        return Cost(self.mults * k, self.adds * k, self.macs * k)

    __rmul__ = __mul__

    def to_dict(self) -> dict[str, int]:
        """``{"mults", "adds", "flops"}`` — the JSON form of a cost."""
        return {"mults": self.mults, "adds": self.adds, "flops": self.flops}


ZERO = Cost()


def torch_flop_counter_convention(macs: int) -> int:
    """FLOPs as ``torch.utils.flop_counter.FlopCounterMode`` reports them: ``2 · MACs``."""
    return 2 * macs


def fvcore_convention(macs: int) -> int:
    """"FLOPs" as fvcore, ptflops and thop report them: one per MAC."""
    return macs
