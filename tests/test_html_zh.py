"""The model's HTML report in Chinese (``render(result, "html", lang="zh")``): the sentences
built around numbers (the run line, the hardware lines) and the charts' texts.

Oracles: hand-written Chinese for one English sentence of each template (each template is
exercised); for every report shape we can produce (a torchvision model and a small
``nn.Sequential`` in train and inference, without a device and on GPUs with a reserve,
``--fit``, sharding, AMP, the CUDA and ROCm dispatch paths, an ONNX model), the Chinese page
holds exactly the English page's numbers (multiset of digit runs) and no English sentence
(no run of three English words in its visible text once identifiers are taken out). The
English page is unchanged: ``tests/test_golden.py`` and the byte-for-byte comparison with
the default language below. (A generation result has no HTML report: the CLI refuses
``--mode generate --format html``.)
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from convcost import analyze, render
from convcost.hardware.answer import Hardware, answer, fit_on
from convcost.hardware.devices import get_device
from convcost.hardware.dispatch import dispatch_options
from convcost.model import ModelResult
from convcost.renderers.html_zh_sentences import ASSUMPTIONS_ZH, EXACT, TEMPLATES, sentence, svg_zh
from shared import TorchvisionAnalysis

# --------------------------------------------------------------------------- templates

#: One English sentence of every template (and of each variant of its optional parts),
#: with its Chinese written out by hand.
CASES: list[tuple[str, str]] = [
    ("train, inputs arg0 2×3×64×64, dtype float32, optimizer adamw, counting dense",
     "训练，输入 arg0 2×3×64×64，数据类型 float32，优化器 adamw，计数方式 dense"),
    ("inference, inputs x 1×8 (requires grad), mask 1×8, dtype float32, amp bfloat16, "
     "optimizer none, counting skip-padding, device h100-sxm",
     "推理，输入 x 1×8（需要梯度），mask 1×8，"
     "数据类型 float32，自动混合精度 bfloat16，优化器 none，"
     "计数方式 skip-padding，设备 h100-sxm"),
    ("cuda (fake CUDA tensors through PyTorch's CUDA dispatch, compute capability 9.0): "
     "optimizer foreach, batch_norm cudnn",
     "cuda（经 PyTorch CUDA 分派的假 CUDA 张量，计算能力 9.0）"
     "：optimizer foreach, batch_norm cudnn"),
    ("cuda (fake CUDA tensors through PyTorch's CUDA dispatch, an AMD GPU: ROCm's kernel set)",
     "cuda（经 PyTorch CUDA 分派的假 CUDA 张量，AMD GPU：ROCm 的内核集）"),
    ("data-dependent sizes at their upper bound: the model ran for real on the CPU with random "
     "inputs (seed 0), every threshold opened (roi_heads.score_thresh 0.05→0) and boxes of any "
     "size kept, so its own limits (top-n, detections per image) decide them",
     "数据相关的尺寸取上界：模型在 CPU 上用随机输入（seed 0）真实运行，打开了每个阈值"
     "（roi_heads.score_thresh 0.05→0），并保留任意大小的框，因此由模型自身的上限（top-n、"
     "每张图像的"
     "检测数）决定这些尺寸"),
    ("device    h100-sxm (NVIDIA H100 SXM5 80 GB): 989.50 TFLOP/s bfloat16, 3.35 TB/s, "
     "80.00 GiB",
     "设备      h100-sxm（NVIDIA H100 SXM5 80 GB）：峰值 989.50 TFLOP/s bfloat16，带宽 3.35 TB/s，"
     "内存 80.00 GiB"),
    ("note      t4 has no bfloat16 peak: the float32 peak is used",
     "注        t4 没有 bfloat16 峰值：使用 float32 峰值"),
    ("estimate  forward 1.86 ms, 1,075.5 samples/s; host 1.86 ms, device 190 µs (host-bound)",
     "估算      前向 1.86 ms，1,075.5 samples/s；主机 1.86 ms，设备 190 µs（主机瓶颈）"),
    ("estimate  forward 1.84 ms, backward 1.62 ms, optimizer 4.52 ms (per-parameter); step "
     "7.98 ms, 250.5 samples/s; host 7.98 ms, device 1.33 ms",
     "估算      前向 1.84 ms，反向 1.62 ms，优化器 4.52 ms（逐参数）；"
     "一步 7.98 ms，250.5 samples/s；"
     "主机 7.98 ms，设备 1.33 ms"),
    ("host/device per phase: forward 1.84 ms / 198 µs; backward 1.61 ms / 238 µs",
     "每个阶段的主机/设备：前向 1.84 ms / 198 µs；反向 1.61 ms / 238 µs"),
    ("per op class (ops, host / device): cuDNN convolutions 40, 2.08 ms / 261 µs; module "
     "calls 76, 228 µs",
     "每类算子（算子数，主机 / 设备）：cuDNN 卷积 40，2.08 ms / 261 µs；模块调用 76，228 µs"),
    ("stack pytorch-1.9 (eager PyTorch 1.9 (NVIDIA's 21.03 NGC container) on DGX-1 / DGX A100 "
     "host CPUs: the 2021 stack of NVIDIA's DeepLearningExamples tables): host library 40 µs "
     "(host_us.library the device's own)",
     "软件栈 pytorch-1.9（即时模式 PyTorch 1.9（NVIDIA 的 21.03 NGC 容器），DGX-1 / DGX A100 主机 "
     "CPU：NVIDIA DeepLearningExamples 表格所用的 2021 年软件栈）：主机 library 40 µs"
     "（host_us.library 取自设备本身）"),
    ("assumes dense kernels at the dtype's peak FLOP/s; bytes moved at peak memory bandwidth; "
     "each op reads its inputs and writes its outputs once; no overlap between ops; a bound "
     "on the traced implementation at datasheet clocks only: fused kernels (fewer bytes "
     "moved) or clocks above the datasheet boost can beat it",
     "假设：稠密内核以该数据类型的峰值 FLOP/s 运行；字节以峰值内存带宽搬运；每个算子读一次输入、"
     "写一次输出；算子之间不重叠；这是按数据手册频率对所追踪实现的下界：融合内核（搬运更少字节）"
     "或高于数据手册加速频率的时钟可以超过它"),
    ("roofline  (bound) forward 29.8 µs", "屋顶线    （下界）前向 29.8 µs"),
    ("roofline  (bound) forward 697 µs, backward 1.32 ms, optimizer 9.82 ms; step 11.8 ms, "
     "168.9 samples/s, MFU 7.4% (with full recomputation: MFU 6.9%, HFU 9.3%)",
     "屋顶线    （下界）前向 697 µs，反向 1.32 ms，优化器 9.82 ms；一步 11.8 ms，168.9 samples/s，"
     "MFU 7.4%（完全重算时：MFU 6.9%，HFU 9.3%）"),
    ("memory    on h100-sxm: live tensors 5.14 KiB, allocated 32.01 MiB, reserved 34.00 MiB of "
     "usable 78.61 GiB (80.00 GiB - 1.39 GiB reserve): fits (the allocator empties its cache "
     "2 times to make room), clears by 78.58 GiB",
     "内存      在 h100-sxm 上：存活张量 5.14 KiB，已分配 32.01 MiB，已保留 34.00 MiB，"
     "可用 78.61 GiB（80.00 GiB - 1.39 GiB 预留）：放得下（分配器为腾出空间清空其缓存 2 次），"
     "余量 78.58 GiB"),
    ("memory    on cpu: live tensors 3.00 GiB of usable 2.00 GiB (2.00 GiB - 0 B reserve): "
     "DOES NOT FIT, short by 1.00 GiB",
     "内存      在 cpu 上：存活张量 3.00 GiB，可用 2.00 GiB（2.00 GiB - 0 B 预留）：放不下，"
     "缺 1.00 GiB"),
    ("PyTorch 2.4.1 caching allocator, default configuration, 3 steps from a fresh process; "
     "cuBLAS workspace 32.00 MiB, cuDNN workspace 1.00 MiB per convolution; optimizer step: "
     "foreach implementation (PyTorch's GPU default)",
     "PyTorch 2.4.1 缓存分配器，默认配置，从新进程起 3 步；"
     "cuBLAS 工作区 32.00 MiB，每个卷积的 cuDNN "
     "工作区 1.00 MiB；优化器一步：foreach 实现（PyTorch 在 GPU 上的默认）"),
    ("sharded   zero2 over 4 devices: per device params 44.59 MiB, grads 11.15 MiB, optimizer "
     "22.30 MiB, peak 96.18 MiB; sends 66.89 MiB per step, 174 µs over nvlink4",
     "分片      zero2，4 个设备：每个设备参数 44.59 MiB，梯度 11.15 MiB，优化器 22.30 MiB，"
     "峰值 96.18 MiB；每步发送 66.89 MiB，经 nvlink4 用时 174 µs"),
    ("fit       not even batch 1 fits h100-sxm (usable 1.00 MiB = 80.00 GiB - 80.00 GiB "
     "reserve): needs allocated peak 2.00 MiB",
     "容量      连 batch 1 也放不下 h100-sxm（可用 1.00 MiB = 80.00 GiB - 80.00 GiB 预留）："
     "需要已分配峰值 2.00 MiB"),
    ("fit       largest batch on cpu (usable 256.00 GiB): 150061 (peak 256.00 GiB, clears by "
     "1.36 MiB; batch 150062 needs 256.00 GiB)",
     "容量      cpu 上最大的 batch（可用 256.00 GiB）：150061（峰值 256.00 GiB，余量 1.36 MiB；"
     "batch 150062 需要 256.00 GiB）"),
    ("FLOPs per layer — torchvision:resnet18 (train)", "各层 FLOPs — torchvision:resnet18（训练）"),
    ("Live memory during an inference forward pass — tiny.onnx",
     "一次推理前向中的存活内存 — tiny.onnx"),
    ("Roofline — m on t4 (bfloat16)", "屋顶线 — m，在 t4 上（bfloat16）"),
    ("Estimated time per layer — m on a100-40gb", "各层估算时间 — m，在 a100-40gb 上"),
    ("leaf layers in execution (table) order — 61 layers; hover a bar for its numbers",
     "叶子层，按执行（表格）顺序 — 共 61 层；悬停在柱上查看数值"),
    ("leaf layers in execution order — 4 layers; step 1.86 ms (device-bound: host 1.86 ms, "
     "device 0.19 ms)",
     "叶子层，按执行顺序 — 共 4 层；一步 1.86 ms（设备瓶颈：主机 1.86 ms，设备 0.19 ms）"),
    ("3 of 4 leaf layers placed (the others do no FLOPs or move no bytes)",
     "已绘出 4 个叶子层中的 3 个（其余的层没有 FLOPs 或不搬运字节）"),
    ("4 of 4 leaf layers placed", "已绘出 4 个叶子层中的 4 个"),
    ("ridge 295 FLOP/B", "脊点 295 FLOP/B"),
    ("peak 989.50 TFLOP/s (bfloat16)", "峰值 989.50 TFLOP/s（bfloat16）"),
    ("memory 3.35 TB/s", "内存带宽 3.35 TB/s"),
    ("peak 67.01 MiB", "峰值 67.01 MiB"),
    ("backward ∂weight (+ ∂bias): 7,808 FLOPs", "反向 ∂权重（+ ∂偏置）：7,808 FLOPs"),
    ("GPU busy 5.9 µs", "GPU 忙 5.9 µs"),
    ("Operations of one transposed convolution layer (skip-padding counting)",
     "单个转置卷积层的运算（skip-padding 计数）"),
    ("Exact multiplications and additions per pass; forward 235,225,088 FLOPs vs 2·MACs = "
     "236,027,904, backward 471,889,077 vs 4·MACs = 472,055,808.",
     "每一遍精确的乘法与加法；前向 235,225,088 FLOPs 对比 2·MACs = 236,027,904，"
     "反向 471,889,077 对比 4·MACs = 472,055,808。"),
    ("grad-input: 100 mults + 96 adds = 196 FLOPs", "输入梯度：100 次乘法 + 96 次加法 = 196 FLOPs"),
    ("backward total approximation: 472,055,808 FLOPs; exact 471,889,077 (-166,731)",
     "反向合计近似：472,055,808 FLOPs；精确值 471,889,077（-166,731）"),
    ("Stacked FLOPs of each of the 61 leaf layers of torchvision:resnet18: forward, backward "
     "∂input, backward ∂weight (+ ∂bias).",
     "torchvision:resnet18 的 61 个叶子层各自堆叠的 FLOPs：前向、反向 ∂输入、"
     "反向 ∂权重（+ ∂偏置）。"),
    ("Stacked live bytes by category over the 1160 samples of one training step (drawn with "
     "800 samples); peak 196.51 MiB after op 1026 (optimizer::div.Tensor).",
     "一个训练步的 1160 个样本中按类别堆叠的存活字节（用其中 800 个样本绘制）；峰值 196.51 MiB，"
     "在第 1026 个算子之后（optimizer::div.Tensor）。"),
    ("Roofline of h100-sxm: peak 67.00 TFLOP/s float32, bandwidth 3.35 TB/s, ridge at 20 "
     "FLOPs per byte; 3 of 4 leaf layers placed (the others do no FLOPs or move no bytes).",
     "h100-sxm 的屋顶线：峰值 67.00 TFLOP/s float32，带宽 3.35 TB/s，脊点在每字节 20 FLOPs；"
     "已绘出 4 个叶子层中的 3 个（其余的层没有 FLOPs 或不搬运字节）。"),
    ("Estimated share of the step of each of the 4 leaf layers of tiny.onnx on h100-sxm, split "
     "into GPU busy and GPU waiting for the host.",
     "tiny.onnx 的 4 个叶子层各自在 h100-sxm 上一步中的估算份额，分为 GPU 忙与 GPU 等待主机。"),
    ("GPU idle waiting for the host 71.9 µs", "GPU 空闲、等待主机 71.9 µs"),
    ("optimizer: ops 352–1159", "优化器：算子 352–1159"),
    ("optimizer state: up to 89.18 MiB (93,516,344 B)",
     "优化器状态：最多 89.18 MiB（93,516,344 B）"),
    ("peak 67.01 MiB (70,260,784 B) after op 113 (forward:fc:addmm.default)",
     "峰值 67.01 MiB（70,260,784 B），在第 113 个算子之后（forward:fc:addmm.default）"),
    ("layer1.0.relu (ReLU): 0.25 FLOP/B, achieved 837.50 GFLOP/s (65,536 FLOPs, 256.00 KiB "
     "moved, 0.0783 µs), memory-bound",
     "layer1.0.relu (ReLU)：0.25 FLOP/B，达到 837.50 GFLOP/s（65,536 FLOPs，搬运 256.00 KiB，"
     "0.0783 µs），内存瓶颈"),
]


@pytest.mark.parametrize(("en", "zh"), CASES, ids=[c[0][:40] for c in CASES])
def test_sentence(en: str, zh: str) -> None:
    assert sentence(en, "zh") == zh
    assert sentence(en, "en") == en


def test_every_template_is_exercised() -> None:
    unused = [t.pattern[:60] for t in TEMPLATES if not any(t(en) for en, _ in CASES)]
    assert unused == []


def test_unknown_and_half_known_sentences_stay_english() -> None:
    for s in ("some sentence added later", "estimate  forward 1.86 ms, and then something new",
              "memory    on h100-sxm: live tensors 5.14 KiB of usable 78.61 GiB (80.00 GiB - "
              "1.39 GiB reserve): maybe"):
        assert sentence(s, "zh") == s


def test_the_english_constants_are_the_ones_translated() -> None:
    """The long texts are keyed by their English: they are still the code's."""
    import json

    from convcost.hardware.estimate import ESTIMATE_ASSUMPTIONS
    from convcost.hardware.roofline import ASSUMPTIONS
    from convcost.model.results import DataDependence

    assert set(ASSUMPTIONS_ZH) == {ASSUMPTIONS, ESTIMATE_ASSUMPTIONS}
    import convcost.hardware

    stacks = json.loads((Path(convcost.hardware.__file__).with_name("stacks.json"))
                        .read_text(encoding="utf-8"))["stacks"]
    assert stacks and all(s["description"] in EXACT for s in stacks.values())
    assert get_device("cpu").description in EXACT
    for policy in (None, "run"):
        assert DataDependence(policy).note in EXACT


