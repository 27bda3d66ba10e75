// convcost serve: the page's model tab (the helpers come from app.js, window.convcostPage).
//
// Run: POST /api/model (JSON) or POST /api/onnx (the file's bytes, options as query
// parameters); the answer's X-Convcost-Result names the result, whose HTML report is framed
// (in the page's language: ?lang=zh). X-Convcost-Cache: hit says the server answered from
// its cache; the page then says so (with the time of the first answer, when this page saw
// it) instead of a time.
// A running analysis can be cancelled (AbortController: the page stops waiting; the server
// finishes the job and caches it). A report whose form has changed since, or whose next run
// failed or was cancelled, is marked stale.
// Sweep: one JSON request per batch size (the first dimension of every input replaced, as
// `convcost model --batch`), one after another, in a table. Compare: "Keep as A" keeps a
// result; every later result B is shown beside it, with B / A (as `convcost compare`).
// "Copy as CLI command" / "Copy as curl" write the command equivalent to the form.
// A detection model runs for real on the CPU: the page warns before it is analysed and asks
// for a second click.
"use strict";

(function () {
  const P = window.convcostPage;
  const { t, $, el, fmt, parseJSON, toJSON, intOrText, setNumber, getPath, shellQuote } = P;

  const model = { lists: null, names: null, running: null, file: null, shown: null,
                  pinned: null, last: null, times: {}, warned: null };

  // torchvision's detection builders (torchvision.models.detection): their data-dependent
  // ops run for real on the CPU (README, "Segmentation and detection models").
  const REAL_RUN = /^torchvision:(fasterrcnn|maskrcnn|keypointrcnn|retinanet|fcos|ssd|ssdlite)/;

  function showModelCount() {
    const node = $("#model-count");
    if (model.names === null) node.textContent = model.lists ? "· " + t("models_loading") : "";
    else node.textContent = "· " + t("models_count", { n: model.names.length });
  }

  function loadModelLists() {
    if (model.lists) return;
    model.lists = true;
    showModelCount();
    fetch("/api/models").then((r) => (r.ok ? r.json() : null)).then((doc) => {
      if (!doc) return;
      const names = [];
      for (const src of ["torchvision", "timm"]) {
        for (const n of doc[src] || []) names.push(src + ":" + n);
      }
      model.names = names;
      const frag = document.createDocumentFragment();
      for (const n of names) frag.append(el("option", { value: n }));
      $("#model-list").replaceChildren(frag);
      showModelCount();
    }).catch(() => { model.lists = null; showModelCount(); });
    fetch("/api/devices").then((r) => (r.ok ? r.json() : null)).then((doc) => {
      if (!doc) return;
      const sel = $("#m-device");
      for (const [name, d] of Object.entries(doc)) {
        sel.append(el("option", { value: name, text: name + (d.description ? " — " + d.description : "") }));
      }
    }).catch(() => { /* the select keeps "none" */ });
  }

  function source() {
    return $("#src-onnx").checked ? "onnx" : "zoo";
  }

  function realRun() {
    return source() === "zoo" && REAL_RUN.test($("#m-target").value.trim());
  }

  function syncModelForm() {
    const form = $("#model-form");
    form.dataset.source = source();
    const many = Number($("#m-devices").value) > 1;
    $("#m-strategy").disabled = !many;
    $("#m-interconnect").disabled = !many;
    $("#m-input_grad").disabled = $("#m-mode").value !== "train";
    $("#m-reserve").disabled = $("#m-device").value === "";
    $("#m-channels_last").disabled = $("#m-device").value === "";
    $("#m-fit").disabled = $("#m-device").value === "" || $("#m-mode").value !== "train";
    $("#m-checkpoint").disabled = $("#m-mode").value !== "train";
    const real = realRun();
    $("#real-run").hidden = !real;
    const target = $("#m-target").value.trim();
    $("#run").textContent = real && model.warned === target ? t("run_anyway") : t("run");
  }

  // ------------------------------------------------------------------ the request
  // The options shared by /api/model (JSON) and /api/onnx (query): only those set, so the
  // server's defaults apply to the rest.
  function modelOptions() {
    const f = $("#model-form").elements;
    const o = { mode: f.namedItem("mode").value, optimizer: f.namedItem("optimizer").value,
                counting: f.namedItem("counting").value };
    for (const k of ["dtype", "amp", "freeze", "device", "reserve"]) {
      const c = f.namedItem(k);
      const v = c.value.trim();
      if (v !== "" && !c.disabled) o[k] = v;
    }
    if (f.namedItem("tf32").checked) o.tf32 = true;
    const cl = f.namedItem("channels_last");
    if (!cl.disabled && cl.checked) o.channels_last = true;
    if (!f.namedItem("input_grad").disabled && f.namedItem("input_grad").checked) o.input_grad = true;
    if (source() === "zoo") {  // POST /api/model only (an ONNX file takes neither)
      const ck = f.namedItem("checkpoint");
      if (!ck.disabled && ck.value.trim() !== "") o.checkpoint = ck.value.trim();
      if (!f.namedItem("fit").disabled && f.namedItem("fit").checked) o.fit = true;
    }
    const n = f.namedItem("devices").value.trim();
    if (n !== "") o.devices = intOrText(n);
    if (typeof o.devices === "bigint" && o.devices > 1n) {
      o.strategy = f.namedItem("strategy").value;
      o.interconnect = f.namedItem("interconnect").value;
    }
    const inputs = f.namedItem("inputs").value.split(/[\n,]+/).map((s) => s.trim()).filter(Boolean);
    return { options: o, inputs: inputs };
  }

  function safeFilename(name) {
    let s = (name || "model.onnx").replace(/[^A-Za-z0-9_.-]/g, "_").replace(/^[^A-Za-z0-9_]+/, "");
    if (!/\.onnx$/i.test(s)) s += ".onnx";
    if (s.length > 100) s = s.slice(s.length - 100).replace(/^[^A-Za-z0-9_]+/, "");
    return s || "model.onnx";
  }

  // What the form asks for: {kind, target, inputs, options}; `inputs` may be replaced.
  function formRequest() {
    const { options, inputs } = modelOptions();
    const kind = source();
    return { kind: kind, target: kind === "onnx" ? (model.file ? model.file.name : "model.onnx")
      : $("#m-target").value.trim(), inputs: inputs, options: options };
  }

  // [url, fetch init] of a request (JSON answers: ?format=json is the default).
  function httpRequest(req, signal) {
    if (req.kind === "onnx") {
      return ["/api/onnx?" + onnxQuery(req).toString(), {
        method: "POST", headers: { "Content-Type": "application/octet-stream" },
        body: model.file, signal: signal }];
    }
    return ["/api/model", { method: "POST", headers: { "Content-Type": "application/json" },
      body: toJSON(modelBody(req)), signal: signal }];
  }

  function modelBody(req) {
    return Object.assign({ target: req.target, inputs: req.inputs }, req.options);
  }

  function onnxQuery(req) {
    const q = new URLSearchParams();
    for (const s of req.inputs) q.append("input", s);
    for (const [k, v] of Object.entries(req.options)) q.append(k, String(v));
    q.append("filename", safeFilename(req.target));
    return q;
  }

  // ------------------------------------------------------------------ commands to copy
  const FLAGS = { mode: "--mode", dtype: "--dtype", amp: "--amp", optimizer: "--optimizer",
                  freeze: "--freeze", counting: "--counting", device: "--device",
                  reserve: "--reserve", devices: "--devices", strategy: "--strategy",
                  interconnect: "--interconnect", checkpoint: "--checkpoint" };
  const SWITCHES = { tf32: "--tf32", channels_last: "--channels-last", input_grad: "--input-grad",
                     fit: "--fit" };

  // `convcost model …` for the form (an ONNX file by its name, in the current directory).
  function cliCommand(req) {
    const words = ["convcost", "model", req.target];
    for (const s of req.inputs) words.push("--input", s);
    for (const [k, v] of Object.entries(req.options)) {
      if (SWITCHES[k]) { if (v === true) words.push(SWITCHES[k]); } else words.push(FLAGS[k], String(v));
    }
    return words.map(shellQuote).join(" ");
  }

  function curlCommand(req) {
    const origin = window.location.origin;
    if (req.kind === "onnx") {
      return ["curl", "-s", "-X", "POST", origin + "/api/onnx?" + onnxQuery(req).toString(),
              "-H", "content-type: application/octet-stream",
              "--data-binary", "@" + req.target].map(shellQuote).join(" ");
    }
    return ["curl", "-s", "-X", "POST", origin + "/api/model", "-H",
            "content-type: application/json", "-d", toJSON(modelBody(req))]
      .map(shellQuote).join(" ");
  }

  function copyCommand(which) {
    const req = formRequest();
    P.copyText(which === "cli" ? cliCommand(req) : curlCommand(req), $("#command"),
               $("#copy-note"));
  }

  // ------------------------------------------------------------------ running
  function setFile(file) {
    model.file = file || null;
    $("#file-name").textContent = file ? file.name + " (" + fmt(file.size) + " B)" : "";
    if (file) {
      $("#src-onnx").checked = true;
      syncModelForm();
    }
    markStale();
  }

  const MODEL_ALIASES = { input: "inputs", body: "file" };

  // The report shown is no longer the form's (changed, failed or cancelled since).
  function markStale() {
    if (model.shown === null) return;
    $("#model-result").classList.add("stale");
    $("#stale-note").hidden = false;
  }

  function busy(on, label) {
    const form = $("#model-form");
    $("#run").disabled = on;
    $("#sweep-run").disabled = on;
    $("#cancel").hidden = !on;
    const progress = $("#progress");
    progress.hidden = !on;
    progress.setAttribute("aria-busy", String(on));
    form.setAttribute("aria-busy", String(on));
    $("#progress-what").textContent = label || "";
  }

  // Runs `work(signal)` with the progress shown and Cancel enabled; its errors are shown.
  async function withProgress(work, label) {
    if (model.running) return;
    const form = $("#model-form");
    P.clearErrors(form);
    const ctrl = new AbortController();
    model.running = ctrl;
    const start = performance.now();
    const elapsed = $("#elapsed");
    elapsed.textContent = "0.0";
    busy(true, label);
    const tick = setInterval(() => {
      elapsed.textContent = ((performance.now() - start) / 1000).toFixed(1);
    }, 100);
    try {
      await work(ctrl.signal, start);
    } catch (e) {
      markStale();
      if (e.name === "AbortError") P.showError(form, null, t("cancelled"));
      else if (e.field !== undefined) P.showError(form, e.field, e.error, MODEL_ALIASES);
      else P.showError(form, null, t("network_error") + " (" + e.message + ")");
    } finally {
      clearInterval(tick);
      model.running = null;
      busy(false);
    }
  }

  // One analysis: {doc, where, cached} or throws {field, error} (the server's answer).
  async function analyse(req, signal) {
    const [url, init] = httpRequest(req, signal);
    const resp = await fetch(url, init);
    if (!resp.ok) throw await P.readError(resp);
    const doc = parseJSON(await resp.text());
    const where = resp.headers.get("X-Convcost-Result");
    if (!where || !/^\/api\/results\/[0-9a-f]+$/.test(where)) {
      throw { field: null, error: "X-Convcost-Result: missing" };
    }
    return { doc: doc, where: where, cached: resp.headers.get("X-Convcost-Cache") === "hit" };
  }

  function runModel() {
    const form = $("#model-form");
    if (source() === "onnx" && !model.file) {
      P.clearErrors(form);
      P.showError(form, "file", t("no_file"));
      return;
    }
    const target = $("#m-target").value.trim();
    if (realRun() && model.warned !== target) {  // the first click only warns
      model.warned = target;
      $("#real-run").classList.add("emphasis");
      syncModelForm();
      $("#real-run").scrollIntoView({ block: "nearest" });
      return;
    }
    const req = formRequest();
    withProgress(async (signal, start) => {
      const got = await analyse(req, signal);
      const secs = ((performance.now() - start) / 1000).toFixed(1);
      const first = model.times[got.where];
      if (!got.cached && first === undefined) model.times[got.where] = secs;
      showResult(got, req, got.cached
        ? (first !== undefined ? t("cached_took", { s: first }) : t("cached"))
        : t("took", { s: secs }));
    });
  }

  function reportUrl(where) {
    return where + "?format=html" + (P.lang() === "en" ? "" : "&lang=" + P.lang());
  }

  function showResult(got, req, timeText) {
    model.shown = got.where;
    model.last = { req: req, doc: got.doc, where: got.where };
    $("#json-link").href = got.where;
    $("#download-link").href = reportUrl(got.where) + "&download=1";
    $("#model-time").textContent = timeText;
    $("#model-time").dataset.cached = String(got.cached);
    const result = $("#model-result");
    result.classList.remove("stale");
    $("#stale-note").hidden = true;
    result.hidden = false;
    $("#model-report").src = reportUrl(got.where);
    renderCompare();
    result.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  // ------------------------------------------------------------------ headline numbers
  // [key, path in the JSON (or a function of it)] of the numbers a sweep and a comparison show.
  function peakPath(doc) {
    return doc.mode === "train" ? "memory.peak_train_bytes" : "memory.peak_inference_bytes";
  }
  const METRICS = [
    ["m_params", "totals.params"], ["m_trainable", "totals.trainable_params"],
    ["m_fwd_macs", "totals.forward.macs"], ["m_fwd_flops", "totals.forward.flops"],
    ["m_bwd_flops", "totals.backward.flops"], ["m_saved", "memory.saved_activations_bytes"],
    ["m_peak", peakPath], ["m_step", "hardware.step_s"], ["m_sps", "hardware.samples_per_s"],
    ["m_fits", "hardware.memory.fits"],
  ];

  function metric(doc, path) {
    const p = typeof path === "function" ? path(doc) : path;
    return [p, getPath(doc, p)];
  }

  function cell(doc, path, prefix) {
    const [p, v] = metric(doc, path);
    const td = el("td", { "data-field": (prefix || "") + p });
    if (typeof v === "boolean") {
      td.textContent = t(v ? "yes" : "no");
      td.dataset.value = String(v);
    } else setNumber(td, v);
    return td;
  }

  function shown(docs) {  // the metrics at least one document has
    return METRICS.filter(([, path]) => docs.some((d) => metric(d, path)[1] !== undefined));
  }

  // B / A of two numbers (exact BigInt division to 4 decimals for integers).
  function ratio(a, b) {
    if (typeof a === "bigint" || typeof b === "bigint" ||
        (Number.isInteger(a) && Number.isInteger(b))) {
      const x = BigInt(a);
      const y = BigInt(b);
      if (x === 0n) return "–";
      const q = (y * 10000n + x / 2n) / x;
      return (q / 10000n).toString() + "." + (q % 10000n).toString().padStart(4, "0");
    }
    if (typeof a !== "number" || typeof b !== "number" || a === 0) return "–";
    return (b / a).toFixed(4);
  }

  function renderCompare() {
    const box = $("#compare");
    const a = model.pinned;
    const b = model.last;
    $("#unpin").hidden = a === null;
    if (a === null || b === null || a.where === b.where) { box.hidden = true; return; }
    const head = (x) => x.req.target + " · " + x.req.inputs.join(", ");
    const rows = shown([a.doc, b.doc]).map(([key, path]) => {
      const va = metric(a.doc, path)[1];
      const vb = metric(b.doc, path)[1];
      return el("tr", {}, el("th", { scope: "row", text: t(key) }), cell(a.doc, path, "A:"),
        cell(b.doc, path, "B:"),
        el("td", { class: "ratio", text: typeof va === "boolean" ? "" : ratio(va, vb) }));
    });
    $("#compare-table").replaceChildren(
      el("caption", { text: t("compare_title") }),
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "" }),
        el("th", { scope: "col", text: "A: " + head(a) }),
        el("th", { scope: "col", text: "B: " + head(b) }),
        el("th", { scope: "col", text: t("col_ratio") }))),
      el("tbody", {}, ...rows));
    box.hidden = false;
  }

  // ------------------------------------------------------------------ the sweep
  function sweepBatches() {
    const s = $("#m-sweep").value.trim();
    const parts = s.split(/\s*,\s*/);
    if (s === "" || !parts.every((p) => /^\d+$/.test(p) && BigInt(p) >= 1n)) return null;
    return parts.map((p) => BigInt(p).toString());
  }

  // The inputs with their first dimension replaced by `batch` (name=shape keeps its name).
  function withBatch(inputs, batch) {
    return inputs.map((s) => {
      const m = /^([^=]*=)?(\d+)(x[^:]*)?(:.*)?$/.exec(s);
      return m ? (m[1] || "") + batch + (m[3] || "") + (m[4] || "") : s;
    });
  }

  function runSweep() {
    const form = $("#model-form");
    const batches = sweepBatches();
    if (batches === null) {
      P.clearErrors(form);
      P.showError(form, "sweep", "sweep: " + t("sweep_bad"));
      return;
    }
    if (source() === "onnx" && !model.file) {
      P.clearErrors(form);
      P.showError(form, "file", t("no_file"));
      return;
    }
    const base = formRequest();
    if (base.inputs.length === 0) {  // nothing to replace the batch of
      P.clearErrors(form);
      P.showError(form, "inputs", "inputs: " + t("sweep_no_inputs"));
      return;
    }
    const box = $("#sweep-result");
    const table = $("#sweep-table");
    withProgress(async (signal) => {
      const docs = [];
      for (const [i, b] of batches.entries()) {
        $("#progress-what").textContent = t("sweep_progress", { i: i + 1, n: batches.length });
        const req = Object.assign({}, base, { inputs: withBatch(base.inputs, b) });
        const got = await analyse(req, signal);
        docs.push([b, got]);
        const cols = shown(docs.map(([, g]) => g.doc));
        table.replaceChildren(
          el("caption", { text: t("sweep_title") + ": " + base.target }),
          el("thead", {}, el("tr", {}, el("th", { scope: "col", text: t("col_batch") }),
            ...cols.map(([key]) => el("th", { scope: "col", text: t(key) })))),
          el("tbody", {}, ...docs.map(([batch, g]) => el("tr", { "data-batch": batch },
            el("th", { scope: "row" }, el("a", { href: reportUrl(g.where), target: "_blank",
                                                 rel: "noopener", text: batch })),
            ...cols.map(([, path]) => cell(g.doc, path, batch + ":"))))));
        box.hidden = false;
      }
      box.scrollIntoView({ behavior: "smooth", block: "start" });
    });
  }

  // ------------------------------------------------------------------ start
  function initModel() {
    const form = $("#model-form");
    form.addEventListener("submit", (e) => { e.preventDefault(); runModel(); });
    // the sweep's batch sizes are not the report's settings: typing them leaves it fresh
    const edited = (e) => { syncModelForm(); if (e.target.id !== "m-sweep") markStale(); };
    form.addEventListener("change", edited);
    form.addEventListener("input", edited);
    $("#cancel").addEventListener("click", () => { if (model.running) model.running.abort(); });
    $("#sweep-run").addEventListener("click", runSweep);
    $("#copy-cli").addEventListener("click", () => copyCommand("cli"));
    $("#copy-curl").addEventListener("click", () => copyCommand("curl"));
    $("#pin").addEventListener("click", () => {
      if (model.last) model.pinned = model.last;
      renderCompare();
    });
    $("#unpin").addEventListener("click", () => { model.pinned = null; renderCompare(); });
    $("#m-file").addEventListener("change", (e) => setFile(e.target.files[0]));
    const panel = $("#panel-model");
    const drop = $("#drop");
    panel.addEventListener("dragover", (e) => {
      if (!e.dataTransfer || !Array.from(e.dataTransfer.types).includes("Files")) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = "copy";
      drop.classList.add("over");
    });
    panel.addEventListener("dragleave", (e) => {
      if (!panel.contains(e.relatedTarget)) drop.classList.remove("over");
    });
    panel.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("over");
      const files = e.dataTransfer && e.dataTransfer.files;
      if (files && files.length) {
        try { $("#m-file").files = files; } catch (err) { /* older browsers */ }
        setFile(files[0]);
      }
    });
    // a file dropped elsewhere is not opened in place of the page
    window.addEventListener("dragover", (e) => e.preventDefault());
    window.addEventListener("drop", (e) => e.preventDefault());
    P.fitFrame($("#model-report"), 600);
    syncModelForm();
  }

  P.onInit(initModel);
  P.onTab((id) => { if (id === "tab-model") loadModelLists(); });
  P.onLang(() => {
    showModelCount();
    syncModelForm();
    renderCompare();
    if (model.shown !== null) {  // the report in the new language
      $("#model-report").src = reportUrl(model.shown);
      $("#download-link").href = reportUrl(model.shown) + "&download=1";
    }
  });
})();
