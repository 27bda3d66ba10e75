"""Brute-force reference counter for one (transposed) convolution layer.

Written independently of ``convcost.formulas``: it only reads the fields of a
:class:`~convcost.spec.ConvSpec` and enumerates, with explicit nested loops, every product of
the layer's loop nest (batch, output channel, input channel of the group, every position
tuple, every kernel offset tuple). For each computation and each counting convention it
counts

* mults — the products formed;
* adds — products minus the number of distinct destination elements that receive at least
  one product, plus (forward only, with bias) one bias addition per layer-output element
  that receives at least one product.

Only usable on tiny layers: the cost is one Python iteration per product.

Definitions (per spatial dimension, ``s`` stride, ``d`` dilation, ``pb``/``pe`` padding):

* Convolution: output position ``o`` and kernel offset ``k`` read input coordinate
  ``i = o·s − pb + k·d``, in bounds iff ``0 <= i < L``. ``dense`` counts every tap,
  ``skip-padding`` only taps in bounds in all dimensions. Destinations: forward
  ``(n, c_o, o)``; grad-weight ``(c_o, c_i_local, k)``; grad-input ``(n, c_i, o·s + k·d)``
  (dense: scattered into the padded input) or ``(n, c_i, i)`` (skip-padding).
* Transposed convolution (PyTorch's ConvTranspose): input position ``x`` and kernel offset
  ``k`` write output coordinate ``y = x·s − pb + k·d``, in bounds iff ``0 <= y < Y``.
  Destinations: forward ``(n, c_out, x·s + k·d)`` (dense) or ``(n, c_out, y)``
  (skip-padding); bias additions only for real output elements ``(n, c_out, y)``;
  grad-input ``(n, c_in, x)``; grad-weight ``(c_in, c_out_local, k)``.
* grad-bias: 0 mults; one addition per summed term minus one per channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product

from convcost.spec import ConvSpec

CONVENTIONS = ("dense", "skip-padding")
COMPUTATIONS = ("forward", "grad_input", "grad_weight", "grad_bias")


@dataclass
class Tally:
    """Products and distinct destinations of one computation under one convention."""

    products: int = 0
    destinations: set[tuple[object, ...]] = field(default_factory=set)

    def add(self, dest: tuple[object, ...]) -> None:
        self.products += 1
        self.destinations.add(dest)


@dataclass(frozen=True)
class BruteCounts:
    """What the brute force found for one layer.

    ``counts[convention][computation] == (mults, adds)``; ``macs`` is the number of dense
    forward products; ``output_size`` the spatial output size found by enumeration;
    ``destinations[convention][computation]`` the number of distinct destination elements.
    """

    output_size: tuple[int, ...]
    macs: int
    counts: dict[str, dict[str, tuple[int, int]]]
    destinations: dict[str, dict[str, int]]


def _conv_output_size(spec: ConvSpec) -> tuple[int, ...]:
    """Count the output positions whose whole (dilated) kernel fits in the padded input."""
    out = []
    for L, K, s, d, (pb, pe) in zip(
        spec.input_size, spec.kernel, spec.stride, spec.dilation, spec.padding, strict=True
    ):
        padded = L + pb + pe
        out.append(sum(1 for o in range(padded) if o * s + d * (K - 1) <= padded - 1))
    return tuple(out)


def _transpose_output_size(spec: ConvSpec) -> tuple[int, ...]:
    """Extent of the scattered (padded) output, cropped by the padding, plus output_padding."""
    op = spec.output_padding or (0,) * spec.ndim
    out = []
    for X, K, s, d, (pb, pe), opj in zip(
        spec.input_size, spec.kernel, spec.stride, spec.dilation, spec.padding, op, strict=True
    ):
        extent = max(x * s + k * d for x in range(X) for k in range(K)) + 1
        out.append(extent - pb - pe + opj)
    return tuple(out)


def brute_output_size(spec: ConvSpec) -> tuple[int, ...]:
    """Spatial output size of ``spec``, counted position by position."""
    return _transpose_output_size(spec) if spec.transposed else _conv_output_size(spec)


def brute_force(spec: ConvSpec) -> BruteCounts:
    """Enumerate every product of ``spec``'s loop nest and count (see the module doc)."""
    nd = spec.ndim
    s, d, K = spec.stride, spec.dilation, spec.kernel
    pb = tuple(p[0] for p in spec.padding)
    g = spec.groups
    N = spec.batch
    kernel_offsets = list(product(*(range(k) for k in K)))

    tallies = {c: {name: Tally() for name in ("forward", "grad_input", "grad_weight")}
               for c in CONVENTIONS}
    bias_dest: dict[str, set[tuple[object, ...]]] = {c: set() for c in CONVENTIONS}

    if not spec.transposed:
        L = spec.input_size
        out_size = _conv_output_size(spec)
        positions = list(product(*(range(o) for o in out_size)))
        cig = spec.in_channels // g
        cog = spec.out_channels // g
        for n in range(N):
            for co in range(spec.out_channels):
                group = co // cog
                for cil in range(cig):
                    ci = group * cig + cil
                    for o in positions:
                        for k in kernel_offsets:
                            padded = tuple(o[j] * s[j] + k[j] * d[j] for j in range(nd))
                            i = tuple(padded[j] - pb[j] for j in range(nd))
                            inb = all(0 <= i[j] < L[j] for j in range(nd))
                            dense = tallies["dense"]
                            dense["forward"].add((n, co, o))
                            dense["grad_weight"].add((co, cil, k))
                            dense["grad_input"].add((n, ci, padded))
                            bias_dest["dense"].add((n, co, o))
                            if inb:
                                skip = tallies["skip-padding"]
                                skip["forward"].add((n, co, o))
                                skip["grad_weight"].add((co, cil, k))
                                skip["grad_input"].add((n, ci, i))
                                bias_dest["skip-padding"].add((n, co, o))
    else:
        X = spec.input_size
        out_size = _transpose_output_size(spec)
        Y = out_size
        positions = list(product(*(range(x) for x in X)))
        cig = spec.in_channels // g
        cog = spec.out_channels // g
        for n in range(N):
            for ci in range(spec.in_channels):
                group = ci // cig
                for col in range(cog):
                    co = group * cog + col
                    for x in positions:
                        for k in kernel_offsets:
                            padded = tuple(x[j] * s[j] + k[j] * d[j] for j in range(nd))
                            y = tuple(padded[j] - pb[j] for j in range(nd))
                            inb = all(0 <= y[j] < Y[j] for j in range(nd))
                            dense = tallies["dense"]
                            dense["forward"].add((n, co, padded))
                            dense["grad_input"].add((n, ci, x))
                            dense["grad_weight"].add((ci, col, k))
                            if inb:
                                skip = tallies["skip-padding"]
                                skip["forward"].add((n, co, y))
                                skip["grad_input"].add((n, ci, x))
                                skip["grad_weight"].add((ci, col, k))
                                # Products landing in the padding are not output elements:
                                # only in-bounds ones make an output element take a bias add.
                                bias_dest["dense"].add((n, co, y))
                                bias_dest["skip-padding"].add((n, co, y))

    # grad-bias: sum the output gradient over batch and positions, per channel.
    gb_terms = 0
    gb_dest: set[int] = set()
    if spec.bias:
        for _n in range(N):
            for co in range(spec.out_channels):
                for _y in product(*(range(v) for v in out_size)):
                    gb_terms += 1
                    gb_dest.add(co)

    counts: dict[str, dict[str, tuple[int, int]]] = {}
    dests: dict[str, dict[str, int]] = {}
    for conv in CONVENTIONS:
        t = tallies[conv]
        fwd = t["forward"]
        fwd_adds = fwd.products - len(fwd.destinations)
        if spec.bias:
            fwd_adds += len(bias_dest[conv])
        gi = t["grad_input"]
        gw = t["grad_weight"]
        counts[conv] = {
            "forward": (fwd.products, fwd_adds),
            "grad_input": (gi.products, gi.products - len(gi.destinations))
            if spec.input_grad
            else (0, 0),
            "grad_weight": (gw.products, gw.products - len(gw.destinations)),
            "grad_bias": (0, gb_terms - len(gb_dest)),
        }
        dests[conv] = {
            "forward": len(fwd.destinations),
            "grad_input": len(gi.destinations),
            "grad_weight": len(gw.destinations),
            "bias": len(bias_dest[conv]),
        }
    return BruteCounts(
        output_size=out_size,
        macs=tallies["dense"]["forward"].products,
        counts=counts,
        destinations=dests,
    )


def product_count(spec: ConvSpec) -> int:
    """Number of dense products (iterations the brute force will take), without enumerating."""
    n = spec.batch * spec.in_channels * (spec.out_channels // spec.groups)
    positions = spec.input_size if spec.transposed else spec.output_size
    for v in (*positions, *spec.kernel):
        n *= v
    return n
