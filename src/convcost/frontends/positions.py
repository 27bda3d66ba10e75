"""Hard position limits of language models: a table of learned absolute position embeddings
(GPT-2's ``wpe``, OPT's and BART's ``embed_positions``, BERT-likes' ``position_embeddings``)
has one row per position, and a sequence longer than it is an ``IndexError`` in a real run.
Fake tensors do not check indices, so the trace would count such a sequence without
complaint: the callers (``analyze_generation``; ``convcost model`` for the token inputs
of a forward) refuse it before tracing. Rotary (RoPE), ALiBi and sinusoidal models compute
their positions and have no such limit (:func:`position_limit` is ``None``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import SpecError

__all__ = ["check_token_inputs", "position_limit"]

#: Names (last path component) of learned absolute position-embedding tables.
TABLES = ("wpe", "embed_positions", "position_embeddings")

#: Config fields that may hold the limit, in the order they are named.
FIELDS = ("n_positions", "max_position_embeddings", "max_positions", "n_ctx")

#: dtypes of token-id inputs.
TOKEN_DTYPES = ("int64", "int32", "long", "int")


def position_limit(model: Any) -> tuple[str, int] | None:
    """The most positions ``model`` can embed, with the config field that sets it:
    ``("n_positions", 1024)`` for GPT-2; ``None`` when it has no hard limit. An
    ``nn.Embedding`` named as in :data:`TABLES` is a limit (less OPT's ``offset`` of 2)."""
    import torch

    rows = None
    for path, module in model.named_modules():
        if isinstance(module, torch.nn.Embedding) and path.rsplit(".", 1)[-1] in TABLES:
            n = int(module.num_embeddings) - int(getattr(module, "offset", 0))
            rows = n if rows is None else min(rows, n)
    if rows is None:
        return None
    config = getattr(model, "config", None)
    own = config.to_dict() if config is not None and hasattr(config, "to_dict") else {}
    for key in FIELDS:
        if own.get(key) == rows:
            return key, rows
    return "rows of the position embeddings", rows


def check_token_inputs(model: Any, field: str, positional: Sequence[str],
                       keyword: Mapping[str, str]) -> None:
    """Refuse token-id inputs (integer ``B×S`` shapes written as on the command line: the
    positional ones and ``input_ids``) longer than ``model``'s position limit: a
    SpecError naming ``field``."""
    from ..spec import parse_shape

    limit = position_limit(model)
    if limit is None:
        return
    key, rows = limit
    texts = [*positional, *(v for k, v in keyword.items() if k == "input_ids")]
    for text in texts:
        dims, dtype = parse_shape(field, text)
        if dtype in TOKEN_DTYPES and len(dims) == 2 and dims[1] > rows:
            raise SpecError(field, text, f"a sequence of {dims[1]} tokens, but the model "
                            f"embeds at most {rows} positions ({key} = {rows}); a longer "
                            "one is an index error in a real run")


def check_token_specs(model: Any, field: str, specs: Sequence[Any],
                      keyword: Mapping[str, Any]) -> None:
    """:func:`check_token_inputs` for inputs given as objects with ``shape`` and ``dtype``
    (``InputSpec``, tensors): the positional ones and ``input_ids`` (the Python API's
    check; a SpecError naming ``field``)."""
    limit = position_limit(model)
    if limit is None:
        return
    key, rows = limit
    for spec in [*specs, *(v for k, v in keyword.items() if k == "input_ids")]:
        shape = tuple(getattr(spec, "shape", ()) or ())
        dtype = str(getattr(spec, "dtype", "")).removeprefix("torch.")
        if dtype in TOKEN_DTYPES and len(shape) == 2 and int(shape[1]) > rows:
            raise SpecError(field, "x".join(map(str, shape)) + f":{dtype}",
                            f"a sequence of {shape[1]} tokens, but the model embeds at most "
                            f"{rows} positions ({key} = {rows}); a longer one is an index "
                            "error in a real run")

