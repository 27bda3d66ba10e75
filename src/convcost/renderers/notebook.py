"""The ``notebook`` format (HTML fragments for Jupyter's ``_repr_html_``) and pandas data
frames (``to_pandas``; pandas optional). Both come from :mod:`convcost.view`.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from ..view import layer as layer_view
from ..view import model as model_view
from ..view.cells import Table
from .cells import cells, text

if TYPE_CHECKING:
    from ..hardware.answer import Hardware
    from ..layer import ConvResult
    from ..model.results import ModelResult


def _table(t: Table, nbsp: bool = False) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in t.header)
    rows = cells(t)
    if nbsp:
        rows = [[c.replace("  ", "\u00a0\u00a0") for c in row] for row in rows]
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows
    )
    return (f"<table class='convcost'><thead><tr>{th}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def model_fragment(r: ModelResult, depth: int | None = 2, hw: Hardware | None = None) -> str:
    """Summary lines and the per-module table to ``depth``, as an HTML fragment."""
    lines = model_view.summary_lines(r) + model_view.hardware_lines(r, hw)
    items = "".join(f"<li>{html.escape(text(x))}</li>" for x in lines)
    table = model_view.layer_table(r, hw, depth, human=True)
    return f"<div class='convcost'><ul>{items}</ul>{_table(table, nbsp=True)}</div>"


def conv_fragment(r: ConvResult, lang: str = "en") -> str:
    """The single-layer summary as an HTML fragment."""
    head = "".join(f"<p>{html.escape(s)}</p>" for s in layer_view.header(r, lang))
    return (f"<div class='convcost'>{head}{_table(layer_view.cost_table(r, lang))}"
            f"{_table(layer_view.memory_table(r, lang))}</div>")


def render(subject: str, result: Any, **options: Any) -> str:
    """The ``notebook`` format of ``result``."""
    if subject == "layer":
        return conv_fragment(result, layer_view.check_lang(options.get("lang", "en")))
    return model_fragment(result, options.get("depth", 2), options.get("hardware"))


def _pandas() -> Any:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is in the dev extras
        raise ImportError("to_pandas() needs pandas: pip install pandas") from None
    return pd


def model_frame(r: ModelResult) -> Any:
    """One row per module (every level), exact numbers, indexed by module path."""
    pd = _pandas()
    records = [{k: getattr(x, k) for k in model_view.FRAME_COLUMNS}
               for x in model_view.layer_lines(r)]
    return pd.DataFrame.from_records(records).set_index("name")


def conv_frame(r: ConvResult) -> Any:
    """One row per computation (forward, grad_input, grad_weight, grad_bias, backward)."""
    pd = _pandas()
    return pd.DataFrame.from_records(
        [{"computation": k, "mults": m, "adds": a, "flops": f}
         for k, m, a, f in layer_view.passes(r)]
    ).set_index("computation")


def frame(subject: str, result: Any) -> Any:
    """The pandas data frame of a layer or a model."""
    return conv_frame(result) if subject == "layer" else model_frame(result)
