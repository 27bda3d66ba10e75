"""Lowerings that resample the spatial dimensions: ``Resize``/``Upsample`` (``F.interpolate``;
the inputs and attributes of every opset from 7), ``DepthToSpace`` and ``SpaceToDepth``."""

from __future__ import annotations

import math
from typing import Any

import torch.nn.functional as F  # noqa: N812 - the usual spelling

from ..node import OnnxOp
from .args import const_ints, const_values, input_at, norm_axis
from .registry import LoweringTable

LOWERINGS = LoweringTable()


@LOWERINGS.op("Resize", "Upsample", values=(1, 2, 3))
def _resize(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    r = x.dim()
    shape = [int(s) for s in x.shape]
    scales: list[float] | None = None
    sizes: list[int] | None = None
    if op.type == "Upsample":
        scales = op.floats("scales") if op.opset < 9 else [float(v) for v in
                                                            const_values(op, xs[1], "scales")]
        ctm = "asymmetric"
    else:
        ctm = op.s("coordinate_transformation_mode", "half_pixel")
        if op.opset < 11:
            scales = [float(v) for v in const_values(op, xs[1], "scales")]
        else:
            sc, sz = input_at(xs, 2), input_at(xs, 3)
            if sz is not None and sz.numel() > 0:
                sizes = const_ints(op, sz, "sizes")
            elif sc is not None and sc.numel() > 0:
                scales = [float(v) for v in const_values(op, sc, "scales")]
    axes = [norm_axis(a, r) for a in (op.ints("axes") or range(r))]
    if sizes is not None:
        full = list(shape)
        policy = op.s("keep_aspect_ratio_policy", "stretch")
        if policy != "stretch":
            ratios = [sizes[j] / shape[a] for j, a in enumerate(axes)]
            ratio = min(ratios) if policy == "not_larger" else max(ratios)
            sizes = [round(shape[a] * ratio) for a in axes]
        for j, a in enumerate(axes):
            full[a] = sizes[j]
    elif scales is not None:
        full = list(shape)
        for j, a in enumerate(axes):
            full[a] = math.floor(shape[a] * scales[j])
    else:
        raise op.err("neither scales nor sizes given")
    if full[:2] != shape[:2] or not 1 <= r - 2 <= 3:
        raise op.err(f"resizing {shape} to {full}: only the spatial dimensions of a batched "
                     "1-D/2-D/3-D input can be resized")
    mode = op.s("mode", "nearest")
    out = full[2:]
    nd = r - 2
    if mode == "nearest":
        return F.interpolate(x, size=out, mode="nearest")
    if mode in ("linear", "bilinear"):
        tm = {1: "linear", 2: "bilinear", 3: "trilinear"}[nd]
        aa = bool(op.i("antialias", 0)) and nd == 2
        return F.interpolate(x, size=out, mode=tm, align_corners=ctm == "align_corners",
                             antialias=aa)
    if mode in ("cubic", "bicubic") and nd == 2:
        return F.interpolate(x, size=out, mode="bicubic", align_corners=ctm == "align_corners",
                             antialias=bool(op.i("antialias", 0)))
    raise op.err(f"mode {mode!r} on a {nd}-D input is not supported")


@LOWERINGS.op("DepthToSpace")
def _depth_to_space(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    bs = op.i("blocksize", 1)
    if op.s("mode", "DCR") == "CRD":
        return F.pixel_shuffle(x, bs)
    b, c, h, w = (int(s) for s in x.shape)
    y = x.reshape(b, bs, bs, c // (bs * bs), h, w).permute(0, 3, 4, 1, 5, 2)
    return y.reshape(b, c // (bs * bs), h * bs, w * bs)


@LOWERINGS.op("SpaceToDepth")
def _space_to_depth(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    bs = op.i("blocksize", 1)
    b, c, h, w = (int(s) for s in x.shape)
    y = x.reshape(b, c, h // bs, bs, w // bs, bs).permute(0, 3, 5, 1, 2, 4)
    return y.reshape(b, c * bs * bs, h // bs, w // bs)
