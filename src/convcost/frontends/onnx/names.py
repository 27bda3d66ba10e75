"""ONNX names as Python attribute names: sanitised (``layer1.0.conv1.weight`` ->
``layer1_0_conv1_weight``) and made unique with a numeric suffix."""

from __future__ import annotations

import re
from collections.abc import Container


def sanitize(name: str) -> str:
    """``name`` with every non-word character replaced by ``_`` (``"_"`` for an empty one)."""
    s = re.sub(r"\W", "_", name)
    return s if s else "_"


def unique(name: str, taken: Container[str]) -> str:
    """``name``, or ``name_1``, ``name_2``... the first that is not in ``taken``."""
    n, k = name, 0
    while n in taken:
        k += 1
        n = f"{name}_{k}"
    return n
