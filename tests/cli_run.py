"""Run the CLI in-process for tests: exit code, stdout, stderr."""

from __future__ import annotations

import pytest

from convcost.cli import main


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``convcost ARGS`` in this process; argparse exits become exit codes."""
    try:
        code = main(args)
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