def test_svg_texts_and_tooltips_are_translated_markup_kept() -> None:
    svg = ('<svg><title>Roofline — m on t4 (bfloat16)</title><desc>d</desc>'
           '<text x="1" y="2" font-size="11">FLOP/s (log scale)</text>'
           '<g class="layer"><title>fc (Linear)\nGPU busy 5.9 µs\n'
           'GPU idle waiting for the host 71.9 µs</title><rect/></g>'
           '<text x="1">conv1</text></svg>')
    assert svg_zh(svg) == ('<svg><title>屋顶线 — m，在 t4 上（bfloat16）</title><desc>d</desc>'
                           '<text x="1" y="2" font-size="11">FLOP/s（对数刻度）</text>'
                           '<g class="layer"><title>fc (Linear)\nGPU 忙 5.9 µs\n'
                           'GPU 空闲、等待主机 71.9 µs</title><rect/></g>'
                           '<text x="1">conv1</text></svg>')
    # the FLOPs chart's bands are labelled with module names: a module called "loss" stays
    bands = '<g class="groups"><rect/><text x="1">loss</text></g><text x="2">loss</text>'
    assert svg_zh(bands) == ('<g class="groups"><rect/><text x="1">loss</text></g>'
                             '<text x="2">损失</text>')


# --------------------------------------------------------------------------- report shapes

