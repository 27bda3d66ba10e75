"""The ``csv`` format: exact numbers for spreadsheets and scripts (``117211136``, never
``117.21 M``); one row per module of a model (to ``depth``; with a device also its predicted
seconds and bytes moved per pass), per setting of a sweep, per metric of a comparison.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from ..view import model as model_view
from ..view import study as study_view
from ..view.cells import Table
from .cells import cells, plain


def write(t: Table) -> str:
    """The header and rows of ``t`` as CSV, cells written exactly (:func:`.cells.plain`)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(t.header)
    w.writerows(cells(t, plain))
    return buf.getvalue()


def render(subject: str, result: Any, **options: Any) -> str:
    """The ``csv`` format of ``result`` (a model's ``depth`` defaults to every level)."""
    if subject == "model":
        return write(model_view.layer_table(
            result, options.get("hardware"), options.get("depth"), human=False,
            keys=model_view.CSV_COLUMNS, time_keys=model_view.CSV_TIME_COLUMNS))
    if subject == "sweep":
        return write(study_view.sweep_table(result, human=False))
    return write(study_view.compare_table(result, human=False))
