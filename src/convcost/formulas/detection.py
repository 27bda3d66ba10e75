"""Detection ops: ``nonzero``, ``unique``, torchvision's ``nms`` and ``roi_align``.

Their output sizes depend on tensor values, so they are only met in a real run
(:func:`convcost.model.analyze` with ``data_dependent``); their costs are counted from the
shapes a real run gives them.

* ``nonzero``/``argwhere``: one comparison with zero per input element (other).
* ``_unique2``/``unique_dim``/``unique_consecutive``: a comparison sort of the ``n`` elements
  (``n·⌈log₂ n⌉`` comparisons, the bound used for ``sort``) and ``n`` comparisons of
  neighbours (other).
* ``torchvision::nms(boxes[N, 4], scores[N], iou_threshold)``: sorting the scores
  (``N·⌈log₂ N⌉`` other), every box's area (2 adds, 1 mult), and for *every pair* of boxes
  an IoU — an upper bound: the kernel skips boxes already suppressed, which depends on the
  data. Per pair: the intersection's width and height (2 adds, 4 min/max other, 2 clamps at
  zero other), its area (1 mult), the union (2 adds), the ratio (1 other) and the comparison
  with the threshold (1 other): ``P = N(N−1)/2`` pairs give ``P`` mults, ``4P`` adds, ``8P``
  other.
* ``torchvision::roi_align(input[N, C, H, W], rois[K, 5], scale, ph, pw, sampling_ratio,
  aligned)``: each of the ``E = K·C·ph·pw`` outputs averages ``S`` bilinear samples
  (``S = sampling_ratio²``; an adaptive ratio, ``sampling_ratio <= 0``, depends on each
  ROI's size and is bounded by ``⌈H/ph⌉·⌈W/pw⌉``): per sample 4 mults and 3 adds, then
  ``S − 1`` adds and one division (other); the 4 weights of each of the ``Q = K·ph·pw·S``
  sample positions (shared by the channels) cost 4 mults and 2 adds.
"""

from __future__ import annotations

from ..cost import Cost
from ..ops import OpCall, OpCost
from .opargs import need_tensor
from .registry import FormulaRegistry

#: This module's formulas (merged into the default registry by :mod:`.catalog`).
FORMULAS = FormulaRegistry()


def _log2ceil(n: int) -> int:
    return max(n - 1, 0).bit_length()


@FORMULAS.register("nonzero", "argwhere", "nonzero_static")
def nonzero(call: OpCall, counting: str) -> OpCost:
    """forward: one comparison with zero per input element (other); backward: none (the
    indices it returns have no gradient)."""
    return OpCost(Cost(other=need_tensor(call, "self").numel))


@FORMULAS.register("_unique2", "_unique", "unique_dim", "unique_consecutive")
def unique(call: OpCall, counting: str) -> OpCost:
    """forward: a comparison sort of the elements (``n·⌈log₂ n⌉``) and one comparison per
    neighbour (other); backward: none (not differentiable)."""
    n = need_tensor(call, "self").numel
    return OpCost(Cost(other=n * _log2ceil(n) + n))


@FORMULAS.register("torchvision::nms")
def nms(call: OpCall, counting: str) -> OpCost:
    """forward: non-maximum suppression with every pair of boxes compared (an upper bound;
    see the module doc); backward: none (it returns indices)."""
    n = need_tensor(call, "dets").shape[0] if "dets" in call else \
        need_tensor(call, "boxes").shape[0]
    pairs = n * (n - 1) // 2
    return OpCost(Cost(mults=n + pairs, adds=2 * n + 4 * pairs,
                       other=n * _log2ceil(n) + 8 * pairs))


@FORMULAS.register("torchvision::roi_align")
def roi_align(call: OpCall, counting: str) -> OpCost:
    """forward: bilinear samples averaged per output bin (see the module doc); backward:
    ``_roi_align_backward`` has no formula of its own (reported when met: detection models
    are analysed in inference)."""
    x = need_tensor(call, "input")
    rois = need_tensor(call, "rois")
    ph = int(call.arg("pooled_height", 1))
    pw = int(call.arg("pooled_width", 1))
    ratio = int(call.arg("sampling_ratio", -1))
    k, c = rois.shape[0], x.shape[1]
    if ratio > 0:
        s = ratio * ratio
    else:  # adaptive: at most the whole feature map per bin
        s = -(-x.shape[-2] // ph) * -(-x.shape[-1] // pw)
    e = k * c * ph * pw
    q = k * ph * pw * s
    return OpCost(Cost(mults=4 * s * e + 4 * q, adds=(4 * s - 1) * e + 2 * q, other=e))
