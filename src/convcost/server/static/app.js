// convcost serve: the page. Plain JavaScript, no framework, no build step, nothing from the
// network: every request goes to this server (the page's CSP says connect-src 'self').
//
// Layer tab: the form's controls are named after the keys of POST /api/conv; every change
// (debounced) asks for the JSON in the chosen counting convention and in the other one, then
// the HTML report (the derivation), shown in an iframe from a blob: URL. Every number shown
// carries data-field with its path in the JSON document (in the table of both conventions,
// qualified by the document's counting: "dense:forward.flops", "skip-padding:macs").
// Model tab: model.js (it uses the helpers this file exports as window.convcostPage).
//
// Integers are exact at any size: JSON answers are parsed with a reviver that reads the
// source text of every integer beyond 2^53 as a BigInt (parseJSON), and request bodies are
// written by toJSON, which writes a BigInt's decimal digits (JSON.stringify cannot).
"use strict";

(function () {
  // ------------------------------------------------------------------ words
  const I18N = {
    en: {
      tagline: "exact FLOPs and memory of convolutions and models",
      views: "Views", tab_layer: "Layer", tab_model: "Model",
      layer_title: "One convolution",
      in_channels: "Input channels", out_channels: "Output channels",
      input_size: "Input size (spatial)", input_size_hint: "L, HxW or DxHxW, e.g. 224x224",
      kernel: "Kernel", stride: "Stride", padding: "Padding",
      padding_hint: "3, 3x1, 1:2, same, valid", dilation: "Dilation", groups: "Groups",
      batch: "Batch", dtype: "Data type", counting: "Counting",
      counting_dense: "dense", counting_skip: "skip-padding",
      bias: "Bias", input_grad: "Input needs a gradient", transposed: "Transposed",
      output_padding: "Output padding (transposed only)",
      output_shape: "Output shape", macs: "MACs",
      counts_title: "Arithmetic", both_title: "Both counting conventions",
      both_note: "dense counts every kernel tap, padding included (what most FLOP counters " +
        "report); skip-padding counts only the taps that touch the input (the direct algorithm).",
      memory_title: "Memory (elements)", derivation_title: "Derivation",
      derivation_frame: "The layer's report: the derivation step by step",
      col_part: "", col_macs: "MACs", col_mults: "mults", col_adds: "adds", col_other: "other",
      col_flops: "FLOPs", col_quantity: "",
      row_forward: "forward", "row_backward.grad_input": "backward: input gradient",
      "row_backward.grad_weight": "backward: weight gradient",
      "row_backward.grad_bias": "backward: bias gradient", "row_backward.total": "backward total",
      "q_forward.mults": "forward mults", "q_forward.flops": "forward FLOPs",
      "q_backward.grad_input.flops": "input-gradient FLOPs",
      "q_backward.grad_weight.flops": "weight-gradient FLOPs",
      "q_backward.total.flops": "backward FLOPs",
      approx_title: "The usual approximation (2 × MACs)",
      "approx_seed_approx.forward_flops": "forward ≈ 2 × MACs",
      "approx_seed_approx.backward_flops": "backward ≈ 4 × MACs",
      exact: "exact", approx: "approximation",
      mem_forward: "forward", mem_backward: "backward (training step)",
      mem_input: "input", mem_weight: "weight", mem_bias: "bias", mem_output: "output",
      mem_grad_output: "output gradient", mem_grad_weight: "weight gradient",
      mem_grad_bias: "bias gradient", mem_grad_input: "input gradient",
      mem_total_elements: "total (elements)", mem_total_bytes: "total (bytes)",
      not_number: "not a number",
      source: "What to analyse", source_zoo: "an installed torchvision/timm model",
      source_onnx: "an ONNX file", target: "Model", target_hint: "type to search",
      models_count: "{n} models installed", models_loading: "loading the list…",
      onnx_file: "ONNX file", drop_hint: "Drop an .onnx file here or click to choose one",
      no_file: "choose an ONNX file first",
      inputs: "Inputs",
      inputs_hint: "one shape per line or comma-separated, e.g. 2x3x224x224; name=shape for " +
        "a named input (input=2x3x224x224); optional for an ONNX file with static shapes",
      reserve_ph: "e.g. 2GiB", reserve_hint: "default: the device's own reserve",
      cancel: "Cancel", cancelled: "cancelled",
      stale: "This report is for earlier settings: the form has changed or the last run did " +
        "not finish.",
      cached: "from the cache", cached_took: "from the cache (first answered in {s} s)",
      copy_cli: "Copy as CLI command", copy_curl: "Copy as curl", copied: "copied",
      copy_manual: "select the command and copy it",
      sweep: "Batch sweep", sweep_run: "Sweep", sweep_hint: "batch sizes, e.g. 1,8,32: one " +
        "analysis each, replacing the first dimension of every input (as convcost model --batch)",
      sweep_bad: "write batch sizes like 1,8,32 (whole numbers of 1 or more)",
      sweep_no_inputs: "a sweep needs the input shapes: it replaces their first dimension",
      sweep_title: "Batch sweep", sweep_progress: "{i} of {n}",
      pin: "Keep as A for comparison", unpin: "Clear A",
      compare_title: "Comparison: A (kept) and B (this result)",
      col_metric: "", col_a: "A", col_b: "B", col_ratio: "B / A", col_batch: "batch",
      m_model: "model", m_inputs: "inputs", m_mode: "mode", m_device: "device",
      m_params: "parameters", m_trainable: "trainable parameters",
      m_fwd_macs: "forward MACs", m_fwd_flops: "forward FLOPs", m_bwd_flops: "backward FLOPs",
      m_saved: "saved activations (bytes)", m_peak: "peak memory (bytes)",
      m_step: "step time (estimate, s)", m_sps: "samples/s (estimate)",
      m_fits: "fits the device", yes: "yes", no: "no",
      real_run: "This model runs for real on the CPU (a detection model: its data-dependent " +
        "ops, score thresholds and non-maximum suppression, run on random inputs): time and " +
        "memory grow with the input size.",
      run_anyway: "Run anyway",
      mode: "Mode", mode_train: "training step", mode_inference: "inference",
      model_dtype: "Convert to dtype", keep: "(keep)", amp: "Mixed precision (AMP)", off: "off",
      optimizer: "Optimizer", freeze: "Freeze (regex of parameter names)",
      device: "Device (step time)", none: "none", devices: "Devices (data parallel)",
      reserve: "Reserve (memory PyTorch cannot use)",
      strategy: "Strategy", interconnect: "Interconnect", tf32: "TF32 tensor cores",
      channels_last: "Channels-last (NHWC) tensors",
      model_input_grad: "Inputs need gradients", run: "Run", running: "Analysing…",
      report_title: "Report", json_link: "JSON of this result",
      download_link: "Download the report (HTML)", model_frame: "The model's report",
      took: "answered in {s} s",
      footer: "Everything runs on this computer: the page loads nothing from the network.",
      api_link: "API (OpenAPI)", network_error: "the server did not answer",
    },
    zh: {
      tagline: "卷积层与整个模型的精确 FLOPs 和内存",
      views: "视图", tab_layer: "单层", tab_model: "模型",
      layer_title: "一个卷积层",
      in_channels: "输入通道数", out_channels: "输出通道数",
      input_size: "输入尺寸（空间维度）", input_size_hint: "L、HxW 或 DxHxW，例如 224x224",
      kernel: "卷积核", stride: "步长", padding: "填充",
      padding_hint: "3、3x1、1:2、same、valid", dilation: "膨胀", groups: "分组数",
      batch: "批大小", dtype: "数据类型", counting: "计数方式",
      counting_dense: "dense（含填充）", counting_skip: "skip-padding（跳过填充）",
      bias: "偏置", input_grad: "输入需要梯度", transposed: "转置卷积",
      output_padding: "输出填充（仅转置卷积）",
      output_shape: "输出形状", macs: "乘加数（MACs）",
      counts_title: "运算量", both_title: "两种计数方式",
      both_note: "dense 计入每个卷积核抽头（包括填充，多数 FLOP 统计工具的口径）；" +
        "skip-padding 只计入落在输入上的抽头（直接算法）。",
      memory_title: "内存（元素个数）", derivation_title: "推导过程",
      derivation_frame: "该层的报告：逐步推导",
      col_part: "", col_macs: "MACs", col_mults: "乘法", col_adds: "加法", col_other: "其他",
      col_flops: "FLOPs", col_quantity: "",
      row_forward: "前向", "row_backward.grad_input": "反向：输入梯度",
      "row_backward.grad_weight": "反向：权重梯度",
      "row_backward.grad_bias": "反向：偏置梯度", "row_backward.total": "反向合计",
      "q_forward.mults": "前向乘法", "q_forward.flops": "前向 FLOPs",
      "q_backward.grad_input.flops": "输入梯度 FLOPs",
      "q_backward.grad_weight.flops": "权重梯度 FLOPs",
      "q_backward.total.flops": "反向 FLOPs",
      approx_title: "常用近似（2 × MACs）",
      "approx_seed_approx.forward_flops": "前向 ≈ 2 × MACs",
      "approx_seed_approx.backward_flops": "反向 ≈ 4 × MACs",
      exact: "精确值", approx: "近似值",
      mem_forward: "前向", mem_backward: "反向（训练一步）",
      mem_input: "输入", mem_weight: "权重", mem_bias: "偏置", mem_output: "输出",
      mem_grad_output: "输出梯度", mem_grad_weight: "权重梯度",
      mem_grad_bias: "偏置梯度", mem_grad_input: "输入梯度",
      mem_total_elements: "合计（元素）", mem_total_bytes: "合计（字节）",
      not_number: "不是数字",
      source: "分析对象", source_zoo: "已安装的 torchvision/timm 模型",
      source_onnx: "ONNX 文件", target: "模型", target_hint: "输入以搜索",
      models_count: "已安装 {n} 个模型", models_loading: "正在加载列表…",
      onnx_file: "ONNX 文件", drop_hint: "将 .onnx 文件拖放到此处，或点击选择",
      no_file: "请先选择一个 ONNX 文件",
      inputs: "输入",
      inputs_hint: "每行一个形状或用逗号分隔，例如 2x3x224x224；具名输入写作 名称=形状" +
        "（input=2x3x224x224）；形状固定的 ONNX 文件可省略",
      reserve_ph: "例如 2GiB", reserve_hint: "默认：设备自身的预留值",
      cancel: "取消", cancelled: "已取消",
      stale: "此报告对应之前的设置：表单已更改，或上次运行没有完成。",
      cached: "来自缓存", cached_took: "来自缓存（首次用时 {s} 秒）",
      copy_cli: "复制为命令行", copy_curl: "复制为 curl 命令", copied: "已复制",
      copy_manual: "请选中命令后复制",
      sweep: "批大小扫描", sweep_run: "扫描", sweep_hint: "批大小，例如 1,8,32：每个分析一次，" +
        "替换每个输入的第一维（同 convcost model --batch）",
      sweep_bad: "请写批大小，例如 1,8,32（不小于 1 的整数）",
      sweep_no_inputs: "扫描需要输入形状：它替换其第一维",
      sweep_title: "批大小扫描", sweep_progress: "第 {i}/{n} 个",
      pin: "保留为 A 以便比较", unpin: "清除 A",
      compare_title: "比较：A（保留的）与 B（当前结果）",
      col_metric: "", col_a: "A", col_b: "B", col_ratio: "B / A", col_batch: "批大小",
      m_model: "模型", m_inputs: "输入", m_mode: "模式", m_device: "设备",
      m_params: "参数量", m_trainable: "可训练参数量",
      m_fwd_macs: "前向 MACs", m_fwd_flops: "前向 FLOPs", m_bwd_flops: "反向 FLOPs",
      m_saved: "保存的激活（字节）", m_peak: "内存峰值（字节）",
      m_step: "单步时间（估算，秒）", m_sps: "每秒样本数（估算）",
      m_fits: "设备内存放得下", yes: "是", no: "否",
      real_run: "该模型会在 CPU 上真实运行（检测模型：其数据相关的算子——分数阈值与非极大值抑制——" +
        "在随机输入上运行）：时间和内存随输入尺寸增长。",
      run_anyway: "仍然运行",
      mode: "模式", mode_train: "训练一步", mode_inference: "推理",
      model_dtype: "转换数据类型", keep: "（保持不变）", amp: "混合精度（AMP）", off: "关闭",
      optimizer: "优化器", freeze: "冻结（参数名的正则表达式）",
      device: "设备（估算单步时间）", none: "无", devices: "设备数（数据并行）",
      reserve: "预留显存（PyTorch 不可用的部分）",
      strategy: "并行策略", interconnect: "互连", tf32: "TF32 张量核心",
      channels_last: "通道在后（NHWC）张量",
      model_input_grad: "输入需要梯度", run: "运行", running: "正在分析…",
      report_title: "报告", json_link: "该结果的 JSON",
      download_link: "下载报告（HTML）", model_frame: "模型的报告",
      took: "用时 {s} 秒",
      footer: "一切都在本机运行：页面不从网络加载任何内容。",
      api_link: "API（OpenAPI）", network_error: "服务器没有响应",
    },
  };
  const LANGS = Object.keys(I18N);
  let lang = "en";

  function t(key, vars) {
    let s = I18N[lang][key];
    if (s === undefined) s = I18N.en[key];
    if (s === undefined) return key;
    for (const [k, v] of Object.entries(vars || {})) s = s.replace("{" + k + "}", String(v));
    return s;
  }

  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === "text") e.textContent = v; else e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  // ------------------------------------------------------------------ numbers
  // JSON integers beyond 2^53 are read exactly (as BigInt) where the browser gives the
  // source text to the reviver; elsewhere they are rounded like any JSON.parse.
  function parseJSON(text) {
    return JSON.parse(text, function (key, value, context) {
      if (typeof value === "number" && !Number.isSafeInteger(value) && context &&
          typeof context.source === "string" && /^-?\d+$/.test(context.source)) {
        return BigInt(context.source);
      }
      return value;
    });
  }

  // JSON text of `v` with BigInts written exactly (JSON.stringify throws on them).
  function toJSON(v) {
    if (typeof v === "bigint") return v.toString();
    if (Array.isArray(v)) return "[" + v.map(toJSON).join(",") + "]";
    if (v !== null && typeof v === "object") {
      return "{" + Object.entries(v).filter(([, x]) => x !== undefined)
        .map(([k, x]) => JSON.stringify(k) + ":" + toJSON(x)).join(",") + "}";
    }
    return JSON.stringify(v);
  }

  // An integer typed in a form: a BigInt (exact at any size), or the text itself when it is
  // not an integer (the server names the field).
  function intOrText(s) {
    return /^[+-]?\d+$/.test(s) ? BigInt(s) : s;
  }

  function fmt(v) {
    if (typeof v === "bigint") return v.toLocaleString("en-US");
    if (typeof v === "number") {
      return Number.isInteger(v) ? v.toLocaleString("en-US")
        : v.toLocaleString("en-US", { maximumSignificantDigits: 6 });
    }
    if (Array.isArray(v)) return v.map(fmt).join(" × ");
    if (v === null || v === undefined) return "–";
    return String(v);
  }

  function getPath(doc, path) {
    let v = doc;
    for (const part of path.split(".")) {
      if (v === null || typeof v !== "object" || !(part in v)) return undefined;
      v = v[part];
    }
    return v;
  }

  // A number of a document: its text, data-field (the path, qualified by "<counting>:" in
  // the table of both conventions) and data-value (exact).
  function numberNode(tag, doc, path, prefix) {
    const v = getPath(doc, path);
    const node = el(tag, { "data-field": (prefix || "") + path });
    setNumber(node, v);
    return node;
  }

  // The number's text, breakable only after its group separators (a long number wraps at a
  // comma, never between two digits).
  function setNumber(node, v) {
    const parts = fmt(v).split(",");
    node.replaceChildren();
    parts.forEach((p, i) => {
      if (i) node.append(",", document.createElement("wbr"));
      node.append(p);
    });
    node.dataset.value = Array.isArray(v) ? v.join("x") : String(v);
  }

  // ------------------------------------------------------------------ language
  function applyLang(next) {
    lang = LANGS.includes(next) ? next : "en";
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    for (const node of $$("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of $$("[data-i18n-title]")) node.title = t(node.dataset.i18nTitle);
    for (const node of $$("[data-i18n-placeholder]")) {
      node.placeholder = t(node.dataset.i18nPlaceholder);
    }
    for (const node of $$("[data-i18n-aria-label]")) {
      node.setAttribute("aria-label", t(node.dataset.i18nAriaLabel));
    }
    for (const b of $$(".langs button")) {
      b.setAttribute("aria-pressed", String(b.dataset.lang === lang));
    }
    try { localStorage.setItem("convcost-lang", lang); } catch (e) { /* private mode */ }
    for (const f of hooks.lang) f(lang);
    if (layer.last) renderLayer(layer.last.doc, layer.last.other);
    layer.htmlKey = null;
    scheduleLayer(0);
  }

  // ------------------------------------------------------------------ tabs
  function selectTab(tab, focus) {
    for (const b of $$('[role="tab"]')) {
      const on = b === tab;
      b.setAttribute("aria-selected", String(on));
      b.tabIndex = on ? 0 : -1;
      $("#" + b.getAttribute("aria-controls")).hidden = !on;
    }
    if (focus) tab.focus();
    for (const f of hooks.tab) f(tab.id);
  }

  function initTabs() {
    const tabs = $$('[role="tab"]');
    for (const tab of tabs) {
      tab.addEventListener("click", () => selectTab(tab, false));
      tab.addEventListener("keydown", (e) => {
        const i = tabs.indexOf(tab);
        let j = null;
        if (e.key === "ArrowRight") j = (i + 1) % tabs.length;
        else if (e.key === "ArrowLeft") j = (i - 1 + tabs.length) % tabs.length;
        else if (e.key === "Home") j = 0;
        else if (e.key === "End") j = tabs.length - 1;
        if (j !== null) { e.preventDefault(); selectTab(tabs[j], true); }
      });
    }
  }

  // ------------------------------------------------------------------ errors by field
  function clearErrors(form) {
    for (const c of $$("[aria-invalid]", form)) {
      c.removeAttribute("aria-invalid");
      const ids = (c.getAttribute("aria-describedby") || "").split(" ")
        .filter((id) => id && !id.startsWith("err-"));
      if (ids.length) c.setAttribute("aria-describedby", ids.join(" "));
      else c.removeAttribute("aria-describedby");
    }
    for (const p of $$(".error.field-error", form)) p.remove();
    const general = $(".error.general", form);
    general.hidden = true;
    general.textContent = "";
  }

  // The message next to the control named `field` (marked aria-invalid), or in the form's
  // general error line when no control has that name.
  function showError(form, field, message, aliases) {
    const name = (aliases && aliases[field]) || field;
    const control = name ? form.elements.namedItem(name) : null;
    if (control && control.nodeType === 1 && control.type !== "radio") {
      const id = "err-" + form.id + "-" + name;
      let p = document.getElementById(id);
      if (!p) {
        p = el("p", { id: id, class: "error field-error" });
        control.closest(".field").append(p);
      }
      p.textContent = message;
      control.setAttribute("aria-invalid", "true");
      const ids = (control.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      if (!ids.includes(id)) ids.push(id);
      control.setAttribute("aria-describedby", ids.join(" "));
      return;
    }
    const general = $(".error.general", form);
    general.textContent = message;
    general.hidden = false;
  }

  async function readError(resp) {
    try {
      const doc = await resp.json();
      return { field: doc.field || null, error: doc.error || resp.status + " " + resp.statusText };
    } catch (e) {
      return { field: null, error: resp.status + " " + resp.statusText };
    }
  }

  // ------------------------------------------------------------------ one layer
  const layer = { seq: 0, timer: null, last: null, htmlKey: null, blobUrl: null, ctrl: null };
  const INT_KEYS = ["in_channels", "out_channels", "groups", "batch"];
  const TEXT_KEYS = ["input_size", "kernel", "stride", "padding", "dilation", "output_padding"];
  const BOOL_KEYS = ["bias", "transposed", "input_grad"];

  // The body of POST /api/conv, or {error} for a control the browser cannot read as a number.
  function layerBody() {
    const f = $("#layer-form").elements;
    const body = {};
    for (const k of INT_KEYS) {
      const c = f.namedItem(k);
      if (c.validity && c.validity.badInput) return { field: k, error: k + ": " + t("not_number") };
      const s = c.value.trim();
      if (s === "") continue;  // the server says what is required
      body[k] = intOrText(s);  // exact beyond 2^53; "2.5": the server names the field
    }
    for (const k of TEXT_KEYS) {
      const s = f.namedItem(k).value.trim();
      if (s !== "") body[k] = s;
    }
    for (const k of BOOL_KEYS) body[k] = f.namedItem(k).checked;
    body.dtype = f.namedItem("dtype").value;
    body.counting = f.namedItem("counting").value;
    return { body: body };
  }

  function scheduleLayer(delay) {
    clearTimeout(layer.timer);
    layer.timer = setTimeout(updateLayer, delay === undefined ? 150 : delay);
  }

  async function postConv(body, query, signal) {
    return fetch("/api/conv" + (query || ""), {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: toJSON(body), signal: signal,
    });
  }

  async function updateLayer() {
    const seq = ++layer.seq;
    if (layer.ctrl) layer.ctrl.abort();
    const ctrl = new AbortController();
    layer.ctrl = ctrl;
    const form = $("#layer-form");
    const result = $("#layer-result");
    const got = layerBody();
    if (got.error) {
      clearErrors(form);
      showError(form, got.field, got.error);
      result.classList.add("stale");
      return;
    }
    const body = got.body;
    const other = Object.assign({}, body, {
      counting: body.counting === "dense" ? "skip-padding" : "dense",
    });
    result.setAttribute("aria-busy", "true");
    try {
      const [r1, r2] = await Promise.all([postConv(body, "", ctrl.signal),
                                          postConv(other, "", ctrl.signal)]);
      if (seq !== layer.seq) return;
      clearErrors(form);
      if (!r1.ok) {
        const e = await readError(r1);
        if (seq !== layer.seq) return;
        showError(form, e.field, e.error);
        result.classList.add("stale");
        return;
      }
      const doc = parseJSON(await r1.text());
      const alt = r2.ok ? parseJSON(await r2.text()) : null;
      if (seq !== layer.seq) return;
      result.classList.remove("stale");
      layer.last = { doc: doc, other: alt };
      renderLayer(doc, alt);
      await updateDerivation(body, seq, ctrl.signal);
    } catch (e) {
      if (e.name === "AbortError") return;
      if (seq === layer.seq) {
        clearErrors(form);
        showError(form, null, t("network_error") + " (" + e.message + ")");
      }
    } finally {
      if (seq === layer.seq) result.setAttribute("aria-busy", "false");
    }
  }

  async function updateDerivation(body, seq, signal) {
    const key = toJSON([body, lang]);
    if (key === layer.htmlKey) return;
    const resp = await postConv(body, "?format=html&lang=" + lang, signal);
    if (!resp.ok || seq !== layer.seq) return;
    const blob = new Blob([await resp.text()], { type: "text/html" });
    if (seq !== layer.seq) return;
    const old = layer.blobUrl;
    layer.blobUrl = URL.createObjectURL(blob);
    layer.htmlKey = key;
    const frame = $("#layer-report");
    frame.src = layer.blobUrl;
    if (old) setTimeout(() => URL.revokeObjectURL(old), 1000);
  }

  function renderLayer(doc, alt) {
    for (const node of $$("#layer-result .headline [data-field]")) {
      setNumber(node, getPath(doc, node.dataset.field));
    }
    // forward and backward counts: one row per part, one column per count
    const counts = $("#counts");
    const rows = [["forward", doc.forward]];
    for (const [k, v] of Object.entries(doc.backward || {})) rows.push(["backward." + k, v]);
    const cols = Object.keys(doc.forward || {});
    counts.replaceChildren(
      el("caption", { class: "visually-hidden", text: t("counts_title") + " (" + doc.counting + ")" }),
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "" }),
        ...cols.map((c) => el("th", { scope: "col", text: t("col_" + c) })))),
      el("tbody", {}, ...rows.map(([path]) => el("tr", { class: path === "backward.total" ? "sum" : null },
        el("th", { scope: "row", text: t("row_" + path) }),
        ...cols.map((c) => numberNode("td", doc, path + "." + c))))));
    // both conventions side by side
    const conv = $("#conventions");
    const mine = doc.counting;
    const docs = [[mine, doc, mine + ":"]];
    if (alt) docs.push([alt.counting, alt, alt.counting + ":"]);
    docs.sort((a, b) => (a[0] === "dense" ? -1 : 1) - (b[0] === "dense" ? -1 : 1));
    const qs = ["forward.mults", "forward.flops", "backward.grad_input.flops",
                "backward.grad_weight.flops", "backward.total.flops"];
    conv.replaceChildren(
      el("caption", { class: "visually-hidden", text: t("both_title") }),
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "" }),
        ...docs.map(([c]) => el("th", { scope: "col", class: c === mine ? "selected" : null,
                                       text: c })))),
      el("tbody", {}, ...qs.map((q) => el("tr", {}, el("th", { scope: "row", text: t("q_" + q) }),
        ...docs.map(([c, d, prefix]) => {
          const td = numberNode("td", d, q, prefix);
          if (c === mine) td.classList.add("selected");
          td.dataset.counting = c;
          return td;
        })))));
    // the usual approximation, next to the exact counts
    const approx = $("#approx");
    const seeds = Object.keys(doc.seed_approx || {});
    approx.replaceChildren(
      el("caption", { class: "visually-hidden", text: t("approx_title") }),
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: t("approx_title") }),
        el("th", { scope: "col", text: t("approx") }))),
      el("tbody", {}, ...seeds.map((k) => el("tr", {},
        el("th", { scope: "row", text: t("approx_seed_approx." + k) }),
        numberNode("td", doc, "seed_approx." + k)))));
    // memory: one table per object of doc.memory, one row per entry
    const mem = $("#memory");
    mem.replaceChildren(...Object.entries(doc.memory || {}).map(([part, entries]) => {
      const title = t("mem_" + part);
      return el("div", {}, el("h3", { text: title }),
        el("table", { class: "num" },
          el("caption", { class: "visually-hidden", text: t("memory_title") + ": " + title }),
          el("tbody", {}, ...Object.keys(entries).map((k) => el("tr", {
            class: k.startsWith("total") ? "sum" : null },
          el("th", { scope: "row", text: t("mem_" + k) }),
          numberNode("td", doc, "memory." + part + "." + k))))));
    }));
  }

  // ------------------------------------------------------------------ commands to copy
  function shellQuote(s) {
    return /^[A-Za-z0-9_.,:=@%+\/-]+$/.test(s) ? s : "'" + s.replace(/'/g, "'\\''") + "'";
  }

  // Shows `text` in `out` and copies it to the clipboard (or selects it, where the browser
  // does not allow that), saying which in `note`.
  async function copyText(text, out, note) {
    out.textContent = text;
    out.hidden = false;
    try {
      await navigator.clipboard.writeText(text);
      note.textContent = t("copied");
    } catch (e) {
      note.textContent = t("copy_manual");
      const range = document.createRange();
      range.selectNodeContents(out);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
    }
  }

  // `convcost conv …` and the curl of POST /api/conv for the layer form.
  function layerCommand(which) {
    const got = layerBody();
    if (got.error) return null;
    const b = got.body;
    if (which === "curl") {
      return ["curl", "-s", "-X", "POST", window.location.origin + "/api/conv", "-H",
              "content-type: application/json", "-d", toJSON(b)].map(shellQuote).join(" ");
    }
    const words = ["convcost", "conv", "--input", String(b.in_channels) + "x" + b.input_size,
                   "--out-channels", String(b.out_channels)];
    const flags = { kernel: "--kernel", stride: "--stride", padding: "--padding",
                    dilation: "--dilation", groups: "--groups", batch: "--batch",
                    output_padding: "--output-padding" };
    for (const [k, flag] of Object.entries(flags)) {
      if (b[k] !== undefined && !(k === "output_padding" && !b.transposed && b[k] === "0")) {
        words.push(flag, String(b[k]));
      }
    }
    if (!b.bias) words.push("--no-bias");
    if (b.transposed) words.push("--transposed");
    if (!b.input_grad) words.push("--no-input-grad");
    words.push("--dtype", b.dtype, "--counting", b.counting);
    return words.map(shellQuote).join(" ");
  }

  function copyLayer(which) {
    const text = layerCommand(which);
    if (text !== null) copyText(text, $("#layer-command"), $("#layer-copy-note"));
  }

  function fitFrame(frame, min) {
    frame.addEventListener("load", () => {
      let d = null;
      try { d = frame.contentDocument; } catch (e) { d = null; }
      if (!d || !d.documentElement) return;
      const fit = () => {
        const h = Math.max(min, d.documentElement.scrollHeight + 4);
        frame.style.height = h + "px";
      };
      fit();
      if (window.ResizeObserver && d.body) new ResizeObserver(fit).observe(d.body);
    });
  }

  function initLayer() {
    const form = $("#layer-form");
    form.addEventListener("input", () => scheduleLayer());
    form.addEventListener("change", () => scheduleLayer());
    form.addEventListener("submit", (e) => { e.preventDefault(); scheduleLayer(0); });
    $("#layer-copy-cli").addEventListener("click", () => copyLayer("cli"));
    $("#layer-copy-curl").addEventListener("click", () => copyLayer("curl"));
    fitFrame($("#layer-report"), 300);
  }

  // ------------------------------------------------------------------ shared with model.js
  const hooks = { init: [], lang: [], tab: [] };
  window.convcostPage = {
    t: t, $: $, $$: $$, el: el, fmt: fmt, parseJSON: parseJSON, toJSON: toJSON,
    intOrText: intOrText, setNumber: setNumber, getPath: getPath, clearErrors: clearErrors,
    showError: showError, readError: readError, fitFrame: fitFrame, shellQuote: shellQuote,
    copyText: copyText,
    lang: () => lang,
    onInit: (f) => hooks.init.push(f), onLang: (f) => hooks.lang.push(f),
    onTab: (f) => hooks.tab.push(f),
  };

  // ------------------------------------------------------------------ start
  function start() {
    initTabs();
    initLayer();
    for (const f of hooks.init) f();
    for (const b of $$(".langs button")) b.addEventListener("click", () => applyLang(b.dataset.lang));
    let saved = null;
    try { saved = localStorage.getItem("convcost-lang"); } catch (e) { saved = null; }
    const want = saved || ((navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en");
    applyLang(want);  // also runs the layer form once
  }

  // model.js (deferred too) registers its hooks before DOMContentLoaded
  if (document.readyState === "complete") start();
  else document.addEventListener("DOMContentLoaded", start);
})();
