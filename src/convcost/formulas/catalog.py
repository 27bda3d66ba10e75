"""Load every per-op formula module so that its ``register``/``zero_cost`` calls run."""

from __future__ import annotations

import importlib

_MODULES = (
    "conv_ops", "matmul", "attention", "elementwise", "activation", "reduce", "norm", "pool",
    "resample", "movement", "dropout", "loss", "optim", "rnn", "zero",
)


def load_all() -> None:
    """Import every formula module (idempotent: Python imports each module once)."""
    for name in _MODULES:
        importlib.import_module(f"{__package__}.{name}")
