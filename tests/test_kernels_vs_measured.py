"""``benchmarks/kernels_vs_measured.py`` stays runnable: its row → prediction path on a few
rows written here in the CSV's format (not the copied data, which this test does not need),
its report and JSON, and one prediction against a number derived by hand.

No timing: the "measured" latencies below are round numbers, not measurements.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from convcost.hardware.devices import get_device
from convcost.hardware.estimate import constants

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "kernels_vs_measured.py"

ROWS = """set,op,gpu,shape,latency_ms,kernels,algo,kernel
test,linear,T4,1;1024;768;3072,2.0,1,,volta_sgemm_128x64_tn
train,bmm,A100-PCIE-40GB,192;96;196;196,0.3,1,,ampere_sgemm_128x128_nn
train,conv,V100-PCIE-32GB,16;64;128;3;56;1;1,1.0,2,winograd,volta_sgemm_64x64_nn
test,add,V100-PCIE-32GB,32768;1600,0.8,,,vectorized_elementwise_kernel
test,ln,H100-SXM5-80GB,4096;1024,0.05,,,vectorized_layer_norm_kernel
test,softmax,L4,8192;2048,0.6,,,cunn_SoftMaxForward
train,add,P4,1024;1024,0.05,,,vectorized_elementwise_kernel
"""


@pytest.fixture(scope="module")
def kvm() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kernels_vs_measured", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_rows_predict(kvm: ModuleType) -> None:
    rows = kvm.parse_rows(ROWS.splitlines())
    assert [r.cls for r in rows] == ["linear", "bmm", "conv2d", "elementwise", "layernorm",
                                     "softmax", "elementwise"]
    assert rows[2].shape == (16, 64, 128, 3, 56, 1, 1) and rows[2].kernels == 2
    assert all(r.part in ("tuning", "held-out") for r in rows)
    predictor = kvm.Predictor()
    preds = [predictor.predict(r) for r in rows]
    assert preds[-1] is None  # the P4 has no preset: skipped, not invented
    for p in preds[:-1]:
        assert p is not None
        assert 0 < p.device_s < p.timeline_s < 1
        assert p.device_ops == 1  # the linear's views and transpose do no device work
    scored = [kvm.Scored(r, p) for r, p in zip(rows, preds) if p is not None]
    data = kvm.report(scored, "class")
    assert {t["class"] for t in data["table"]} == set(kvm.CLASSES)
    assert all(t["device"]["rows"] == 1 for t in data["table"])


def test_elementwise_add_by_hand(kvm: ModuleType) -> None:
    """A 32768×1600 fp32 add on the V100 PCIe: three tensors of 4-byte elements streamed at
    the datasheet's 900 GB/s times the estimate's bandwidth efficiency, plus one kernel."""
    (row,) = kvm.parse_rows([*ROWS.splitlines()[:1], ROWS.splitlines()[4]])
    assert row.op == "add" and row.gpu == "V100-PCIE-32GB"
    c = constants(get_device("v100-pcie"))
    nbytes = 3 * 32768 * 1600 * 4
    expected = nbytes / (900e9 * c.bandwidth_efficiency) + c.kernel_s
    pred = kvm.Predictor().predict(row)
    assert pred is not None
    assert pred.device_s == pytest.approx(expected, rel=1e-9)


def test_main_json(kvm: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "rows.csv"
    data.write_text(ROWS, encoding="utf-8")
    assert kvm.main(["--data", str(data), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows_predicted"] == 6 and out["skipped_no_preset"] == {"P4": 1}
    assert kvm.main(["--data", str(data), "--op", "softmax", "--gpu", "l4"]) == 0
    text = capsys.readouterr().out
    assert "softmax" in text and "L4" in text