Shape = tuple[ModelResult, "Hardware | None"]


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))


def _on(device: Any, **options: Any) -> ModelResult:
    """The small network analysed as the CLI does with ``--device`` (its dispatch path)."""
    return analyze(_net(), "2x3x16x16", name="tiny", **dispatch_options(device, None),
                   **options)


@pytest.fixture(scope="module")
def shapes(torchvision_analysis: TorchvisionAnalysis,
           tmp_path_factory: pytest.TempPathFactory) -> dict[str, Callable[[], Shape]]:
    """Every report shape, built on first use: ``name -> () -> (result, hardware)``."""
    from convcost.model.onnx import analyze_onnx

    h100, cpu = get_device("h100-sxm"), get_device("cpu")
    done: dict[str, Shape] = {}

    def r18(**options: Any) -> ModelResult:
        return torchvision_analysis("resnet18", "2x3x64x64", name="torchvision:resnet18",
                                    **options)

    def onnx_path() -> str:
        path = str(tmp_path_factory.mktemp("zh") / "tiny.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(_net(), (torch.randn(1, 3, 8, 8),), path, dynamo=False,
                              opset_version=17, input_names=["input"], output_names=["logits"])
        return path

    def fit(result: ModelResult, device: Any, **options: Any) -> Shape:
        found = fit_on(device, _net(), ["2x3x16x16"], **dispatch_options(device, None),
                       **options)
        return result, replace(answer(result, device, foreach=options.get(
            "optimizer_foreach", False)), fit=found, fit_device=device)

    # a reserve that leaves 64 MiB keeps the batch search short
    small_h100 = replace(h100, reserve=h100.memory - (64 << 20))
    small_cpu = replace(cpu, reserve=cpu.memory - (64 << 20))
    builders: dict[str, Callable[[], Shape]] = {
        "resnet18-train": lambda: (r18(optimizer="sgd"), None),
        "resnet18-inference": lambda: (r18(mode="inference"), None),
        "resnet18-train-h100-zero2": lambda: (
            r18(optimizer="sgd"), answer(r18(optimizer="sgd"), h100, devices=4,
                                         strategy="zero2")),
        "tiny-train-h100-reserve-fit": lambda: fit(
            _on(small_h100, optimizer="adamw", optimizer_foreach=True), small_h100,
            optimizer="adamw", optimizer_foreach=True),
        "tiny-train-h100-reserve-no-fit": lambda: fit(
            _on(h100, optimizer="adamw"), replace(h100, reserve=h100.memory - (1 << 20)),
            optimizer="adamw"),
        "tiny-train-cpu-fit": lambda: fit(_on(small_cpu, optimizer="sgd"), small_cpu,
                                          optimizer="sgd"),
        "tiny-inference-h100-amp-channels-last": lambda: (
            _on(h100, mode="inference", amp="bf16"),
            answer(_on(h100, mode="inference", amp="bf16"), h100, channels_last=True)),
        "tiny-inference-t4-bf16": lambda: (
            _on(get_device("t4"), mode="inference", amp="bf16"),
            answer(_on(get_device("t4"), mode="inference", amp="bf16"), get_device("t4"))),
        "tiny-train-mi300x": lambda: (_on(get_device("mi300x"), optimizer="momentum"),
                                      answer(_on(get_device("mi300x"), optimizer="momentum"),
                                             get_device("mi300x"), foreach=False)),
        "tiny-train-checkpoint-freeze-input-grad": lambda: (analyze(
            _net(), "2x3x16x16", optimizer="adam", checkpoint=r"^[012]$", freeze=r"^0\.",
            input_grad=True, name="tiny"), None),
        "onnx-train": lambda: (analyze_onnx(onnx_path(), name="tiny.onnx"), None),
        "onnx-inference-h100": lambda: (
            (o := analyze_onnx(onnx_path(), name="tiny.onnx", mode="inference")),
            answer(o, h100)),
    }

    def get(name: str) -> Callable[[], Shape]:
        def build() -> Shape:
            if name not in done:
                done[name] = builders[name]()
            return done[name]
        return build

    return {name: get(name) for name in builders}


