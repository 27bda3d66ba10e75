"""Plain-text and Markdown tables."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from unicodedata import east_asian_width

#: ``(header, rows, indent, left-aligned columns) -> str``: plain text or a terminal renderer.
TableRenderer = Callable[[Sequence[str], Sequence[Sequence[str]], str, Sequence[int]], str]


def display_width(s: str) -> int:
    """Terminal columns of ``s`` (East Asian wide characters take two)."""
    return sum(2 if east_asian_width(c) in "WF" else 1 for c in s)


def _pad(s: str, w: int, right: bool) -> str:
    fill = " " * (w - display_width(s))
    return fill + s if right else s + fill


def text_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    indent: str = "",
    left: Sequence[int] = (0,),
) -> str:
    """Aligned columns: those in ``left`` left-aligned (default the first), others right."""
    cols = list(zip(header, *rows))
    widths = [max(display_width(c) for c in col) for col in cols]
    lines = []
    for i, r in enumerate([list(header), *[list(r) for r in rows]]):
        cells = [_pad(c, w, j not in left) for j, (c, w) in enumerate(zip(r, widths))]
        lines.append(indent + "  ".join(cells).rstrip())
        if i == 0:
            lines.append(indent + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table (numeric columns right-aligned)."""
    out = ["| " + " | ".join(header) + " |"]
    out.append("|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|")
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)
