"""``(shape, dtype)`` pairs as :func:`convcost.analyze`'s inputs (issue 23): the dtype a name
(``"int64"``) or a ``torch.dtype`` (``torch.int64``), alone or in a list; a dtype convcost
does not read is a one-line SpecError naming the pair's dtype."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from convcost import analyze
from convcost.errors import SpecError
from convcost.ops import TensorMeta


class _Two(nn.Module):
    """A float input through a Linear(4, 3), plus the embeddings of integer ids."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return self.fc(x + self.emb(ids).sum(1))


@pytest.mark.parametrize("inputs", [
    ((2, 4), torch.float32),
    ((2, 4), torch.float),  # torch's alias
    ((2, 4), "float32"),
    [[2, 4], torch.float32],
    [((2, 4), torch.float32)],  # a list of one pair
])
def test_a_pair_is_one_input(inputs: object) -> None:
    r = analyze(nn.Linear(4, 3), inputs, mode="inference")
    assert r.inputs == (("arg0", TensorMeta((2, 4), "float32")),)
    assert r.totals.forward.macs == 2 * 4 * 3  # N × in × out


@pytest.mark.parametrize("inputs", [
    [((2, 4), torch.float32), ((2, 5), torch.int32)],
    (((2, 4), torch.float32), ((2, 5), "int32")),
])
def test_a_list_of_pairs(inputs: object) -> None:
    r = analyze(_Two(), inputs, mode="inference")
    assert r.inputs == (("arg0", TensorMeta((2, 4), "float32")),
                        ("arg1", TensorMeta((2, 5), "int32")))
    assert r.layer("fc").forward.macs == 2 * 4 * 3


def test_a_pairs_dtype_object_is_converted_like_a_name() -> None:
    m = nn.Linear(4, 3)
    r = analyze(m, ((2, 4), torch.bfloat16), dtype="bfloat16", mode="inference")
    assert r.inputs == (("arg0", TensorMeta((2, 4), "bfloat16")),)


@pytest.mark.parametrize("inputs, field, value", [
    (((2, 4), torch.qint8), "inputs.dtype", "torch.qint8"),  # quantized: not in the table
    (((2, 4), torch.uint3), "inputs.dtype", "torch.uint3"),
    ([((2, 4), torch.float32), ((2, 5), torch.quint8)], "inputs[1].dtype", "torch.quint8"),
    (((2, 4), float), "inputs.dtype", "<class 'float'>"),  # a Python type, not a dtype
])
def test_a_bad_dtype_object_is_a_one_line_error(inputs: object, field: str, value: str) -> None:
    with pytest.raises(SpecError) as err:
        analyze(_Two(), inputs)
    assert err.value.field == field
    msg = str(err.value)
    assert msg.startswith(f"{field}: got {value}; ") and "\n" not in msg
    assert "torch.float32" in msg  # says what is accepted


def test_recognising_a_dtype_does_not_import_torch() -> None:
    code = ("import sys\n"
            "from convcost.dtypes import is_torch_dtype\n"
            "from convcost.model.inputs import _is_pair\n"
            "assert not is_torch_dtype('float32') and _is_pair(((2, 4), 'int64'))\n"
            "assert not _is_pair(((2, 4), (2, 5)))  # two shapes are two inputs\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
