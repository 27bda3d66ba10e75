"""Lowerings of pooling: ``MaxPool``/``AveragePool`` (asymmetric padding applied explicitly
with ``F.pad``, then pooled without padding: the padded elements count as data) and the
global pools (``F.adaptive_*_pool*d(x, 1)``, ``nn.AdaptiveAvgPool2d(1)``'s op)."""

from __future__ import annotations

import math
from typing import Any

import torch.nn.functional as F  # noqa: N812 - the usual spelling

from ..node import OnnxOp
from .args import resolve_pads, spatial_attr, torch_pad
from .registry import LoweringTable

LOWERINGS = LoweringTable()

_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
_ADAPTIVE_AVG = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}
_ADAPTIVE_MAX = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}


@LOWERINGS.op("MaxPool", "AveragePool")
def _pool(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    nd = x.dim() - 2
    if nd not in _MAX_POOL:
        raise op.err(f"input rank {x.dim()}: 1-D, 2-D or 3-D batched pooling only")
    k = op.ints("kernel_shape")
    if not k:
        raise op.err("kernel_shape is required")
    s = spatial_attr(op, "strides", nd, 1)
    d = spatial_attr(op, "dilations", nd, 1)
    ceil = bool(op.i("ceil_mode", 0))
    pads = resolve_pads(op, [int(v) for v in x.shape[2:]], k, s, d)
    symmetric = all(p == q and 2 * p <= kk for (p, q), kk in zip(pads, k))
    if op.type == "MaxPool":
        if op.i("storage_order", 0):
            raise op.err("storage_order=1 is not supported")
        if not symmetric:
            x = F.pad(x, torch_pad(pads), value=-math.inf)
        p = [pp for pp, _ in pads] if symmetric else [0] * nd
        fn: Any = _MAX_POOL[nd]
        return fn(x, k, s, p, d, ceil_mode=ceil, return_indices=op.wants(1))
    if any(v != 1 for v in d):
        raise op.err("AveragePool with dilations is not supported")
    if not symmetric:
        x = F.pad(x, torch_pad(pads))
    p = [pp for pp, _ in pads] if symmetric else [0] * nd
    include = bool(op.i("count_include_pad", 0))
    avg: Any = _AVG_POOL[nd]
    return avg(x, k, s, p, ceil, include)


@LOWERINGS.op("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    nd = x.dim() - 2
    if nd not in _ADAPTIVE_AVG:
        raise op.err(f"input rank {x.dim()}: 1-D, 2-D or 3-D only")
    if op.type == "GlobalAveragePool":
        return _ADAPTIVE_AVG[nd](x, 1)  # nn.AdaptiveAvgPool2d(1)'s op
    fn: Any = _ADAPTIVE_MAX[nd]
    return fn(x, 1)
