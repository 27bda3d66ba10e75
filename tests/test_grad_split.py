"""The backward split (grad-input / grad-weight / grad-bias) when a parameter is used more
than once: a shared module, tied weights, recurrent weights. Each contribution to a
parameter's gradient is that parameter's gradient work, and so is the sum of the
contributions; everything that carries a gradient towards activations is grad-input.

Every expected value is derived by hand below (N: batch). Conventions (README): a matrix
product with k products per output element costs k MACs (= mults) and k − 1 adds per output;
a sum of k terms k − 1 adds; ``tanh_backward`` 2 mults + 1 add per element;
``threshold_backward`` (ReLU) 1 other per element; ``embedding_dense_backward`` 1 add per
element of the incoming gradient. The model input never requires grad.
"""

from __future__ import annotations

import importlib

import pytest

torch = importlib.import_module("torch")

from torch import Tensor, nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from convcost import analyze  # noqa: E402
from convcost.cost import Cost  # noqa: E402
from convcost.frontends.dataflow import backward_targets  # noqa: E402
from convcost.frontends.records import OpRecord, ParamGrad  # noqa: E402
from convcost.model import ModelResult  # noqa: E402
from convcost.ops import OpCall  # noqa: E402

ZERO = Cost()


def _op(name: str, reads: tuple[int, ...], writes: tuple[int, ...],
        accumulates: bool = False) -> OpRecord:
    return OpRecord(OpCall(name, ()), "backward", "", reads, writes, None, accumulates)


def _check_invariants(r: ModelResult) -> None:
    """The split adds up to the backward pass, whatever the rule; leaf rows to the totals."""
    b = r.totals.backward
    ops = ZERO
    for o in r.ops:
        if o.phase == "backward":
            ops = ops + o.cost
    assert b.grad_input + b.grad_weight + b.grad_bias == b.total == ops
    gi = gw = gb = ZERO
    for row in r.layers:
        if row.leaf:
            gi, gw, gb = (gi + row.backward.grad_input, gw + row.backward.grad_weight,
                          gb + row.backward.grad_bias)
    assert (gi, gw, gb) == (b.grad_input, b.grad_weight, b.grad_bias)


def _torch_flops(model: nn.Module, x: object) -> int:
    """``FlopCounterMode`` over a real CPU forward + backward of the sum of the outputs."""
    with FlopCounterMode(display=False) as fc:
        out = model(x)
        outs = out if isinstance(out, tuple) else (out,)
        sum(o.sum() for o in outs).backward()
    return int(fc.get_total_flops())


# --------------------------------------------------------------------------- pure data flow


def test_summing_add_passes_the_weight_label_on() -> None:
    # Linear(8, 8) without bias applied twice, as the tracer records it (storage ids):
    # seed 5; second application: mm(seed, x1) -> 6 (weight contribution), mm(seed, W) -> 7
    # (gradient of x1); first application: mm(7, x0) -> 8 (weight contribution); the engine
    # sums 6 + 8 -> 9, the weight's .grad.
    ops = [
        _op("mm.default", (5, 2), (6,)),
        _op("t.default", (6,), (6,)),
        _op("mm.default", (5, 0), (7,)),
        _op("mm.default", (7, 1), (8,)),
        _op("add.Tensor", (6, 8), (9,), accumulates=True),
        _op("detach.default", (9,), (9,), accumulates=True),
    ]
    free = [False, True, False, False, False, True]
    grads = [ParamGrad(9, "l.weight", False)]
    assert backward_targets(ops, grads, free) == [
        "grad_weight", "grad_weight", "grad_input", "grad_weight", "grad_weight", "grad_weight"]
    # The same add without the engine's mark computes: it does not pass its label on.
    ops[4] = _op("add.Tensor", (6, 8), (9,))
    assert backward_targets(ops, grads, free)[:4] == ["grad_input"] * 4


