"""Lowerings of normalisation layers and ``Dropout`` — the ops whose behaviour follows the
analysis mode: ``BatchNormalization`` normalises with batch statistics (and updates the
running ones) in a training analysis, ``Dropout`` is active exactly then; instance, layer,
group, RMS, local-response and Lp normalisation."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the usual spelling

from ..node import OnnxOp
from ..tensors import is_fake
from .args import const_scalar, input_at, norm_axis
from .registry import LoweringTable

LOWERINGS = LoweringTable()


@LOWERINGS.op("BatchNormalization")
def _batch_norm(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x, scale, bias, mean, var = xs[:5]
    if op.opset < 9 and op.i("spatial", 1) == 0:
        raise op.err("spatial=0 (per-activation statistics) is not supported")
    eps, momentum = op.f("epsilon", 1e-5), op.f("momentum", 0.9)
    rm, rv = mean, var
    if training and not all(is_fake(t) and not t.requires_grad for t in (rm, rv)):
        rm = rv = None  # only running-statistics buffers are updated in place
    y = F.batch_norm(x, rm, rv, scale, bias, training=training, momentum=1.0 - momentum,
                     eps=eps)
    return (y, mean, var, mean, var)[: max(1, len(op.outputs))]


@LOWERINGS.op("InstanceNormalization")
def _instance_norm(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    return F.instance_norm(xs[0], weight=xs[1], bias=xs[2], eps=op.f("epsilon", 1e-5))


@LOWERINGS.op("LayerNormalization")
def _layer_norm(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x, scale, bias = xs[0], xs[1], input_at(xs, 2)
    axis = norm_axis(op.i("axis", -1), x.dim())
    shape = tuple(int(s) for s in x.shape[axis:])
    eps = op.f("epsilon", 1e-5)
    if op.wants(1) or op.wants(2):
        raise op.err("the Mean/InvStdDev outputs are not supported")
    if tuple(scale.shape) == shape and (bias is None or tuple(bias.shape) == shape):
        return F.layer_norm(x, shape, scale, bias, eps)
    y = F.layer_norm(x, shape, None, None, eps) * scale
    return y if bias is None else y + bias


@LOWERINGS.op("GroupNormalization")
def _group_norm(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x, scale, bias = xs[0], xs[1], xs[2]
    g, c = op.i("num_groups", 1), int(x.shape[1])
    if int(scale.numel()) != c:  # opset 18: one scale/bias per group
        scale = scale.repeat_interleave(c // g)
        bias = bias.repeat_interleave(c // g)
    return F.group_norm(x, g, scale, bias, op.f("epsilon", 1e-5))


@LOWERINGS.op("RMSNormalization")
def _rms_norm(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x, scale = xs[0], xs[1]
    axis = norm_axis(op.i("axis", -1), x.dim())
    shape = tuple(int(s) for s in x.shape[axis:])
    if tuple(scale.shape) == shape:
        return F.rms_norm(x, shape, scale, op.f("epsilon", 1e-5))
    return F.rms_norm(x, shape, None, op.f("epsilon", 1e-5)) * scale


@LOWERINGS.op("LRN")
def _lrn(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    return F.local_response_norm(xs[0], op.i("size", 1), op.f("alpha", 1e-4),
                                 op.f("beta", 0.75), op.f("bias", 1.0))


@LOWERINGS.op("LpNormalization")
def _lp_norm(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    return F.normalize(xs[0], float(op.i("p", 2)), op.i("axis", -1))


@LOWERINGS.op("Dropout", values=(1, 2))
def _dropout(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    x = xs[0]
    if op.opset < 12:
        ratio = op.f("ratio", 0.5)
    else:
        r = const_scalar(op, input_at(xs, 1), "ratio")
        ratio = 0.5 if r is None else float(r)
    active = training and ratio > 0
    if op.wants(1):
        y, mask = torch.native_dropout(x, ratio, active)
        return y, mask
    return F.dropout(x, ratio, active)
