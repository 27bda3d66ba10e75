"""The code stays ruff- and mypy-clean (mypy strict on the package, as pyproject configures)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True)


def test_ruff_clean() -> None:
    r = _run("ruff", "check", "src", "tests", "benchmarks")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.slow
def test_mypy_strict_clean(tmp_path: Path) -> None:
    r = _run("mypy", "--cache-dir", str(tmp_path / "cache"), "src/convcost")
    assert r.returncode == 0, r.stdout + r.stderr
