"""Reading an ONNX file into the module that interprets it (:func:`load_onnx`; analysing it
is :func:`convcost.model.onnx.analyze_onnx`, above the front ends). :func:`load_onnx` is the
sequence of steps; each step lives with what it owns (:mod:`.reader`, :mod:`.inputs`,
:mod:`.weights`, :mod:`.scopes`, :mod:`.module`) or below.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from ...errors import SpecError
from ...spec import InputSpec
from .inputs import resolve_inputs
from .lowering import RANDOM_OPS, SHAPE_ONLY_OPS, LoweringTable, lowering_table
from .module import OnnxModule, OnnxNode, Plan, Step, node_class
from .node import OnnxOp
from .reader import file_error, graph_inputs, initializers, open_model, read_nodes, require_onnx
from .scopes import ScopeTree
from .weights import Weight, attach_weights, initializer_kinds, meta_weights, read_constants


def load_onnx(
    path: str | os.PathLike[str],
    inputs: Any = None,
    freeze: str | re.Pattern[str] | None = None,
) -> tuple[OnnxModule, list[InputSpec]]:
    """Read the ONNX model at ``path`` (nothing is executed) and return the module that
    interprets it and the input specs to analyse it with (graph order).

    ``inputs`` sets the graph inputs' shapes: a mapping ``{name: shape}``, or a list of
    ``"NAME=1x3x224x224"`` / ``"1x3x224x224"`` strings or shapes (unnamed ones fill the
    graph's inputs in order); symbolic dimensions must all be set. ``freeze`` — a regular
    expression: initializers whose ONNX name it matches (``re.search``) get no gradient.
    Raises :class:`~convcost.errors.SpecError` (field ``path`` for the file, ``inputs``
    for the shapes).
    """
    require_onnx(str(path))
    spath = os.fspath(path)
    pattern = _freeze_pattern(freeze)
    model, opsets = open_model(spath)
    graph = model.graph
    inits = initializers(spath, graph)
    declared = graph_inputs(spath, graph, inits)
    specs = resolve_inputs(declared, inputs)
    nodes = read_nodes(graph, opsets)
    table = lowering_table()
    kinds = initializer_kinds(nodes.ops, inits, table)
    consts = read_constants(spath, inits, kinds)
    _mark_constant_nodes(nodes.ops, set(consts))
    weights = meta_weights(inits, kinds, pattern)
    steps, tree, owners = _node_modules(nodes.ops, weights, opsets, table)
    scopes, paths = tree.build()
    placed, unowned = attach_weights(weights, owners, paths)
    keep = set(nodes.outputs) | set(consts) | set(weights) | {g.name for g in declared}
    _set_lifetimes(spath, steps, nodes.outputs, keep)
    plan = Plan(spath, declared, nodes.outputs, steps, consts, placed, opsets, nodes.alias)
    return OnnxModule(plan, scopes, unowned), specs


def _freeze_pattern(freeze: str | re.Pattern[str] | None) -> re.Pattern[str] | None:
    if freeze is None:
        return None
    from ...patterns import check_pattern

    check_pattern("freeze", freeze.pattern if isinstance(freeze, re.Pattern) else str(freeze))
    try:
        return freeze if isinstance(freeze, re.Pattern) else re.compile(str(freeze))
    except re.error as exc:
        raise SpecError("freeze", freeze, f"not a valid regular expression ({exc})") from None


def _mark_constant_nodes(ops: list[OnnxOp], known: set[str]) -> None:
    """Mark the nodes computed for real when the module runs (``op.const``): every input is
    constant, or only the input's shape is read (shape computations cost nothing, as
    integer arithmetic on ``x.shape`` costs nothing in a PyTorch model). Random nodes and
    nodes with subgraphs never are."""
    for op in ops:
        default = op.default_domain
        if op.subgraph or (op.type in RANDOM_OPS and default):
            continue
        if (default and op.type in SHAPE_ONLY_OPS) or all(not n or n in known
                                                           for n in op.inputs):
            op.const = True
            known.update(n for n in op.outputs if n)


def _node_modules(ops: list[OnnxOp], weights: Mapping[str, Weight], opsets: dict[str, int],
                  table: LoweringTable
                  ) -> tuple[list[Step], ScopeTree, dict[str, OnnxNode]]:
    """One step per node, a module for each non-constant one (placed in the scope tree by
    its name), and the owner of each weight: the first node module that reads it."""
    tree = ScopeTree()
    steps: list[Step] = []
    owners: dict[str, OnnxNode] = {}
    for op in ops:
        if op.const:
            steps.append(Step(op, None))
            continue
        impl = table.get(op.type) if op.default_domain and not op.subgraph else None
        mod = node_class(op.type)(op, impl, opsets)
        for n in op.inputs:
            if n in weights and n not in owners:
                owners[n] = mod
        tree.add(op, mod)
        steps.append(Step(op, mod))
    return steps, tree, owners


def _set_lifetimes(path: str, steps: list[Step], outputs: list[str], keep: set[str]) -> None:
    """Set when each value can be dropped (``Step.free``: after the last step reading it),
    so that memory follows real lifetimes; ``keep`` are never dropped. A graph output that
    no node produces is an error."""
    last: dict[str, int] = {}
    for k, step in enumerate(steps):
        for n in step.op.inputs:
            if n:
                last[n] = k
        for n in step.op.outputs:
            if n:
                last.setdefault(n, k)
    frees: dict[int, list[str]] = {}
    for n, k in last.items():
        if n not in keep:
            frees.setdefault(k, []).append(n)
    for k, step in enumerate(steps):
        step.free = tuple(frees.get(k, ()))
    missing = [n for n in outputs if n not in last and n not in keep]
    if missing:
        raise file_error(path, f"graph output(s) {missing} are produced by no node")

