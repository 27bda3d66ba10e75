"""Ops that move or write data but compute nothing (copies, fills, concatenation, padding,
indexing, embedding lookups), and the scatters whose accumulation does compute.

The copies are *not* zero-cost views: they read and write every element (a later pass
counts bytes), so each has a formula with 0 arithmetic. Accumulating scatters count
additions: where the destinations follow from the shapes (padding backward), contributions
minus destinations; where they depend on the data (``index_put`` with ``accumulate``,
``index_add``, ``scatter_add``, embedding backward), one addition per scattered element — the
kernel's ``+=``, an upper bound of that convention.
"""

from __future__ import annotations

from ..cost import Cost
from ..ops import OpCall, OpCost, TensorMeta
from .opargs import broadcast, is_one, need_tensor, numel, tensor
from .pointwise import per_element
from .registry import FormulaRegistry

#: This module's formulas (merged into the default registry by :mod:`.catalog`).
FORMULAS = FormulaRegistry()

FORMULAS.register(
    # copies and dtype/layout conversions (AMP casts are _to_copy)
    "clone", "copy_", "_to_copy", "lift_fresh_copy", "_foreach_copy_", "alias_copy",
    "view_copy", "expand_copy", "permute_copy",
    "transpose_copy", "t_copy", "slice_copy", "select_copy", "unsqueeze_copy", "squeeze_copy",
    "as_strided_copy", "detach_copy", "narrow_copy", "unfold_copy", "split_copy",
    "split_with_sizes_copy", "unbind_copy", "diagonal_copy",
    # concatenation, repetition, reordering
    "cat", "stack", "repeat", "repeat_interleave", "flip", "roll", "pixel_shuffle",
    "pixel_unshuffle", "channel_shuffle", "native_channel_shuffle", "tril", "tril_", "triu",
    "triu_",
    # padding forward (the pad is written, the input copied)
    "constant_pad_nd", "reflection_pad1d", "reflection_pad2d", "reflection_pad3d",
    "replication_pad1d", "replication_pad2d", "replication_pad3d",
    # gathers and non-accumulating scatters
    "index", "_unsafe_index", "index_select", "gather", "take", "masked_select",
    "masked_scatter", "masked_scatter_", "scatter", "scatter_", "embedding",
    "slice_backward", "select_backward", "diagonal_backward", "as_strided_scatter",
    "slice_scatter", "select_scatter", "diagonal_scatter", "index_fill", "index_fill_",
    "index_copy", "index_copy_",
    # fills: constants, ranges
    "fill", "fill_", "zero_", "_foreach_zero_", "zeros", "zeros_like", "ones", "ones_like",
    "full", "full_like", "new_zeros", "new_ones", "new_full", "scalar_tensor", "arange",
    "linspace", "eye",
)(per_element(
    "data_movement", "Copies, casts, concatenation, padding, gathers and fills. forward: 0 "
    "arithmetic (the op moves or writes its elements); backward: the matching gather/scatter "
    "or slice op (e.g. ``cat`` → ``slice``, ``constant_pad_nd`` → ``constant_pad_nd``).",
))


@FORMULAS.register("index_put", "index_put_", "_index_put_impl_", "_unsafe_index_put")
def index_put(call: OpCall, counting: str) -> OpCost:
    """``index_put(x, indices, values, accumulate)``.

    forward: without ``accumulate`` 0 (a scatter); with it 1 add per indexed element: the
    broadcast index shape times the sizes of the dimensions not indexed (a boolean mask counts
    all its elements, an upper bound); backward: ``index`` (a gather).
    """
    if not call.arg("accumulate", False):
        return OpCost(Cost())
    x = need_tensor(call, "self")
    shapes: list[tuple[int, ...]] = []
    kept = 1
    dim = 0
    for t in call.arg("indices") or ():
        if isinstance(t, TensorMeta) and t.dtype == "bool":
            shapes.append((t.numel,))
            dim += len(t.shape)
        elif isinstance(t, TensorMeta):
            shapes.append(t.shape)
            dim += 1
        else:  # None: the whole dimension
            kept *= x.shape[dim] if dim < len(x.shape) else 1
            dim += 1
    kept *= numel(x.shape[dim:])
    return OpCost(Cost(adds=numel(broadcast(shapes)) * kept))


@FORMULAS.register("index_add", "index_add_")
def index_add(call: OpCall, counting: str) -> OpCost:
    """``index_add(x, dim, index, source, alpha)``.

    forward: 1 add per element of ``source``, plus 1 mult when ``alpha ≠ 1``; backward:
    ``index_select``.
    """
    n = need_tensor(call, "source").numel
    return OpCost(Cost(adds=n, mults=0 if is_one(call.arg("alpha", 1)) else n))


