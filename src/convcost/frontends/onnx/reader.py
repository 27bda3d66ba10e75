"""Reading and checking an ONNX file, without executing anything: the ModelProto (parsed
from bytes; external-data files are checked, not read), its opsets, local functions inlined,
``onnx.checker``; then the graph's initializers, its inputs (element type and dimensions,
symbolic ones by name) and its nodes as :class:`~.node.OnnxOp` records (``Identity`` nodes
become aliases). Every problem with the file is a one-line
:class:`~convcost.errors.SpecError` naming the file (field ``TARGET``).

``onnx`` is imported only by the functions that need it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ...dtypes import ONNX_DTYPES
from ...errors import SpecError
from .node import OnnxOp

#: Oldest default-domain opset read (numpy-style broadcasting everywhere from opset 7).
MIN_OPSET = 7


def file_error(path: str, problem: str) -> SpecError:
    """The error for a problem with the file at ``path``."""
    return SpecError("path", path, problem)


def require_onnx(path: str) -> None:
    """Fail with a one-line error when the onnx package is not installed."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise SpecError("path", path, "reading ONNX files needs the onnx package "
                        "(pip install 'convcost[onnx]' or pip install onnx)") from None


def open_model(path: str) -> tuple[Any, dict[str, int]]:
    """The checked ModelProto at ``path`` (local functions inlined) and its opsets
    (domain -> version, ``""`` for the default domain)."""
    import onnx

    model = _read_model(path)
    check_graph_size(path, model)
    opsets = _check_opsets(path, model)
    _check_external(path, model)
    if len(model.functions):
        import onnx.inliner

        try:
            model = onnx.inliner.inline_local_functions(model)
        except Exception as exc:
            raise file_error(path, f"its local functions cannot be inlined ({exc})") from None
    try:
        from onnx.external_data_helper import uses_external_data

        if any(uses_external_data(t) for t in model.graph.initializer) and not model.functions:
            onnx.checker.check_model(path)  # finds the data files next to the model
        else:
            onnx.checker.check_model(model)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or ["?"])[0]
        raise file_error(path, f"is not a valid ONNX model ({first})") from None
    return model, opsets


#: Most nodes a model may have, its subgraphs and inlined local functions included
#: (analysing takes about 2 ms a node here: 10,000 nodes is seconds, not the minutes that
#: 20,000 took in training).
MAX_NODES = 10_000
#: Deepest nesting of subgraphs (``If``/``Loop``/``Scan`` bodies inside bodies) and of
#: local functions calling local functions.
MAX_NESTING = 16


def check_graph_size(path: str, model: Any) -> None:
    """Refuse (:func:`file_error`), before anything is inlined or lowered, a model of more
    than :data:`MAX_NODES` nodes once its local functions are inlined, or nesting subgraphs
    or functions more than :data:`MAX_NESTING` deep. Stops counting at the bound."""
    functions = {(f.domain, f.name): f for f in model.functions}

    def size(nodes: Any, depth: int) -> int:
        if depth > MAX_NESTING:
            raise file_error(path, f"nests subgraphs or functions more than {MAX_NESTING} "
                             "deep, over the bound of this analyser")
        total = 0
        for node in nodes:
            called = functions.get((node.domain, node.op_type))
            total += 1 if called is None else max(1, size(called.node, depth + 1))
            for a in node.attribute:
                for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                    total += size(g.node, depth + 1)
            if total > MAX_NODES:
                raise file_error(path, f"has more than {MAX_NODES:,} nodes (subgraphs and "
                                 "local functions included), over the bound of this analyser")
        return total

    size(model.graph.node, 0)


def _read_model(path: str) -> Any:
    import onnx

    if not os.path.exists(path):
        raise file_error(path, "file not found")
    if not os.path.isfile(path):
        raise file_error(path, "is not a file")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise file_error(path, f"cannot be read ({exc.strerror})") from None
    if not data:
        raise file_error(path, "is empty, not an ONNX model")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise file_error(path, "is not a valid ONNX model: it cannot be parsed (truncated "
                          f"or corrupt file, or another format) ({exc})") from None
    if model.ir_version <= 0 or not model.HasField("graph"):
        raise file_error(path, "is not an ONNX model (no IR version or no graph: a "
                          "truncated or corrupt file, or another format)")
    return model


def _check_opsets(path: str, model: Any) -> dict[str, int]:
    import onnx

    opsets = {("" if o.domain == "ai.onnx" else o.domain): int(o.version)
              for o in model.opset_import}
    newest = onnx.defs.onnx_opset_version()
    v = opsets.get("")
    if v is None:
        raise file_error(path, "imports no default-domain (ai.onnx) opset")
    if v < MIN_OPSET:
        raise file_error(path, f"uses opset {v}; convcost reads opsets {MIN_OPSET} to "
                          f"{newest} (convert it with onnx.version_converter)")
    if v > newest:
        raise file_error(path, f"uses opset {v}, newer than the installed onnx package "
                          f"knows ({newest}); upgrade onnx")
    if model.ir_version > onnx.IR_VERSION:
        raise file_error(path, f"has IR version {model.ir_version}, newer than the installed "
                          f"onnx package reads ({onnx.IR_VERSION}); upgrade onnx")
    return opsets


