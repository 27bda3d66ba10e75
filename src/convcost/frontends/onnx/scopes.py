"""The module hierarchy from node names: exporters name nodes like paths
(``/layer1/layer1.0/conv1/Conv``), and each ``/`` becomes a level of :class:`~.module.OnnxScope`
modules, so that ``--depth`` works as for PyTorch models. A scope holding a single node is
that node; a scope shared by every node (``StatefulPartitionedCall/...``) is dropped; names
that clash with a module attribute (``training``, ``forward``...) or repeat get a suffix;
unnamed nodes are ``node_<index>_<OpType>``."""

from __future__ import annotations

from typing import Any

from torch import nn

from .module import OnnxModule, OnnxNode, OnnxScope
from .names import sanitize, unique
from .node import OnnxOp


class ScopeTree:
    """Node modules placed by their names; :meth:`build` turns the tree into modules."""

    def __init__(self) -> None:
        self._tree: dict[str, Any] = {}

    def add(self, op: OnnxOp, node: OnnxNode) -> None:
        """Place ``node``, the module of ``op``, at the path its name gives."""
        parts = [sanitize(p) for p in op.name.split("/") if p] if op.name else []
        if not parts:
            parts = [f"node_{op.index}_{sanitize(op.type)}"]
        _tree_insert(self._tree, parts, node)

    def build(self) -> tuple[dict[str, nn.Module], dict[int, str]]:
        """The root's child modules by name, and each node module's path (by ``id``)."""
        tree = self._tree
        # strip a leading scope shared by every node (exporters' "StatefulPartitionedCall/...")
        while len(tree) == 1 and isinstance(next(iter(tree.values())), dict):
            tree = next(iter(tree.values()))
        paths: dict[int, str] = {}
        return _build_modules(_collapse(tree), "", paths), paths


def _tree_insert(tree: dict[str, Any], parts: list[str], leaf: Any) -> None:
    """Insert ``leaf`` at ``parts``; names clashing with a leaf/scope get a suffix."""
    node = tree
    for p in parts[:-1]:
        name = p
        k = 0
        while name in node and not isinstance(node[name], dict):
            k += 1
            name = f"{p}_{k}"
        node = node.setdefault(name, {})
    node[unique(parts[-1], node)] = leaf


def _collapse(tree: dict[str, Any]) -> dict[str, Any]:
    """A scope holding exactly one node becomes that node (named as the scope)."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            v = _collapse(v)
            if len(v) == 1 and not isinstance(next(iter(v.values())), dict):
                v = next(iter(v.values()))
        out[k] = v
    return out


# Names a child module cannot take (attributes of the modules it would be added to).
_RESERVED = (set(dir(OnnxScope())) | set(dir(OnnxNode)) | set(dir(OnnxModule))
             | {"_plan", "_owners"})


def _build_modules(tree: dict[str, Any], prefix: str,
                   paths: dict[int, str]) -> dict[str, nn.Module]:
    mods: dict[str, nn.Module] = {}
    for k, v in tree.items():
        name = unique(k, _RESERVED | set(mods)) if k in _RESERVED else k
        path = f"{prefix}.{name}" if prefix else name
        if isinstance(v, dict):
            scope = OnnxScope()
            for ck, cm in _build_modules(v, path, paths).items():
                scope.add_module(ck, cm)
            mods[name] = scope
        else:
            mods[name] = v
            paths[id(v)] = path
    return mods