@FORMULAS.register("scatter_add", "scatter_add_", "scatter_reduce", "scatter_reduce_")
def scatter_add(call: OpCall, counting: str) -> OpCost:
    """``scatter_add(x, dim, index, src)``, ``scatter_reduce(x, dim, index, src, reduce)``.

    forward: 1 operation per element of ``index`` — an add (``sum``, ``mean``), a mult
    (``prod``) or a comparison (``amax``/``amin``); ``mean`` adds 1 other per element of x;
    backward: ``gather``.
    """
    n = need_tensor(call, "index").numel
    reduce = call.arg("reduce", "sum")
    if reduce == "prod":
        return OpCost(Cost(mults=n))
    if reduce in ("amax", "amin"):
        return OpCost(Cost(other=n))
    extra = need_tensor(call, "self").numel if reduce == "mean" else 0
    return OpCost(Cost(adds=n, other=extra))


@FORMULAS.register(
    "reflection_pad1d_backward", "reflection_pad2d_backward", "reflection_pad3d_backward",
    "replication_pad1d_backward", "replication_pad2d_backward", "replication_pad3d_backward",
)
def pad_backward(call: OpCall, counting: str) -> OpCost:
    """``reflection_padNd_backward(g, x, padding)`` (and replication).

    forward: see ``reflection_padNd`` (0 arithmetic); backward: every padded position adds its
    gradient into the input position it copied: ``|g| − |x|`` adds.
    """
    g = need_tensor(call, "grad_output")
    x = need_tensor(call, "self")
    return OpCost(Cost(adds=g.numel - x.numel))


@FORMULAS.register("embedding_dense_backward")
def embedding_backward(call: OpCall, counting: str) -> OpCost:
    """``embedding_dense_backward(g, indices, num_weights, padding_idx, scale_grad_by_freq)``.

    forward: ``embedding`` is a gather (0); backward: 1 add per element of g (scatter-add of
    each looked-up row into the weight gradient), plus 1 other per element with
    ``scale_grad_by_freq``; part ``grad_weight``.
    """
    n = need_tensor(call, "grad_output").numel
    cost = Cost(adds=n, other=n if call.arg("scale_grad_by_freq", False) else 0)
    return OpCost(cost, (("grad_weight", cost),))


@FORMULAS.register("_embedding_bag", "_embedding_bag_forward_only")
def embedding_bag(call: OpCall, counting: str) -> OpCost:
    """``_embedding_bag(weight, indices, offsets, scale_grad_by_freq, mode, sparse,
    per_sample_weights, include_last_offset, padding_idx)``; ``I`` indices, ``B`` bags, ``D``
    columns.

    forward: sum: ``(I − B)·D`` adds; mean: plus ``B·D`` other; max: ``(I − B)·D`` compares;
    per-sample weights: ``I·D`` mults; backward: see ``_embedding_bag_backward``.
    """
    w = need_tensor(call, "weight")
    d = w.shape[1] if len(w.shape) > 1 else 1
    i = need_tensor(call, "indices").numel
    out = call.outputs[0] if call.outputs else None
    b = out.shape[0] if out is not None and out.shape else 1
    red = max(i - b, 0) * d
    mode = int(call.arg("mode", 0))
    psw = Cost(mults=i * d) if tensor(call, "per_sample_weights") is not None else Cost()
    if mode == 2:
        return OpCost(Cost(other=red) + psw)
    return OpCost(Cost(adds=red, other=b * d if mode == 1 else 0) + psw)


@FORMULAS.register("_embedding_bag_backward", "_embedding_bag_dense_backward")
def embedding_bag_backward(call: OpCall, counting: str) -> OpCost:
    """``_embedding_bag_backward(g[B, D], indices, …, mode, …, per_sample_weights, …)``.

    forward: see ``_embedding_bag``; backward: sum/mean: 1 add per index per column
    (``I·D``), mean: plus ``B·D`` other (÷ bag size), per-sample weights: ``I·D`` mults; max:
    ``B·D`` adds (scatter to the argmax rows); part ``grad_weight``.
    """
    g = need_tensor(call, "grad")
    i = need_tensor(call, "indices").numel
    d = g.shape[-1] if g.shape else 1
    b = g.numel // d if d else 0
    mode = int(call.arg("mode", 0))
    psw = call.arg("per_sample_weights")
    if mode == 2:
        cost = Cost(adds=b * d)
    else:
        cost = Cost(adds=i * d, other=b * d if mode == 1 else 0)
        if psw is not None:
            cost += Cost(mults=i * d)
    return OpCost(cost, (("grad_weight", cost),))
