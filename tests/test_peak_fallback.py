"""A device with no peak for the compute dtype: the roofline uses its fp32 peak and every
report says so (``hardware.peak_dtype``/``peak_note`` in JSON, a note line in text,
Markdown, HTML and notebooks, ``peak_dtype``/``peak_note`` columns in CSV, the chart's peak
label); per-op rows carry the peak dtype each op used.

The preset numbers are the spec sheet's, written here as literals: T4 8.1 TFLOP/s fp32,
65 TFLOP/s fp16, no bf16 and no TF32; A100 312 TFLOP/s bf16, 19.5 fp32, 156 TF32.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from torch import nn

from cli_run import run
from convcost import analyze, render
from convcost.hardware.answer import Hardware, answer
from convcost.hardware.devices import PRESETS, PeakChoice
from convcost.hardware.step import step_time
from convcost.model import ModelResult
from convcost.view.model import op_rows

NOTE = "t4 has no bfloat16 peak: the float32 peak is used"
T4_FP32 = 8.1e12
A100_BF16 = 312e12


def small_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8 * 8 * 8, 10))


SMALL = ["model", "test_peak_fallback:small_cnn", "--input", "2x3x8x8"]


@pytest.fixture(scope="module")
def bf16() -> ModelResult:
    return analyze(small_cnn(), (2, 3, 8, 8), amp="bf16")


# --------------------------------------------------------------------------- the choice


@pytest.mark.parametrize(("device", "dtype", "tf32", "expected"), [
    ("t4", "bfloat16", False, PeakChoice(T4_FP32, "fp32", "float32", NOTE)),
    ("t4", "float16", False, PeakChoice(65e12, "fp16", "float16", None)),
    ("t4", "float32", False, PeakChoice(T4_FP32, "fp32", "float32", None)),
    ("t4", "float32", True,
     PeakChoice(T4_FP32, "fp32", "float32", "t4 has no tf32 peak: the float32 peak is used")),
    ("t4", "int64", False,
     PeakChoice(T4_FP32, "fp32", "float32", "t4 has no int64 peak: the float32 peak is used")),
    ("a100-80gb", "bfloat16", False, PeakChoice(A100_BF16, "bf16", "bfloat16", None)),
    ("a100-80gb", "float32", True, PeakChoice(156e12, "tf32", "tf32", None)),
    ("v100", "bfloat16", False,
     PeakChoice(15.7e12, "fp32", "float32", "v100 has no bfloat16 peak: the float32 peak is used")),
])
def test_peak_choice(device: str, dtype: str, tf32: bool, expected: PeakChoice) -> None:
    got = PRESETS[device].peak_choice(dtype, tf32)
    assert got == PeakChoice(pytest.approx(expected.flops), expected.key, expected.dtype,
                             expected.note)
    # the older two-value lookup is the same rule
    assert PRESETS[device].peak_for(dtype, tf32) == (got.flops, got.key)


# --------------------------------------------------------------------------- the step


def test_step_names_the_fallback(bf16: ModelResult) -> None:
    st = step_time(bf16, PRESETS["t4"])
    assert st.dtype == "bfloat16"
    assert st.peak == pytest.approx(T4_FP32)
    assert (st.peak_dtype, st.peak_note) == ("float32", NOTE)
    d = st.to_dict()
    assert (d["dtype"], d["peak_dtype"], d["peak_note"]) == ("bfloat16", "float32", NOTE)
    assert d["peak_flops"] == pytest.approx(T4_FP32)


def test_no_note_when_the_device_has_the_peak(bf16: ModelResult) -> None:
    st = step_time(bf16, PRESETS["a100-80gb"])
    assert st.peak == pytest.approx(A100_BF16)
    assert (st.peak_dtype, st.peak_note) == ("bfloat16", None)
    assert step_time(bf16, PRESETS["t4"], tf32=True).peak_note == NOTE  # tf32: fp32 work only


def test_op_rows_use_the_same_rule(bf16: ModelResult) -> None:
    hw = answer(bf16, PRESETS["t4"])
    rows = op_rows(bf16, hw)
    conv = next(r for r in rows if r["op"].startswith("convolution") and r["phase"] == "forward")
    assert conv["dtype"] == "bfloat16" and conv["peak_dtype"] == "float32"
    # its time at the fp32 peak, worked out here: max(FLOPs / peak, bytes / bandwidth)
    bw = PRESETS["t4"].bandwidth
    expected = max(conv["flops"] / T4_FP32, (conv["bytes_read"] + conv["bytes_written"]) / bw)
    assert conv["time_s"] == pytest.approx(expected)
    rows_a100 = op_rows(bf16, answer(bf16, PRESETS["a100-80gb"]))
    by_dtype = {(r["dtype"], r["peak_dtype"]) for r in rows_a100}
    assert ("bfloat16", "bfloat16") in by_dtype and ("float32", "float32") in by_dtype
    assert all(r["peak_dtype"] == "float32" for r in rows if r["dtype"] == "bfloat16")
    assert "peak_dtype" not in op_rows(bf16)[0]  # no device, no roofline


# --------------------------------------------------------------------------- every format


def _render(r: ModelResult, fmt: str, hw: Hardware, **options: Any) -> str:
    return render(r, fmt, hardware=hw, **options)


def test_json(bf16: ModelResult) -> None:
    d = json.loads(_render(bf16, "json", answer(bf16, PRESETS["t4"]), ops=True))
    assert (d["hardware"]["peak_dtype"], d["hardware"]["peak_note"]) == ("float32", NOTE)
    assert {o["peak_dtype"] for o in d["ops"] if o["dtype"] == "bfloat16"} == {"float32"}
    d = json.loads(_render(bf16, "json", answer(bf16, PRESETS["a100-80gb"])))
    assert (d["hardware"]["peak_dtype"], d["hardware"]["peak_note"]) == ("bfloat16", None)


@pytest.mark.parametrize("fmt", ["table", "markdown", "notebook"])
def test_note_line(bf16: ModelResult, fmt: str) -> None:
    out = _render(bf16, fmt, answer(bf16, PRESETS["t4"]))
    assert NOTE in out
    assert "8.10 TFLOP/s float32" in out and "TFLOP/s bfloat16" not in out
    out = _render(bf16, fmt, answer(bf16, PRESETS["a100-80gb"]))
    assert "peak is used" not in out and "312.00 TFLOP/s bfloat16" in out


def test_html(bf16: ModelResult) -> None:
    out = _render(bf16, "html", answer(bf16, PRESETS["t4"]))
    assert NOTE in out
    assert "peak is used" not in _render(bf16, "html", answer(bf16, PRESETS["a100-80gb"]))


def test_csv(bf16: ModelResult) -> None:
    rows = list(csv.DictReader(io.StringIO(_render(bf16, "csv", answer(bf16, PRESETS["t4"])))))
    assert rows and all(r["peak_dtype"] == "float32" and r["peak_note"] == NOTE for r in rows)
    rows = list(csv.DictReader(io.StringIO(
        _render(bf16, "csv", answer(bf16, PRESETS["a100-80gb"])))))
    assert all(r["peak_dtype"] == "bfloat16" and r["peak_note"] == "" for r in rows)
    header = render(bf16, "csv").splitlines()[0].split(",")
    assert "peak_dtype" not in header and "peak_note" not in header  # no device


def test_roofline_chart_labels_the_peak_used(bf16: ModelResult) -> None:
    out = _render(bf16, "svg", answer(bf16, PRESETS["t4"]), chart="roofline")
    assert "peak 8.10 TFLOP/s (float32)" in out and "peak 8.10 TFLOP/s float32," in out


def test_cli(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([*SMALL, "--amp", "bf16", "--device", "t4", "--json"], capsys)
    assert code == 0, err
    hw = json.loads(out)["hardware"]
    assert (hw["dtype"], hw["peak_dtype"], hw["peak_note"]) == ("bfloat16", "float32", NOTE)
    code, out, err = run([*SMALL, "--amp", "bf16", "--device", "t4"], capsys)
    assert code == 0, err
    assert f"\nnote      {NOTE}\n" in out
    assert "t4 (NVIDIA T4 16 GB): 8.10 TFLOP/s float32," in out
    code, out, err = run([*SMALL, "--amp", "fp16", "--device", "t4"], capsys)
    assert code == 0 and "peak is used" not in out and "65.00 TFLOP/s float16" in out
