"""The words of the single-layer views, per language: titles, sentences of the explanation,
row and column labels. Keys of ``TERMS`` match formula term keys.

Only words live here; every number comes from the formula terms. (They live in the view, not
in a renderer, because the view chooses every label and sentence; renderers only lay out.)
"""

from __future__ import annotations

TITLES: dict[str, dict[str, str]] = {
    "en": {
        "layer": "Layer",
        "output": "1. Output size",
        "taps": "Tap geometry per dimension",
        "forward": "2. Forward cost",
        "memory_forward": "3. Forward memory (elements)",
        "memory_backward": "4. Backward memory (elements)",
        "grad_input": "5a. Backward cost: gradient of the input",
        "grad_weight": "5b. Backward cost: gradient of the weight",
        "grad_bias": "5c. Backward cost: gradient of the bias",
        "backward": "5d. Backward total",
        "approx": "6. Exact count vs the classic approximation",
        "summary": "7. Summary",
    },
    "zh": {
        "layer": "层",
        "output": "1. 输出尺寸",
        "taps": "各维度的抽头几何",
        "forward": "2. 前向计算成本",
        "memory_forward": "3. 前向内存占用(元素数)",
        "memory_backward": "4. 反向内存占用(元素数)",
        "grad_input": "5a. 反向计算成本:输入梯度",
        "grad_weight": "5b. 反向计算成本:权重梯度",
        "grad_bias": "5c. 反向计算成本:偏置梯度",
        "backward": "5d. 反向总计",
        "approx": "6. 精确值与经典近似的比较",
        "summary": "7. 汇总",
    },
}

INTROS: dict[str, dict[str, str]] = {
    "en": {
        "output": "Each output position is one placement of the (dilated) kernel on the "
        "padded input.",
        "output.transposed": "A transposed convolution spreads each input position over a "
        "(dilated) kernel window; padding crops the result and output_padding extends its end.",
        "taps.dense": "R counts the distinct positions of the padded input that some tap "
        "(output position o, kernel offset k) reaches at o·s + k·δ; only those receive "
        "gradient products.",
        "taps.skip-padding": "Only in-bounds taps (input coordinate o·s − p_begin + k·δ inside "
        "the unpadded input) form products. T counts them; Vout, Vk and Vin count the output "
        "positions, kernel offsets and input positions that take part in at least one.",
        "forward.dense": "Every output point takes one product per kernel tap (padding "
        "included) and sums them with one fewer addition than products.",
        "forward.skip-padding": "Products with padding zeros are never formed; every output "
        "point that has at least one product sums them with one fewer addition.",
        "forward.transposed": "The forward pass of a transposed convolution is the input-gradient "
        "computation of the convolution it transposes: products are scattered into the "
        "output and summed where they meet.",
        "memory_forward": "The input, the weights (and bias) and the output are held.",
        "memory_backward": "Backward holds the cached input, the weights, the output gradient, "
        "and produces the weight gradient and the input gradient.",
        "grad_input": "∂X is the transposed convolution of ∂Y with the weights: each of the "
        "products is scattered to an input position and summed there.",
        "grad_input.transposed": "For a transposed layer, ∂X is an ordinary convolution of ∂Y.",
        "grad_input.none": "The layer's input needs no gradient (e.g. a network's first layer): "
        "∂X is neither computed nor stored.",
        "grad_weight": "∂W correlates the input with ∂Y: each weight sums one product per "
        "(batch, output position) pair.",
        "grad_bias": "∂B sums ∂Y over the batch and all output positions of each channel.",
        "backward": "The backward cost is the sum of the gradients computed.",
        "approx": "The classic derivation approximates forward FLOPs by 2·MACs and backward "
        "FLOPs by 4·MACs.",
    },
    "zh": {
        "output": "每个输出位置对应(膨胀后的)卷积核在填充后输入上的一次放置。",
        "output.transposed": "转置卷积把每个输入位置铺展到一个(膨胀后的)卷积核窗口上;"
        "padding 裁剪结果,output_padding 延长末端。",
        "taps.dense": "R 统计填充后输入中被某个抽头(输出位置 o,核偏移 k)在 o·s + k·δ "
        "处触及的不同位置数;只有这些位置会收到梯度乘积。",
        "taps.skip-padding": "只有落在边界内的抽头(输入坐标 o·s − p_begin + k·δ 位于未填充"
        "输入内)才产生乘积。T 是其个数;Vout、Vk、Vin 分别是至少参与一次的输出位置、"
        "核偏移和输入位置的个数。",
        "forward.dense": "每个输出点对每个核抽头(含填充)做一次乘法,再用比乘积少一次的"
        "加法把它们累加。",
        "forward.skip-padding": "与填充零相乘的乘积不计算;每个至少有一个乘积的输出点用比乘积"
        "少一次的加法累加。",
        "forward.transposed": "转置卷积的前向就是它所转置的卷积的输入梯度计算:乘积散布到输出,"
        "在重合处相加。",
        "memory_forward": "需要保存输入、权重(及偏置)和输出。",
        "memory_backward": "反向需要缓存的输入、权重、输出梯度,并产生权重梯度和输入梯度。",
        "grad_input": "∂X 是 ∂Y 与权重的转置卷积:每个乘积散布到一个输入位置并在那里累加。",
        "grad_input.transposed": "对转置层而言,∂X 是 ∂Y 的普通卷积。",
        "grad_input.none": "该层输入不需要梯度(例如网络的第一层):∂X 既不计算也不存储。",
        "grad_weight": "∂W 是输入与 ∂Y 的相关:每个权重对每个(批次,输出位置)累加一个乘积。",
        "grad_bias": "∂B 对每个通道在批次和所有输出位置上求和 ∂Y。",
        "backward": "反向成本是所计算各梯度之和。",
        "approx": "经典推导把前向 FLOPs 近似为 2·MACs,反向 FLOPs 近似为 4·MACs。",
    },
}