def test_summing_add_of_activation_gradients_stays_grad_input() -> None:
    # A residual: the gradient of y1 is the sum of two contributions (10, 11) -> 12, read by
    # a computing op (the first layer's weight gradient, 13 = weight.grad).
    ops = [
        _op("mm.default", (4, 3), (11,)),
        _op("add.Tensor", (10, 11), (12,), accumulates=True),
        _op("threshold_backward.default", (12, 2), (14,)),
        _op("mm.default", (14, 1), (13,)),
    ]
    grads = [ParamGrad(13, "w", False)]
    assert backward_targets(ops, grads, [False] * 4) == [
        "grad_input", "grad_input", "grad_input", "grad_weight"]


def test_bias_contributions_and_their_sum_are_grad_bias() -> None:
    ops = [
        _op("sum.dim_IntList", (5,), (9,)),
        _op("view.default", (9,), (9,)),
        _op("sum.dim_IntList", (7,), (11,)),
        _op("add.Tensor", (9, 11), (12,), accumulates=True),
    ]
    grads = [ParamGrad(12, "l.bias", True)]
    assert backward_targets(ops, grads, [False, True, False, False]) == ["grad_bias"] * 4


# --------------------------------------------------------------------------- whole models


class LinearTwice(nn.Module):
    def __init__(self, bias: bool) -> None:
        super().__init__()
        self.l = nn.Linear(8, 8, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.l(self.l(x))


@pytest.mark.parametrize("bias", [False, True])
def test_linear_applied_twice(bias: bool) -> None:
    # x0 (2×8, no grad) -> x1 = l(x0) -> x2 = l(x1); N = 2.
    # grad-input: only ∂x1 = g2 @ W: 2·8 outputs × 8 products = 128 MACs, 2·8·7 = 112 adds
    #   (∂x0 is not computed: the model input needs no gradient).
    # grad-weight: two contributions g2ᵀ@x1 and g1ᵀ@x0: 8·8 outputs × 2 products = 128 MACs
    #   and 64·1 = 64 adds each; their sum 64 adds: 256 MACs, 64 + 64 + 64 = 192 adds.
    # grad-bias: two contributions, sums over the batch 8·(2 − 1) = 8 adds each, and their
    #   sum 8 adds: 24 adds.
    # Before data flow decided it: grad-input 384 MACs, grad-weight 0 (same totals).
    r = analyze(LinearTwice(bias), (2, 8))
    b = r.totals.backward
    assert b.grad_input == Cost(mults=128, adds=112, macs=128)
    assert b.grad_weight == Cost(mults=256, adds=192, macs=256)
    assert b.grad_bias == (Cost(adds=24) if bias else ZERO)
    assert b.total == Cost(mults=384, adds=304 + (24 if bias else 0), macs=384)
    _check_invariants(r)
    # forward: 2 × (2·8 outputs × 8 products) = 256 MACs; torch counts 2·MACs
    assert r.totals.forward.macs == 256
    assert _torch_flops(LinearTwice(bias), torch.randn(2, 8)) == 2 * (256 + 384)
    # the summing adds are charged to the parameter's gradient
    sums = [o for o in r.ops if o.phase == "backward" and o.name == "add.Tensor"]
    assert sorted((o.part, o.cost.adds) for o in sums) == (
        [("grad_bias", 8), ("grad_weight", 64)] if bias else [("grad_weight", 64)])


class Tied(nn.Module):
    """An embedding whose weight is also the output layer's (V = 10, E = 4)."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.out = nn.Linear(4, 10, bias=False)
        self.out.weight = self.emb.weight

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.emb(x))


def test_tied_embedding_and_output_layer() -> None:
    # indices 2×5: NL = 10 rows. out = E(idx) @ Wᵀ, W: V×E = 10×4.
    # grad-input: ∂E(idx) = g @ W: NL·E = 40 outputs × V = 10 products: 400 MACs,
    #   40·9 = 360 adds (it flows into the embedding's backward, a computation).
    # grad-weight: the output layer's contribution gᵀ @ E(idx): V·E = 40 outputs × NL = 10
    #   products = 400 MACs, 40·9 = 360 adds; the embedding's scatter-add 1 add per element
    #   of its incoming gradient = 40 adds; the sum of the two contributions V·E = 40 adds:
    #   400 MACs, 360 + 40 + 40 = 440 adds.
    r = analyze(Tied(), "2x5:int64")
    b = r.totals.backward
    assert b.grad_input == Cost(mults=400, adds=360, macs=400)
    assert b.grad_weight == Cost(mults=400, adds=440, macs=400)
    assert b.grad_bias == ZERO
    _check_invariants(r)
    # torch counts the three matrix products (forward 400 MACs, backward 800), 2·MACs each
    assert r.totals.forward.macs == 400
    assert _torch_flops(Tied(), torch.randint(0, 10, (2, 5))) == 2 * (400 + 800)


class Cell(nn.Module):
    """A hand-written tanh RNN cell over T steps: h_0 = tanh(W_ih x_0),
    h_t = tanh(W_ih x_t + W_hh h_{t−1}); the output stacks every h_t."""

    def __init__(self) -> None:
        super().__init__()
        self.ih = nn.Linear(3, 4, bias=False)
        self.hh = nn.Linear(4, 4, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        h = torch.tanh(self.ih(x[:, 0]))
        hs = [h]
        for t in range(1, x.shape[1]):
            h = torch.tanh(self.ih(x[:, t]) + self.hh(h))
            hs.append(h)
        return torch.stack(hs, 1)


def test_hand_written_recurrent_cell() -> None:
    # N = 2, T = 3, I = 3, H = 4.
    # grad-weight: W_ih used T = 3 times: 3 × (H·I = 12 outputs × N = 2 products) = 72 MACs,
    #   3 × 12 = 36 adds, summed by 2 adds of 12; W_hh used T − 1 = 2 times: 2 × (16 × 2)
    #   = 64 MACs, 2 × 16 = 32 adds, summed by 1 add of 16:
    #   136 MACs, 36 + 24 + 32 + 16 = 108 adds.
    # grad-input: ∂h_{t−1} = g_t @ W_hh for t = 1, 2: 2 × (N·H = 8 outputs × 4 products)
    #   = 64 MACs, 2 × 8·3 = 48 adds; tanh_backward at 3 steps × 8 elements: 48 mults, 24
    #   adds; ∂h_0, ∂h_1 each sum two contributions (the stack, the next step): 2 × 8 adds:
    #   mults 64 + 48 = 112, adds 48 + 24 + 16 = 88.
    r = analyze(Cell(), (2, 3, 3))
    b = r.totals.backward
    assert b.grad_weight == Cost(mults=136, adds=108, macs=136)
    assert b.grad_input == Cost(mults=112, adds=88, macs=64)
    assert b.grad_bias == ZERO
    _check_invariants(r)
    assert r.layer("ih").backward.grad_weight == Cost(mults=72, adds=60, macs=72)
    assert r.layer("hh").backward.grad_weight == Cost(mults=64, adds=48, macs=64)
    # forward MACs 3 × 24 + 2 × 32 = 136; torch: 2·(136 + 136 + 64)
    assert _torch_flops(Cell(), torch.randn(2, 3, 3)) == 2 * (136 + 136 + 64)


def test_nn_rnn_recurrent_weight() -> None:
    # nn.RNN(3, 4, bias=False), batch-first input 2×3×3: N = 2, T = 3, I = 3, H = 4; the loss
    # sums both outputs (every h_t, and h_n = h_2). PyTorch's CPU RNN projects the whole
    # sequence with W_ih in one product; W_hh is used at every step (h_{−1} = 0 included).
    # grad-weight: W_ih: H·I = 12 outputs × N·T = 6 products = 72 MACs, 12·5 = 60 adds;
    #   W_hh: 3 × (16 outputs × 2 products) = 96 MACs, 3 × 16 = 48 adds, summed by 2 adds
    #   of 16 = 32: 168 MACs, 60 + 48 + 32 = 140 adds.
    # grad-input: ∂h_{t−1} = g_t @ W_hh for t = 1, 2 (not for the zero initial state):
    #   2 × 32 = 64 MACs, 2 × 8·3 = 48 adds; tanh_backward 3 × 8 elements: 48 mults, 24 adds;
    #   each h_t sums two contributions (output and h_n, or output and the next step):
    #   3 × 8 = 24 adds: mults 64 + 48 = 112, adds 48 + 24 + 24 = 96.
    m = nn.RNN(3, 4, batch_first=True, bias=False)
    r = analyze(m, (2, 3, 3))
    b = r.totals.backward
    assert b.grad_weight == Cost(mults=168, adds=140, macs=168)
    assert b.grad_input == Cost(mults=112, adds=96, macs=64)
    _check_invariants(r)
    # forward: 72 + 3 × 32 = 168 MACs; backward 168 + 64
    assert r.totals.forward.macs == 168
    assert _torch_flops(m, torch.randn(2, 3, 3)) == 2 * (168 + 168 + 64)


def test_nn_rnn_biases_are_grad_bias() -> None:
    # nn.RNN's biases are named bias_ih_l0 / bias_hh_l0 (the name starts with "bias").
    # Same shapes as above with bias=True; weights and input gradients are unchanged.
    # b_ih: the sequence projection's bias, summed over N·T = 6 rows: 4·5 = 20 adds;
    # b_hh: per step summed over N = 2 rows: 3 × 4 = 12 adds, the 3 contributions summed by
    # 2 adds of 4 = 8: 20 adds. grad-bias = 40 adds.
    m = nn.RNN(3, 4, batch_first=True, bias=True)
    b = analyze(m, (2, 3, 3)).totals.backward
    assert b.grad_bias == Cost(adds=40)
    assert b.grad_weight == Cost(mults=168, adds=140, macs=168)
    assert b.grad_input == Cost(mults=112, adds=96, macs=64)


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 8)

    def forward(self, x: Tensor) -> Tensor:
        return x + torch.relu(self.lin(x))


class Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.f = Residual()

    def forward(self, x: Tensor) -> Tensor:
        return self.f(self.f(x))


def test_same_residual_block_called_twice() -> None:
    # y1 = x + relu(lin(x)), y2 = y1 + relu(lin(y1)); x: 2×8, no grad; N = 2.
    # grad-input: ∂y1 through lin: 2·8 outputs × 8 products = 128 MACs, 16·7 = 112 adds;
    #   ∂y1 sums that with the skip connection's: 16 adds; threshold_backward twice: 2 × 16
    #   other: 128 MACs, 128 adds, 32 other.
    # grad-weight: two contributions of 8·8 outputs × 2 products: 256 MACs, 2 × 64 adds,
    #   and their sum 64 adds: 192 adds.
    # grad-bias: two batch sums of 8·1 adds and their sum 8: 24 adds.
    r = analyze(Twice(), (2, 8))
    b = r.totals.backward
    assert b.grad_input == Cost(mults=128, adds=128, macs=128, other=32)
    assert b.grad_weight == Cost(mults=256, adds=192, macs=256)
    assert b.grad_bias == Cost(adds=24)
    _check_invariants(r)
    assert r.layer("f.lin").backward.grad_weight == b.grad_weight
    assert _torch_flops(Twice(), torch.randn(2, 8)) == 2 * (256 + 384)


def test_single_use_split_is_unchanged() -> None:
    # A parameter used once: one Linear(8, 4) on 2×8, N = 2. grad-weight 4·8 outputs × 2
    # products = 64 MACs, 32 adds; grad-bias 4·1 adds; no grad-input (model input).
    r = analyze(nn.Linear(8, 4), (2, 8))
    b = r.totals.backward
    assert (b.grad_input, b.grad_weight, b.grad_bias) == (
        ZERO, Cost(mults=64, adds=32, macs=64), Cost(adds=4))
