"""Upsampling (``F.interpolate``): nearest, nearest-exact, (bi/tri)linear and bicubic.

A separable interpolation with ``t`` taps per dimension (linear ``t = 2``, cubic ``t = 4``)
over ``nd`` dimensions is evaluated one dimension at a time: per output element
``t^nd + … + t²  + t`` mults and ``t^nd − 1`` adds (bilinear 6 mults, 3 adds; trilinear 14,
7; bicubic 20, 15). The interpolation weights depend on one coordinate only and are computed
once per output row/column, which is not counted. Nearest modes gather: no arithmetic.

Backward scatters every output gradient to the ``t^nd`` taps it came from, each times its
weight product (``nd`` mults per tap); additions are contributions minus destinations that
receive at least one (found from PyTorch's source-index rules, per dimension). Nearest
backward adds each output gradient to its source: output elements minus distinct sources.
"""

from __future__ import annotations

import math
from typing import Any

from ..cost import Cost
from ..ops import OpCall, OpCost
from .opargs import need_tensor, numel, output
from .registry import FormulaRegistry

#: This module's formulas (merged into the default registry by :mod:`.catalog`).
FORMULAS = FormulaRegistry()


def _taps(call: OpCall) -> tuple[int, int]:
    """``(nd, taps per dim)``; taps 1 for nearest."""
    nd = 3 if "3d" in call.name else 2 if "2d" in call.name else 1
    if "bicubic" in call.name:
        return nd, 4
    if "linear" in call.name:
        return nd, 2
    return nd, 1


def _scale(in_len: int, out_len: int, align: bool, scale: Any) -> float:
    if align:
        return (in_len - 1) / (out_len - 1) if out_len > 1 else 0.0
    if isinstance(scale, (int, float)) and scale > 0:
        return 1.0 / scale
    return in_len / out_len


def sources(in_len: int, out_len: int, mode: str, align: bool, scale: Any) -> int:
    """Distinct input positions that output positions ``0 … out_len − 1`` read along one
    dimension (``mode``: ``nearest``, ``nearest-exact``, ``linear``, ``cubic``)."""
    r = _scale(in_len, out_len, align and mode in ("linear", "cubic"), scale)
    hit: set[int] = set()
    for o in range(out_len):
        if mode in ("nearest", "nearest-exact"):
            if out_len == in_len:
                hit.add(o)
                continue
            shift = 0.5 if mode == "nearest-exact" else 0.0
            hit.add(min(math.floor((o + shift) * r), in_len - 1))
            continue
        src = r * o if align else r * (o + 0.5) - 0.5
        if mode == "linear":
            i0 = int(max(src, 0.0))
            hit.update((i0, i0 + (1 if i0 < in_len - 1 else 0)))
        else:
            i0 = math.floor(src)
            hit.update(min(max(i0 + j, 0), in_len - 1) for j in (-1, 0, 1, 2))
    return len(hit)


def _mode(call: OpCall) -> str:
    if "bicubic" in call.name:
        return "cubic"
    if "linear" in call.name:
        return "linear"
    return "nearest-exact" if "exact" in call.name else "nearest"


@FORMULAS.register(
    "upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d",
    "_upsample_nearest_exact1d", "_upsample_nearest_exact2d", "_upsample_nearest_exact3d",
    "upsample_linear1d", "upsample_bilinear2d", "upsample_trilinear3d", "upsample_bicubic2d",
)
def upsample(call: OpCall, counting: str) -> OpCost:
    """``upsample_*(x, output_size, [align_corners,] scales…)`` (and ``.vec``).

    forward: nearest: 0; ``t`` taps per dim over ``nd`` dims: ``Σ_{j=1..nd} t^j`` mults and
    ``t^nd − 1`` adds per output element; backward: see ``upsample_*_backward``.
    """
    nd, t = _taps(call)
    out = output(call)
    n = out.numel if out is not None else 0
    if t == 1:
        return OpCost(Cost())
    return OpCost(Cost(mults=n * sum(t**j for j in range(1, nd + 1)), adds=n * (t**nd - 1)))


@FORMULAS.register(
    "upsample_nearest1d_backward", "upsample_nearest2d_backward", "upsample_nearest3d_backward",
    "_upsample_nearest_exact1d_backward", "_upsample_nearest_exact2d_backward",
    "_upsample_nearest_exact3d_backward", "upsample_linear1d_backward",
    "upsample_bilinear2d_backward", "upsample_trilinear3d_backward",
    "upsample_bicubic2d_backward",
)
def upsample_backward(call: OpCall, counting: str) -> OpCost:
    """``upsample_*_backward(g, output_size, input_size, [align_corners,] scales…)``.

    forward: see ``upsample_*``; backward: ``nd·t^nd`` mults per output gradient element
    (linear/cubic) and ``P·(O·t^nd − Π distinct sources)`` adds (nearest: ``t = 1``, no
    mults).
    """
    nd, t = _taps(call)
    mode = _mode(call)
    g = need_tensor(call, "grad_output")
    in_size = tuple(int(v) for v in call.arg("input_size"))
    out_sp = g.shape[-nd:]
    in_sp = in_size[-nd:]
    align = bool(call.arg("align_corners", False)) if t > 1 else False
    keys = {1: ("scales",), 2: ("scales_h", "scales_w"), 3: ("scales_d", "scales_h", "scales_w")}
    scales = [call.arg(k) for k in keys[nd]]
    factors = call.arg("scale_factors")
    if isinstance(factors, (list, tuple)):
        scales = list(factors)
    dest = numel(sources(i, o, mode, align, s) for i, o, s in zip(in_sp, out_sp, scales))
    planes = g.numel // numel(out_sp)
    contributions = g.numel * t**nd
    mults = g.numel * nd * t**nd if t > 1 else 0
    return OpCost(Cost(mults=mults, adds=contributions - planes * dest))
