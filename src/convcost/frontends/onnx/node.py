"""One ONNX node as the front end reads it (:class:`OnnxOp`), and the error that names one
(:class:`OnnxNodeError`). No torch, no onnx: a plain record with typed attribute readers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...errors import ConvCostError


class OnnxNodeError(ConvCostError):
    """One ONNX node cannot be run: names the node, its op type and the reason."""

    def __init__(self, node: str, op_type: str, reason: str) -> None:
        self.node = node
        self.op_type = op_type
        self.reason = reason
        super().__init__(f"ONNX node {node!r} ({op_type}): {reason}")


@dataclass
class OnnxOp:
    """One ONNX node, with attributes as Python values (strings decoded)."""

    index: int
    type: str
    domain: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: dict[str, Any]
    opset: int
    subgraph: bool = False
    const: bool = False
    used: frozenset[str] = frozenset()
    proto_attrs: tuple[Any, ...] = ()  # the AttributeProtos, to rebuild the node

    @property
    def label(self) -> str:
        return self.name or f"#{self.index}"

    @property
    def default_domain(self) -> bool:
        """Whether the node is in the default (``ai.onnx``) domain."""
        return self.domain in ("", "ai.onnx")

    def err(self, reason: str) -> OnnxNodeError:
        return OnnxNodeError(self.label, self.type, reason)

    def i(self, key: str, default: int) -> int:
        v = self.attrs.get(key)
        return default if v is None else int(v)

    def f(self, key: str, default: float) -> float:
        v = self.attrs.get(key)
        return default if v is None else float(v)

    def s(self, key: str, default: str) -> str:
        v = self.attrs.get(key)
        return default if v is None else str(v)

    def ints(self, key: str) -> list[int] | None:
        v = self.attrs.get(key)
        return None if v is None else [int(x) for x in v]

    def floats(self, key: str) -> list[float] | None:
        v = self.attrs.get(key)
        return None if v is None else [float(x) for x in v]

    def wants(self, k: int) -> bool:
        """Whether output ``k`` is used (by a node or as a graph output)."""
        return k < len(self.outputs) and bool(self.outputs[k]) and self.outputs[k] in self.used
