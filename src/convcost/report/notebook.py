"""Notebook views: HTML fragments for Jupyter and pandas DataFrames (pandas optional)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..layer import ConvResult
    from ..model import ModelResult


def _table(header: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows
    )
    return (f"<table class='convcost'><thead><tr>{th}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def model_fragment(r: ModelResult, depth: int = 2) -> str:
    """Summary lines and the per-module table to ``depth``, as an HTML fragment."""
    from .model import LAYER_HEADER, _layer_cells, _rows, _summary_lines

    lines = "".join(f"<li>{html.escape(s)}</li>" for s in _summary_lines(r))
    rows = [_layer_cells(r, row, True) for row in _rows(r, depth, hide_empty=True)]
    rows = [[c.replace("  ", "\u00a0\u00a0") for c in row] for row in rows]
    return f"<div class='convcost'><ul>{lines}</ul>{_table(list(LAYER_HEADER), rows)}</div>"


def conv_fragment(r: ConvResult) -> str:
    """The single-layer summary as an HTML fragment."""
    from .conv import _header, _memory_rows, _summary_rows

    head = "".join(f"<p>{html.escape(s)}</p>" for s in _header(r, "en"))
    ch, crow = _summary_rows(r, "en", human=True)
    mh, mrow = _memory_rows(r, "en")
    return f"<div class='convcost'>{head}{_table(ch, crow)}{_table(mh, mrow)}</div>"


def _pandas() -> Any:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is in the dev extras
        raise ImportError("to_pandas() needs pandas: pip install pandas") from None
    return pd


def model_frame(r: ModelResult) -> Any:
    """One row per module (every level), exact numbers, indexed by module path."""
    pd = _pandas()
    records = []
    for row in r.layers:
        b = row.backward
        records.append({
            "name": row.name, "type": row.type, "depth": row.depth, "leaf": row.leaf,
            "output_shape": row.output_shape, "params": row.params,
            "trainable_params": row.trainable_params,
            "forward_macs": row.forward.macs, "forward_mults": row.forward.mults,
            "forward_adds": row.forward.adds, "forward_other": row.forward.other,
            "forward_flops": row.forward.flops,
            "grad_input_flops": b.grad_input.flops, "grad_weight_flops": b.grad_weight.flops,
            "grad_bias_flops": b.grad_bias.flops, "backward_macs": b.total.macs,
            "backward_flops": b.total.flops, "saved_bytes": row.saved_bytes,
        })
    return pd.DataFrame.from_records(records).set_index("name")


def conv_frame(r: ConvResult) -> Any:
    """One row per computation (forward, grad_input, grad_weight, grad_bias, backward)."""
    pd = _pandas()
    b = r.backward
    rows = {"forward": r.forward, "grad_input": b.grad_input, "grad_weight": b.grad_weight,
            "grad_bias": b.grad_bias, "backward": b.total}
    return pd.DataFrame.from_records(
        [{"computation": k, "mults": c.mults, "adds": c.adds, "flops": c.flops}
         for k, c in rows.items()]
    ).set_index("computation")
