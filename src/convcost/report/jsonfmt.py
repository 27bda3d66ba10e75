"""JSON output: indented objects, lists of scalars kept on one line; exact integers."""

from __future__ import annotations

import json
from typing import Any


def dumps(obj: Any, indent: int = 2) -> str:
    """Serialise ``obj`` readably: nested objects indented, scalar lists inline."""
    return _dump(obj, 0, indent)


def _dump(obj: Any, level: int, indent: int) -> str:
    pad, inner = " " * (level * indent), " " * ((level + 1) * indent)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [
            f"{inner}{json.dumps(str(k))}: {_dump(v, level + 1, indent)}" for k, v in obj.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, (list, tuple)):
        if all(not isinstance(x, (dict, list, tuple)) or _scalar_list(x) for x in obj):
            return "[" + ", ".join(_dump(x, level + 1, indent) for x in obj) + "]"
        items = [inner + _dump(x, level + 1, indent) for x in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(obj, ensure_ascii=False)


def _scalar_list(x: Any) -> bool:
    return isinstance(x, (list, tuple)) and all(not isinstance(y, (dict, list, tuple)) for y in x)
