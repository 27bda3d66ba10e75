"""Lowerings of the recurrent family: ``LSTM`` and ``GRU``, unrolled into the per-time-step
torch ops of PyTorch's own cells (``addmm``/``mm``, ``add``, ``sigmoid``, ``tanh``, ``mul``).

Why unrolled rather than one ``torch.lstm``/``torch.gru`` call with reordered weights: ONNX's
GRU with ``linear_before_reset=0`` (its default), the LSTM peepholes ``P`` and per-direction
weights in one tensor have no PyTorch equivalent, and a reorder (ONNX gate order ``iofc``
for LSTM, ``zrh`` for GRU, against PyTorch's ``ifgo`` and ``rzn``) would add a copy of the
weights to every forward. Unrolled, every op has its own formula, the gradients reach ``W``
and ``R`` through plain matmuls (booked ∂weight), and each op is what ONNX's spec computes.

Counting follows PyTorch (``formulas/rnn.py``): per direction the input projection
``X·Wᵀ + Wb`` is one ``addmm`` over all ``T·B`` rows (the same products and adds as one per
step), then per step ``H·Rᵀ + Rb`` and their sum, the gate nonlinearities and the state
update. An LSTM without peepholes has exactly the MACs, mults, adds and other of
``mkldnn_rnn_layer`` (the op PyTorch's CPU ``nn.LSTM`` runs); its memory and time are those
of the unrolled ops (their intermediates are saved for backward one by one, where the fused
kernel keeps one workspace). A GRU with ``linear_before_reset=1`` is PyTorch's GRU cell,
which PyTorch itself runs unrolled: forward and backward counts equal ``nn.GRU``'s. In
training, an unrolled LSTM's backward computes what autograd needs (no ``∂x`` when ``X``
needs no gradient, no ``∂h₀`` for a constant initial state) where the fused
``mkldnn_rnn_layer_backward`` always computes both, so its ∂input is lower; its ∂weight
(``Σ dgatesᵀ·x`` and ``Σ dgatesᵀ·h``) is the same. ``B`` is one 2-D parameter per node, so
its gradient is booked as ∂weight, not ∂bias (the data-flow rule takes 1-D ``bias`` names).

Supported: ``direction`` forward/reverse/bidirectional, ``layout`` 0/1, ``hidden_size``,
optional ``B``, ``initial_h``, ``initial_c``, ``P``, and ``sequence_lens`` when it is a
constant whose every value is the sequence length. Refused, with one line naming the node
and attribute: activations other than the defaults (Sigmoid, Tanh[, Tanh]),
``activation_alpha``/``activation_beta``, ``clip``, ``input_forget`` ≠ 0, and shorter or
computed ``sequence_lens``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..node import OnnxOp
from .args import const_ints, input_at
from .registry import LoweringTable

LOWERINGS = LoweringTable()

_DIRECTIONS = ("forward", "reverse", "bidirectional")
#: One direction's recurrence: (projected inputs [T, B, G], weights R [G, H], bias Rb or None,
#: initial h, initial c or None, peepholes or None, reverse) -> (Y [T, B, H], h, c or None)
_Cell = Callable[..., tuple[Tensor, Tensor, Tensor | None]]


def _check(op: OnnxOp, xs: list[Any], t_len: int, n_act: int) -> None:
    """Refuse what the lowering does not compute (one line naming node and attribute)."""
    acts = op.attrs.get("activations")
    if acts:
        names = [str(a).lower() for a in acts]
        default = (["sigmoid", "tanh", "tanh"] if n_act == 3 else ["sigmoid", "tanh"])
        if any(names[k:k + n_act] != default for k in range(0, len(names), n_act)):
            raise op.err(f"activations {list(acts)} are not supported (only the defaults "
                         f"{[a.capitalize() for a in default]} per direction)")
    for key in ("activation_alpha", "activation_beta", "clip"):
        if op.attrs.get(key) is not None:
            raise op.err(f"attribute {key} is not supported (only the default activations, "
                         "without clipping)")
    if op.i("input_forget", 0) != 0:
        raise op.err(f"input_forget={op.i('input_forget', 0)} is not supported (only 0)")
    if op.s("direction", "forward") not in _DIRECTIONS:
        raise op.err(f"direction {op.s('direction', 'forward')!r} is not one of "
                     f"{list(_DIRECTIONS)}")
    if op.i("layout", 0) not in (0, 1):
        raise op.err(f"layout={op.i('layout', 0)} is not 0 or 1")
    seq = input_at(xs, 4)
    if seq is not None:
        lens = const_ints(op, seq, "sequence_lens")
        if any(n != t_len for n in lens):
            raise op.err(f"sequence_lens {lens} is not supported (only every length equal to "
                         f"the sequence length {t_len})")


def _run(op: OnnxOp, xs: list[Any], gates: int, cell: _Cell, with_c: bool) -> Any:
    """Shared driver: layout, directions, input projection, outputs."""
    x, w, r, b = xs[0], xs[1], xs[2], input_at(xs, 3)
    layout = op.i("layout", 0)
    if x.dim() != 3:
        raise op.err(f"input X has rank {x.dim()}, expected 3")
    if layout == 1:
        x = x.transpose(0, 1)
    t_len, batch, isz = (int(s) for s in x.shape)
    _check(op, xs, t_len, 3 if with_c else 2)
    hid = int(r.shape[-1])
    if op.i("hidden_size", hid) != hid:
        raise op.err(f"hidden_size={op.i('hidden_size', hid)} differs from R's last "
                     f"dimension {hid}")
    g = gates * hid
    direction = op.s("direction", "forward")
    n_dir = 2 if direction == "bidirectional" else 1
    if tuple(w.shape) != (n_dir, g, isz) or tuple(r.shape) != (n_dir, g, hid):
        raise op.err(f"W {tuple(w.shape)} and R {tuple(r.shape)} do not match direction "
                     f"{direction!r}, hidden_size {hid} and input size {isz} (expected "
                     f"{(n_dir, g, isz)} and {(n_dir, g, hid)})")
    h0, c0 = input_at(xs, 5), input_at(xs, 6) if with_c else None
    p = input_at(xs, 7) if with_c else None
    if layout == 1:
        h0 = None if h0 is None else h0.transpose(0, 1)
        c0 = None if c0 is None else c0.transpose(0, 1)
    flat = x.reshape(t_len * batch, isz)
    ys, hs, cs = [], [], []
    for d in range(n_dir):
        wd, rd = w[d], r[d]
        wb = None if b is None else b[d, :g]
        rb = None if b is None else b[d, g:]
        proj = (torch.mm(flat, wd.t()) if wb is None else torch.addmm(wb, flat, wd.t()))
        zeros = x.new_zeros(batch, hid)
        y, h, c = cell(proj.reshape(t_len, batch, g), rd, rb,
                       zeros if h0 is None else h0[d],
                       (zeros if c0 is None else c0[d]) if with_c else None,
                       None if p is None else p[d],
                       direction == "reverse" or d == 1, op)
        ys.append(y)
        hs.append(h)
        cs.append(c)
    outs: list[Any] = [None, None, None] if with_c else [None, None]
    if op.wants(0):
        yy = torch.stack(ys, 1)  # [T, D, B, H]
        outs[0] = yy.permute(2, 0, 1, 3) if layout == 1 else yy
    if op.wants(1):
        hh = torch.stack(hs, 0)
        outs[1] = hh.transpose(0, 1) if layout == 1 else hh
    if with_c and op.wants(2):
        cc = torch.stack([c for c in cs if c is not None], 0)
        outs[2] = cc.transpose(0, 1) if layout == 1 else cc
    return tuple(outs)


def _recur(h: Tensor, r: Tensor, rb: Tensor | None) -> Tensor:
    return torch.mm(h, r.t()) if rb is None else torch.addmm(rb, h, r.t())


def _lstm_cell(proj: Tensor, r: Tensor, rb: Tensor | None, h: Tensor, c: Tensor | None,
               p: Tensor | None, reverse: bool, op: OnnxOp) -> tuple[Tensor, Tensor,
                                                                      Tensor | None]:
    """ONNX LSTM, gates ``iofc``: ``i, o, f = σ(...)`` (peepholes ``P = [Pi, Po, Pf]`` on
    ``c``), ``c' = f·c + i·tanh(ĉ)``, ``h' = o·tanh(c')``."""
    assert c is not None
    hid = int(h.shape[-1])
    steps = range(proj.shape[0] - 1, -1, -1) if reverse else range(proj.shape[0])
    out: list[Tensor] = [h] * int(proj.shape[0])
    for t in steps:
        gates = proj[t] + _recur(h, r, rb)
        if p is None:
            iof = torch.sigmoid(gates[:, :3 * hid])
            i, o, f = iof[:, :hid], iof[:, hid:2 * hid], iof[:, 2 * hid:]
        else:
            i = torch.sigmoid(gates[:, :hid] + p[:hid] * c)
            f = torch.sigmoid(gates[:, 2 * hid:3 * hid] + p[2 * hid:] * c)
        cand = torch.tanh(gates[:, 3 * hid:])
        c = f * c + i * cand
        if p is not None:
            o = torch.sigmoid(gates[:, hid:2 * hid] + p[hid:2 * hid] * c)
        h = o * torch.tanh(c)
        out[t] = h
    return torch.stack(out, 0), h, c


def _gru_cell(proj: Tensor, r: Tensor, rb: Tensor | None, h: Tensor, c: Tensor | None,
              p: Tensor | None, reverse: bool, op: OnnxOp) -> tuple[Tensor, Tensor,
                                                                     Tensor | None]:
    """ONNX GRU, gates ``zrh``: ``z, r = σ(...)``; ``linear_before_reset=0``:
    ``ĥ = tanh(x·Whᵀ + Wbh + (r·h)·Rhᵀ + Rbh)``, ``=1``: ``ĥ = tanh(x·Whᵀ + Wbh + r·(h·Rhᵀ +
    Rbh))``; ``h' = ĥ + z·(h − ĥ)`` (``(1 − z)·ĥ + z·h``, as PyTorch's cell writes it)."""
    hid = int(h.shape[-1])
    lbr = op.i("linear_before_reset", 0) != 0
    r_zr, r_h = r[:2 * hid], r[2 * hid:]
    rb_zr = None if rb is None else rb[:2 * hid]
    rb_h = None if rb is None else rb[2 * hid:]
    steps = range(proj.shape[0] - 1, -1, -1) if reverse else range(proj.shape[0])
    out: list[Tensor] = [h] * int(proj.shape[0])
    for t in steps:
        x_t = proj[t]
        if lbr:
            hg = _recur(h, r, rb)
            zr = torch.sigmoid(x_t[:, :2 * hid] + hg[:, :2 * hid])
            z, rr = zr[:, :hid], zr[:, hid:]
            cand = torch.tanh(x_t[:, 2 * hid:] + rr * hg[:, 2 * hid:])
        else:
            zr = torch.sigmoid(x_t[:, :2 * hid] + _recur(h, r_zr, rb_zr))
            z, rr = zr[:, :hid], zr[:, hid:]
            cand = torch.tanh(x_t[:, 2 * hid:] + _recur(rr * h, r_h, rb_h))
        h = cand + z * (h - cand)
        out[t] = h
    return torch.stack(out, 0), h, None


@LOWERINGS.op("LSTM", values=(4,))
def _lstm(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    return _run(op, xs, 4, _lstm_cell, with_c=True)


@LOWERINGS.op("GRU", values=(4,))
def _gru(op: OnnxOp, xs: list[Any], training: bool) -> Any:
    return _run(op, xs, 3, _gru_cell, with_c=False)
