"""What the session fixtures of conftest.py share with the tests: the usual CLI model
arguments and the fixtures' types (for annotations)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from convcost.model import ModelResult

#: ``convcost model`` on torchvision's resnet18 at batch 2, 64×64: the CLI tests' usual model.
R18 = ["model", "torchvision:resnet18", "--input", "2x3x64x64"]

#: :func:`conftest.cli_once`: ``ARGS -> (exit code, stdout, stderr)``, once per ARGS.
CliRun = Callable[[list[str]], tuple[int, str, str]]
#: :func:`conftest.torchvision_analysis`: ``(NAME, INPUTS, **OPTIONS) -> ModelResult``.
TorchvisionAnalysis = Callable[..., "ModelResult"]
#: :func:`conftest.torchvision_ops`: ``NAME -> (ModelResult, published GMACs)``.
TorchvisionOps = Callable[[str], tuple["ModelResult", float]]
