"""The execution-time estimate (issue 11): each part on hand-computed cases, the estimate
never below the roofline, monotone in batch, its JSON, and its device constants.

Every expected number here is derived by hand from the model's definition (the module doc
of :mod:`convcost.hardware.estimate`) and the constants the device resolves to.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

import convcost.hardware
from cli_run import run
from convcost import analyze
from convcost.formulas.kernels import Gemm, launch
from convcost.hardware.devices import PRESETS, DeviceSpec, device_to_toml, load_devices
from convcost.hardware.estimate import (
    CLASS_DEFAULTS,
    TILES,
    constants,
    converts_layout,
    estimate,
    gemm_time,
    play,
)
from convcost.hardware.step import step_time
from convcost.ops import OpCall, TensorMeta

#: A toy GPU: 4 SMs, 100 TFLOP/s fp16, 10 TFLOP/s fp32, 1 TB/s; round constants of its own.
TOY = DeviceSpec("toy", "toy GPU", {"fp32": 1e13, "fp16": 1e14}, 1e12, 10**10, sms=4,
                 arch="ampere",
                 timing={"bandwidth_efficiency": 0.5, "kernel_us": 2.0, "host_us.library": 20.0,
                         "host_us.blas": 20.0, "host_us.kernel": 10.0, "host_us.none": 1.0,
                         "host_us.module": 0.0, "gemm_efficiency.fp16": 1.0,
                         "gemm_efficiency.fp32": 1.0,
                         "conv_efficiency.fp16": 1.0, "conv_efficiency.fp32": 1.0})


# --------------------------------------------------------------------------- GEMM waves


def test_gemm_one_full_wave_runs_at_the_achievable_rate() -> None:
    # 256×256 output = four 128×128 tiles on 4 SMs: one wave, nothing wasted; K = 64 leaves
    # no room for split-K (64 per split at least)
    t = gemm_time(Gemm(256, 256, 64), peak=1e14, efficiency=1.0, sms=4, bandwidth=1e12)
    assert t == pytest.approx(2 * 256 * 256 * 64 / 1e14, rel=1e-12)


def test_gemm_spilling_by_one_tile_row_takes_two_waves() -> None:
    # 384×256 = six 128×128 tiles on 4 SMs: two waves, though the work grew by half. The
    # other tiles are no better (256×128: one wave of double-size tiles; 128×64 at 2/3 of
    # the rate: 3 waves of 0.75; 64×64 at half the rate: 6 waves of 0.5), so 2 × one wave.
    one = gemm_time(Gemm(256, 256, 64), 1e14, 1.0, 4, 1e12)
    spill = gemm_time(Gemm(384, 256, 64), 1e14, 1.0, 4, 1e12)
    assert spill == pytest.approx(2 * one, rel=1e-12)
    assert spill > 1.5 * one  # wave quantization: more than the work grew


def test_gemm_without_sm_count_is_flops_at_the_achievable_rate() -> None:
    assert gemm_time(Gemm(384, 256, 64), 1e14, 0.5, 0, 1e12) == pytest.approx(
        2 * 384 * 256 * 64 / 5e13)


def test_gemm_alignment_pads_n_and_k_for_tensor_cores() -> None:
    # N = 3, K = 3 padded to 8 each for fp16; no SM count: padded FLOPs at the rate
    assert gemm_time(Gemm(8, 3, 3), 1e14, 1.0, 0, 1e12, align=8) == pytest.approx(
        2 * 8 * 8 * 8 / 1e14)


def test_gemm_split_k_fills_the_sms_when_tiles_are_few() -> None:
    # one 128×128 tile, K = 4096, 4 SMs: split-K 4 runs 4 tiles of K = 1024 in one wave,
    # plus writing and reading back 4 fp32 partial sums
    t = gemm_time(Gemm(128, 128, 4096), 1e14, 1.0, 4, 1e12)
    expected = 2 * 128 * 128 * 1024 / (1e14 / 4) + 2 * 4 * 128 * 128 * 4 / 1e12
    assert t == pytest.approx(expected, rel=1e-12)
    assert t < 2 * 128 * 128 * 4096 / (1e14 / 4)  # better than one SM doing it all


def test_tiles_rate_by_operand_reuse() -> None:
    from convcost.hardware.estimate import TILE_RATE

    assert TILE_RATE[(128, 128)] == 1.0
    assert TILE_RATE[(64, 64)] == pytest.approx(0.5)
    assert TILE_RATE[(128, 64)] == pytest.approx(2 / 3)
    assert all(0 < TILE_RATE[t] <= 1 for t in TILES)


# --------------------------------------------------------------------------- launch queue


def test_play_host_bound_and_device_bound() -> None:
    # host 10 each, device 1 each: the GPU waits for every op: the step is the host's 30
    # plus the last op's device 1
    shares = play([(10.0, 1.0)] * 3)
    assert sum(shares) == pytest.approx(31.0)
    # host 1 each, device 10 each: the GPU is always busy after the first issue
    shares = play([(1.0, 10.0)] * 3)
    assert sum(shares) == pytest.approx(31.0)
    assert shares == pytest.approx([11.0, 10.0, 10.0])
    # an op with no device work still idles the GPU while the host issues it
    assert play([(5.0, 0.0)]) == [5.0]


def test_a_tiny_op_is_host_bound() -> None:
    r = analyze(nn.ReLU(), (1, 8), mode="inference")
    e = estimate(r, TOY)
    (op,) = r.ops
    assert op.read == op.written == 32
    host = 10e-6  # host_us.kernel
    device = 2e-6 + 64 / (1e12 * 0.5)  # one kernel + its bytes at half the bandwidth
    assert e.host_s == pytest.approx(host)
    assert e.device_s == pytest.approx(device)
    assert e.step_s == pytest.approx(host + device)
    assert e.host_bound


def test_a_large_elementwise_op_is_bandwidth_bound() -> None:
    n = 1 << 20
    r = analyze(nn.ReLU(), (n,), mode="inference")
    e = estimate(r, TOY)
    device = 2e-6 + 2 * 4 * n / (1e12 * 0.5)
    assert e.device_s == pytest.approx(device)
    assert e.step_s == pytest.approx(10e-6 + device)
    assert not e.host_bound


def test_an_op_without_a_kernel_costs_only_host_time() -> None:
    class View(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.view(-1)

    r = analyze(View(), (4, 4), mode="inference")
    e = estimate(r, TOY)
    assert e.device_s == 0
    assert e.host_s == pytest.approx(1e-6 * len(r.ops))


def test_linear_layer_hand_computed() -> None:
    # addmm of a 256×512 by 512×256 in fp32 on 4 SMs: 4 tiles of 128×128, one wave, K = 512
    # allows split-K but 4 tiles already fill the SMs; then host 20 µs (library)
    r = analyze(nn.Linear(512, 256), (256, 512), mode="inference")
    (op,) = [o for o in r.ops if o.launch.kind == "library"]
    assert op.launch.gemms == (Gemm(256, 256, 512),)
    e = estimate(r, TOY)
    gemm = 2 * 256 * 256 * 512 / 1e13
    stream = (op.read + op.written) / (1e12 * 0.5)
    assert e.device_s == pytest.approx(2e-6 + max(gemm, stream))
    views = [o for o in r.ops if o.launch.kind != "library"]
    assert [o.name for o in views] == ["t.default"]  # the weight's transpose: no kernel
    assert e.host_s == pytest.approx(20e-6 + 1e-6)


# --------------------------------------------------------------------------- op launches


def test_conv_launch_is_an_implicit_gemm() -> None:
    x = TensorMeta((8, 64, 56, 56), "float32")
    w = TensorMeta((128, 32, 3, 3), "float32")  # groups 2
    out = TensorMeta((8, 128, 28, 28), "float32")
    call = OpCall("convolution.default", (x, w, None, (2, 2), (1, 1), (1, 1), False, (0, 0), 2),
                  outputs=(out,), names=("input", "weight", "bias", "stride", "padding",
                                         "dilation", "transposed", "output_padding", "groups"))
    lc = launch(call)
    assert lc.kind == "library"
    assert lc.gemms == (Gemm(8 * 28 * 28, 64, 32 * 9, 2, True, False),)


def test_conv_backward_launch_is_data_and_weight_gradients() -> None:
    go = TensorMeta((8, 128, 28, 28), "float32")
    x = TensorMeta((8, 64, 56, 56), "float32")
    w = TensorMeta((128, 64, 3, 3), "float32")
    call = OpCall("convolution_backward.default",
                  (go, x, w, [128], (2, 2), (1, 1), (1, 1), False, (0, 0), 1,
                   (True, True, True)),
                  outputs=(x, w, TensorMeta((128,), "float32")),
                  names=("grad_output", "input", "weight", "bias_sizes", "stride", "padding",
                         "dilation", "transposed", "output_padding", "groups", "output_mask"))
    lc = launch(call)
    macs = 8 * 28 * 28 * 128 * 64 * 9
    dgrad, wgrad = lc.gemms
    assert (dgrad.m, dgrad.n) == (8 * 56 * 56, 64)
    assert dgrad.m * dgrad.n * dgrad.k == macs  # every MAC of the forward, once
    assert (wgrad.m, wgrad.n, wgrad.k) == (128, 64 * 9, 8 * 28 * 28)
    assert wgrad.wgrad and not dgrad.wgrad
    assert lc.kernels == 3  # data gradient, weight gradient, bias-gradient reduction


def test_depthwise_conv_is_marked_and_can_run_as_a_direct_kernel() -> None:
    r = analyze(nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False), (8, 32, 56, 56),
                mode="inference")
    (op,) = [o for o in r.ops if o.launch.kind == "library"]
    assert op.launch.gemms[0].depthwise
    c = constants(TOY)
    e = estimate(r, TOY)
    stream = (op.read + op.written) / (1e12 * 0.5)
    direct = max(op.launch.gemms[0].flops / 1e13, stream / c.depthwise_efficiency)
    assert e.device_s <= 2e-6 + direct + 1e-15


def test_training_batch_norm_reads_its_input_twice() -> None:
    r = analyze(nn.BatchNorm2d(16), (4, 16, 8, 8), mode="train")
    fw = [o for o in r.ops if o.name.startswith("native_batch_norm.")]
    bw = [o for o in r.ops if o.name.startswith("native_batch_norm_backward")]
    nbytes = 4 * 16 * 8 * 8 * 4
    assert fw[0].launch.extra_read == nbytes
    assert bw[0].launch.extra_read == 2 * nbytes  # input and output gradient again
    ri = analyze(nn.BatchNorm2d(16).eval(), (4, 16, 8, 8), mode="inference")
    assert all(o.launch.extra_read == 0 for o in ri.ops)


def test_matmul_family_launches() -> None:
    class Bmm(nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return torch.bmm(a, b)

    r = analyze(Bmm(), [(3, 16, 32), (3, 32, 8)], mode="inference")
    (op,) = [o for o in r.ops if o.launch.kind == "library"]
    assert op.launch.gemms == (Gemm(16, 8, 32, 3),)


# --------------------------------------------------------------------------- whole models


@pytest.fixture(scope="module")
def resnet_batches() -> dict[int, object]:
    import torchvision

    m = torchvision.models.resnet18()
    return {b: analyze(m, (b, 3, 64, 64), mode="train", optimizer="momentum")
            for b in (1, 8, 64, 256)}


@pytest.mark.parametrize("device", ["v100", "a100-80gb", "h100-sxm", "t4", "mi300x", "l4"])
def test_estimate_never_below_the_roofline(resnet_batches: dict[int, object],
                                           device: str) -> None:
    for r in resnet_batches.values():
        for tf32 in (False, True):
            st = step_time(r, PRESETS[device], tf32)  # type: ignore[arg-type]
            assert st.estimate is not None
            assert st.estimate.step_s >= st.step_s
            assert st.estimate.forward_s + st.estimate.backward_s >= (
                st.forward_s + st.backward_s) * (1 - 1e-12)
            opt_dev = opt_roof = 0.0
            for (o, rf), t in zip(st.ops, st.estimate.ops):
                if o.phase == "optimizer":  # foreach: one op of a group carries its time
                    opt_dev += t.device_s
                    opt_roof += rf.time
                    continue
                assert t.device_s >= rf.time * (1 - 1e-12) or t.device_s == 0 == rf.time, o
            assert opt_dev >= opt_roof


@pytest.mark.parametrize("device", ["v100", "a100-80gb", "t4"])
def test_estimate_is_monotone_in_batch(resnet_batches: dict[int, object], device: str) -> None:
    steps = [estimate(r, PRESETS[device]).step_s  # type: ignore[arg-type]
             for _, r in sorted(resnet_batches.items())]
    assert steps == sorted(steps)
    assert steps[-1] > steps[0]


def test_foreach_optimizer_issues_fewer_ops(resnet_batches: dict[int, object]) -> None:
    r = resnet_batches[8]
    fe = estimate(r, PRESETS["a100-80gb"], foreach=True)  # type: ignore[arg-type]
    pp = estimate(r, PRESETS["a100-80gb"], foreach=False)  # type: ignore[arg-type]
    n_opt = sum(1 for o in r.ops if o.phase == "optimizer")  # type: ignore[attr-defined]
    c = constants(PRESETS["a100-80gb"])
    opt_host = [t.host_s for o, t in zip(r.ops, fe.ops)  # type: ignore[attr-defined]
                if o.phase == "optimizer"]
    # SGD with momentum: 3 ops per parameter -> 3 foreach calls, and the optimizer's two
    # profiler markers (no kernel)
    markers = [o for o in r.ops if o.phase == "optimizer"  # type: ignore[attr-defined]
               and o.name.startswith("profiler::")]
    assert len(markers) == 2
    assert sum(opt_host) == pytest.approx(3 * c.host_s["kernel"] + 2 * c.host_s["none"])
    assert pp.host_s - fe.host_s == pytest.approx((n_opt - 5) * c.host_s["kernel"])
    assert fe.optimizer_s < pp.optimizer_s


def test_layers_estimate_sums_to_the_step(resnet_batches: dict[int, object]) -> None:
    st = step_time(resnet_batches[8], PRESETS["a100-80gb"])  # type: ignore[arg-type]
    est = st.estimate
    assert est is not None
    root = next(lt for lt in st.layers if lt.name == "")
    assert root.est_forward_s == pytest.approx(est.forward_s)
    assert root.est_backward_s == pytest.approx(est.backward_s)
    assert est.step_s == pytest.approx(est.forward_s + est.backward_s + est.optimizer_s)
    assert sum(t.wall_s for t in est.ops) == pytest.approx(est.step_s)


# --------------------------------------------------------------------------- constants


def test_constants_come_from_the_device_or_the_defaults() -> None:
    c = constants(TOY)
    assert c.bandwidth_efficiency == 0.5 and c.origin["bandwidth_efficiency"] == "device"
    assert c.kernel_s == pytest.approx(2e-6)
    d = constants(PRESETS["v100"])
    assert d.bandwidth_efficiency == pytest.approx(750 / 900)  # Jia et al. 2018
    assert d.origin["bandwidth_efficiency"] == "default"
    assert d.conv_efficiency["fp16"] == CLASS_DEFAULTS["conv_efficiency.tensor"]
    assert d.conv_efficiency["tf32"] == CLASS_DEFAULTS["conv_efficiency.tf32"]
    assert d.conv_efficiency["fp32"] == CLASS_DEFAULTS["conv_efficiency.simt"]
    # the host constants of a preset come from the default stack's data file
    stack = json.loads((Path(convcost.hardware.__file__).parent / "stacks.json").read_text())
    want = stack["stacks"][stack["default"]]["host_us"]
    assert {k: v * 1e6 for k, v in d.host_s.items()} == pytest.approx(want)
    assert d.origin["host_us.kernel"] == f"stack {stack['default']}"


def test_devices_file_timing_changes_the_estimate(tmp_path: Path) -> None:
    f = tmp_path / "d.toml"
    f.write_text(device_to_toml(TOY))
    dev = load_devices(f)["toy"]
    assert dev == TOY
    r = analyze(nn.ReLU(), (1, 8), mode="inference")
    assert estimate(r, dev).host_s == pytest.approx(10e-6)


def test_cli_json_has_the_estimate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "d.toml"
    f.write_text(device_to_toml(TOY))
    code, out, err = run(["model", "cli_models:linear", "--input", "4x16", "--mode", "train",
                          "--optimizer", "sgd", "--device", "toy", "--devices-file", str(f),
                          "--json"], capsys)
    assert code == 0, err
    hw = json.loads(out)["hardware"]
    est = hw["estimate"]
    assert set(est) >= {"forward_s", "backward_s", "optimizer_s", "step_s", "samples_per_s",
                        "host_s", "device_s", "host_bound"}
    assert est["step_s"] == pytest.approx(est["forward_s"] + est["backward_s"]
                                          + est["optimizer_s"])
    assert est["samples_per_s"] == pytest.approx(4 / est["step_s"])
    assert est["host_bound"] is True and est["host_s"] > est["device_s"]
    assert est["step_s"] >= hw["step_s"]
    for name, layer in hw["layers"].items():
        assert set(layer["estimate"]) >= {"forward_s", "backward_s"}, name
    assert math.isclose(hw["layers"][""]["estimate"]["forward_s"], est["forward_s"])


@pytest.mark.parametrize("args, flag", [
    (["--optimizer-kernels", "foreach"], "--optimizer-kernels"),
    (["--device", "a100-80gb", "--optimizer-kernels", "per-parameter"], "--optimizer-kernels"),
])
def test_optimizer_kernels_flag_errors(args: list[str], flag: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["model", "cli_models:linear", "--input", "2x16", *args], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and flag in err


def test_optimizer_kernels_flag_changes_the_optimizer_time(
        capsys: pytest.CaptureFixture[str]) -> None:
    times = {}
    for kind in ("foreach", "per-parameter"):
        code, out, err = run(["model", "cli_models:linear", "--input", "2x16", "--mode",
                              "train", "--optimizer", "adamw", "--device", "a100-80gb",
                              "--optimizer-kernels", kind, "--json"], capsys)
        assert code == 0, err
        est = json.loads(out)["hardware"]["estimate"]
        assert est["optimizer_kernels"] == kind
        times[kind] = est
    assert times["foreach"]["host_s"] <= times["per-parameter"]["host_s"]


# --------------------------------------------------------------------------- memory layout


def _conv_op(dtype: torch.dtype) -> tuple[object, object]:
    """A 3×3 convolution (64 → 64 channels, 8×64×28×28) analysed in ``dtype`` (inference):
    the result and its one library op."""
    conv = nn.Conv2d(64, 64, 3, padding=1, bias=False).to(dtype)
    r = analyze(conv, (8, 64, 28, 28), mode="inference", dtype=str(dtype).split(".")[1])
    (op,) = [o for o in r.ops if o.launch.kind == "library"]
    return r, op


def test_nchw_tensor_core_conv_pays_a_layout_conversion() -> None:
    # fp16 on tensor cores: NCHW adds two kernels and one read + one write of every byte
    # of the call at the achievable bandwidth; channels-last adds nothing
    r, op = _conv_op(torch.float16)
    nhwc = estimate(r, TOY, channels_last=True)
    nchw = estimate(r, TOY)
    stream = (op.read + op.written) / (1e12 * 0.5)
    assert nchw.device_s - nhwc.device_s == pytest.approx(2 * 2e-6 + 2 * stream)
    assert nchw.channels_last is False and nhwc.channels_last is True
    assert nchw.to_dict()["memory_format"] == "contiguous"
    assert nhwc.to_dict()["memory_format"] == "channels_last"


def test_cuda_core_and_depthwise_convs_convert_no_layout() -> None:
    r, _ = _conv_op(torch.float32)  # fp32 without tf32: CUDA cores, NCHW-native kernels
    assert estimate(r, TOY).device_s == estimate(r, TOY, channels_last=True).device_s
    dw = analyze(nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False).half(),
                 (8, 32, 56, 56), mode="inference", dtype="float16")
    # a depthwise conv streaming at the full achievable bandwidth: its direct kernel beats
    # the tensor-core GEMM (N = 1 padded to 8) with its conversion, and converts nothing
    fast = DeviceSpec("toy-dw", "toy GPU", dict(TOY.peak), 1e12, 10**10, sms=4, arch="ampere",
                      timing={**TOY.timing, "depthwise_efficiency": 1.0})
    (op,) = [o for o in dw.ops if o.launch.kind == "library"]
    direct = max(op.launch.gemms[0].flops / 1e13, (op.read + op.written) / (1e12 * 0.5))
    e = estimate(dw, fast)
    assert e.device_s == pytest.approx(2e-6 + direct)
    assert e.device_s == estimate(dw, fast, channels_last=True).device_s


def test_tf32_conv_converts_only_with_tf32() -> None:
    tf = DeviceSpec("toy-tf32", "toy GPU", {"fp32": 1e13, "tf32": 1e14}, 1e12, 10**10, sms=4,
                    arch="ampere", timing=dict(TOY.timing))
    r, op = _conv_op(torch.float32)
    assert estimate(r, tf).device_s == estimate(r, tf, channels_last=True).device_s
    stream = (op.read + op.written) / (1e12 * 0.5)
    assert (estimate(r, tf, tf32=True).device_s
            - estimate(r, tf, tf32=True, channels_last=True).device_s
            == pytest.approx(2 * 2e-6 + 2 * stream))


def test_channels_last_flag(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["model", "torchvision:resnet18", "--input", "8x3x64x64", "--amp", "fp16",
            "--mode", "inference"]
    code, _, err = run([*base, "--channels-last"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--channels-last" in err
    speeds = {}
    for extra in ([], ["--channels-last"]):
        code, out, err = run([*base, "--device", "a100-80gb", *extra, "--json"], capsys)
        assert code == 0, err
        est = json.loads(out)["hardware"]["estimate"]
        speeds[est["memory_format"]] = est["device_s"]
    assert speeds["channels_last"] < speeds["contiguous"]  # (host-bound: same samples/s)
    code, out, err = run([*base, "--device", "a100-80gb"], capsys)
    assert code == 0 and "contiguous (NCHW) tensors" in out
    # the CPU (oneDNN) and AMD GPUs (MIOpen): no layout part, so the flag is refused
    for dev in ("cpu", "mi300x"):
        code, out, err = run([*base, "--device", dev, "--channels-last"], capsys)
        assert code == 2 and "--channels-last" in err and dev in err, err
        code, out, err = run([*base, "--device", dev], capsys)
        assert code == 0 and "NCHW" not in out


def test_depthwise_forward_and_weight_gradient_have_their_own_efficiency(
        tmp_path: Path) -> None:
    # fp32 on CUDA cores (no layout conversion); direct kernels win by far over the GEMM of
    # N = 1, so each depthwise GEMM costs its share of the op's bytes at its efficiency
    dev = DeviceSpec("toy-dw2", "toy GPU", dict(TOY.peak), 1e12, 10**10, sms=4, arch="ampere",
                     timing={**TOY.timing, "depthwise_efficiency": 0.5,
                             "depthwise_wgrad_efficiency": 0.1})
    r = analyze(nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False), (8, 32, 56, 56),
                mode="train", input_grad=True)  # a data gradient too
    e = estimate(r, dev)
    lib = [(o, t) for o, t in zip(r.ops, e.ops) if o.launch.kind == "library"]
    (fw, fw_t), (bw, bw_t) = lib
    bw_stream = (bw.read + bw.written) / (1e12 * 0.5)
    dgrad, wgrad = bw.launch.gemms
    assert wgrad.wgrad and not dgrad.wgrad
    fw_direct = max(fw.launch.gemms[0].flops / 1e13,
                    (fw.read + fw.written) / (1e12 * 0.5) / 0.5)
    assert fw_t.device_s == pytest.approx(fw.launch.kernels * 2e-6 + fw_direct)
    direct = (max(dgrad.flops / 1e13, bw_stream / 2 / 0.5)
              + max(wgrad.flops / 1e13, bw_stream / 2 / 0.1))
    assert bw_t.device_s == pytest.approx(bw.launch.kernels * 2e-6 + direct)
    # the key is accepted in a devices file (it was documented but refused before)
    f = tmp_path / "d.toml"
    f.write_text(device_to_toml(dev))
    assert load_devices(f)["toy-dw2"].timing["depthwise_wgrad_efficiency"] == 0.1


def test_layout_conversion_only_where_cudnn_runs() -> None:
    assert converts_layout(PRESETS["h100-sxm"]) and converts_layout(PRESETS["t4"])
    assert not converts_layout(PRESETS["cpu"]) and not converts_layout(PRESETS["mi300x"])
    r, _ = _conv_op(torch.float16)
    amd = DeviceSpec("toy-amd", "toy GPU", dict(TOY.peak), 1e12, 10**10, sms=4, arch="cdna3",
                     timing=dict(TOY.timing))
    assert estimate(r, amd).device_s == estimate(r, amd, channels_last=True).device_s


# ------------------------------------------------- cuDNN batch norm, TF32 allowed not forced


@pytest.mark.parametrize("mode", ["inference", "train"])
def test_batch_norm_that_pytorch_gives_cudnn_is_a_library_call(mode: str) -> None:
    # PyTorch hands a float32 (or float16 with float32 weights) spatial, affine batch norm
    # with eps >= 1e-5 to cuDNN: on the host it costs a library call, on the device it
    # still streams its bytes (no GEMM)
    bn = nn.BatchNorm2d(16) if mode == "train" else nn.BatchNorm2d(16).eval()
    r = analyze(bn, (4, 16, 8, 8), mode=mode)
    ops = [o for o in r.ops if "batch_norm" in o.name]
    assert ops and all(o.launch.kind == "library" and not o.launch.gemms for o in ops)
    e = estimate(r, TOY)
    for o, t in zip(r.ops, e.ops):
        if "batch_norm" in o.name:
            assert t.host_s == pytest.approx(20e-6)  # TOY's host_us.library
            stream = (o.read + o.written + o.launch.extra_read) / (1e12 * 0.5)
            assert t.device_s == pytest.approx(o.launch.kernels * 2e-6 + stream)


def _bn_call(dtype: str, wdtype: str = "float32", eps: float = 1e-5, affine: bool = True,
             shape: tuple[int, ...] = (4, 16, 8, 8)) -> OpCall:
    x = TensorMeta(shape, dtype)
    w = TensorMeta((16,), wdtype) if affine else None
    stat = TensorMeta((16,), "float32")
    return OpCall("native_batch_norm.default", (x, w, w, stat, stat, False, 0.1, eps),
                  outputs=(TensorMeta(shape, dtype),),
                  names=("input", "weight", "bias", "running_mean", "running_var",
                         "training", "momentum", "eps"))


@pytest.mark.parametrize(("call", "kind"), [
    (_bn_call("float32"), "library"),
    (_bn_call("float16"), "library"),          # half input, float weights: cuDNN
    (_bn_call("bfloat16"), "kernel"),          # never cuDNN
    (_bn_call("float16", "float16"), "kernel"),  # half weights: PyTorch's kernels
    (_bn_call("float32", eps=1e-6), "kernel"),   # below cuDNN's minimum epsilon
    (_bn_call("float32", affine=False), "kernel"),
    (_bn_call("float32", shape=(4, 16)), "kernel"),  # not spatial
    (_bn_call("float32", shape=(70_000, 16, 2, 2)), "kernel"),  # too many samples in eval
])
def test_cudnn_batch_norm_conditions(call: OpCall, kind: str) -> None:
    assert launch(call).kind == kind


def test_tf32_is_allowed_not_forced_on_convolutions() -> None:
    # where the TF32 tensor cores are no faster than the fp32 CUDA cores (GeForce Ada:
    # both 82.6 TFLOP/s), cuDNN keeps the fp32 kernels: the same time as without tf32,
    # and no layout conversion; where TF32 is 10x faster it runs on the tensor cores
    even = DeviceSpec("toy-even", "toy GPU", {"fp32": 1e13, "tf32": 1e13}, 1e12, 10**10, sms=4,
                      arch="ada", timing={**TOY.timing, "conv_efficiency.tf32": 0.5})
    r, _ = _conv_op(torch.float32)
    assert estimate(r, even, tf32=True).device_s == estimate(r, even).device_s
    assert (estimate(r, even, tf32=True).device_s
            == estimate(r, even, tf32=True, channels_last=True).device_s)
    fast = DeviceSpec("toy-fast", "toy GPU", {"fp32": 1e13, "tf32": 1e14}, 1e12, 10**10, sms=4,
                      arch="ampere", timing=dict(TOY.timing))
    assert estimate(r, fast, tf32=True).device_s < estimate(r, fast).device_s


def test_a_measured_load_clock_scales_the_compute_peaks_of_the_estimate_only() -> None:
    """The RTX 4090 preset carries ComputerBase's 2,744 MHz under load (boost 2,520 MHz): a
    compute-bound GEMM's estimate shrinks by 2520 / 2744, its roofline does not."""
    dev = PRESETS["rtx4090"]
    assert dev.timing["load_clock_mhz"] == 2744 and dev.clock_mhz == 2520
    plain = DeviceSpec(**{**dev.__dict__, "timing": {}})
    r = analyze(nn.Linear(8192, 8192, bias=False), (8192, 8192), mode="inference",
                dtype="float16")
    (mm,) = [i for i, o in enumerate(r.ops) if o.name.startswith("mm")]
    fast = estimate(r, dev).ops[mm].device_s
    slow = estimate(r, plain).ops[mm].device_s
    kernel = constants(dev).kernel_s
    assert (fast - kernel) / (slow - kernel) == pytest.approx(2520 / 2744, rel=1e-9)
    assert step_time(r, dev).forward_s == pytest.approx(step_time(r, plain).forward_s)
