"""Small models for the CLI tests, loaded as ``cli_models:FACTORY`` targets."""

from __future__ import annotations

import torch
from torch import nn


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.embed = nn.Embedding(10, 4)

    def forward(self, x: torch.Tensor, ids: torch.Tensor, scale: torch.Tensor | None = None
                ) -> torch.Tensor:
        y = self.conv(x).mean(dim=(2, 3)) + self.embed(ids).mean(dim=1)
        return y if scale is None else y * scale


class Unsupported(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # torch.linalg.qr has no convcost formula: it must be reported, not counted as zero
        q, _ = torch.linalg.qr(self.lin(x))
        return q


def two_inputs() -> nn.Module:
    return TwoInputs()


def unsupported() -> nn.Module:
    return Unsupported()


def broken() -> nn.Module:
    raise RuntimeError("factory exploded")


def not_a_module() -> object:
    return 42


def linear() -> nn.Module:
    """A 16 -> 8 linear layer (weight and bias: two parameters)."""
    return nn.Linear(16, 8)
