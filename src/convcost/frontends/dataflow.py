"""Which gradient each backward op computes, decided by data flow (no torch here).

Ops whose formula splits its cost (``OpCost.parts``, e.g. ``convolution_backward``) need no
rule. For every other backward op, follow its results forward through the backward pass:

* an op all of whose results end the backward pass as parameters' ``.grad`` (stolen by
  autograd's ``AccumulateGrad`` as is, or accumulated into in place) computes those
  parameters' gradients: ``grad_bias`` when they are biases (1-D parameters whose last
  name part starts or ends with ``bias``: ``bias``, ``in_proj_bias``, ``bias_ih_l0``),
  ``grad_weight`` otherwise;
* an op that writes a parameter's gradient *and* something else (e.g.
  ``native_layer_norm_backward`` without a split formula) is ``grad_input``;
* *pass-through* readers hand their label back to the ops whose results they read: ops
  that do no arithmetic (a copy, cast, view or transpose) and the sums the autograd
  engine adds to combine the contributions of a tensor used more than once
  (``OpRecord.accumulates``: a shared module, tied weights, recurrent weights used at every
  time step). An op all of whose results are read only by pass-through readers that end in
  parameter gradients also computes parameter gradients: ``grad_bias`` when all of them
  are biases' gradients, otherwise ``grad_weight``. So each contribution to a shared
  weight's gradient is ``grad_weight``, and so is the sum of the contributions (it writes
  the weight's ``.grad``);
* a reader that computes (e.g. the first convolution's weight gradient reading the
  gradient that a ReLU's backward produced) does not pass its label on: the ReLU's
  backward computes the gradient of the ReLU's input, so it is ``grad_input``;
* except a *router*: a computing op that ends in parameter gradients and reads no
  floating-point tensor but gradients (results of earlier backward ops; integer indices
  are allowed) — the backward of a weight scaled by a constant (``2 * A``, ONNX ``Gemm``'s
  alpha), of a weight broadcast over a batch (the ``sum`` over the broadcast dimensions) or
  gathered (``index_put``/``index_add`` of the rows used, as MoE experts held in one 3-D
  parameter). It only carries the gradient of a tensor computed from the parameter alone
  back to the parameter, so the product that made that gradient computes the parameter's
  gradient too: the router passes ``grad_weight`` on. Unless that product reads a parameter:
  then it is ``g·W``, the gradient of an activation that the router merely reduces into a
  parameter's gradient — the product before ``embedding_dense_backward`` (rows looked up in
  a table are an embedding's output, an activation), or before the ``sum`` that gives a
  broadcast bias ``p`` of ``x + p`` its gradient — and stays ``grad_input``;
* every other backward op (results read by anything else, or by nothing) is
  ``grad_input``: it carries the gradient towards the layer's inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

from .records import OpRecord, ParamGrad

GRAD_INPUT = "grad_input"
GRAD_WEIGHT = "grad_weight"
GRAD_BIAS = "grad_bias"


def backward_targets(
    ops: Sequence[OpRecord],
    param_grads: Sequence[ParamGrad],
    free: Sequence[bool] | None = None,
    params: frozenset[int] = frozenset(),
) -> list[str]:
    """For each op of ``ops`` the gradient it computes (``grad_input``/``grad_weight``/
    ``grad_bias``); ops outside the ``backward`` phase get ``""``.

    ``free[i]`` says op ``i`` does no arithmetic (such readers, and the engine's sums of
    gradient contributions, ``OpRecord.accumulates``, pass their label on); ``None`` treats
    every op as free. ``params`` are the parameters' storages (a product that reads one
    computes an activation's gradient, whatever reads its result).
    """
    grad_kind = {pg.sid: GRAD_BIAS if pg.is_bias else GRAD_WEIGHT for pg in param_grads}
    gradients = {s for op in ops if op.phase == "backward" for s in op.writes}
    readers: dict[int, set[str]] = {}
    via_router: set[int] = set()  # storages whose label came through a router
    kinds = [""] * len(ops)
    for i in range(len(ops) - 1, -1, -1):
        op = ops[i]
        if op.phase != "backward":
            continue
        direct = {grad_kind[s] for s in op.writes if s in grad_kind}
        if direct and all(s in grad_kind for s in op.writes):
            kind = GRAD_BIAS if direct == {GRAD_BIAS} else GRAD_WEIGHT
        elif direct:
            kind = GRAD_INPUT
        else:
            later: set[str] = set()
            routed = False
            for s in op.writes:
                later |= readers.get(s, set())
                routed |= s in via_router
            computing = free is not None and not free[i]
            if later and GRAD_INPUT not in later and not (
                    routed and computing and any(s in params for s in op.reads)):
                kind = GRAD_BIAS if later == {GRAD_BIAS} else GRAD_WEIGHT
            else:
                kind = GRAD_INPUT
        kinds[i] = kind
        router = kind != GRAD_INPUT and _routes(op, gradients)
        passes = free is None or free[i] or op.accumulates or router
        passed_on = kind if passes else GRAD_INPUT
        for s in op.reads:
            readers.setdefault(s, set()).add(passed_on)
            if router or (passes and any(w in via_router for w in op.writes)):
                via_router.add(s)
    return kinds


def _routes(op: OpRecord, gradients: set[int]) -> bool:
    """Whether ``op`` only routes gradients (see the module doc): every floating-point tensor
    it reads is a gradient (integer indices aside)."""
    return op.float_reads is not None and all(s in gradients for s in op.float_reads)