#: Each shape, and Chinese its page must hold (what makes the shape what it is).
SHAPES: dict[str, list[str]] = {
    "resnet18-train": ["训练，输入 arg0 2×3×64×64", "一个训练步中的存活内存", "反向 ∂输入："],
    "resnet18-inference": ["推理，输入", "一次推理前向中的存活内存"],
    "resnet18-train-h100-zero2": ["分派      cpu（强制）", "分片      zero2，4 个设备", "脊点",
                                  "（foreach）", "屋顶线    （下界）前向", "达到"],
    "tiny-train-h100-reserve-fit": ["h100-sxm 上最大的 batch（可用 64.00 MiB = 80.00 GiB - ",
                                    "预留）", "已保留峰值", "显存不足：已分配峰值", "GPU 忙",
                                    "计算能力 9.0", "PyTorch 在 GPU 上的默认"],
    "tiny-train-h100-reserve-no-fit": ["连 batch 1 也放不下 h100-sxm", "需要已分配峰值"],
    "tiny-train-cpu-fit": ["cpu 上最大的 batch（可用 64.00 MiB = 256.00 GiB - ", "需要",
                           "通用服务器 CPU"],
    "tiny-inference-h100-amp-channels-last": ["自动混合精度 bfloat16", "channels-last（NHWC）张量",
                                              "主机瓶颈"],
    "tiny-inference-t4-bf16": ["t4 没有 bfloat16 峰值：使用 float32 峰值", "放得下，余量"],
    "tiny-train-mi300x": ["AMD GPU：ROCm 的内核集", "（逐参数）"],
    "tiny-train-checkpoint-freeze-input-grad": ["arg0 2×3×16×16（需要梯度）", "重算：算子",
                                                "重算（激活检查点）", "<th>冻结</th>"],
    "onnx-train": ["输入 input 1×3×8×8", "tiny.onnx（训练）"],
    "onnx-inference-h100": ["各层估算时间 — tiny.onnx，在 h100-sxm 上"],
}

