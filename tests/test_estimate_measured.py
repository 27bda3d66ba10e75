"""Device constants measured on a device (session 8 of the NeuSight comparison), each
checked against a hand derivation."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from torch import nn

from convcost.formulas.kernels import Reread, softmax_block_threads
from convcost.hardware.devices import PRESETS
from convcost.hardware.estimate import (
    BANDWIDTH_EFFICIENCY,
    constants,
    op_device_time,
    reread_bytes,
)


@pytest.mark.parametrize(("name", "eff"), [("v100-pcie", 0.91), ("t4", 0.75), ("l4", 0.78)])
def test_measured_bandwidth_efficiency(name: str, eff: float) -> None:
    """The measured presets take their own figure, with a source; the rest of their arch
    keeps the default (the L4 does not take the RTX 4090's 921/1008)."""
    d = PRESETS[name]
    c = constants(d)
    assert c.bandwidth_efficiency == eff
    assert c.origin["bandwidth_efficiency"] == "device"
    assert "NeuSight" in d.sources["timing.bandwidth_efficiency"]


def test_unmeasured_presets_keep_the_arch_default() -> None:
    assert constants(PRESETS["v100"]).bandwidth_efficiency == 750 / 900
    assert constants(PRESETS["rtx4090"]).bandwidth_efficiency == 921 / 1008
    assert constants(PRESETS["rtx2080ti"]).bandwidth_efficiency == BANDWIDTH_EFFICIENCY["turing"]


def _op(module: Any, shape: tuple[int, ...], device: str) -> Any:
    from convcost import analyze
    from convcost.hardware.dispatch import dispatch_options

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = analyze(module, inputs=[(shape, "float32")], mode="inference",
                    **dispatch_options(PRESETS[device], "cuda"))
    (op,) = [o for o in r.ops if o.launch.reread is not None]
    return op


def test_layer_norm_reads_its_input_twice_on_a_small_l2() -> None:
    """(8192, 4096) fp32 on the V100 PCIe: one 128-thread block per row, 2,048 / 128 = 16
    resident per SM × 80 SMs = 1,280 rows in flight × 4,096 × (4 read + 4 written) bytes =
    41,943,040 B > 6 MiB of L2: the second read of X, 8192 × 4096 × 4 = 134,217,728 B, comes
    from DRAM."""
    op = _op(nn.LayerNorm(4096, device="meta"), (8192, 4096), "v100-pcie")
    d = PRESETS["v100-pcie"]
    assert op.launch.reread == Reread(134_217_728, 8192, 32_768, 128)
    assert reread_bytes(op.launch.reread, d) == 134_217_728
    c = constants(d)
    want = c.kernel_s + (op.read + op.written + 134_217_728) / (900e9 * 0.91)
    assert op_device_time(op, d, c, False) == pytest.approx(want, rel=1e-12)


def test_layer_norm_second_read_hits_a_large_l2() -> None:
    """(32768, 1024) fp32 on the A100 40 GB: 108 SMs × 16 = 1,728 rows × 8,192 B =
    14,155,776 B ≤ 40 MiB: served by the L2, no DRAM bytes; on the V100 PCIe 1,280 × 8,192 =
    10,485,760 B > 6 MiB: 32768 × 1024 × 4 = 134,217,728 B again."""
    a100 = _op(nn.LayerNorm(1024, device="meta"), (32768, 1024), "a100-40gb")
    assert reread_bytes(a100.launch.reread, PRESETS["a100-40gb"]) == 0
    v100 = _op(nn.LayerNorm(1024, device="meta"), (32768, 1024), "v100-pcie")
    assert reread_bytes(v100.launch.reread, PRESETS["v100-pcie"]) == 134_217_728


def test_softmax_over_more_than_1024_columns_reads_three_times() -> None:
    """cunn_SoftMaxForward, fp32: ILP 4, SoftMax_getBlockSize(4, 4096) = min(1024, 1024)
    / 2 = 512 threads. T4: 1,024 / 512 = 2 blocks × 40 SMs = 80 rows × 4,096 × 8 B =
    2,621,440 B ≤ 4 MiB: both rereads hit. At 8,192 columns (still 512 threads) 80 × 65,536
    = 5,242,880 B > 4 MiB: two more reads of 2048 × 8192 × 4 B = 2 × 67,108,864 B. Up to
    1,024 columns softmax_warp_forward reads once (no reread)."""
    t4 = PRESETS["t4"]
    op = _op(nn.Softmax(dim=1), (4096, 4096), "t4")
    assert op.launch.reread == Reread(2 * 67_108_864, 4096, 32_768, 512)
    assert reread_bytes(op.launch.reread, t4) == 0
    op = _op(nn.Softmax(dim=1), (2048, 8192), "t4")
    assert op.launch.reread == Reread(2 * 67_108_864, 2048, 65_536, 512)
    assert reread_bytes(op.launch.reread, t4) == 134_217_728
    assert softmax_block_threads(2048, 4) == 256  # 512 / 2
    assert softmax_block_threads(1025, 4) == 128  # 256 / 2 = 128


def test_one_pass_softmax_and_cpu_reread_nothing() -> None:
    from convcost import analyze

    r = analyze(nn.Softmax(dim=1), inputs=[((64, 1024), "float32")], mode="inference")
    assert all(o.launch.reread is None for o in r.ops)
    op = _op(nn.LayerNorm(4096, device="meta"), (8192, 4096), "v100-pcie")
    assert reread_bytes(op.launch.reread, PRESETS["cpu"]) == 0


def test_ga10x_holds_fewer_resident_threads_than_the_a100() -> None:
    """(8192, 768) fp32 on the RTX 3090 (compute capability 8.6: 1,536 resident threads per
    SM, CUDA Programming Guide): 1,536 / 128 = 12 blocks × 82 SMs = 984 rows × 768 × 8 B =
    6,045,696 B ≤ 6 MiB of L2: the second read hits. With the A100's 2,048 threads it would
    be 16 × 82 = 1,312 rows × 6,144 B = 8,060,928 B > 6 MiB."""
    op = _op(nn.LayerNorm(768, device="meta"), (8192, 768), "rtx3090")
    d = PRESETS["rtx3090"]
    assert (d.sms, d.l2_bytes) == (82, 6 * 2**20)
    assert op.launch.reread == Reread(8192 * 768 * 4, 8192, 768 * 8, 128)
    assert reread_bytes(op.launch.reread, d) == 0
