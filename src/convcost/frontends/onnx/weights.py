"""Initializers as the module holds them. Every floating initializer the graph uses as data
is a trainable ``nn.Parameter`` on the meta device (no weight data is read). Two kinds are
not: the running mean/variance of ``BatchNormalization`` are buffers (as in
``nn.BatchNorm``), and initializers read as *values* (shapes, axes, pads, scales, clip
bounds; every integer or boolean initializer, every floating scalar such as an exponent or
an epsilon) are constants, read for real. Each parameter or buffer is owned by the first
node module that uses it (a shared one stays with the first), under its sanitised name
(``layer1.0.conv1.weight`` -> ``layer1_0_conv1_weight``); those no node uses stay on the
root module. ``freeze`` matches the ONNX initializer names themselves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import torch
from torch import Tensor, nn

from ...dtypes import ONNX_DTYPES
from ...errors import SpecError
from ...vocab import named_like
from .lowering import SHAPE_ONLY_OPS, LoweringTable
from .names import sanitize, unique
from .node import OnnxOp
from .reader import read_initializer
from .tensors import FLOATING

#: What an initializer becomes: a trainable parameter, a buffer or a constant.
Kind = Literal["param", "buffer", "const"]
Weight = nn.Parameter | Tensor


def initializer_kinds(ops: list[OnnxOp], inits: Mapping[str, Any],
                      table: LoweringTable) -> dict[str, Kind]:
    """The kind of every initializer, from its element type, its rank and how the nodes
    read it (``table`` says which inputs are read as values)."""
    roles = _roles(ops, inits, table)
    return {name: _kind(t, roles.get(name, set())) for name, t in inits.items()}


def _roles(ops: list[OnnxOp], inits: Mapping[str, Any],
           table: LoweringTable) -> dict[str, set[str]]:
    """How each initializer is read: as data, as a value, only for its shape, or as a
    batch-norm running statistic."""
    roles: dict[str, set[str]] = {}
    for op in ops:
        default = op.default_domain
        for j, n in enumerate(op.inputs):
            if n not in inits:
                continue
            if default and op.type in SHAPE_ONLY_OPS:
                role = "shape"
            elif default and j in table.value_slots(op.type):
                role = "value"
            elif default and op.type == "BatchNormalization" and j in (3, 4):
                role = "stat"
            else:
                role = "data"
            roles.setdefault(n, set()).add(role)
    return roles


def _kind(t: Any, roles: set[str]) -> Kind:
    dtype = ONNX_DTYPES.get(t.data_type)
    if dtype not in FLOATING or len(t.dims) == 0:
        return "const"  # a scalar (an exponent, a scale, an epsilon): a constant
    if "data" in roles or not roles or roles == {"shape"}:
        return "param"
    if "stat" in roles:
        return "buffer"
    return "const"


def read_constants(path: str, inits: Mapping[str, Any],
                   kinds: Mapping[str, Kind]) -> dict[str, Tensor]:
    """The data of every constant initializer (graph order)."""
    return {name: read_initializer(path, name, t) for name, t in inits.items()
            if kinds[name] == "const"}


def meta_weights(inits: Mapping[str, Any], kinds: Mapping[str, Kind],
                 freeze: re.Pattern[str] | None) -> dict[str, Weight]:
    """A meta-device tensor for every parameter and buffer (graph order); a parameter whose
    name ``freeze`` matches (``re.search``) needs no gradient. A ``freeze`` that matches no
    parameter's name is a SpecError naming ``freeze`` (it would change nothing)."""
    if freeze is not None:
        params = [name for name in inits if kinds[name] == "param"]
        if not any(freeze.search(name) for name in params):
            raise SpecError("freeze", freeze.pattern, "matches no initializer that is a "
                            "parameter; " + named_like(params, "parameters"))
    out: dict[str, Weight] = {}
    for name, t in inits.items():
        if kinds[name] in ("param", "buffer"):
            meta = torch.empty(tuple(int(d) for d in t.dims),
                               dtype=getattr(torch, ONNX_DTYPES[t.data_type]), device="meta")
            if kinds[name] == "param":
                trainable = freeze is None or freeze.search(name) is None
                out[name] = nn.Parameter(meta, requires_grad=trainable)
            else:
                out[name] = meta
    return out


def attach_weights(weights: Mapping[str, Weight], owners: Mapping[str, nn.Module],
                   paths: Mapping[int, str]
                   ) -> tuple[dict[str, tuple[str, str]], list[tuple[str, Weight]]]:
    """Register each weight on its owner module (``owners``: initializer -> the first node
    module using it; ``paths``: module id -> its path). Returns where each registered one
    lives (initializer -> (module path, attribute)) and the weights no node owns."""
    placed: dict[str, tuple[str, str]] = {}
    unowned: list[tuple[str, Weight]] = []
    for name, p in weights.items():
        owner = owners.get(name)
        if owner is None:
            unowned.append((name, p))
            continue
        attr = unique(sanitize(name), set(dir(owner)) | set(owner._parameters)
                      | set(owner._buffers))
        if isinstance(p, nn.Parameter):
            owner.register_parameter(attr, p)
        else:
            owner.register_buffer(attr, p)
        placed[name] = (paths[id(owner)], attr)
    return placed, unowned
