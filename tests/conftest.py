"""Shared test options and session-wide analyses.

Running the tests::

    .venv/bin/python -m pytest                                  # everything (as CI runs it)
    .venv/bin/python -m pytest -m "not slow and not browser"    # the fast developer subset
    .venv/bin/python -m pytest -m "not slow and not browser" -x tests/test_cli_model.py

Markers (registered in pyproject.toml): ``slow`` marks tests that take more than about two
seconds (the torchvision sweep, mypy, big ONNX exports, the analyser's memory-growth check in
subprocesses, timm, real-model op coverage); ``browser`` marks the tests that drive headless
Chromium (tests/test_html_report.py); ``sweep`` marks the sweep over every torchvision
classification model (also ``slow``). A plain ``pytest`` runs all of them; the CUDA-path
trace sweep covers one classifier per family unless ``--full-sweep`` is given.

Analyses of real models are the slow part of most tests, so the ones several tests need are
made once per session by the fixtures below and shared: :func:`torchvision_analysis` (the
Python API), :func:`torchvision_ops` (the torchvision-metadata checks) and :func:`cli_once`
(whole CLI runs, by their exact arguments). What they hand out is immutable (frozen result
records, strings); a test that wants to change something must build its own.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import pytest

from shared import R18, CliRun, TorchvisionAnalysis, TorchvisionOps

if TYPE_CHECKING:
    from convcost.model import ModelResult


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/* from the current output instead of comparing",
    )
    parser.addoption(
        "--full-sweep",
        action="store_true",
        default=False,
        help="trace every torchvision classifier on the CUDA path (default: one per family)",
    )


@pytest.fixture
def full_sweep(request: pytest.FixtureRequest) -> bool:
    import os

    return bool(request.config.getoption("--full-sweep")) or \
        os.environ.get("CONVCOST_FULL_SWEEP") == "1"


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


# --------------------------------------------------------------------------- the CLI, once


@pytest.fixture(scope="session")
def cli_once() -> CliRun:
    """``convcost ARGS`` in this process, run once per session for each exact argument list:
    ``(exit code, stdout, stderr)``. Only for runs whose output depends on nothing but
    their arguments (no ``--output``/``--plot`` files, no per-test paths)."""
    from convcost.cli import main

    done: dict[tuple[str, ...], tuple[int, str, str]] = {}

    def run(args: list[str]) -> tuple[int, str, str]:
        key = tuple(args)
        if key not in done:
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(list(args))
                except SystemExit as e:  # argparse errors
                    code = int(e.code or 0)
            done[key] = (code, out.getvalue(), err.getvalue())
        return done[key]

    return run


@pytest.fixture
def r18_json(cli_once: CliRun) -> dict[str, Any]:
    """``convcost model torchvision:resnet18 --input 2x3x64x64 --json``, parsed afresh for
    each test (the run itself happens once)."""
    import json

    code, out, err = cli_once([*R18, "--json"])
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


# --------------------------------------------------------------------------- torchvision


@pytest.fixture(scope="session")
def torchvision_analysis() -> TorchvisionAnalysis:
    """``analyze(torchvision.models.get_model(NAME, weights=None), INPUTS, **OPTIONS)``, once
    per session for each ``(NAME, INPUTS, OPTIONS)``: call it with those arguments (INPUTS as
    given, e.g. ``(2, 3, 64, 64)``; options at their default value count as left out). The
    model is built on the CPU for each new key and not kept."""
    import inspect

    import torchvision

    from convcost import analyze

    defaults = {k: p.default for k, p in inspect.signature(analyze).parameters.items()}
    done: dict[Hashable, ModelResult] = {}

    def get(model_name: str, inputs: Hashable, /, **options: Hashable) -> ModelResult:
        # an option given at its default value is the same analysis as one left out
        given = {k: v for k, v in options.items() if v != defaults.get(k, inspect.Parameter)}
        key = (model_name, inputs, tuple(sorted(given.items())))
        if key not in done:
            model = torchvision.models.get_model(model_name, weights=None)
            done[key] = analyze(model, inputs, **options)  # type: ignore[arg-type]
        return done[key]

    return get


@pytest.fixture(scope="session")
def torchvision_ops() -> TorchvisionOps:
    """For a torchvision classification model NAME: ``(analysis, published GMACs)`` — the
    model (built as its weights' transforms say: crop size, ViT image size) analysed in
    inference mode at batch 1 and that crop, and its weights' ``meta["_ops"]``. Once per
    session for each name (the representative checks and the sweep share them)."""
    import torch
    import torchvision

    from convcost import analyze

    done: dict[str, tuple[ModelResult, float]] = {}

    def get(name: str) -> tuple[ModelResult, float]:
        if name not in done:
            weights = torchvision.models.get_model_weights(name)
            entry = weights.DEFAULT if hasattr(weights, "DEFAULT") else next(iter(weights))
            tf = entry.transforms()
            crop = tf.crop_size[0] if hasattr(tf, "crop_size") else entry.meta["min_size"][0]
            kwargs = {"image_size": crop} if name.startswith("vit_") else {}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # googlenet/inception init warnings
                try:  # building on the meta device is fast; RegNets cannot be built there
                    with torch.device("meta"):
                        model = torchvision.models.get_model(name, weights=None, **kwargs)
                except Exception:
                    model = torchvision.models.get_model(name, weights=None, **kwargs)
            result = analyze(model, (1, 3, crop, crop), mode="inference")
            done[name] = (result, float(entry.meta["_ops"]))
        return done[name]

    return get