TERMS: dict[str, dict[str, str]] = {
    "en": {
        "output.out": "output size",
        "taps.reached": "padded-input positions reached",
        "taps.taps": "in-bounds taps",
        "taps.out_valid": "output positions with an in-bounds tap",
        "taps.kernel_valid": "kernel offsets with an in-bounds tap",
        "taps.in_valid": "input positions read by an in-bounds tap",
        "macs": "multiply-accumulates (every tap, padding included)",
        "products": "products formed (in-bounds taps only)",
        "destinations": "destination elements that receive at least one product",
        "bias_adds": "bias additions (one per output element that has a product)",
        "mults": "multiplications",
        "adds": "additions = products − destinations (+ bias additions)",
        "flops": "FLOPs = multiplications + additions",
        "input": "input",
        "weight": "weight",
        "bias": "bias",
        "output": "output",
        "grad_output": "output gradient",
        "grad_weight": "weight gradient",
        "grad_bias": "bias gradient",
        "grad_input": "input gradient",
        "total_elements": "total elements",
        "total_bytes": "total bytes (e bytes per element)",
        "forward_flops": "forward approximation",
        "backward_flops": "backward approximation",
    },
    "zh": {
        "output.out": "输出尺寸",
        "taps.reached": "被触及的填充后输入位置数",
        "taps.taps": "边界内抽头数",
        "taps.out_valid": "含边界内抽头的输出位置数",
        "taps.kernel_valid": "含边界内抽头的核偏移数",
        "taps.in_valid": "被边界内抽头读取的输入位置数",
        "macs": "乘加次数(每个抽头都计,含填充)",
        "products": "实际形成的乘积数(仅边界内抽头)",
        "destinations": "至少收到一个乘积的目标元素数",
        "bias_adds": "偏置加法(每个有乘积的输出元素一次)",
        "mults": "乘法次数",
        "adds": "加法次数 = 乘积数 − 目标数(+ 偏置加法)",
        "flops": "FLOPs = 乘法 + 加法",
        "input": "输入",
        "weight": "权重",
        "bias": "偏置",
        "output": "输出",
        "grad_output": "输出梯度",
        "grad_weight": "权重梯度",
        "grad_bias": "偏置梯度",
        "grad_input": "输入梯度",
        "total_elements": "元素总数",
        "total_bytes": "总字节数(每元素 e 字节)",
        "forward_flops": "前向近似",
        "backward_flops": "反向近似",
    },
}

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "convcost: cost of one {kind} layer ({counting} counting)",
        "conv": "convolution",
        "conv_transpose": "transposed convolution",
        "layer_line": "input {inp}, weight {w}, output {out}, stride {s}, padding {p}, "
        "dilation {d}, groups {g}, bias {b}, dtype {dt}",
        "yes": "yes",
        "no": "no",
        "exact": "exact",
        "approx": "approximation",
        "difference": "difference",
        "equal": "The exact count equals the approximation.",
        "diff_line": "{what}: exact {exact} vs approximation {approx}: {diff:+,} ({pct:+.4f}%)",
        "forward": "forward",
        "backward": "backward",
        "why": "because:",
        "why.skipped": "{n:,} products with padding zeros are not formed (×2 for their additions)",
        "why.dest": "each of the {n:,} destination elements of {what} sums its products with one "
        "fewer addition than products",
        "why.bias": "{n:,} bias additions",
        "why.no_gi": "the input gradient is not computed (the approximation assumes it is)",
        "why.gb": "{n:,} additions for the bias gradient",
        "row.forward": "forward",
        "row.grad_input": "grad-input",
        "row.grad_weight": "grad-weight",
        "row.grad_bias": "grad-bias",
        "row.backward": "backward total",
        "col.what": "",
        "col.mults": "mults",
        "col.adds": "adds",
        "col.flops": "FLOPs",
        "col.approx": "approx FLOPs",
        "col.elements": "elements",
        "col.bytes": "bytes",
        "mem.forward": "forward memory",
        "mem.backward": "backward memory",
        "macs_line": "MACs {macs}",
        "output_shape": "output shape",
    },
    "zh": {
        "title": "convcost:单个{kind}层的成本({counting} 计数)",
        "conv": "卷积",
        "conv_transpose": "转置卷积",
        "layer_line": "输入 {inp},权重 {w},输出 {out},步幅 {s},填充 {p},膨胀 {d},分组 {g},"
        "偏置 {b},数据类型 {dt}",
        "yes": "有",
        "no": "无",
        "exact": "精确值",
        "approx": "近似值",
        "difference": "差值",
        "equal": "精确值与近似值相等。",
        "diff_line": "{what}:精确值 {exact},近似值 {approx}:相差 {diff:+,}({pct:+.4f}%)",
        "forward": "前向",
        "backward": "反向",
        "why": "原因:",
        "why.skipped": "{n:,} 个与填充零相乘的乘积不计算(其加法同样省去,计 ×2)",
        "why.dest": "{what}的 {n:,} 个目标元素各自用比乘积少一次的加法累加",
        "why.bias": "{n:,} 次偏置加法",
        "why.no_gi": "不计算输入梯度(近似公式假定要计算)",
        "why.gb": "偏置梯度需要 {n:,} 次加法",
        "row.forward": "前向",
        "row.grad_input": "输入梯度",
        "row.grad_weight": "权重梯度",
        "row.grad_bias": "偏置梯度",
        "row.backward": "反向合计",
        "col.what": "",
        "col.mults": "乘法",
        "col.adds": "加法",
        "col.flops": "FLOPs",
        "col.approx": "近似 FLOPs",
        "col.elements": "元素数",
        "col.bytes": "字节",
        "mem.forward": "前向内存",
        "mem.backward": "反向内存",
        "macs_line": "MACs {macs}",
        "output_shape": "输出形状",
    },
}
