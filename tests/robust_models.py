"""Tiny models for the robustness and fuzz tests of the CLI, loaded as ``robust_models:NAME``
targets (``package.module:factory``, or an ``nn.Module`` instance)."""

from __future__ import annotations

import sys

import torch
from torch import nn


class Tiny(nn.Module):
    """A 1×2×4×4 (or any N×2×H×W) input through a conv, a ReLU and a linear layer: a few
    hundred FLOPs, analysed in well under a second."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.act = nn.ReLU()
        self.head = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.act(self.conv(x)).mean(dim=(2, 3)))


class Noisy(Tiny):
    """Tiny, printing while it is built and while its forward runs."""

    def __init__(self) -> None:
        print("noisy: building")
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        print("noisy: forward")
        return super().forward(x)


class KeywordOnly(nn.Module):
    """Inputs only by keyword: ``forward(*, x, y)``."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(8, 4)
        self.b = nn.Linear(6, 4)

    def forward(self, *, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.a(x) + self.b(y)


class ExitsInForward(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sys.exit(3)


class RaisesInForward(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise ValueError("forward exploded")


def tiny() -> nn.Module:
    return Tiny()


def noisy() -> nn.Module:
    return Noisy()


def keyword_only() -> nn.Module:
    return KeywordOnly()


def exits_in_forward() -> nn.Module:
    return ExitsInForward()


def raises_in_forward() -> nn.Module:
    return RaisesInForward()


def exits_in_factory() -> nn.Module:
    sys.exit(4)


#: An ``nn.Module`` instance as a target (``robust_models:TINY``): used as it is.
TINY = Tiny()


class IntOutput(nn.Module):
    """A linear layer whose output is its argmax (int64): nothing to differentiate."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x).argmax(-1)


class NoneOutput(IntOutput):
    """Runs its layer and returns None."""

    def forward(self, x: torch.Tensor) -> None:  # type: ignore[override]
        self.fc(x)


def int_output() -> nn.Module:
    return IntOutput()


def none_output() -> nn.Module:
    return NoneOutput()


def fixed_size() -> nn.Module:
    """A convolution, flattened into a linear layer sized for 4×4 inputs: any other
    resolution fails in the linear layer, as it does for real."""
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Flatten(), nn.Linear(3 * 4 * 4, 2))


class LongError(nn.Module):
    """Raises an error whose message is 12,000 characters (as some config errors are)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise ValueError("bad config: " + "x" * 12_000 + " (the end)")


def long_error() -> nn.Module:
    return LongError()
