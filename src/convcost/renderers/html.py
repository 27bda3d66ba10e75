"""The ``html`` format: self-contained HTML pages. A model's summary, charts and per-layer
table; one layer's summary, chart and explanation with MathML math. Pure formatting (every
number and sentence comes from :mod:`convcost.view`).

The page works offline and references nothing outside itself: CSS and a small script are
inline, charts are inline SVG (:mod:`convcost.renderers.svg`), math is MathML (rendered natively
by browsers), fonts are the system's. A Content-Security-Policy meta tag allows only the
page's own inline style and script (by hash) and forbids every fetch.

The per-layer table is sortable (click a header; numeric columns sort on the exact numbers
held in ``data-value``), filterable (by module path or type) and collapsible (click a row
that has children to hide or show its descendants). Rows carry ``data-path``,
``data-depth``, ``data-parent`` and ``data-type``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..units import exact, nbytes, shape, si
from ..view import layer as layer_view
from ..view import model as model_view
from ..view.cells import Q, Table
from .cells import human, number, text
from .html_zh import word
from .html_zh_sentences import sentence, svg_zh
from .svg import category_label, conv_chart, flops_chart, memory_chart, roofline_chart, time_chart

if TYPE_CHECKING:
    from ..expr import Term
    from ..hardware.answer import Hardware
    from ..layer import ConvResult
    from ..model.results import ModelResult

CONVENTION = (
    "FLOPs count every scalar operation: multiplications + additions + other scalar "
    "operations (comparisons, divisions, square roots, exponentials, …); a fused "
    "multiply-add counts as two. MACs are multiply-accumulates — the products of "
    "convolutions and matrix multiplications — and are not FLOPs: about 2 FLOPs per MAC. "
    "(PyTorch's FLOP counter reports 2·MACs; fvcore, ptflops and thop report MACs under the "
    "name “FLOPs”.)"
)
COUNTING = {
    "dense": "dense counting: every kernel tap is a product, padding zeros included "
    "(im2col/GEMM).",
    "skip-padding": "skip-padding counting: products with padding zeros are not formed "
    "(direct convolution).",
}

CSS = """
:root{--ink:#1d2125;--muted:#5f6b76;--line:#dfe3e8;--soft:#f5f7f9;--accent:#0b62a4;
--bad:#b00020;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,
"Noto Sans","Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;color:var(--ink);
font-size:15px;line-height:1.45}
body{margin:0 auto;max-width:1560px;padding:1.2rem 1.5rem 3rem}
h1{font-size:1.45rem;margin:.2rem 0 .3rem}h2{font-size:1.2rem;margin:2rem 0 .6rem;
border-bottom:1px solid var(--line);padding-bottom:.25rem}h3{font-size:1rem;margin:1.2rem 0 .4rem}
p.sub{color:var(--muted);margin:.1rem 0 .6rem}
nav{position:sticky;top:0;background:#fff;border-bottom:1px solid var(--line);padding:.4rem 0;
z-index:2}nav a{margin-right:1rem;color:var(--accent);text-decoration:none}
.alert{border:2px solid var(--bad);background:#fff3f4;color:var(--bad);padding:.6rem .9rem;
border-radius:6px;margin:1rem 0}.alert strong{display:block;margin-bottom:.2rem}
.note{color:var(--muted);font-size:.92rem}
.grid{display:flex;flex-wrap:wrap;gap:1rem 3rem;align-items:flex-start}.grid>div{flex:0 1 auto;
min-width:0;overflow-x:auto}.grid p.note{max-width:38rem}table.kv td{max-width:24rem}
table{border-collapse:collapse}
table.kv td,table.kv th,table.nums td,table.nums th{padding:.18rem .6rem;
border-bottom:1px solid var(--line);text-align:left}
table.kv th{color:var(--muted);font-weight:500;white-space:nowrap}
table.nums td.num,table.nums th.num{text-align:right;font-variant-numeric:tabular-nums;
white-space:nowrap}table.nums th{white-space:nowrap}
figure{margin:1rem 0 2rem}figure svg{max-width:100%;height:auto;display:block}
figcaption{color:var(--muted);font-size:.92rem;margin-top:.3rem;max-width:70rem}
.toolbar{display:flex;gap:.6rem;align-items:center;flex-wrap:wrap;margin:.5rem 0}
.toolbar input{font:inherit;padding:.3rem .5rem;min-width:20rem;border:1px solid #b9c1c9;
border-radius:4px}.toolbar button{font:inherit;padding:.25rem .7rem;border:1px solid #b9c1c9;
background:var(--soft);border-radius:4px;cursor:pointer}
#layer-table{width:100%;font-size:.86rem}
#layer-table th{position:sticky;top:2.3rem;background:#eef1f4;z-index:1;padding:0;
border-bottom:1px solid #c8d0d8;white-space:nowrap}
#layer-table th button{all:unset;display:block;box-sizing:border-box;width:100%;
padding:.3rem .5rem;cursor:pointer}
#layer-table th.num button{text-align:right}
#layer-table th[aria-sort=ascending] button::after{content:" ▲"}
#layer-table th[aria-sort=descending] button::after{content:" ▼"}
#layer-table td{padding:.12rem .45rem;border-bottom:1px solid #eef0f2;white-space:nowrap}
#layer-table td.num{text-align:right;font-variant-numeric:tabular-nums}
#layer-table tr.parent{cursor:pointer}#layer-table tr.parent td:first-child{font-weight:600}
#layer-table tr.leaf td:first-child{font-weight:400}
#layer-table tbody tr:hover{background:#f0f6fc}
#layer-table tr.filtered,#layer-table tr.folded{display:none}
.tog{display:inline-block;width:1.1em;color:var(--muted)}
tr.parent.closed .tog::before{content:"▸"}tr.parent:not(.closed) .tog::before{content:"▾"}
.pfx{color:#98a2ad}
.bound-memory{color:#b34700}.bound-compute{color:#0b62a4}
.term{margin:.5rem 0 1rem}.term .meaning{margin:0 0 .25rem}
.steps{display:grid;grid-template-columns:max-content auto;column-gap:.4rem;row-gap:.35rem;
align-items:baseline;overflow-x:auto;padding:.2rem 0 .2rem 1.2rem;font-size:1.12rem}
.steps math{display:inline math;font-family:"Latin Modern Math","STIX Two Math",
"Cambria Math","DejaVu Math TeX Gyre",math}
ul.why{margin:.2rem 0 .8rem}
footer{margin-top:3rem;color:var(--muted);font-size:.85rem;border-top:1px solid var(--line);
padding-top:.6rem}
"""

SCRIPT = """
(function () {
  "use strict";
  var table = document.getElementById("layer-table");
  if (!table) { return; }
  var tbody = table.tBodies[0];
  var rows = Array.prototype.slice.call(tbody.rows);
  var byPath = new Map();
  rows.forEach(function (r) { byPath.set(r.dataset.path, r); });
  var filter = document.getElementById("layer-filter");
  var shown = document.getElementById("layer-count");

  function folded(r) {
    var p = r.dataset.parent;
    while (p !== undefined) {
      var a = byPath.get(p);
      if (!a) { return false; }
      if (a.classList.contains("closed")) { return true; }
      p = a.dataset.parent;
    }
    return false;
  }
  function refresh() {
    var q = filter ? filter.value.trim().toLowerCase() : "";
    var n = 0;
    rows.forEach(function (r) {
      var match = !q || r.dataset.path.toLowerCase().indexOf(q) >= 0 ||
        r.dataset.type.toLowerCase().indexOf(q) >= 0;
      r.classList.toggle("filtered", !match);
      /* while filtering, matches are shown even inside collapsed modules */
      r.classList.toggle("folded", !q && folded(r));
      if (match && (q || !folded(r))) { n += 1; }
    });
    if (shown) { shown.textContent = n + " of " + rows.length + " rows shown"; }
  }
  function toggle(r, closed) {
    r.classList.toggle("closed", closed);
    r.setAttribute("aria-expanded", closed ? "false" : "true");
  }
  tbody.addEventListener("click", function (ev) {
    var r = ev.target.closest("tr");
    if (!r || !r.classList.contains("parent")) { return; }
    if (window.getSelection && String(window.getSelection()).length > 0) { return; }
    toggle(r, !r.classList.contains("closed"));
    refresh();
  });
  tbody.addEventListener("keydown", function (ev) {
    var r = ev.target.closest("tr");
    if (r && r.classList.contains("parent") && (ev.key === "Enter" || ev.key === " ")) {
      ev.preventDefault();
      toggle(r, !r.classList.contains("closed"));
      refresh();
    }
  });
  if (filter) { filter.addEventListener("input", refresh); }
  /* exact numbers as tooltips, made on demand to keep the file small */
  var units = Array.prototype.map.call(table.tHead.rows[0].cells,
    function (th) { return th.dataset.unit || ""; });
  tbody.addEventListener("mouseover", function (ev) {
    var c = ev.target.closest("td");
    if (!c || c.title) { return; }
    if (c.cellIndex === 0) { c.title = c.parentNode.dataset.path || "(model)"; return; }
    var v = c.dataset.value;
    if (c.classList.contains("num") && v && /^-?[0-9]+$/.test(v)) {
      c.title = BigInt(v).toLocaleString("en-US") + (units[c.cellIndex] ? " " +
        units[c.cellIndex] : "");
    }
  });
  function all(closed) {
    rows.forEach(function (r) {
      if (r.classList.contains("parent") && r.dataset.depth !== "0") { toggle(r, closed); }
    });
    refresh();
  }
  var ex = document.getElementById("expand-all");
  var co = document.getElementById("collapse-all");
  if (ex) { ex.addEventListener("click", function () { all(false); }); }
  if (co) { co.addEventListener("click", function () { all(true); }); }

  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  heads.forEach(function (th, col) {
    var b = th.querySelector("button");
    if (!b) { return; }
    b.addEventListener("click", function () {
      var numeric = th.dataset.type === "num";
      var dir = th.getAttribute("aria-sort") === "descending" ? "ascending" :
        th.getAttribute("aria-sort") === "ascending" ? "descending" :
        (th.dataset.first || (numeric ? "descending" : "ascending"));
      heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", dir);
      var sign = dir === "ascending" ? 1 : -1;
      var keyed = rows.map(function (r, i) {
        var c = r.cells[col];
        var raw = c.dataset.value !== undefined ? c.dataset.value : c.textContent;
        var k = numeric ? (raw === "" ? NaN : Number(raw)) : raw.toLowerCase();
        return { r: r, k: k, i: i };
      });
      keyed.sort(function (a, b) {
        var am = numeric ? isNaN(a.k) : a.k === "", bm = numeric ? isNaN(b.k) : b.k === "";
        if (am !== bm) { return am ? 1 : -1; }
        if (a.k < b.k) { return -sign; }
        if (a.k > b.k) { return sign; }
        return a.i - b.i;
      });
      keyed.forEach(function (x) { tbody.appendChild(x.r); });
      rows = keyed.map(function (x) { return x.r; });
    });
  });
  refresh();
})();
"""


#: The one sentence the script writes (how many table rows are shown), and the Chinese the
#: ``zh`` page's script writes instead.
COUNT_JS = 'n + " of " + rows.length + " rows shown"'
COUNT_JS_ZH = '"显示 " + n + " / " + rows.length + " 行"'
assert SCRIPT.count(COUNT_JS) == 1


def _hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _page(title: str, lang: str, css: str, body: str, script: str = "") -> str:
    """The HTML5 document; the CSP allows exactly this inline style and script."""
    csp = (f"default-src 'none'; style-src {_hash(css)}; "
           + (f"script-src {_hash(script)}; " if script else "script-src 'none'; ")
           + "base-uri 'none'; form-action 'none'")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{escape(lang, quote=True)}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="convcost {escape(__version__)}">\n'
        f"<title>{escape(title)}</title>\n<style>{css}</style>\n</head>\n<body>\n"
        + body
        + (f"\n<script>{script}</script>" if script else "")
        + "\n</body>\n</html>\n"
    )


def _svg(svg: str, lang: str) -> str:
    """A chart's SVG with its texts in ``lang``."""
    return svg_zh(svg) if lang == "zh" else svg


def _inline(svg: str) -> str:
    """An SVG document as inline HTML content (the namespace is implied in HTML)."""
    return svg.replace(' xmlns="http://www.w3.org/2000/svg"', "", 1)


def _n(v: int) -> str:
    """A count: humanised, exact in the tooltip."""
    return f'<span title="{exact(v)}">{escape(si(v))}</span>'


def _b(v: int) -> str:
    """Bytes: humanised, exact in the tooltip."""
    return f'<span title="{exact(v)} bytes">{escape(nbytes(v))}</span>'


def _kv(rows: Sequence[tuple[str, str]]) -> str:
    """A two-column table of labels and (already escaped) HTML values."""
    return ('<table class="kv">'
            + "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
            + "</table>")


# --------------------------------------------------------------------------- model report


def _unsupported(r: ModelResult, lang: str) -> str:
    if not r.unsupported_ops:
        return ""
    ops = ", ".join(f"<code>{escape(op)}</code> ×{n}" for op, n in r.unsupported_ops)
    errors = "".join(f"<li><code>{escape(op)}</code>: {escape(msg)}</li>"
                     for op, msg in r.formula_errors)
    head = word("Unsupported ops: their cost is NOT in any total or chart.", lang)
    return ('<div class="alert" role="alert" id="unsupported"><strong>'
            f"{escape(head)}</strong>"
            f"{ops}" + (f"<ul>{errors}</ul>" if errors else "") + "</div>")


def _compute_table(r: ModelResult, lang: str) -> str:
    head = ("<tr><th></th>" + "".join(f"<th class='num'>{escape(word(k, lang))}</th>"
                                       for k in ("MACs", "FLOPs", "mults", "adds", "other"))
            + "</tr>")
    rows = model_view.compute_rows(r)
    body = "".join(
        f"<tr><th>{escape(word(name, lang)).replace('  ', '&nbsp;&nbsp;')}</th>"
        + "".join(f"<td class='num' data-value='{v}'>{_n(v)}</td>"
                  for v in (c.macs, c.flops, c.mults, c.adds, c.other))
        + "</tr>"
        for name, c in rows
    )
    return f'<table class="nums" id="compute">{head}{body}</table>'


def _memory_table(r: ModelResult, lang: str) -> str:
    items, peaks = model_view.memory_rows(r)
    body = "".join(f"<tr><th>{escape(word(k, lang))}</th>"
                   f"<td class='num' data-value='{v}'>{_b(v)}</td></tr>" for k, v in items)
    body += "".join(f"<tr class='peak'><th>{escape(word(k, lang))}</th>"
                    f"<td class='num' data-value='{v}'><strong>{_b(v)}</strong></td></tr>"
                    for k, v in peaks)
    return f'<table class="nums" id="memory">{body}</table>'


def _device_memory_table(hw: Hardware | None, lang: str) -> str:
    rows = model_view.device_memory_rows(hw)
    if not rows or hw is None or hw.memory is None:
        return ""
    dm = hw.memory
    own = f"{dm.device} memory"

    def label(k: str) -> str:
        return word("{device} memory", lang, device=dm.device) if k == own else word(k, lang)

    body = "".join(f"<tr><th>{escape(label(k))}</th>"
                   f"<td class='num' data-value='{v}'>{_b(v)}</td></tr>" for k, v in rows)
    verdict = (word("fits, clears by {bytes}", lang, bytes=_b(dm.clearance)) if dm.fits
               else word("does not fit: short by {bytes}", lang, bytes=_b(-dm.clearance)))
    return (f"<div><h3>{escape(word('On {device}', lang, device=dm.device))}</h3>"
            f'<table class="nums" id="device-memory">{body}</table>'
            f'<p class="note">{verdict}</p></div>')


def _peak_note(r: ModelResult, lang: str) -> str:
    pk = model_view.peak_breakdown(r)
    if pk is None:
        return ""
    zh = lang == "zh"
    parts = ("，" if zh else ", ").join(f"{sentence(category_label(c), lang)} {nbytes(v)}"
                                       for c, v in pk.categories)
    head = word("The peak is reached after op {index}", lang, index=pk.index)
    op = (f"（<code>{escape(pk.label)}</code>）" if zh else f" (<code>{escape(pk.label)}</code>)")
    return (f'<p class="note">{escape(head)}' + (op if pk.label else "")
            + ("：" if zh else ": ") + escape(parts) + ("。" if zh else ".") + "</p>")


def _summary(r: ModelResult, hw: Hardware | None, lang: str) -> str:
    ins = "<br>".join(f"{escape(n)}: {escape(shape(meta.shape))} {escape(meta.dtype)}"
                      for n, meta in r.inputs)
    t = r.totals
    info = [
        ("model", f"<code>{escape(r.model)}</code>"),
        ("inputs", ins),
        ("mode", escape(word(r.mode, lang))),
        ("dtype", escape(r.dtype) + (f"{'，' if lang == 'zh' else ', '}"
                                     f"{escape(word('autocast', lang))} {escape(r.amp)}"
                                     if r.amp else "")),
        ("optimizer", escape(r.optimizer)),
        ("counting", escape(word(COUNTING.get(r.counting, r.counting), lang, r.counting))),
    ]
    if r.freeze:
        info.append(("frozen", f"<code>/{escape(r.freeze)}/</code>"))
    if r.data_dependent is not None:
        info.append(("data-dependent ops", escape(sentence(r.data_dependent.note, lang))))
    dispatch = model_view.dispatch_note(r)
    if dispatch is not None:
        info.append(("dispatch", escape(sentence(dispatch, lang))))
    step = hw.step if hw is not None else None
    desc = (f"（{sentence(step.device.description, lang)}）" if lang == "zh"
            else f" ({step.device.description})") if step is not None else ""
    info.append(("device", escape(f"{step.device.name}{desc}")
                 if step is not None else escape(word("none given (no roofline)", lang))))
    info += [
        ("parameters", f"{exact(t.params)} ({escape(si(t.params))})"),
        ("trainable", f"{exact(t.trainable_params)} ({escape(si(t.trainable_params))})"),
    ]
    hw_lines = [text(x) for x in model_view.hardware_lines(r, hw)]
    hw_html = ""
    if hw_lines:
        title = word("Hardware (time estimate and roofline bound)", lang)
        hw_html = (f"<h3>{escape(title)}</h3><ul>"
                   + "".join(f"<li>{escape(sentence(s.strip(), lang))}</li>" for s in hw_lines)
                   + "</ul>")
    decomposed = ""
    if r.decomposed_ops:
        ops = ", ".join(f"<code>{escape(op)}</code> ×{n}" for op, n in r.decomposed_ops)
        decomposed = ('<p class="note">' + word("Counted through PyTorch's decomposition (no "
                                                "formula of their own): {ops}.", lang, ops=ops)
                      + "</p>")
    info = [(word(k, lang), v) for k, v in info]
    w = {k: escape(word(k, lang)) for k in ("Summary", "Run", "Compute", "Memory")}
    return (
        f'<section id="summary"><h2>{w["Summary"]}</h2><div class="grid">'
        f"<div><h3>{w['Run']}</h3>{_kv(info)}</div>"
        f"<div><h3>{w['Compute']}</h3>{_compute_table(r, lang)}"
        f'<p class="note" id="convention">{escape(word(CONVENTION, lang, "convention"))}</p>'
        f"{decomposed}</div>"
        f"<div><h3>{w['Memory']}</h3>{_memory_table(r, lang)}{_peak_note(r, lang)}</div>"
        + _device_memory_table(hw, lang) + "</div>" + hw_html + "</section>"
    )


def _charts(r: ModelResult, hw: Hardware | None, lang: str) -> str:
    step = hw.step if hw is not None else None
    figs = [
        ("flops", "FLOPs per layer", flops_chart(r),
         "Forward and backward FLOPs of every leaf layer, in execution order; backward is "
         "split into the gradient of the layer's input (∂input) and of its parameters "
         "(∂weight + ∂bias). Hover a bar for exact numbers."
         if r.mode == "train" else
         "Forward FLOPs of every leaf layer, in execution order. Hover a bar for exact "
         "numbers."),
        ("memory", "Live memory", memory_chart(r),
         "Bytes held by live tensor storages after every op, stacked by category; the shaded "
         "bands are the phases of the step. Activations saved in the forward pass are freed "
         "during backward; the peak is marked."),
    ]
    if step is not None:
        from ..hardware.roofline import ASSUMPTIONS

        figs.append(("roofline", "Roofline", roofline_chart(r, step),
                     "Each leaf layer at its arithmetic intensity (FLOPs per byte read and "
                     "written, forward + backward) and its achieved FLOP/s (FLOPs over its "
                     f"predicted time). Assumes {ASSUMPTIONS}."))
        from ..hardware.estimate import ESTIMATE_ASSUMPTIONS

        figs.append(("time", "Where the time goes", time_chart(r, step),
                     "Each leaf layer's share of the estimated step (forward + backward), "
                     "split into the GPU running its kernels and the GPU idle while the host "
                     "issues them (eager PyTorch dispatch and launch). Assumes "
                     f"{ESTIMATE_ASSUMPTIONS}."))
    out = [f'<section id="charts"><h2>{escape(word("Charts", lang))}</h2>']
    for key, title, svg, caption in figs:
        zh_key = ("flops_train_caption" if key == "flops" and r.mode == "train"
                  else f"{key}_caption")
        if key in ("roofline", "time"):
            assumes = caption.rsplit("Assumes ", 1)[-1].rstrip(".")
            caption = word(caption, lang, zh_key, assumptions=sentence(assumes, lang))
        else:
            caption = word(caption, lang, zh_key)
        out.append(f'<figure id="{key}-figure"><h3>{escape(word(title, lang))}</h3>'
                   f"{_inline(_svg(svg, lang))}<figcaption>{escape(caption)}</figcaption></figure>")
    out.append("</section>")
    return "".join(out)


def _layer_table(r: ModelResult, hw: Hardware | None, lang: str) -> tuple[str, str]:
    """The table section and the CSS indenting its rows by depth."""
    train = r.mode == "train"
    cols = [c for c in model_view.columns(model_view.HTML_COLUMNS, hw,
                                          model_view.HTML_TIME_COLUMNS)
            if train or not c.train_only]
    numeric = {c.key: c.kind not in ("text", "shape") for c in cols}
    numeric["name"] = True  # sorted by the row's index (data-value): the model's order

    def tip(key: str) -> str:
        t = model_view.COLUMNS[key].tip
        t = t + "; click to restore the model's order" if key == "name" else t
        return sentence(t, lang)

    head = "".join(
        f'<th scope="col" data-type="{"num" if numeric[c.key] else "text"}" '
        f'class="{"num" if numeric[c.key] and i else ""}"'
        + (' data-first="ascending"' if i == 0 else "")
        + (' data-unit="B"' if c.key == "saved_bytes" else "")
        + f' title="{escape(tip(c.key), quote=True)}"><button type="button">'
        f"{escape(word(c.label, lang))}</button></th>"
        for i, c in enumerate(cols)
    )
    lines = model_view.layer_lines(r, hw)
    depths = sorted({x.depth for x in lines})
    body: list[str] = []
    for i, x in enumerate(lines):
        path = escape(x.name, quote=True)
        prefix, _, last = x.name.rpartition(".")
        label = (f'<span class="pfx">{escape(prefix)}.</span>{escape(last)}' if prefix
                 else escape(last or "(model)"))
        tog = '<span class="tog" aria-hidden="true"></span>' if x.has_children else \
            '<span class="tog"></span>'
        attrs = (f'data-path="{path}" data-depth="{x.depth}" '
                 f'data-type="{escape(x.type, quote=True)}"'
                 + ("" if x.parent is None else f' data-parent="{escape(x.parent, quote=True)}"'))
        cls = f"d{x.depth} " + ("parent" if x.has_children else "leaf")
        extra = ' tabindex="0" aria-expanded="true"' if x.has_children else ""
        cells = [f'<td data-value="{i}">{tog}{label}</td>']
        for c in cols[1:]:
            v = getattr(x, c.key)
            q = Q(v, c.kind)
            if c.key == "bound":
                cells.append('<td data-value=""></td>' if v is None
                             else f'<td class="bound-{v}">{escape(word(v, lang))}</td>')
            elif not numeric[c.key]:
                cells.append(f"<td>{escape(human(q))}</td>")
            else:
                # exact numbers are in data-value; the script shows them as a tooltip on hover
                shown = "" if c.blank_zero and not v else human(q)
                cells.append(f'<td class="num" data-value="{number(q)}">{escape(shown)}</td>')
        body.append(f'<tr class="{cls}" {attrs}{extra}>' + "".join(cells) + "</tr>")
    indent = "".join(f"#layer-table tr.d{d} td:first-child{{padding-left:{0.5 + 1.1 * d:.1f}em}}"
                     for d in depths)
    note = (f"All {len(r.layers)} modules. Values are inclusive (a module's row "
        "includes its children); <code>(functional)</code> rows hold a parent's own ops, so "
        "the leaf rows add up to the totals. Click a header to sort (again to reverse; "
        "<em>module</em> restores the model's order), type to filter by path or type, click "
        "a row with children to collapse or expand it.")
    w = {k: escape(word(k, lang), quote=True) for k in (
        "Layers", "filter by module path or type", "filter layers", "collapse all", "expand all")}
    html = (
        f'<section id="layers"><h2>{w["Layers"]}</h2>'
        f'<p class="note">{word(note, lang, "layers_note", n=len(r.layers))}</p>'
        '<div class="toolbar"><input id="layer-filter" type="search" '
        f'placeholder="{w["filter by module path or type"]}" aria-label="{w["filter layers"]}">'
        f'<button type="button" id="collapse-all">{w["collapse all"]}</button>'
        f'<button type="button" id="expand-all">{w["expand all"]}</button>'
        '<span id="layer-count" class="note"></span></div>'
        f'<table id="layer-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></section>"
    )
    return html, indent


def model_html(result: ModelResult, hw: Hardware | None = None, lang: str = "en") -> str:
    """One self-contained HTML page for a model analysis: summary (run, compute with the
    FLOPs/MACs convention, memory by category and peaks, hardware answers), unsupported ops
    (prominently, when any), charts (FLOPs per layer, live memory, and the roofline when
    ``hw.step`` is given) and the sortable, filterable, collapsible per-layer table of every
    row of ``result.layers``. ``lang``: ``"en"`` or ``"zh"`` (the report's fixed text in
    Chinese: :mod:`convcost.renderers.html_zh`)."""
    r = result
    lang = layer_view.check_lang(lang)
    table, indent = _layer_table(r, hw, lang)
    step = hw.step if hw is not None else None
    links = [("summary", "summary"), ("charts", "charts")]
    if step is not None:
        links.append(("roofline-figure", "roofline"))
    links.append(("layers", "layers"))
    if r.unsupported_ops:
        links.append(("unsupported", "unsupported ops"))
    nav = ("<nav>" + "".join(f'<a href="#{a}">{escape(word(k, lang))}</a>' for a, k in links)
           + "</nav>")
    sub = sentence(text(model_view.run_line(r, step.device.name if step is not None else None)),
                   lang)
    body = (
        f"<header><h1>convcost: {escape(r.model)}</h1>"
        f'<p class="sub">{escape(sub)}</p></header>'
        + nav
        + _unsupported(r, lang)
        + _summary(r, hw, lang)
        + _charts(r, hw, lang)
        + table
        + "<footer>" + escape(word(
            f"Generated by convcost {__version__}. Exact counts from the op formulas; nothing "
            "was computed on real tensors. This file is self-contained and loads nothing from "
            "the network.", lang, "footer", version=__version__)) + "</footer>"
    )
    script = SCRIPT if lang != "zh" else SCRIPT.replace(COUNT_JS, COUNT_JS_ZH)
    return _page(f"convcost: {r.model} — {word(r.mode, lang)}", lang, CSS + indent, body,
                 script)


# --------------------------------------------------------------------------- one layer


def _math(fragment: str) -> str:
    return f'<math displaystyle="true">{fragment}</math>'


def _term_html(term: Term, meaning: str) -> str:
    """The term's meaning, then ``symbol = formula``, ``= numbers``, ``= value`` aligned on
    the equals sign, each step a MathML ``<math>`` element."""
    steps = term.steps("mathml")
    plain = " = ".join(term.steps("plain"))
    lines = [_math(steps[0]), _math("<mrow><mo>=</mo>" + steps[1] + "</mrow>")] \
        if len(steps) > 1 else [_math(steps[0]), ""]
    for st in steps[2:]:
        lines += ["", _math("<mrow><mo>=</mo>" + st + "</mrow>")]
    cells = "".join(f"<div>{x}</div>" for x in lines)
    return (f'<div class="term" data-term="{escape(term.key, quote=True)}">'
            f'<p class="meaning">{escape(meaning)}</p>'
            f'<div class="steps" title="{escape(plain, quote=True)}">{cells}</div></div>')


def _html_table(t: Table, cls: str) -> str:
    th = "".join(f'<th class="{"" if i == 0 else "num"}">{escape(h)}</th>'
                 for i, h in enumerate(t.header))
    body = "".join(
        "<tr>" + "".join(
            (f"<th>{escape(human(c)).replace('  ', '&nbsp;&nbsp;')}</th>" if i == 0
             else f'<td class="num">{escape(human(c))}</td>')
            for i, c in enumerate(row)) + "</tr>"
        for row in t.rows
    )
    return f'<table class="nums {cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def conv_html(result: ConvResult, lang: str = "en") -> str:
    """One self-contained HTML page for one layer: the summary tables, the chart of each
    pass against the 2·MACs/4·MACs approximations, and the full explanation (the same
    sections and sentences as ``--explain``) with every formula as MathML: symbols, then
    the layer's numbers, then the value. ``lang``: ``"en"`` or ``"zh"``."""
    r = result
    ex = layer_view.explanation(r, layer_view.check_lang(lang))
    summary_title = re.sub(r"^\d+\.\s*", "", ex.summary_title)
    blocks = [
        f"<header><h1>{escape(ex.header[0])}</h1>"
        f'<p class="sub">{escape(ex.header[1])}</p></header>',
        f'<section id="summary"><h2>{escape(summary_title)}</h2>'
        f"<p>{escape(shape(r.output_shape))} · MACs {exact(r.macs)} ({escape(si(r.macs))})</p>"
        f'<div class="grid"><div>{_html_table(layer_view.cost_table(r, lang), "cost")}</div>'
        f'<div>{_html_table(layer_view.memory_table(r, lang), "memory")}</div></div>'
        f'<p class="note" id="convention">{escape(word(CONVENTION, lang, "convention"))} '
        f"{escape(word(COUNTING.get(r.counting, ''), lang, r.counting))}</p></section>",
        f'<section id="chart"><figure>{_inline(_svg(conv_chart(r), lang))}</figure></section>',
        '<section id="explanation">',
    ]
    for sec in ex.sections:
        blocks.append(f'<section class="step" id="step-{escape(sec.key, quote=True)}">'
                      f"<h2>{escape(sec.title)}</h2>"
                      + (f"<p>{escape(sec.intro)}</p>" if sec.intro else "")
                      + "".join(_term_html(t, m) for t, m in sec.terms) + "</section>")
    a = ex.approx
    parts = [f'<section class="step" id="step-approx"><h2>{escape(a.title)}</h2>',
             f"<p>{escape(a.intro)}</p>" if a.intro else "",
             *(_term_html(t, m) for t, m in a.terms)]
    for c in ex.comparisons:
        parts.append(f'<p class="comparison"><strong>{escape(c.sentence)}</strong></p>')
        if c.reasons:
            parts.append(f"<p>{escape(c.because)}</p><ul class=\"why\">"
                         + "".join(f"<li>{escape(x)}</li>" for x in c.reasons) + "</ul>")
    parts.append("</section>")
    blocks += parts
    blocks.append("</section>")
    blocks.append("<footer>" + escape(word(
        f"Generated by convcost {__version__}. Every number and formula comes from the same "
        "expression trees; this file is self-contained and loads nothing from the network.",
        lang, "layer_footer", version=__version__)) + "</footer>")
    return _page(ex.header[0], lang, CSS, "".join(blocks))


def render(subject: str, result: Any, **options: Any) -> str:
    """The ``html`` format: :func:`conv_html` (option ``lang``) or :func:`model_html`
    (options ``hardware``, ``lang``)."""
    if subject == "layer":
        return conv_html(result, options.get("lang", "en"))
    return model_html(result, options.get("hardware"), options.get("lang", "en"))
