"""Exact forward and backward cost of one (transposed) convolution layer: the numeric kernel.

:func:`conv_numbers` computes every number in plain integer arithmetic; it is what the layer
calculator and the PyTorch/ONNX conv ops use. :mod:`.conv_terms` builds the same quantities
as :class:`~convcost.expr.Term` trees with their symbols, which the explanation renders
(imported only when an explanation is asked for). A property test checks that every number
of the kernel equals the evaluated term of the same name.

Conventions (see the README, "Counting conventions"):

* A *product* is one multiplication of the loop nest. The additions of a computation are its
  products minus the destination elements that receive at least one product, plus one bias
  addition per output element that receives a product.
* ``dense`` counts every tap, padding included (im2col/GEMM); ``skip-padding`` counts only
  taps whose input coordinate is inside the unpadded input (the direct algorithm).
* A transposed convolution is the adjoint of the convolution with input and output swapped:
  its forward is that convolution's grad-input computation and vice versa; grad-weight is
  shared.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from ..cost import BackwardCost, Cost
from ..errors import SpecError
from ..spec import ConvSpec
from ..vocab import COUNTINGS
from .taps import dim_taps


def check_counting(counting: str) -> None:
    """Raise :class:`SpecError` unless ``counting`` is a known convention."""
    if counting not in COUNTINGS:
        raise SpecError("counting", counting, "allowed: " + ", ".join(COUNTINGS))


def prod(values: Iterable[int]) -> int:
    """Product of ``values`` (1 for none)."""
    n = 1
    for v in values:
        n *= v
    return n


#: Names of the memory entries, forward and backward (elements of each tensor).
MEMORY_FORWARD = ("input", "weight", "bias", "output")
MEMORY_BACKWARD = ("input", "weight", "bias", "grad_output", "grad_weight", "grad_bias",
                   "grad_input")


class ConvNumbers(NamedTuple):
    """Every number of one layer under one counting convention (exact integers).

    * ``output_size`` — spatial output size; ``macs`` — dense multiply-accumulates
      ``N·c_o·(c_i/g)·Π out·Π kernel`` of the conv view.
    * ``forward``, ``backward`` — mults, adds and MACs of each computation (``grad_input``
      is zero when the input needs no gradient, ``grad_bias`` when there is no bias).
    * ``memory_forward`` / ``memory_backward`` — elements of each tensor held, named as in
      :data:`MEMORY_FORWARD` / :data:`MEMORY_BACKWARD`.
    """

    output_size: tuple[int, ...]
    macs: int
    forward: Cost
    backward: BackwardCost
    memory_forward: tuple[tuple[str, int], ...]
    memory_backward: tuple[tuple[str, int], ...]


def conv_numbers(spec: ConvSpec, counting: str = "dense") -> ConvNumbers:
    """The numbers of :func:`conv_terms` computed directly, without building terms.

    ``counting`` is ``"dense"`` (every tap, padding included) or ``"skip-padding"`` (only taps
    inside the unpadded input); see the module doc for the conventions. Raises
    :class:`~convcost.errors.SpecError` for an unknown convention.
    """
    check_counting(counting)
    n, ci, co, g = spec.batch, spec.in_channels, spec.out_channels, spec.groups
    x, y, k = spec.input_size, spec.output_size, spec.kernel
    # Conv view: a transposed layer is counted as the adjoint convolution.
    cv_ci, cv_co, cv_out, cv_in = (co, ci, x, y) if spec.transposed else (ci, co, y, x)
    ci_g = cv_ci // g
    taps = [dim_taps(cv_in[j], cv_out[j], k[j], spec.stride[j], spec.dilation[j],
                     spec.padding[j][0]) for j in range(spec.ndim)]
    macs = n * cv_co * ci_g * prod(cv_out) * prod(k)
    if counting == "dense":
        products = macs
        dest_a = n * cv_co * prod(cv_out)
        dest_b = n * cv_ci * prod(t.reached for t in taps)
        dest_w = cv_co * ci_g * prod(k)
    else:
        products = n * cv_co * ci_g * prod(t.taps for t in taps)
        dest_a = n * cv_co * prod(t.out_valid for t in taps)
        dest_b = n * cv_ci * prod(t.in_valid for t in taps)
        dest_w = cv_co * ci_g * prod(t.kernel_valid for t in taps)
    # Bias: one addition per layer output element that receives at least one product.
    bias_adds = 0
    if spec.bias:
        if spec.transposed:
            bias_adds = n * co * prod(t.in_valid for t in taps)
        elif counting == "dense":
            bias_adds = n * co * prod(y)
        else:
            bias_adds = n * co * prod(t.out_valid for t in taps)
    fwd_dest, gi_dest = (dest_b, dest_a) if spec.transposed else (dest_a, dest_b)
    forward = Cost(products, products - fwd_dest + bias_adds, macs)
    grad_input = Cost(products, products - gi_dest, macs) if spec.input_grad else Cost()
    grad_weight = Cost(products, products - dest_w, macs)
    out = n * co * prod(y)
    grad_bias = Cost(0, out - co) if spec.bias else Cost()
    inp = n * ci * prod(x)
    weight = (ci * (co // g) if spec.transposed else co * (ci // g)) * prod(k)
    bias = co if spec.bias else 0
    return ConvNumbers(
        output_size=y,
        macs=macs,
        forward=forward,
        backward=BackwardCost(grad_input, grad_weight, grad_bias),
        memory_forward=tuple(zip(MEMORY_FORWARD, (inp, weight, bias, out))),
        memory_backward=tuple(zip(MEMORY_BACKWARD, (
            inp, weight, bias, out, weight, bias, inp if spec.input_grad else 0))),
    )
