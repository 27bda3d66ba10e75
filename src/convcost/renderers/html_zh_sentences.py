"""The Chinese sentences of the model's HTML report: the lines :mod:`convcost.view` builds
around numbers (the run line, the hardware lines, the dispatch note) and the texts of the
inline SVG charts (titles, legends, axis labels, notes and tooltips).

Decisions:

* The English text is built once, by the same code for every format, and translated here
  afterwards: no ``lang`` is threaded through :mod:`convcost.view` or
  :mod:`convcost.renderers.svg`, so the English report (and the ``--plot`` files) stay
  byte-identical.
* Each sentence shape is a :class:`Template`: a regular expression with named groups that
  must match the *whole* sentence, and the Chinese with the groups filled in. A group is
  copied as it is (numbers with their units, model, op, dtype and device names, flags) or
  translated by its own part: another template (an optional clause, each item of a list)
  or a dictionary of the few words it can hold. A group a part cannot translate makes the
  whole template fail.
* A sentence no template matches stays English, whole (never half-translated): a sentence
  added to the report later is never lost or garbled, only untranslated. The tests render
  every report shape and fail on any English sentence left, so such a sentence is seen.
* In the charts only the text of ``<text>``, ``<title>`` (the tooltips) and ``<desc>`` is
  translated;
  the layout (legend widths, label placement) is the English one. Chinese labels are
  shorter on screen than the English ones, so nothing overflows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html import escape, unescape

__all__ = ["TEMPLATES", "Template", "sentence", "svg_zh"]

#: A number as the report writes it: ``1,075.5``, ``-3``, ``7.4%``.
N = r"-?\d[\d,]*(?:\.\d+)?%?"
#: A number with its unit: ``1.86 ms``, ``78.00 GiB``, ``989.50 TFLOP/s``, ``0 B``.
V = N + r" [^\s,;()]+"
#: An identifier: a model, device, dtype, stack or link name.
ID = r"[^\s,;()]+"

Part = Callable[[str], "str | None"]


@dataclass(frozen=True)
class Template:
    """``pattern`` (matched against the whole sentence) -> ``zh`` (a ``str.format``
    string over the pattern's named groups). ``parts``: how a group is translated (a
    template, a dictionary of its possible words, or a function); other groups are copied.
    A group that did not take part in the match is the empty string."""

    pattern: str
    zh: str
    parts: Mapping[str, Part | Mapping[str, str]] = field(default_factory=dict)

    def __call__(self, s: str) -> str | None:
        """``s`` in Chinese, or ``None`` when the pattern (or a part) does not match it."""
        m = re.fullmatch(self.pattern, s, re.S)
        if m is None:
            return None
        fields: dict[str, str] = {}
        for k, v in m.groupdict().items():
            part = self.parts.get(k)
            if v is None:
                fields[k] = ""
            elif part is None:
                fields[k] = v
            else:
                out = part.get(v) if isinstance(part, Mapping) else part(v)
                if out is None:
                    return None
                fields[k] = out
        return self.zh.format(**fields)


def each(item: Part, sep: str, zh_sep: str) -> Part:
    """A list joined by ``sep`` whose every item ``item`` translates, joined by ``zh_sep``."""
    def part(s: str) -> str | None:
        out = [item(x) for x in s.split(sep)]
        return None if any(x is None for x in out) else zh_sep.join(x for x in out if x)
    return part


PHASES = {"forward": "前向", "backward": "反向", "loss": "损失", "optimizer": "优化器",
          "recompute": "重算"}
MODES = {"train": "训练", "inference": "推理"}
CATEGORIES = {"parameters": "参数", "buffers": "缓冲区", "inputs": "输入", "gradients": "梯度",
              "optimizer state": "优化器状态", "activations": "激活", "temporaries": "临时张量"}
OP_CLASSES = {"cuDNN convolutions": "cuDNN 卷积", "other library calls": "其他库调用",
              "own kernels": "自有内核", "no kernel": "无内核", "module calls": "模块调用"}
ESTIMATE_ASSUMPTIONS_ZH = (
    "每个算子的主机分派与每个内核的启动开销；GEMM 按分块和波次在各 SM 上以可达到的峰值比例运行；"
    "其他算子以可达到的峰值带宽比例读写其字节；单一流，内核之间不重叠，不融合，不选择 cuDNN 算法"
    "（如 Winograd），不计数据加载，数据手册的加速频率（或设备有实测值时，负载下实测的频率）")
ROOFLINE_ASSUMPTIONS_ZH = (
    "稠密内核以该数据类型的峰值 FLOP/s 运行；字节以峰值内存带宽搬运；每个算子读一次输入、写一次"
    "输出；算子之间不重叠；这是按数据手册频率对所追踪实现的下界：融合内核（搬运更少字节）或高于"
    "数据手册加速频率的时钟可以超过它")

#: The assumptions of the time estimate and of the roofline
#: (:data:`convcost.hardware.estimate.ESTIMATE_ASSUMPTIONS`,
#: :data:`convcost.hardware.roofline.ASSUMPTIONS`; a test checks they are still these).
ASSUMPTIONS_ZH: dict[str, str] = {
    "per-op host dispatch and per-kernel launch costs; GEMMs in tiles and waves over the SMs "
    "at an achievable fraction of peak; other ops stream their bytes at an achievable "
    "fraction of peak bandwidth; one stream, no overlap between kernels, no fusion, no "
    "cuDNN algorithm choice (e.g. Winograd), no data loading, datasheet boost clocks (or the "
    "clock measured under load where the device has one)": ESTIMATE_ASSUMPTIONS_ZH,
    "dense kernels at the dtype's peak FLOP/s; bytes moved at peak memory bandwidth; "
    "each op reads its inputs and writes its outputs once; no overlap between ops; a bound "
    "on the traced implementation at datasheet clocks only: fused kernels (fewer bytes "
    "moved) or clocks above the datasheet boost can beat it": ROOFLINE_ASSUMPTIONS_ZH,
}

#: The tooltips of the per-layer table's column headers (``Column.tip`` of
#: :data:`convcost.view.model.COLUMNS`).
TIPS: dict[str, str] = {
    "module path; click to restore the model's order": "模块路径；点击恢复模型顺序",
    "module class": "模块类",
    "output shape": "输出形状",
    "parameters (elements)": "参数（元素个数）",
    "forward multiply-accumulates": "前向乘累加",
    "forward FLOPs (mults + adds + other)": "前向 FLOPs（乘法 + 加法 + 其他）",
    "backward FLOPs for the gradient of the input": "对输入求梯度的反向 FLOPs",
    "backward FLOPs for the gradients of weight and bias": "对权重和偏置求梯度的反向 FLOPs",
    "activations saved for backward (bytes)": "为反向保存的激活（字节）",
    "share of the step's forward + backward FLOPs": "在一步前向 + 反向 FLOPs 中的占比",
    "estimated forward seconds (execution-time model: the layer's share of the step)":
        "估算的前向秒数（执行时间模型：该层在一步中的份额）",
    "estimated backward seconds (execution-time model: the layer's share of the step)":
        "估算的反向秒数（执行时间模型：该层在一步中的份额）",
    "compute- or memory-bound (roofline, whole layer)": "计算瓶颈或内存瓶颈（屋顶线，整层）",
}

#: Whole texts (no numbers in them, or numbers that only ever take these values).
EXACT: dict[str, str] = {
    **ASSUMPTIONS_ZH,
    **TIPS,
    **PHASES,
    **CATEGORIES,
    "backward ∂input": "反向 ∂输入",
    "backward ∂weight (+ ∂bias)": "反向 ∂权重（+ ∂偏置）",
    "GPU running the layer's kernels": "GPU 运行该层的内核",
    "GPU idle, waiting for the host to issue them": "GPU 空闲，等待主机发出内核",
    "compute-bound layer": "计算瓶颈的层",
    "memory-bound layer": "内存瓶颈的层",
    "FLOPs (mults + adds + other)": "FLOPs（乘法 + 加法 + 其他）",
    "live bytes": "存活字节",
    "op index (sample 0: before the first op; sample i: after op i)":
        "算子序号（样本 0：第一个算子之前；样本 i：第 i 个算子之后）",
    "arithmetic intensity (FLOPs per byte moved, log scale)":
        "算术强度（每搬运一字节的 FLOPs，对数刻度）",
    "FLOP/s (log scale)": "FLOP/s（对数刻度）",
    "estimated µs (share of the step)": "估算 µs（在一步中的份额）",
    "no layers": "没有层",
    "grad-input": "输入梯度",
    "grad-weight": "权重梯度",
    "grad-bias": "偏置梯度",
    "backward total": "反向合计",
    "multiplications": "乘法",
    "additions": "加法",
    "approximation (2·MACs, 4·MACs)": "近似（2·MACs、4·MACs）",
    "operations": "运算次数",
    "no memory timeline in this result": "此结果中没有内存时间线",
    "no estimate": "没有估算",
    "dispatch  cpu (forced): memory and ops are those of PyTorch's CPU kernels, not of what "
    "CUDA runs": "分派      cpu（强制）：内存与算子是 PyTorch CPU 内核的，而不是 CUDA 实际运行的",
    "Generic server CPU (illustrative; run `convcost calibrate` for yours)":
        "通用服务器 CPU（示意值；运行 `convcost calibrate` 测出你自己的）",
    "eager PyTorch 2.4 or later with CUDA 12 on a current server CPU (2023 or later)":
        "即时模式 PyTorch 2.4 或更新版本，CUDA 12，当前的服务器 CPU（2023 年或更新）",
    "eager PyTorch 1.9 (NVIDIA's 21.03 NGC container) on DGX-1 / DGX A100 host CPUs: the 2021 "
    "stack of NVIDIA's DeepLearningExamples tables":
        "即时模式 PyTorch 1.9（NVIDIA 的 21.03 NGC 容器），DGX-1 / DGX A100 主机 CPU：NVIDIA "
        "DeepLearningExamples 表格所用的 2021 年软件栈",
    "the model has no data-dependent ops: data_dependent had no effect (counted on fake "
    "tensors)": "模型没有数据相关算子：data_dependent 不起作用（在假张量上计数）",
    "data-dependent sizes computed: the model ran for real on the CPU with random inputs "
    "(seed 0); counts and memory are exact for that input":
        "数据相关的尺寸已算出：模型在 CPU 上用随机输入（seed 0）真实运行；"
        "计数与内存对该输入是精确的",
}


def description(s: str) -> str:
    """A device or stack description: its Chinese when :data:`EXACT` has one, else as it
    is (``NVIDIA H100 SXM5 80 GB`` is a product name)."""
    return EXACT.get(s, s)


def _target(s: str) -> str | None:
    """What the CUDA path made its kernel choices for: ``compute capability 9.0`` or an AMD
    GPU."""
    if s == "an AMD GPU: ROCm's kernel set":
        return "AMD GPU：ROCm 的内核集"
    m = re.fullmatch(r"compute capability (?P<cc>\S+)", s)
    return None if m is None else f"计算能力 {m['cc']}"


def _verdict(s: str) -> str | None:
    """``fits[ (the allocator empties its cache N times to make room)], clears by X`` or
    ``DOES NOT FIT, short by X``."""
    m = re.fullmatch(rf"fits(?: \(the allocator empties its cache (?P<n>\d+) times? to make "
                     rf"room\))?, clears by (?P<c>{V})", s)
    if m is not None:
        rel = f"（分配器为腾出空间清空其缓存 {m['n']} 次）" if m["n"] else ""
        return f"放得下{rel}，余量 {m['c']}"
    m = re.fullmatch(rf"DOES NOT FIT, short by (?P<s>{V})", s)
    return None if m is None else f"放不下，缺 {m['s']}"


USABLE = Template(rf"usable (?P<u>{V})(?P<r> = (?P<t>{V}) - (?P<res>{V}) reserve)?",
                  "可用 {u}{r}", {"r": Template(rf" = (?P<t>{V}) - (?P<res>{V}) reserve",
                                                " = {t} - {res} 预留")})

#: What the memory chart shows.
WHAT = {"one training step": "一个训练步", "an inference forward pass": "一次推理前向"}

FIT_NEXT = {
    "runs out of memory: allocated peak": "显存不足：已分配峰值",
    "needs": "需要",
}

TEMPLATES: tuple[Template, ...] = (
    # ------------------------------------------------------------------ the run line
    Template(
        rf"(?P<mode>train|inference), inputs (?P<inputs>.*?), dtype (?P<dtype>{ID})"
        rf"(?P<amp>, amp {ID})?, optimizer (?P<opt>{ID}), counting (?P<counting>{ID})"
        rf"(?P<dev>, device {ID})?",
        "{mode}，输入 {inputs}，数据类型 {dtype}{amp}，优化器 {opt}，计数方式 {counting}{dev}",
        {"mode": MODES,
         "inputs": each(Template(r"(?P<x>.+?)(?P<g> \(requires grad\))?", "{x}{g}",
                                 {"g": {" (requires grad)": "（需要梯度）"}}), ", ", "，"),
         "amp": Template(rf", amp (?P<a>{ID})", "，自动混合精度 {a}"),
         "dev": Template(rf", device (?P<d>{ID})", "，设备 {d}")}),
    # ------------------------------------------------------------------ the dispatch note
    Template(
        r"cuda \(fake CUDA tensors through PyTorch's CUDA dispatch, (?P<target>[^)]*)\)"
        r"(?P<chosen>: .+)?",
        "cuda（经 PyTorch CUDA 分派的假 CUDA 张量，{target}）{chosen}",
        {"target": _target,
         "chosen": Template(r": (?P<c>.+)", "：{c}")}),
    Template(r"data-dependent sizes at their upper bound: the model ran for real on the CPU "
             r"with random inputs \(seed 0\), every threshold opened(?P<o> \(.*\))? and boxes "
             r"of any size kept, so its own limits \(top-n, detections per image\) decide them",
             "数据相关的尺寸取上界：模型在 CPU 上用随机输入（seed 0）真实运行，打开了每个阈值{o}，"
             "并保留任意大小的框，因此由模型自身的上限（top-n、每张图像的检测数）决定这些尺寸",
             {"o": lambda s: "（" + s[2:-1] + "）"}),
    # ------------------------------------------------------------------ hardware lines
    Template(rf"device\s+(?P<name>{ID}) \((?P<desc>.*)\): (?P<peak>{V}) (?P<dtype>{ID}), "
             rf"(?P<bw>{V}), (?P<mem>{V})",
             "设备      {name}（{desc}）：峰值 {peak} {dtype}，带宽 {bw}，内存 {mem}",
             {"desc": description}),
    Template(rf"note\s+(?P<dev>{ID}) has no (?P<dt>{ID}) peak: the float32 peak is used",
             "注        {dev} 没有 {dt} 峰值：使用 float32 峰值"),
    Template(
        rf"estimate\s+forward (?P<f>{V})(?P<train>, backward .*?; step {V})?, "
        rf"(?P<sps>{N}) samples/s; host (?P<h>{V}), device (?P<d>{V})(?P<hb> \(host-bound\))?",
        "估算      前向 {f}{train}，{sps} samples/s；主机 {h}，设备 {d}{hb}",
        {"train": Template(
            rf", backward (?P<b>{V})(?P<o>, optimizer {V} \((?:foreach|per-parameter)\))?; "
            rf"step (?P<s>{V})", "，反向 {b}{o}；一步 {s}",
            {"o": Template(rf", optimizer (?P<v>{V}) \((?P<k>foreach|per-parameter)\)",
                           "，优化器 {v}（{k}）", {"k": {"foreach": "foreach",
                                                      "per-parameter": "逐参数"}})}),
         "hb": {" (host-bound)": "（主机瓶颈）"}}),
    Template(r"host/device per phase: (?P<ph>.+)", "每个阶段的主机/设备：{ph}",
             {"ph": each(Template(rf"(?P<p>{ID}) (?P<h>{V}) / (?P<d>{V})", "{p} {h} / {d}",
                                  {"p": PHASES}), "; ", "；")}),
    Template(r"per op class \(ops, host / device\): (?P<cl>.+)",
             "每类算子（算子数，主机 / 设备）：{cl}",
             {"cl": each(Template(rf"(?P<c>[A-Za-z ]+?) (?P<n>\d+), (?P<h>{V})"
                                  rf"(?P<d> / {V})?", "{c} {n}，{h}{d}", {"c": OP_CLASSES}),
                         "; ", "；")}),
    Template(rf"stack (?P<name>{ID}) \((?P<desc>.*)\): host (?P<host>.*?)"
             rf"(?P<own> \((?P<keys>[^()]*) the device's own\))?",
             "软件栈 {name}（{desc}）：主机 {host}{own}",
             {"desc": description,
              "own": Template(r" \((?P<k>[^()]*) the device's own\)", "（{k} 取自设备本身）")}),
    Template(r"assumes (?P<a>.+?)(?P<layout>; channels-last \(NHWC\) tensors|; contiguous "
             r"\(NCHW\) tensors: tensor-core convolutions convert them to NHWC and back)?",
             "假设：{a}{layout}",
             {"a": ASSUMPTIONS_ZH.get,
              "layout": {"; channels-last (NHWC) tensors": "；channels-last（NHWC）张量",
                         "; contiguous (NCHW) tensors: tensor-core convolutions convert them "
                         "to NHWC and back": "；连续（NCHW）张量：张量核心卷积把它们转换为 NHWC "
                                             "再转换回来"}}),
    Template(
        rf"roofline\s+\(bound\) forward (?P<f>{V})(?P<train>, backward .*)?",
        "屋顶线    （下界）前向 {f}{train}",
        {"train": Template(
            rf", backward (?P<b>{V})(?P<o>, optimizer {V})?; step (?P<s>{V}), "
            rf"(?P<sps>{N}) samples/s, MFU (?P<mfu>{N}) \(with full recomputation: "
            rf"MFU (?P<mfur>{N}), HFU (?P<hfu>{N})\)",
            "，反向 {b}{o}；一步 {s}，{sps} samples/s，MFU {mfu}"
            "（完全重算时：MFU {mfur}，HFU {hfu}）",
            {"o": Template(rf", optimizer (?P<v>{V})", "，优化器 {v}")})}),
    Template(
        rf"memory\s+on (?P<dev>{ID}): live tensors (?P<live>{V})"
        rf"(?P<alloc>, allocated {V}, reserved {V})? of usable (?P<u>{V}) \((?P<c>{V}) - "
        rf"(?P<r>{V}) reserve\): (?P<verdict>.+)",
        "内存      在 {dev} 上：存活张量 {live}{alloc}，可用 {u}（{c} - {r} 预留）：{verdict}",
        {"alloc": Template(rf", allocated (?P<a>{V}), reserved (?P<r>{V})",
                           "，已分配 {a}，已保留 {r}"),
         "verdict": _verdict}),
    Template(
        rf"PyTorch (?P<v>{ID}) caching allocator, default configuration, (?P<n>\d+) steps from "
        rf"a fresh process; cuBLAS workspace (?P<cb>{V})(?P<cd>, cuDNN workspace {V} per "
        rf"convolution|, cuDNN workspaces not modelled)(?P<fe>; optimizer step: foreach "
        rf"implementation \(PyTorch's GPU default\))?",
        "PyTorch {v} 缓存分配器，默认配置，从新进程起 {n} 步；cuBLAS 工作区 {cb}{cd}{fe}",
        {"cd": Template(rf", cuDNN workspace (?P<w>{V}) per convolution|(?P<no>, cuDNN "
                        r"workspaces not modelled)", "{w}{no}",
                        {"w": lambda s: f"，每个卷积的 cuDNN 工作区 {s}",
                         "no": {", cuDNN workspaces not modelled": "，未建模 cuDNN 工作区"}}),
         "fe": {"; optimizer step: foreach implementation (PyTorch's GPU default)":
                "；优化器一步：foreach 实现（PyTorch 在 GPU 上的默认）"}}),
    Template(
        rf"sharded\s+(?P<st>{ID}) over (?P<n>\d+) devices: per device params (?P<p>{V}), grads "
        rf"(?P<g>{V}), optimizer (?P<o>{V}), peak (?P<pk>{V}); sends (?P<s>{V}) per step, "
        rf"(?P<t>{V}) over (?P<link>{ID})",
        "分片      {st}，{n} 个设备：每个设备参数 {p}，梯度 {g}，优化器 {o}，峰值 {pk}；"
        "每步发送 {s}，经 {link} 用时 {t}"),
    Template(
        rf"fit\s+not even batch 1 fits (?P<dev>{ID}) \((?P<u>usable [^()]*)\): needs "
        rf"(?P<what>allocated peak|peak) (?P<p>{V})",
        "容量      连 batch 1 也放不下 {dev}（{u}）：需要{what} {p}",
        {"u": USABLE, "what": {"allocated peak": "已分配峰值", "peak": "峰值"}}),
    Template(
        rf"fit\s+largest batch on (?P<dev>{ID}) \((?P<u>usable [^()]*)\): (?P<b>\d+) "
        rf"\((?P<what>reserved peak|peak) (?P<p>{V}), clears by (?P<c>{V}); batch (?P<b1>\d+) "
        rf"(?P<next>runs out of memory: allocated peak|needs) (?P<np>{V})\)",
        "容量      {dev} 上最大的 batch（{u}）：{b}（{what} {p}，余量 {c}；"
        "batch {b1} {next} {np}）",
        {"u": USABLE, "what": {"reserved peak": "已保留峰值", "peak": "峰值"},
         "next": FIT_NEXT}),
    # ------------------------------------------------------------------ chart texts
    Template(r"FLOPs per layer — (?P<m>.+) \((?P<mode>train|inference)\)",
             "各层 FLOPs — {m}（{mode}）", {"mode": MODES}),
    Template(r"Live memory during (?P<what>one training step|an inference forward pass) — "
             r"(?P<m>.+)", "{what}中的存活内存 — {m}",
             {"what": WHAT}),
    Template(rf"Roofline — (?P<m>.+) on (?P<dev>{ID}) \((?P<dt>{ID})\)",
             "屋顶线 — {m}，在 {dev} 上（{dt}）"),
    Template(rf"Estimated time per layer — (?P<m>.+) on (?P<dev>{ID})",
             "各层估算时间 — {m}，在 {dev} 上"),
    Template(r"leaf layers in execution \(table\) order — (?P<n>\d+) layers; hover a bar for "
             r"its numbers", "叶子层，按执行（表格）顺序 — 共 {n} 层；悬停在柱上查看数值"),
    Template(rf"leaf layers in execution order — (?P<n>\d+) layers; step (?P<s>{V}) "
             rf"\((?P<b>host|device)-bound: host (?P<h>{V}), device (?P<d>{V})\)",
             "叶子层，按执行顺序 — 共 {n} 层；一步 {s}（{b}瓶颈：主机 {h}，设备 {d}）",
             {"b": {"host": "主机", "device": "设备"}}),
    Template(r"(?P<a>\d+) of (?P<n>\d+) leaf layers placed(?P<o> \(the others do no FLOPs or "
             r"move no bytes\))?", "已绘出 {n} 个叶子层中的 {a} 个{o}",
             {"o": {" (the others do no FLOPs or move no bytes)":
                    "（其余的层没有 FLOPs 或不搬运字节）"}}),
    Template(rf"ridge (?P<v>{V})", "脊点 {v}"),
    Template(rf"peak (?P<v>{V}) \((?P<dt>{ID})\)", "峰值 {v}（{dt}）"),
    Template(rf"memory (?P<v>{V})", "内存带宽 {v}"),
    Template(rf"peak (?P<v>{V})", "峰值 {v}"),
    # the charts' descriptions (<desc>, for screen readers)
    Template(r"Stacked FLOPs of each of the (?P<n>\d+) leaf layers of (?P<m>.+): "
             r"(?P<series>[^:]+)\.", "{m} 的 {n} 个叶子层各自堆叠的 FLOPs：{series}。",
             {"series": each(EXACT.get, ", ", "、")}),
    Template(rf"Stacked live bytes by category over the (?P<n>\d+) samples of (?P<what>one "
             rf"training step|an inference forward pass)(?P<drawn> \(drawn with \d+ samples\))?; "
             rf"peak (?P<v>{V})(?P<where> after op \d+(?: \(.*\))?)\.",
             "{what}的 {n} 个样本中按类别堆叠的存活字节{drawn}；峰值 {v}{where}。",
             {"what": WHAT,
              "drawn": lambda s: f"（用其中 {s.split()[2]} 个样本绘制）",
              "where": Template(r" after op (?P<i>\d+)(?P<l> \(.*\))?", "，在第 {i} 个算子之后{l}",
                                {"l": lambda s: "（" + s[2:-1] + "）"})}),
    Template(rf"Roofline of (?P<dev>{ID}): peak (?P<p>{V}) (?P<dt>{ID}), bandwidth (?P<bw>{V}), "
             rf"ridge at (?P<r>{N}) FLOPs per byte; (?P<note>.+)\.",
             "{dev} 的屋顶线：峰值 {p} {dt}，带宽 {bw}，脊点在每字节 {r} FLOPs；{note}。",
             {"note": lambda s: sentence(s, "zh") if sentence(s, "zh") != s else None}),
    Template(rf"Estimated share of the step of each of the (?P<n>\d+) leaf layers of (?P<m>.+) "
             rf"on (?P<dev>{ID}), split into GPU busy and GPU waiting for the host\.",
             "{m} 的 {n} 个叶子层各自在 {dev} 上一步中的估算份额，分为 GPU 忙与 GPU 等待主机。"),
    # the layer page's chart
    Template(r"Operations of one (?P<t>transposed )?convolution layer \((?P<c>dense|skip-padding) "
             r"counting\)", "单个{t}卷积层的运算（{c} 计数）", {"t": {"transposed ": "转置"}}),
    Template(rf"Exact multiplications and additions per pass; forward (?P<f>{N}) FLOPs vs "
             rf"2·MACs = (?P<fa>{N}), backward (?P<b>{N}) vs 4·MACs = (?P<ba>{N})\.",
             "每一遍精确的乘法与加法；前向 {f} FLOPs 对比 2·MACs = {fa}，反向 {b} 对比 "
             "4·MACs = {ba}。"),
    Template(rf"(?P<l>[a-z -]+): (?P<m>{N}) mults \+ (?P<a>{N}) adds = (?P<t>{N}) FLOPs",
             "{l}：{m} 次乘法 + {a} 次加法 = {t} FLOPs", {"l": EXACT.get}),
    Template(rf"(?P<l>[a-z -]+) approximation: (?P<ap>{N}) FLOPs; exact (?P<e>{N}) "
             rf"\((?P<d>[+-]{N})\)", "{l}近似：{ap} FLOPs；精确值 {e}（{d}）", {"l": EXACT.get}),
    # tooltips (one line each)
    Template(rf"(?P<s>[^:]+): (?P<n>{N}) FLOPs", "{s}：{n} FLOPs",
             {"s": lambda s: EXACT.get(s) if s in PHASES or s.startswith("backward") else None}),
    Template(rf"GPU busy (?P<v>{V})", "GPU 忙 {v}"),
    Template(rf"GPU idle waiting for the host (?P<v>{V})", "GPU 空闲、等待主机 {v}"),
    Template(r"(?P<p>[a-z]+): ops (?P<a>\d+)–(?P<b>\d+)", "{p}：算子 {a}–{b}", {"p": PHASES}),
    Template(rf"(?P<c>[a-z ]+): up to (?P<v>{V}) \((?P<e>{V})\)", "{c}：最多 {v}（{e}）",
             {"c": CATEGORIES}),
    Template(rf"peak (?P<v>{V}) \((?P<e>{V})\) after op (?P<i>\d+)(?P<l> \(.*\))?",
             "峰值 {v}（{e}），在第 {i} 个算子之后{l}",
             {"l": lambda s: "（" + s[2:-1] + "）"}),
    Template(rf"(?P<who>.+ \([^()]*\)): (?P<i>{V}), achieved (?P<a>{V}) \((?P<f>{N}) FLOPs, "
             rf"(?P<b>{V}) moved, (?P<s>{V})\), (?P<bound>compute|memory)-bound",
             "{who}：{i}，达到 {a}（{f} FLOPs，搬运 {b}，{s}），{bound}瓶颈",
             {"bound": {"compute": "计算", "memory": "内存"}}),
)


def sentence(s: str, lang: str) -> str:
    """``s`` in ``lang``: for ``"zh"`` the Chinese of :data:`EXACT` or of the first
    template that matches, else ``s`` itself (as for any other language)."""
    if lang != "zh":
        return s
    if s in EXACT:
        return EXACT[s]
    for t in TEMPLATES:
        out = t(s)
        if out is not None:
            return out
    return s


_SVG_TEXT = re.compile(r"(<(text|title|desc)\b[^>]*>)([^<]*)(</\2>)")
#: The FLOPs chart's band labels: top-level module names, never translated (a module may
#: be called ``loss`` or ``inputs``).
_SVG_NAMES = re.compile(r'(<g class="groups">.*?</g>)', re.S)


def svg_zh(svg: str) -> str:
    """An SVG chart of :mod:`convcost.renderers.svg` with its ``<text>``, ``<title>`` and
    ``<desc>`` contents in Chinese (each line of a multi-line tooltip on its own; markup,
    numbers, layout and the module names labelling the FLOPs chart's bands unchanged)."""
    def one(m: re.Match[str]) -> str:
        lines = unescape(m[3]).split("\n")
        return m[1] + escape("\n".join(sentence(x, "zh") for x in lines), quote=False) + m[4]
    parts = _SVG_NAMES.split(svg)  # odd items: the module-name bands, kept as they are
    return "".join(p if i % 2 else _SVG_TEXT.sub(one, p) for i, p in enumerate(parts))