#: Where the page's text is not prose: scripts, styles, code spans. (The charts' <desc>,
#: read by screen readers, is checked with the rest.)
SKIP = {"script", "style", "code"}
#: Attributes people read (tooltips, the filter's placeholder and label).
READ = ("title", "placeholder", "aria-label")


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIP:
            self.depth += 1
        elif not self.depth:
            self.texts += [v for k, v in attrs if k in READ and v]

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if not self.depth and data.strip():
            self.texts.append(data)


def visible(page: str) -> list[str]:
    """The text of ``page`` people read: text outside :data:`SKIP`, and :data:`READ`
    attributes."""
    p = _Visible()
    p.feed(page)
    return p.texts


#: A word: two or more ASCII letters standing alone (not part of ``float32``, ``batch_norm``,
#: ``h100-sxm`` or ``FLOP/s``).
WORD = r"(?<![^\s,;:(])[A-Za-z]{2,}(?:'[a-z]+)?(?![^\s,;:)])"
#: An English sentence left: three words in a row, apart only by spaces and , ; :
ENGLISH = re.compile(rf"{WORD}(?:[\s,;:]+{WORD}){{2,}}")


def identifiers(r: ModelResult, hw: Hardware | None) -> list[str]:
    """Names the report shows as they are: the model, its modules and types, inputs,
    dtypes, the optimizer, the dispatch path's kernel choices, the device."""
    names = {r.model, r.dtype, r.optimizer, r.counting, *(n for n, _ in r.inputs)}
    for row in r.layers:
        names |= {row.name, row.type, *row.name.split(".")}
    names |= {f"{k} {v}" for k, v in r.backends}
    if hw is not None and hw.step is not None:
        names |= {hw.step.device.name, hw.step.device.description}
    return sorted((n for n in names if n), key=len, reverse=True)


