"""LSTM layers as PyTorch's CPU backend runs them (``mkldnn_rnn_layer``: one layer, one
direction, the whole sequence). GRU and vanilla RNN layers decompose into ``mm``/``addmm``
and elementwise ops, counted by their own formulas.

``T`` time steps, ``B`` batch, ``I`` input size, ``H`` hidden size, ``G = 4H`` gate rows.
Forward per step: ``x·W_ihᵀ`` (``B·G`` dot products of length ``I``), ``h·W_hhᵀ`` (``B·G`` of
length ``H``), adding the two (``B·G`` adds) and the two biases (``2·B·G`` adds); then per
hidden unit (``B·H``): 3 sigmoids (3 adds, 6 other), 1 tanh (1 other), ``c = f·c + i·g``
(2 mults, 1 add), ``h = o·tanh(c)`` (1 mult, 1 other): 3 mults, 4 adds, 8 other.

Backward per step and hidden unit: ``dh`` accumulation 1 add; ``tanh(c)`` 1 other;
``dc``/``do``/``di``/``dg``/``df``/``dc_prev``: 16 mults, 6 adds; then ``dgates·W_hh``
(``B·H`` dot products of length ``G``, part grad_input) and ``dgates·W_ih`` (``B·I`` of
length ``G``, grad_input). Over the sequence: ``dW_ih = Σ dgatesᵀ·x`` (``G·I`` dot products of
length ``T·B``), ``dW_hh`` likewise (grad_weight), and the bias gradient ``(T·B − 1)·G`` adds
(grad_bias; both biases receive it).
"""

from __future__ import annotations

from ..cost import Cost
from ..ops import OpCall, OpCost
from .matmul import products
from .opargs import need_tensor
from .registry import FormulaRegistry

#: This module's formulas (merged into the default registry by :mod:`.catalog`).
FORMULAS = FormulaRegistry()


def _dims(call: OpCall, w_ih_key: str) -> tuple[int, int, int, int, int]:
    """``(T, B, I, H, G)``; ``w_ih_key`` names the input-hidden weight (``weight0`` in the
    forward's schema, ``weight1`` in the backward's)."""
    x = need_tensor(call, "input")
    w_ih = need_tensor(call, w_ih_key)
    g, i = w_ih.shape[0], w_ih.shape[1]
    h = g // 4
    batch_first = bool(call.arg("batch_first", False))
    t, b = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
    return t, b, i, h, g


@FORMULAS.register("mkldnn_rnn_layer")
def lstm_layer(call: OpCall, counting: str) -> OpCost:
    """``mkldnn_rnn_layer(input, w_ih, w_hh, b_ih, b_hh, hx, cx, reverse, batch_sizes, mode,
    hidden_size, num_layers, has_biases, bidirectional, batch_first, train)``.

    forward: per step ``products(B·G, I) + products(B·G, H)``, ``B·G`` adds, ``2·B·G`` bias
    adds, and 3 mults, 4 adds, 8 other per ``B·H`` (module doc); backward: see
    ``mkldnn_rnn_layer_backward``.
    """
    t, b, i, h, g = _dims(call, "weight0")
    step = products(b * g, i) + products(b * g, h) + Cost(adds=b * g)
    if call.arg("has_biases", True):
        step += Cost(adds=2 * b * g)
    step += Cost(mults=3 * b * h, adds=4 * b * h, other=8 * b * h)
    return OpCost(step * t)


@FORMULAS.register("mkldnn_rnn_layer_backward")
def lstm_layer_backward(call: OpCall, counting: str) -> OpCost:
    """``mkldnn_rnn_layer_backward(input, w_ih, w_hh, b_ih, b_hh, hx, cx_tmp, output, hy, cy,
    grad_output, grad_hy, grad_cy, reverse, mode, hidden_size, num_layers, has_biases, train,
    bidirectional, batch_sizes, batch_first, workspace)``.

    forward: see ``mkldnn_rnn_layer``; backward: the module doc's per-step gate gradients and
    ``dgates·W`` products (grad_input), ``dW = Σ dgatesᵀ·x`` (grad_weight), bias sums
    (grad_bias).
    """
    t, b, i, h, g = _dims(call, "weight1")
    elementwise = Cost(mults=16 * b * h, adds=7 * b * h, other=b * h)
    gi = (elementwise + products(b * h, g) + products(b * i, g)) * t
    gw = products(g * i, t * b) + products(g * h, t * b)
    gb = Cost(adds=(t * b - 1) * g) if call.arg("has_biases", True) else Cost()
    return OpCost(gi + gw + gb, (("grad_input", gi), ("grad_weight", gw), ("grad_bias", gb)))
