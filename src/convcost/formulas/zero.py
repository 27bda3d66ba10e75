"""The explicit zero-cost set: ops that compute nothing and move no data.

Copies (``clone``, ``copy_``, ``_to_copy``, ``cat``…) are deliberately *not* here: they move
bytes and have formulas in :mod:`convcost.formulas.movement`.
"""

from __future__ import annotations

from .registry import FormulaRegistry

#: This module's zero-cost set (merged into the default registry by :mod:`.catalog`).
FORMULAS = FormulaRegistry()

# Views: a new tensor header over the same storage (shape/stride/offset arithmetic only).
FORMULAS.zero_cost(
    "view: same storage, new shape/strides",
    "view", "_unsafe_view", "_reshape_alias", "reshape", "view_as_real", "view_as_complex",
    "as_strided", "as_strided_", "transpose", "transpose_", "t", "t_", "permute", "expand",
    "squeeze", "squeeze_", "unsqueeze", "unsqueeze_", "alias", "slice", "select", "narrow",
    "diagonal", "unfold", "split", "split_with_sizes", "unsafe_split",
    "unsafe_split_with_sizes", "chunk", "unbind", "movedim", "swapaxes", "_conj", "_neg_view",
    "conj", "real", "imag", "_nested_view_from_buffer", "_indices", "_values",
)

# Autograd bookkeeping: detach/lift return views or the same tensor, no data touched.
FORMULAS.zero_cost(
    "autograd bookkeeping: returns a view or the tensor itself",
    "detach", "detach_", "lift_fresh", "lift", "resolve_conj", "resolve_neg",
    "_make_dual", "_unpack_dual", "_fw_primal",
)

# Metadata queries: answered from the tensor header.
FORMULAS.zero_cost(
    "metadata query: answered from the header",
    "size", "stride", "sym_size", "sym_stride", "sym_numel", "sym_storage_offset", "numel",
    "dim", "is_contiguous", "is_same_size", "_has_compatible_shallow_copy_type",
    "is_nonzero", "_version",
)

# Reading one scalar into Python (``.item()``): no arithmetic, one element.
FORMULAS.zero_cost("reads one scalar to Python", "_local_scalar_dense", "item")

# Allocation without initialisation: memory is reserved, no element is written.
FORMULAS.zero_cost(
    "allocation only: no element written",
    "empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "resize_",
    "resize_as_", "set_", "_resize_output_",
)

# Runtime assertions and stream bookkeeping: no tensor data computed.
FORMULAS.zero_cost(
    "assertion or bookkeeping: computes no tensor data",
    "_assert_async", "_assert_tensor_metadata", "_functional_assert_async",
    "_assert_scalar", "sym_constrain_range", "sym_constrain_range_for_size", "record_stream",
)

# Not aten: the tracer names ops of other namespaces ``namespace::name.overload``.
# ``prim::device`` is a metadata query autograd issues; the profiler ops only mark ranges
# (``optimizer.step`` wraps itself in them).
FORMULAS.zero_cost(
    "non-aten metadata/profiling op",
    "prim::device.default", "prim::layout.default",
    "profiler::_record_function_enter.default", "profiler::_record_function_enter_new.default",
    "profiler::_record_function_exit.default",
    "profiler::_record_function_exit._RecordFunction",
)