def english_left(page: str, names: list[str]) -> list[str]:
    out = []
    for t in visible(page):
        for n in names:
            t = re.sub(rf"(?<![\w.]){re.escape(n)}(?![\w.])", "§", t)
        out += ENGLISH.findall(t)
    return out


def numbers(text: str) -> Counter[str]:
    return Counter(re.findall(r"\d+", text))


#: The shapes whose batch search (``--fit``) takes a few seconds.
SLOW = {"tiny-train-h100-reserve-fit", "tiny-train-cpu-fit"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in SHAPES])
def test_chinese_report(shapes: dict[str, Callable[[], Shape]], name: str) -> None:
    result, hw = shapes[name]()
    en, zh = (render(result, "html", hardware=hw, lang=lang) for lang in ("en", "zh"))
    # (c) the English page is the default language's, byte for byte, and has no Chinese
    assert en == render(result, "html", hardware=hw)
    assert not re.search(r"[\u4e00-\u9fff]", en)
    # (a) the same numbers: every digit run of the page (entities decoded; the CSP line
    # is left out, its script hash differs with the script's one sentence)
    def body(page: str) -> str:
        return unescape(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page))
    assert numbers(body(zh)) == numbers(body(en))
    assert numbers(" ".join(visible(zh))) == numbers(" ".join(visible(en)))
    # (b) no English sentence left (and the English page does have some: the check bites)
    names = identifiers(result, hw)
    assert english_left(zh, names) == []
    assert len(english_left(en, names)) > 20
    assert '<html lang="zh">' in zh
    missing = [x for x in SHAPES[name] if x not in unescape(zh)]
    assert missing == []


