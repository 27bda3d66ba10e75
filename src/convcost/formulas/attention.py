"""Scaled dot-product attention: every fused variant, forward and backward.

Shapes: ``q[…, Lq, E]``, ``k[…, Lk, E]``, ``v[…, Lk, Ev]``; ``B`` is the product of q's leading
(batch × head) dimensions and ``S = B·Lq·Lk`` the number of attention scores. Grouped-query
attention (k/v with fewer heads, ``Bkv`` batch × heads) broadcasts k and v.

**Forward** (what the math decomposition ``softmax(q·kᵀ·scale + mask)·v`` computes):

* ``q·kᵀ``: ``S`` dot products of length ``E`` (``S·E`` MACs, ``S·(E − 1)`` adds);
* scale: ``S`` mults; mask or ``is_causal``: ``S`` adds (an additive ``−inf`` bias; a causal
  mask is counted like a dense mask and the masked products are still counted, as the
  decomposition computes them);
* softmax over each of the ``B·Lq`` rows of length ``Lk`` (see ``reduce.softmax_cost``);
* dropout (``dropout_p > 0``): per score 1 other (draw and compare) and 2 mults (mask,
  ``1/(1 − p)``);
* ``P·v``: ``B·Lq·Ev`` dot products of length ``Lk``.

So ``macs = S·(E + Ev)``, the same as ``torch.utils.flop_counter`` (which reports ``2·macs``).

**Backward** (the fused kernels' algorithm, which recomputes the scores from the saved
log-sum-exp ``lse`` instead of storing P):

* recompute ``q·kᵀ`` (``S·E`` MACs), scale (``S`` mults), mask (``S`` adds),
  ``P = exp(s − lse)`` (``S`` adds, ``S`` other); dropout: 1 other + 2 mults per score for P
  and 2 mults per score for dP;
* ``dV = Pᵀ·dO``: ``Bkv·Lk·Ev`` outputs, ``Lq·B/Bkv`` products each (when dV is requested);
* ``dP = dO·vᵀ``: ``S`` dot products of length ``Ev``;
* ``D = rowsum(dO ∘ O)``: ``B·Lq·Ev`` mults, ``B·Lq·(Ev − 1)`` adds (elementwise, not MACs);
* ``dS = P ∘ (dP − D)·scale``: per score 1 add, 2 mults;
* ``dQ = dS·k``: ``B·Lq·E`` outputs of ``Lk`` products; ``dK = dSᵀ·q``: ``Bkv·Lk·E`` outputs
  of ``Lq·B/Bkv`` products (each when requested).

Without GQA ``macs = S·(3E + 2Ev)``, again ``flop_counter``'s count halved. ``dP`` and ``dS``
are skipped when neither dQ, dK nor the bias gradient is requested. All parts are
activation gradients (part ``grad_input``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..cost import Cost
from ..ops import OpCall, OpCost, TensorMeta
from .matmul import products
from .norm import normalize_cost, stats_cost
from .opargs import mask, need_tensor, numel, reduced_rows
from .reduce import softmax_cost
from .registry import FormulaRegistry

#: This module's formulas (merged into the default registry by :mod:`.catalog`).
FORMULAS = FormulaRegistry()


@dataclass(frozen=True)
class _Dims:
    b: int
    bkv: int
    lq: int
    lk: int
    e: int
    ev: int

    @property
    def scores(self) -> int:
        return self.b * self.lq * self.lk


def _dims(q: TensorMeta, k: TensorMeta, v: TensorMeta) -> _Dims:
    return _Dims(
        b=numel(q.shape[:-2]),
        bkv=numel(k.shape[:-2]),
        lq=q.shape[-2],
        lk=k.shape[-2],
        e=q.shape[-1],
        ev=v.shape[-1],
    )


def _masked(call: OpCall, mask_key: str) -> bool:
    """A tensor mask (argument ``mask_key``) or ``is_causal``."""
    m = call.arg(mask_key)
    return isinstance(m, TensorMeta) or bool(call.arg("is_causal", False))


def _dropout(call: OpCall) -> bool:
    p: Any = call.arg("dropout_p", 0.0)
    return bool(p)


def sdpa_forward_cost(d: _Dims, masked: bool, dropout: bool) -> Cost:
    """Forward count of one attention call (see the module doc)."""
    s = d.scores
    cost = products(s, d.e) + Cost(mults=s) + softmax_cost(d.b * d.lq, d.lk)
    if masked:
        cost += Cost(adds=s)
    if dropout:
        cost += Cost(mults=2 * s, other=s)
    return cost + products(d.b * d.lq * d.ev, d.lk)


def sdpa_backward_cost(
    d: _Dims, masked: bool, dropout: bool, want: tuple[bool, bool, bool, bool]
) -> Cost:
    """Backward count; ``want`` = gradients requested for (q, k, v, bias)."""
    s = d.scores
    group = d.b // d.bkv if d.bkv else 1
    cost = products(s, d.e) + Cost(mults=s, adds=s, other=s)
    if masked:
        cost += Cost(adds=s)
    if dropout:
        cost += Cost(mults=2 * s, other=s)
    if want[2]:
        cost += products(d.bkv * d.lk * d.ev, d.lq * group)
    if want[0] or want[1] or want[3]:
        cost += products(s, d.ev)
        rows = d.b * d.lq
        cost += Cost(mults=rows * d.ev, adds=rows * max(d.ev - 1, 0))
        cost += Cost(mults=2 * s, adds=s)
        if dropout:
            cost += Cost(mults=2 * s)
    if want[0]:
        cost += products(d.b * d.lq * d.e, d.lk)
    if want[1]:
        cost += products(d.bkv * d.lk * d.e, d.lq * group)
    return cost


def _fwd(call: OpCall, mask_key: str) -> OpCost:
    d = _dims(need_tensor(call, "query"), need_tensor(call, "key"),
              need_tensor(call, "value"))
    return OpCost(sdpa_forward_cost(d, _masked(call, mask_key), _dropout(call)))


def _bwd(
    call: OpCall, mask_key: str, want: tuple[bool, bool, bool, bool] = (True, True, True, False)
) -> OpCost:
    d = _dims(need_tensor(call, "query"), need_tensor(call, "key"),
              need_tensor(call, "value"))
    cost = sdpa_backward_cost(d, _masked(call, mask_key), _dropout(call), want)
    return OpCost(cost, (("grad_input", cost),))


@FORMULAS.register("_scaled_dot_product_flash_attention_for_cpu")
def sdpa_flash_cpu(call: OpCall, counting: str) -> OpCost:
    """``(q, k, v, dropout_p, is_causal, *, attn_mask, scale)``.

    forward: see the module doc (``S·(E + Ev)`` MACs, scale, mask, softmax, dropout);
    backward: ``_scaled_dot_product_flash_attention_for_cpu_backward``.
    """
    return _fwd(call, "attn_mask")


@FORMULAS.register("_scaled_dot_product_flash_attention_for_cpu_backward")
def sdpa_flash_cpu_backward(call: OpCall, counting: str) -> OpCost:
    """``(grad_out, q, k, v, out, lse, dropout_p, is_causal, *, attn_mask, scale)``.

    forward: see ``_scaled_dot_product_flash_attention_for_cpu``; backward: the module doc's
    fused backward (recompute, dV, dP, D, dS, dQ, dK).
    """
    return _bwd(call, "attn_mask")


@FORMULAS.register("_scaled_dot_product_flash_attention")
def sdpa_flash(call: OpCall, counting: str) -> OpCost:
    """``(q, k, v, dropout_p, is_causal, return_debug_mask, *, scale)``.

    forward: the module doc's forward; backward: ``_scaled_dot_product_flash_attention_backward``.
    """
    return _fwd(call, "attn_mask")


@FORMULAS.register("_scaled_dot_product_flash_attention_backward")
def sdpa_flash_backward(call: OpCall, counting: str) -> OpCost:
    """``(grad_out, q, k, v, out, lse, cum_seq_q, cum_seq_k, max_q, max_k, dropout_p,
    is_causal, philox_seed, philox_offset, *, scale)``.

    forward: see ``_scaled_dot_product_flash_attention``; backward: the module doc's backward.
    """
    return _bwd(call, "attn_mask")


@FORMULAS.register("_scaled_dot_product_efficient_attention")
def sdpa_efficient(call: OpCall, counting: str) -> OpCost:
    """``(q, k, v, attn_bias, compute_log_sumexp, dropout_p, is_causal, *, scale)``.

    forward: the module doc's forward; backward:
    ``_scaled_dot_product_efficient_attention_backward``.
    """
    return _fwd(call, "attn_bias")


@FORMULAS.register("_scaled_dot_product_efficient_attention_backward")
def sdpa_efficient_backward(call: OpCall, counting: str) -> OpCost:
    """``(grad_out, q, k, v, attn_bias, out, lse, philox_seed, philox_offset, dropout_p,
    grad_input_mask, is_causal, *, scale)``.

    forward: see ``_scaled_dot_product_efficient_attention``; backward: the module doc's
    backward, honouring ``grad_input_mask`` (q, k, v, bias).
    """
    m = mask(call.arg("grad_input_mask"), 4)
    return _bwd(call, "attn_bias", (m[0], m[1], m[2], m[3]))


@FORMULAS.register("_scaled_dot_product_cudnn_attention")
def sdpa_cudnn(call: OpCall, counting: str) -> OpCost:
    """``(q, k, v, attn_bias, compute_log_sumexp, dropout_p, is_causal, return_debug_mask,
    *, scale)``.

    forward: the module doc's forward; backward: ``_scaled_dot_product_cudnn_attention_backward``.
    """
    return _fwd(call, "attn_bias")


@FORMULAS.register("_scaled_dot_product_cudnn_attention_backward")
def sdpa_cudnn_backward(call: OpCall, counting: str) -> OpCost:
    """``(grad_out, q, k, v, out, lse, philox_seed, philox_offset, attn_bias, cum_seq_q,
    cum_seq_k, max_q, max_k, dropout_p, is_causal, *, scale)``.

    forward: see ``_scaled_dot_product_cudnn_attention``; backward: the module doc's backward.
    """
    return _bwd(call, "attn_bias")


@FORMULAS.register("_scaled_dot_product_fused_attention_overrideable")
def sdpa_overrideable(call: OpCall, counting: str) -> OpCost:
    """``(q, k, v, attn_bias, dropout_p, is_causal, return_debug_mask, *, scale)``.

    forward: the module doc's forward; backward:
    ``_scaled_dot_product_fused_attention_overrideable_backward``.
    """
    return _fwd(call, "attn_bias")


@FORMULAS.register("_scaled_dot_product_fused_attention_overrideable_backward")
def sdpa_overrideable_backward(call: OpCall, counting: str) -> OpCost:
    """``(grad_out, q, k, v, attn_bias, grad_input_mask, out, lse, cum_seq_q, cum_seq_k, max_q,
    max_k, dropout_p, is_causal, philox_seed, philox_offset, *, scale)``.

    forward: see ``_scaled_dot_product_fused_attention_overrideable``; backward: the module
    doc's backward, honouring ``grad_input_mask`` (q, k, v, bias).
    """
    m = mask(call.arg("grad_input_mask"), 4)
    return _bwd(call, "attn_bias", (m[0], m[1], m[2], m[3]))


@FORMULAS.register("_scaled_dot_product_attention_math_for_mps")
def sdpa_math_mps(call: OpCall, counting: str) -> OpCost:
    """``(q, k, v, attn_mask, dropout_p, is_causal, dropout_mask, *, scale, enable_gqa)``.

    forward: the module doc's forward; backward: autograd's decomposed ops.
    """
    return _fwd(call, "attn_mask")



# ----------------------------------------------------------------- fused inference fast paths
# ``nn.MultiheadAttention`` and ``nn.TransformerEncoderLayer`` in eval mode under ``no_grad``
# dispatch one fused op each instead of the linear/SDPA ops above.


def _mha_cost(b: int, lq: int, lk: int, dim: int, heads: int, masked: bool,
              avg_weights: bool) -> Cost:
    """``_native_multi_head_attention``'s algorithm (see its formula)."""
    dh = dim // heads if heads else dim
    s = b * heads * lq * lk
    cost = products(b * lq * dim, dim) + products(2 * b * lk * dim, dim)  # q, k, v projections
    cost += Cost(adds=b * lq * dim + 2 * b * lk * dim, mults=b * lq * dim)  # biases, q scale
    cost += products(s, dh) + softmax_cost(b * heads * lq, lk)
    if masked:
        cost += Cost(other=s)
    cost += products(b * heads * lq * dh, lk)
    cost += products(b * lq * dim, dim) + Cost(adds=b * lq * dim)  # output projection + bias
    if avg_weights:
        cost += Cost(adds=(heads - 1) * b * lq * lk, other=b * lq * lk)
    return cost


