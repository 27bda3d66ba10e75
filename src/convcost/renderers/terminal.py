"""The ``rich`` format: the text layout (:mod:`.text`) with rich's aligned, coloured tables,
for a terminal (the CLI uses it only when standard output is a TTY).

Piped or redirected output keeps the plain :func:`~convcost.renderers.text.text_table`, so
files and golden tests never contain colour codes. ``NO_COLOR`` is honoured.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Sequence
from typing import Any

from .text import layout

_STYLES = {"compute": "green", "memory": "yellow"}


def rich_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    indent: str = "",
    left: Sequence[int] = (0,),
) -> str:
    """``header`` and ``rows`` as a rich table rendered to a string with colour codes."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    t = Table(show_edge=False, header_style="bold cyan", pad_edge=False, box=None, padding=(0, 1))
    for j, h in enumerate(header):
        t.add_column(
            h,
            justify="left" if j in left else "right",
            no_wrap=True,
            style="bold" if j == 0 else None,
        )
    for r in rows:
        t.add_row(*[Text(c, style=_STYLES.get(c, "")) for c in r])
    buf = io.StringIO()
    width = max(shutil.get_terminal_size((160, 40)).columns, 80)
    Console(file=buf, force_terminal=True, width=width).print(t)
    text = buf.getvalue().rstrip("\n")
    return "\n".join(indent + line for line in text.splitlines())


def render(subject: str, result: Any, **options: Any) -> str:
    """The ``rich`` format of ``result``."""
    return layout(subject, result, rich_table, **options)