def test_the_row_count_is_written_in_chinese(shapes: dict[str, Callable[[], Shape]]) -> None:
    """The table script's one sentence, and the page's CSP allows the script it runs."""
    import base64
    import hashlib

    result, hw = shapes["onnx-train"]()
    zh = render(result, "html", hardware=hw, lang="zh")
    (script,) = re.findall(r"<script>(.*?)</script>", zh, re.S)
    assert '"显示 " + n + " / " + rows.length + " 行"' in script
    assert "rows shown" not in script
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    assert f"'sha256-{digest}'" in zh


@pytest.mark.browser
def test_chinese_page_in_chromium(shapes: dict[str, Callable[[], Shape]],
                                  tmp_path: Path) -> None:
    """The zh page in headless Chromium: its CSP lets its script run (no console error), the
    row count is written in Chinese, and no two legend entries of a chart overlap (the
    legend is laid out for the English labels)."""
    from playwright.sync_api import sync_playwright

    result, hw = shapes["tiny-train-h100-reserve-fit"]()
    path = tmp_path / "zh.html"
    path.write_text(render(result, "html", hardware=hw, lang="zh"), encoding="utf-8")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                     args=["--no-sandbox", "--headless", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text)
                    if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.resolve().as_uri())
            page.fill("#layer-filter", "conv")
            assert re.fullmatch(r"显示 \d+ / \d+ 行", page.inner_text("#layer-count"))
            assert errors == []
            overlaps = page.evaluate("""() => {
              const out = [];
              for (const g of document.querySelectorAll("svg g.legend")) {
                const boxes = [...g.querySelectorAll("text")].map(t => t.getBoundingClientRect());
                boxes.forEach((a, i) => boxes.slice(i + 1).forEach(b => {
                  if (a.left < b.right && b.left < a.right && a.top < b.bottom &&
                      b.top < a.bottom) { out.push([a.left, b.left]); }
                }));
              }
              return out;
            }""")
            assert overlaps == []
            assert page.locator("svg g.legend").count() == 4
            ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "html-model-zh.png"), full_page=True)
        finally:
            browser.close()


LAYERS = [dict(in_channels=3, out_channels=64, input_size=(224, 224), kernel=7, stride=2,
               padding=3, bias=False),
          dict(in_channels=8, out_channels=8, input_size=(17, 9), kernel=3, stride=2,
               padding=((1, 2), (0, 1)), dilation=2, groups=4),
          dict(in_channels=8, out_channels=4, input_size=(9, 9), kernel=3, stride=2,
               transposed=True, counting="skip-padding")]


@pytest.mark.parametrize("spec", LAYERS, ids=["conv7x7", "grouped-dilated", "transposed-skip"])
def test_chinese_layer_page(spec: dict[str, Any]) -> None:
    """The one-layer page too: the convention, the chart and the footer in Chinese, the
    same numbers as the English page."""
    from convcost import conv_cost

    r = conv_cost(**spec)
    en, zh = render(r, "html"), render(r, "html", lang="zh")
    assert numbers(unescape(zh)) == numbers(unescape(en))
    assert english_left(zh, []) == []
    assert len(english_left(en, [])) > 5
    assert "单个" in zh and "卷积层的运算" in zh