def _check_external(path: str, model: Any) -> None:
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    base = os.path.dirname(os.path.abspath(path))
    tensors = list(model.graph.initializer)
    for t in tensors:
        if not uses_external_data(t):
            continue
        info = ExternalDataInfo(t)
        loc = os.path.join(base, info.location)
        if not os.path.isfile(loc):
            raise file_error(path, f"external data file {info.location!r} (initializer "
                              f"{t.name!r}) not found next to the model")
        size = os.path.getsize(loc)
        offset = int(info.offset or 0)
        length = int(info.length or 0)
        if offset + length > size:
            raise file_error(path, f"external data file {info.location!r} is too short "
                              f"for initializer {t.name!r} (truncated?)")


def initializers(path: str, graph: Any) -> dict[str, Any]:
    """The graph's initializers (TensorProtos) by name; sparse ones are an error."""
    inits = {t.name: t for t in graph.initializer}
    if len(graph.sparse_initializer):
        raise file_error(path, "sparse initializers are not supported")
    return inits


def read_initializer(path: str, name: str, t: Any) -> Tensor:
    """The data of initializer ``t`` as a (real) tensor, read from its external-data file
    next to the model if it has one."""
    import onnx
    from onnx import numpy_helper
    from onnx.external_data_helper import load_external_data_for_tensor, uses_external_data

    try:
        if uses_external_data(t):
            t = onnx.TensorProto.FromString(t.SerializeToString())
            load_external_data_for_tensor(t, os.path.dirname(os.path.abspath(path)))
        arr = numpy_helper.to_array(t)
        return torch.from_numpy(arr.copy())
    except Exception as exc:
        raise file_error(path, f"initializer {name!r} cannot be read ({exc})") from None


@dataclass
class GraphInput:
    """One graph input (not an initializer): its name, element type (canonical name) and
    dimensions as declared (an int, a symbol, or ``None`` when unknown)."""

    name: str
    dtype: str
    dims: list[int | str | None] | None  # None: the graph does not give the rank


def graph_inputs(path: str, graph: Any, inits: dict[str, Any]) -> list[GraphInput]:
    """The graph's inputs that are not initializers, in graph order; an input that is not a
    tensor, has an unsupported element type, or a graph without inputs is an error."""
    out: list[GraphInput] = []
    for vi in graph.input:
        if vi.name in inits:
            continue
        if not vi.type.HasField("tensor_type"):
            raise file_error(path, f"input {vi.name!r} is not a tensor (sequences, maps "
                             "and optionals are not supported)")
        code = vi.type.tensor_type.elem_type
        dtype = ONNX_DTYPES.get(code)
        if dtype is None or dtype.startswith("complex"):
            raise file_error(path, f"input {vi.name!r} has ONNX element type {code}, which "
                             "is not supported")
        out.append(GraphInput(vi.name, dtype, _value_dims(vi)))
    if not out:
        raise file_error(path, "the graph has no inputs (only initializers)")
    return out


def _value_dims(vi: Any) -> list[int | str | None] | None:
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return None
    dims: list[int | str | None] = []
    for d in tt.shape.dim:
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return dims


@dataclass
class GraphNodes:
    """The graph's nodes as records, in graph order, without the ``Identity`` nodes that
    are only aliases; ``outputs`` are the graph outputs with aliases resolved."""

    ops: list[OnnxOp]
    outputs: list[str]
    alias: dict[str, str]  # value name -> the name it is an alias of


def read_nodes(graph: Any, opsets: dict[str, int]) -> GraphNodes:
    """The graph's nodes as :class:`~.node.OnnxOp` records. An ``Identity`` node (default
    domain) whose output is not a graph output becomes an alias of its input (no row)."""
    alias: dict[str, str] = {}
    resolve = _resolver(alias)
    graph_outputs = [o.name for o in graph.output]
    ops: list[OnnxOp] = []
    for k, node in enumerate(graph.node):
        attrs, sub = _attr_values(node)
        domain = "" if node.domain == "ai.onnx" else node.domain
        op = OnnxOp(k, node.op_type, domain, node.name, tuple(resolve(i) for i in node.input),
                    tuple(node.output), attrs, opsets.get(domain, opsets[""]), sub,
                    proto_attrs=tuple(node.attribute))
        if op.type == "Identity" and not domain and op.inputs and op.inputs[0] \
                and op.outputs[0] not in graph_outputs:
            alias[op.outputs[0]] = op.inputs[0]
            continue
        ops.append(op)
    outputs = [resolve(n) for n in graph_outputs]
    used = frozenset(n for op in ops for n in op.inputs if n) | frozenset(outputs)
    for op in ops:
        op.used = used
    return GraphNodes(ops, outputs, alias)


def _resolver(alias: dict[str, str]) -> Callable[[str], str]:
    def resolve(n: str) -> str:
        while n in alias:
            n = alias[n]
        return n

    return resolve


def _attr_values(node: Any) -> tuple[dict[str, Any], bool]:
    from onnx import AttributeProto, helper

    out: dict[str, Any] = {}
    sub = False
    for a in node.attribute:
        if a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS):
            sub = True
            continue
        v = helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        elif isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [b.decode("utf-8", "replace") for b in v]
        out[a.name] = v
    return out, sub
