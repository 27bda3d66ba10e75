"""The ``json`` format: the documents of :mod:`convcost.view` written readably (nested
objects indented, lists of scalars on one line) with exact integers.
"""

from __future__ import annotations

import json
from typing import Any

from ..view import layer as layer_view


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


def document(subject: str, result: Any, **options: Any) -> dict[str, Any]:
    """The JSON document of ``result`` as Python data."""
    # Each view is imported for its own kind of result only: a layer's JSON stays light.
    if subject == "layer":
        return layer_view.document(result)
    if subject == "model":
        from ..view import model as model_view

        return model_view.document(result, options.get("hardware"),
                                   options.get("timeline", False), options.get("ops", False))
    if subject in ("sweep", "comparison"):
        from ..view import study as study_view

        return (study_view.sweep_document(result) if subject == "sweep"
                else study_view.compare_document(result))
    from ..view import devices as devices_view

    return devices_view.document(result)


def render(subject: str, result: Any, **options: Any) -> str:
    """The ``json`` format of ``result``, ending in a newline."""
    return dumps(document(subject, result, **options)) + "\n"