@FORMULAS.register("_native_multi_head_attention")
def native_mha(call: OpCall, counting: str) -> OpCost:
    """``_native_multi_head_attention(q[B,Lq,D], k[B,Lk,D], v, embed_dim, num_head, qkv_weight,
    qkv_bias, proj_weight, proj_bias, mask, need_weights, average_attn_weights, mask_type)``.

    forward: q/k/v projections (``B·Lq·D`` + ``2·B·Lk·D`` dot products of length D, one bias
    add each), q scaled by ``1/√dh`` (``B·Lq·D`` mults), ``q·kᵀ`` per head, a mask as a select
    (1 other per score), softmax, ``P·v``, output projection (``B·Lq·D`` dot products of
    length D + bias adds); with ``need_weights`` and averaging, ``(H − 1)·B·Lq·Lk`` adds and
    ``B·Lq·Lk`` divisions; backward: none (inference only).
    """
    q, k = need_tensor(call, "query"), need_tensor(call, "key")
    b = numel(q.shape[:-2]) if len(q.shape) > 2 else 1
    avg = bool(call.arg("need_weights", True)) and bool(
        call.arg("average_attn_weights", True))
    masked = isinstance(call.arg("mask"), TensorMeta)
    return OpCost(_mha_cost(b, q.shape[-2], k.shape[-2], int(call.arg("embed_dim")),
                            int(call.arg("num_head")), masked, avg))


