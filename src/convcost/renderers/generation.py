"""Every format of a generation (:class:`~convcost.model.generate.GenerationResult`):
``table`` (the plain-text report), ``json``, ``markdown`` and ``notebook`` (an HTML fragment
for Jupyter), and its pandas data frame. All of them come from
:mod:`convcost.view.generation` (the report's lines, the JSON document and the per-phase
rows), with the device's time and memory when the result carries them
(``analyze_generation(..., device=…)``)."""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

from ..view import generation as view

if TYPE_CHECKING:
    from ..model.generate import GenerationResult

#: The formats a generation is written in.
FORMATS = ("table", "json", "markdown", "notebook")


def _cell(column: str, value: Any) -> str:
    from ..units import exact_si, nbytes, seconds

    if value is None:
        return ""
    if column in ("macs", "flops"):
        return exact_si(value)
    if column.endswith("bytes") or column.endswith("bytes_after") or column == "bytes_moved":
        return nbytes(value)
    if column == "time_s":
        return seconds(value)
    return str(value)


def _table(g: GenerationResult) -> tuple[list[str], list[list[str]]]:
    cols = [c for c in view.PHASE_COLUMNS if c != "cache_len"]
    rows = view.phase_rows(g)
    if g.timing is None:
        cols.remove("time_s")
    return cols, [[_cell(c, r[c]) for c in cols] for r in rows]


def render(fmt: str, g: GenerationResult) -> str:
    """``g`` written in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        return json.dumps(view.generation_json(g, None), indent=2) + "\n"
    lines = view.generation_lines(g, None)
    if fmt == "table":
        return "\n".join(lines) + "\n"
    head, rows = _table(g)
    if fmt == "markdown":
        def esc(x: str) -> str:
            return x.replace("|", "\\|")

        out = [f"**{esc(lines[0])}**", ""] + [f"- {esc(x.strip())}" for x in lines[1:]]
        out += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
        return "\n".join(out) + "\n"
    items = "".join(f"<li>{html.escape(x.strip())}</li>" for x in lines[1:])
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                   for r in rows)
    return (f"<div class='convcost'><p>{html.escape(lines[0])}</p><ul>{items}</ul>"
            f"<table class='convcost'><thead><tr>{th}</tr></thead><tbody>{body}</tbody>"
            "</table></div>\n")


def frame(g: GenerationResult) -> Any:
    """One row per traced forward and one for all decode steps, exact numbers, indexed by
    phase (needs pandas)."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is in the dev extras
        raise ImportError("to_pandas() needs pandas: pip install pandas") from None
    return pd.DataFrame.from_records(view.phase_rows(g),
                                     columns=list(view.PHASE_COLUMNS)).set_index("phase")
