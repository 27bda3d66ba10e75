"""Lowerings of the matrix-product family: ``Gemm`` (``torch.addmm``, ``nn.Linear``'s op),
``MatMul``, ``Einsum`` and ``Attention`` (``F.scaled_dot_product_attention``)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the usual spelling

from ..node import OnnxOp
from .args import input_at
from .registry import LoweringTable

LOWERINGS = LoweringTable()


@LOWERINGS.op("Gemm")
def _gemm(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    a, b, c = xs[0], xs[1], input_at(xs, 2)
    if op.i("transA", 0):
        a = a.t()
    if op.i("transB", 0):
        b = b.t()
    alpha, beta = op.f("alpha", 1.0), op.f("beta", 1.0)
    if c is not None and beta != 0:
        if alpha == 1.0 and beta == 1.0:
            return torch.addmm(c, a, b)
        return torch.addmm(c, a, b, beta=beta, alpha=alpha)
    y = torch.mm(a, b)
    return y if alpha == 1.0 else y * alpha


@LOWERINGS.op("MatMul")
def _matmul(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    return torch.matmul(xs[0], xs[1])


@LOWERINGS.op("Einsum")
def _einsum(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    return torch.einsum(op.s("equation", "").replace(" ", ""), *xs)


@LOWERINGS.op("Attention")
def _attention(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    q, k, v, mask = xs[0], xs[1], xs[2], input_at(xs, 3)
    if any(input_at(xs, i) is not None for i in (4, 5, 6)) or op.f("softcap", 0.0) != 0.0 \
            or any(op.wants(i) for i in (1, 2, 3)):
        raise op.err("only Attention without past key/values, softcap or extra outputs is "
                     "supported")
    three_d = q.dim() == 3
    if three_d:
        hq, hkv = op.i("q_num_heads", 0), op.i("kv_num_heads", 0)
        if hq <= 0 or hkv <= 0:
            raise op.err("3-D inputs need q_num_heads and kv_num_heads")
        bsz, sq = int(q.shape[0]), int(q.shape[1])
        q = q.reshape(bsz, sq, hq, -1).transpose(1, 2)
        k = k.reshape(bsz, int(k.shape[1]), hkv, -1).transpose(1, 2)
        v = v.reshape(bsz, int(v.shape[1]), hkv, -1).transpose(1, 2)
    scale = op.attrs.get("scale")
    y = F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, is_causal=bool(op.i("is_causal", 0)),
        scale=None if scale is None else float(scale),
        enable_gqa=int(q.shape[1]) != int(k.shape[1]))
    if three_d:
        y = y.transpose(1, 2).reshape(int(y.shape[0]), int(y.shape[2]), -1)
    return y