@FORMULAS.register("_transformer_encoder_layer_fwd")
def encoder_layer(call: OpCall, counting: str) -> OpCost:
    """``_transformer_encoder_layer_fwd(src[B,L,D], embed_dim, num_heads, qkv_weight, qkv_bias,
    proj_weight, proj_bias, use_gelu, norm_first, eps, norm weights/biases, ffn_weight_1[F,D],
    ffn_bias_1, ffn_weight_2, ffn_bias_2, mask, mask_type)``.

    forward: self-attention as ``_native_multi_head_attention`` (no weights returned), two
    residual adds (``2·B·L·D``), two layer norms with γ and β (``norm.stats_cost`` +
    ``norm.normalize_cost``), the feed-forward block ``B·L·F`` dot products of length D + bias,
    the activation (relu 1 other; gelu 3 mults, 1 add, 1 other per element), ``B·L·D`` dot
    products of length F + bias; backward: none (inference only).
    """
    x = need_tensor(call, "src")
    b = numel(x.shape[:-2]) if len(x.shape) > 2 else 1
    seq, dim = x.shape[-2], x.shape[-1]
    heads = int(call.arg("num_heads"))
    ffn = need_tensor(call, "ffn_weight_1").shape[0]
    n, rows, hidden = b * seq * dim, b * seq, b * seq * ffn
    cost = _mha_cost(b, seq, seq, dim, heads, isinstance(call.arg("mask"), TensorMeta),
                     False)
    cost += Cost(adds=2 * n) + (stats_cost(n, rows) + normalize_cost(n, True, True)) * 2
    act = Cost(mults=3, adds=1, other=1) if call.arg("use_gelu") else Cost(other=1)
    cost += products(hidden, dim) + Cost(adds=hidden) + act * hidden
    cost += products(n, ffn) + Cost(adds=n)
    return OpCost(cost)


@FORMULAS.register("_transform_bias_rescale_qkv")
def transform_bias_rescale_qkv(call: OpCall, counting: str) -> OpCost:
    """``_transform_bias_rescale_qkv(qkv[B,L,3D], qkv_bias, num_heads)``.

    forward: 1 add per element (bias) and 1 mult per q element (``1/√dh``): ``3·B·L·D`` adds,
    ``B·L·D`` mults; backward: none (inference only).
    """
    qkv = need_tensor(call, "qkv")
    return OpCost(Cost(adds=qkv.numel, mults=qkv.numel // 3))


@FORMULAS.register("_masked_softmax")
def masked_softmax(call: OpCall, counting: str) -> OpCost:
    """``_masked_softmax(x, mask, dim, mask_type)``.

    forward: softmax over ``dim`` plus 1 other (select) per element; backward:
    ``_masked_softmax_backward``.
    """
    x = need_tensor(call, "self")
    d = call.arg("dim")
    r, n = reduced_rows(x.shape, -1 if d is None else d)
    return OpCost(softmax_cost(r, n) + Cost(other=x.numel))
