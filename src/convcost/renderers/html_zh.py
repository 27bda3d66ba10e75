"""The Chinese words of the model's HTML report (``render(result, "html", lang="zh")``).

Decisions:

* The fixed text of the report — headings, row and column labels, notes, chart titles and
  captions, the table's toolbar — is looked up here by its English text; a text with no
  entry stays English (so a label added to the report later is never lost, only untranslated).
* Numbers, units, op and module names stay as they are. The sentences built around
  numbers by :mod:`convcost.view` (the run line, the hardware lines) and the charts' texts
  are translated by :mod:`convcost.renderers.html_zh_sentences`, one template per sentence
  shape.
"""

from __future__ import annotations

__all__ = ["ZH", "word"]

#: English text of the model report -> Chinese.
ZH: dict[str, str] = {
    "summary": "摘要",
    "charts": "图表",
    "roofline": "屋顶线",
    "layers": "各层",
    "unsupported ops": "不支持的算子",
    "Summary": "摘要",
    "Charts": "图表",
    "Layers": "各层",
    "Run": "运行设置",
    "Compute": "计算量",
    "Memory": "内存",
    "Hardware (time estimate and roofline bound)": "硬件（时间估算与屋顶线下界）",
    "On {device}": "在 {device} 上",
    "model": "模型",
    "inputs": "输入",
    "mode": "模式",
    "dtype": "数据类型",
    "optimizer": "优化器",
    "counting": "计数方式",
    "frozen": "冻结",
    "data-dependent ops": "数据相关算子",
    "dispatch": "分派",
    "device": "设备",
    "parameters": "参数量",
    "trainable": "可训练参数量",
    "none given (no roofline)": "未指定（无屋顶线）",
    "autocast": "自动混合精度",
    "train": "训练",
    "inference": "推理",
    "forward": "前向",
    "backward": "反向",
    "  ∂input": "  ∂输入",
    "  ∂weight": "  ∂权重",
    "  ∂bias": "  ∂偏置",
    "recompute (checkpointing)": "重算（激活检查点）",
    "optimizer step": "优化器一步",
    "  first step (state created)": "  第一步（创建状态）",
    "mults": "乘法",
    "adds": "加法",
    "other": "其他",
    "buffers": "缓冲区",
    "gradients": "梯度",
    "optimizer state": "优化器状态",
    "saved activations": "保存的激活",
    "temporaries (all of the step, not live at once)": "临时张量（整步合计，并非同时存在）",
    "peak, inference forward": "峰值，推理前向",
    "peak, training step (first)": "峰值，训练一步（首步）",
    "peak, later training steps": "峰值，之后的训练步",
    "live tensors": "存活张量",
    "allocated (max_memory_allocated)": "已分配（max_memory_allocated）",
    "reserved (max_memory_reserved)": "已保留（max_memory_reserved）",
    "usable": "可用",
    "reserve (context, libraries, driver)": "预留（上下文、库、驱动）",
    "{device} memory": "{device} 显存",
    "fits, clears by {bytes}": "放得下，余量 {bytes}",
    "does not fit: short by {bytes}": "放不下：缺 {bytes}",
    "The peak is reached after op {index}": "峰值出现在第 {index} 个算子之后",
    "convention":
        "FLOPs 计入每一次标量运算：乘法 + 加法 + 其他标量运算（比较、除法、平方根、指数……）；一次"
        "融合乘加算作两次。MACs 是乘累加——卷积与矩阵乘法中的乘积——不是 FLOPs：约每个 MAC 2 FLOPs"
        "。（PyTorch 的 FLOP 计数器报告 2·MACs；fvcore、ptflops 和 thop 以“FLOPs”之名报告 MACs。"
        "）",
    "dense": "dense 计数：每个卷积核抽头都是一次乘积，包括填充的零（im2col/GEMM）。",
    "skip-padding": "skip-padding 计数：不计与填充零的乘积（直接卷积）。",
    "Counted through PyTorch's decomposition (no formula of their own): {ops}.":
        "通过 PyTorch 的分解计数（没有自己的公式）：{ops}。",
    "Unsupported ops: their cost is NOT in any total or chart.":
        "不支持的算子：它们的开销不在任何合计或图表中。",
    "FLOPs per layer": "各层 FLOPs",
    "Live memory": "存活内存",
    "Roofline": "屋顶线",
    "Where the time goes": "时间花在哪里",
    "flops_train_caption":
        "每个叶子层的前向与反向 FLOPs，按执行顺序；反向分为对该层输入的梯度（∂输入）和对其参数的"
        "梯度（∂权重 + ∂偏置）。将鼠标悬停在柱上可见精确数值。",
    "flops_caption": "每个叶子层的前向 FLOPs，按执行顺序。将鼠标悬停在柱上可见精确数值。",
    "memory_caption":
        "每个算子之后存活张量存储所占的字节数，按类别堆叠；阴影带为一步中的各阶段。前向保存的激活"
        "在反向中释放；峰值已标出。",
    "roofline_caption":
        "每个叶子层按其算术强度（每读写一字节的 FLOPs，前向 + 反向）和达到的 FLOP/s（FLOPs 除以预"
        "测时间）绘制。假设：{assumptions}。",
    "time_caption":
        "每个叶子层在估算单步时间（前向 + 反向）中的占比，分为 GPU 运行其内核的时间和主机发出内核"
        "时 GPU 空闲的时间（PyTorch 即时模式的分派与启动）。假设：{assumptions}。",
    "layers_note":
        "全部 {n} 个模块。数值为包含式（模块所在行包含其子模块）；<code>(functional)</code> 行是"
        "父模块自身的算子，因此叶子行之和等于合计。点击表头排序（再点一次反向；<em>模块</em> 恢"
        "复模型顺序），输入文字按路径或类型筛选，点击有子模块的行可折叠或展开。",
    "filter by module path or type": "按模块路径或类型筛选",
    "filter layers": "筛选各层",
    "collapse all": "全部折叠",
    "expand all": "全部展开",
    "module": "模块",
    "type": "类型",
    "output": "输出",
    "params": "参数",
    "fwd MACs": "前向 MACs",
    "fwd FLOPs": "前向 FLOPs",
    "bwd ∂input": "反向 ∂输入",
    "bwd ∂params": "反向 ∂参数",
    "saved": "保存",
    "share": "占比",
    "time fwd": "前向时间",
    "time bwd": "反向时间",
    "bound": "瓶颈",
    "compute": "计算",
    "memory": "内存",
    "footer":
        "由 convcost {version} 生成。精确计数来自算子公式；没有在真实张量上做任何计算。本文件自成"
        "一体，不从网络加载任何内容。",
    "layer_footer":
        "由 convcost {version} 生成。每个数字与公式都来自同一组表达式树；本文件自成一体，"
        "不从网络加载任何内容。",
}


def word(text: str, lang: str, key: str | None = None, **fields: object) -> str:
    """``text`` in ``lang`` (for ``"zh"`` the entry of ``key``, or of ``text`` itself, when
    there is one; else ``text``), with ``{name}`` fields filled from ``fields``."""
    out = ZH.get(key or text, text) if lang == "zh" else text
    return out.format(**fields) if fields else out
