"""Charts as standalone SVG strings (pure formatting: every number comes from a result).

Each builder returns one ``<svg>`` document with a ``viewBox``, a title, axis labels and a
legend, drawn with presentation attributes only (no ``<style>``, no scripts, no external
references), so it can be embedded in an HTML page under a strict Content-Security-Policy,
saved as a ``.svg`` file or converted to PNG. Every data mark is an element with class
``mark`` and ``data-series`` (and ``data-layer`` where the mark belongs to a layer); hovering
a mark shows its exact numbers (``<title>``).

* :func:`flops_chart` — forward, backward grad-input and grad-weight (+ grad-bias) FLOPs of
  every leaf layer, stacked; one ``<g class="layer">`` per leaf layer.
* :func:`memory_chart` — live bytes after every op of the step, stacked by memory category,
  phases shaded, the peak marked (``<g class="peak">``).
* :func:`roofline_chart` — the device's roof and every leaf layer at (FLOPs per byte,
  achieved FLOP/s).
* :func:`conv_chart` — one layer: mults and adds of each pass against the classic
  ``2·MACs``/``4·MACs`` approximations.

:func:`plots` and :func:`conv_plot` write the charts to ``.svg`` or ``.png`` files
(PNG through the optional ``cairosvg``); :func:`render` is the ``svg`` format (one chart as
a string).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SpecError
from ..units import exact, nbytes, si
from ..vocab import CHARTS, allowed

if TYPE_CHECKING:
    from ..hardware.answer import Hardware
    from ..hardware.step import StepTime
    from ..layer import ConvResult
    from ..memory.timeline import Timeline
    from ..model.results import LayerRow, ModelResult

FONT = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif"
INK = "#222"
GRID = "#e3e3e3"
MUTED = "#666"

#: Okabe–Ito colours (distinguishable with the common colour-vision deficiencies).
FLOPS_SERIES: tuple[tuple[str, str, str], ...] = (
    ("forward", "forward", "#0072B2"),
    ("grad_input", "backward ∂input", "#E69F00"),
    ("grad_weight", "backward ∂weight (+ ∂bias)", "#009E73"),
)
CATEGORY_COLOURS: dict[str, str] = {
    "parameters": "#0072B2",
    "buffers": "#56B4E9",
    "inputs": "#999999",
    "gradients": "#009E73",
    "optimizer_state": "#CC79A7",
    "activations": "#E69F00",
    "temporaries": "#D55E00",
}
PHASE_COLOURS: dict[str, str] = {
    "forward": "#4C8BF5",
    "loss": "#9E9E9E",
    "backward": "#F5A34C",
    "recompute": "#C9A227",
    "optimizer": "#A04CF5",
}
BOUND_COLOURS: dict[str, str] = {"compute": "#0072B2", "memory": "#D55E00"}
#: Series of the time chart: the GPU busy with the layer's ops, and the GPU idle while the
#: host issues them (the op's share of the step beyond its device time).
TIME_SERIES: tuple[tuple[str, str, str], ...] = (
    ("device", "GPU running the layer's kernels", "#0072B2"),
    ("host", "GPU idle, waiting for the host to issue them", "#D55E00"),
)

#: Most samples a memory chart draws; longer timelines keep, per bucket, the sample with
#: the most live bytes (so the peak sample is always kept exactly).
MAX_SAMPLES = 600


def category_label(category: str) -> str:
    """``optimizer_state -> 'optimizer state'``."""
    return category.replace("_", " ")


# --------------------------------------------------------------------------- drawing kit


def _f(x: float) -> str:
    """A coordinate with one decimal, without a trailing ``.0``."""
    text = f"{x:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _text(x: float, y: float, s: str, *, size: int = 11, anchor: str = "start",
          fill: str = INK, weight: str = "", rotate: float = 0, cls: str = "") -> str:
    extra = f' font-weight="{weight}"' if weight else ""
    extra += f' transform="rotate({_f(rotate)} {_f(x)} {_f(y)})"' if rotate else ""
    extra += f' class="{cls}"' if cls else ""
    return (f'<text x="{_f(x)}" y="{_f(y)}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{fill}"{extra}>{escape(s)}</text>')


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str = INK, width: float = 1,
          dash: str = "", cls: str = "") -> str:
    extra = f' stroke-dasharray="{dash}"' if dash else ""
    extra += f' class="{cls}"' if cls else ""
    return (f'<line x1="{_f(x1)}" y1="{_f(y1)}" x2="{_f(x2)}" y2="{_f(y2)}" stroke="{stroke}" '
            f'stroke-width="{_f(width)}"{extra}/>')


def _document(width: float, height: float, title: str, desc: str, body: Sequence[str],
              cls: str) -> str:
    w, h = _f(width), _f(height)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {cls}" viewBox="0 0 {w} {h}" '
        f'width="{w}" height="{h}" role="img" font-family="{FONT}">'
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>"
        f'<rect class="background" x="0" y="0" width="{w}" height="{h}" fill="#fff"/>'
        + _text(width / 2, 22, title, size=15, anchor="middle", weight="600")
        + "".join(body)
        + "</svg>"
    )


def _legend(x: float, y: float, items: Sequence[tuple[str, str]], width: float,
            shape: str = "rect") -> tuple[str, float]:
    """Legend entries (label, colour) flowing left to right; returns it and its height."""
    out = ['<g class="legend">']
    cx, cy = x, y
    for label, colour in items:
        w = 18 + 6.3 * len(label) + 16
        if cx + w > x + width and cx > x:
            cx, cy = x, cy + 18
        if shape == "circle":
            out.append(f'<circle cx="{_f(cx + 5)}" cy="{_f(cy - 4)}" r="5" fill="{colour}"/>')
        else:
            out.append(f'<rect x="{_f(cx)}" y="{_f(cy - 9)}" width="11" height="11" '
                       f'fill="{colour}"/>')
        out.append(_text(cx + 16, cy, label, size=11))
        cx += w
    out.append("</g>")
    return "".join(out), cy - y + 18


def _nice_step(span: float, count: int) -> float:
    """A step of 1, 2, 2.5 or 5 × 10^k giving about ``count`` intervals over ``span``."""
    if span <= 0:
        return 1.0
    raw = span / count
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag  # pragma: no cover - the loop always returns


def _linear_ticks(vmax: float, count: int = 5) -> list[float]:
    """Ticks from 0 to at least ``vmax`` (decimal)."""
    step = _nice_step(vmax, count)
    n = max(1, math.ceil(vmax / step - 1e-9))
    return [i * step for i in range(n + 1)]


def _byte_ticks(vmax: float, count: int = 5) -> list[float]:
    """Ticks from 0 to at least ``vmax`` bytes, at round numbers of KiB/MiB/GiB/TiB."""
    unit = 1.0
    while vmax / (unit * 1024) >= 1 and unit < 2**40:
        unit *= 1024
    return [t * unit for t in _linear_ticks(vmax / unit, count)]


@dataclass(frozen=True)
class _Plot:
    """A plot area: left/top corner, size, and the value ranges mapped onto it."""

    left: float
    top: float
    width: float
    height: float
    ymax: float

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def y(self, v: float) -> float:
        return self.bottom - (v / self.ymax) * self.height if self.ymax else self.bottom

    def y_axis(self, ticks: Sequence[float], label: str, fmt: str) -> str:
        """Horizontal grid lines with labels, the axis title rotated on the left."""
        out = ['<g class="axis y-axis">']
        for t in ticks:
            y = self.y(t)
            out.append(_line(self.left, y, self.left + self.width, y, GRID))
            text = nbytes(t) if fmt == "bytes" else (si(int(t)) if t == int(t) else si(t))
            out.append(_text(self.left - 6, y + 4, text, size=10, anchor="end", fill=MUTED))
        out.append(_line(self.left, self.top, self.left, self.bottom, INK))
        out.append(_line(self.left, self.bottom, self.left + self.width, self.bottom, INK))
        cx, cy = 16, self.top + self.height / 2
        out.append(_text(cx, cy, label, size=11, anchor="middle", rotate=-90))
        out.append("</g>")
        return "".join(out)


def _no_data(title: str, message: str, cls: str) -> str:
    return _document(640, 120, title, message,
                     [_text(320, 70, message, size=12, anchor="middle", fill=MUTED)], cls)


# --------------------------------------------------------------------------- FLOPs per layer


def _layer_series(result: ModelResult, row: LayerRow) -> list[tuple[str, str, str, int]]:
    """(key, label, colour, FLOPs) of each stacked segment of a layer's bar."""
    b = row.backward
    values = {
        "forward": row.forward.flops,
        "grad_input": b.grad_input.flops,
        "grad_weight": b.grad_weight.flops + b.grad_bias.flops,
    }
    series = FLOPS_SERIES if result.mode == "train" else FLOPS_SERIES[:1]
    return [(k, label, colour, values[k]) for k, label, colour in series]


def flops_chart(result: ModelResult) -> str:
    """Stacked bars of forward, backward ∂input and ∂weight (+ ∂bias) FLOPs per leaf layer.

    One ``<g class="layer" data-layer=NAME>`` per leaf row of ``result.layers`` (table
    order), holding one ``rect.mark`` per non-zero segment (``data-series`` ``forward``,
    ``grad_input`` or ``grad_weight``). Inference results show the forward only. FLOPs are
    mults + adds + other scalar operations.
    """
    leaves = [row for row in result.layers if row.leaf]
    title = f"FLOPs per layer — {result.model} ({result.mode})"
    if not leaves:
        return _no_data(title, "no layers", "flops-chart")
    stacks = [_layer_series(result, row) for row in leaves]
    top_value = max((sum(s[3] for s in st) for st in stacks), default=0)
    ticks = _linear_ticks(top_value or 1)
    n = len(leaves)
    plot_w = min(1200.0, max(560.0, 7.0 * n))
    series = FLOPS_SERIES if result.mode == "train" else FLOPS_SERIES[:1]
    legend, legend_h = _legend(80, 46, [(label, c) for _, label, c in series], plot_w)
    plot = _Plot(80, 46 + legend_h + 8, plot_w, 300, ticks[-1])
    width = plot.left + plot.width + 24
    body = [legend, plot.y_axis(ticks, "FLOPs (mults + adds + other)", "count")]
    slot = plot.width / n
    bar = max(1.0, slot * 0.8)
    # alternate bands behind each top-level module, labelled when wide enough
    runs: list[tuple[str, int, int]] = []
    for i, row in enumerate(leaves):
        top = row.name.split(".", 1)[0] or "(model)"
        if runs and runs[-1][0] == top:
            runs[-1] = (top, runs[-1][1], i + 1)
        else:
            runs.append((top, i, i + 1))
    body.append('<g class="groups">')
    for j, (top, a, b) in enumerate(runs):
        x0 = plot.left + a * slot
        if j % 2:
            body.append(f'<rect x="{_f(x0)}" y="{_f(plot.top)}" width="{_f((b - a) * slot)}" '
                        f'height="{_f(plot.height)}" fill="#f4f6f8"/>')
        if (b - a) * slot >= 6.5 * len(top) + 4:
            body.append(_text(x0 + (b - a) * slot / 2, plot.bottom + 16, top, size=10,
                              anchor="middle", fill=MUTED))
    body.append("</g>")
    for i, (row, stack) in enumerate(zip(leaves, stacks)):
        x = plot.left + i * slot + (slot - bar) / 2
        name = escape(row.name, quote=True)
        tip = f"{row.name or '(model)'} ({row.type})\n" + "\n".join(
            f"{label}: {exact(v)} FLOPs" for _, label, _, v in stack)
        body.append(f'<g class="layer" data-layer="{name}"><title>{escape(tip)}</title>')
        base = 0
        for key, _, colour, v in stack:
            if v == 0:
                continue
            y0, y1 = plot.y(base), plot.y(base + v)
            body.append(f'<rect class="mark" data-layer="{name}" data-series="{key}" '
                        f'data-value="{v}" x="{_f(x)}" y="{_f(y1)}" width="{_f(bar)}" '
                        f'height="{_f(max(y0 - y1, 0.3))}" fill="{colour}"/>')
            base += v
        body.append("</g>")
    body.append(_text(plot.left + plot.width / 2, plot.bottom + 36,
                      f"leaf layers in execution (table) order — {n} layers; hover a bar "
                      "for its numbers", size=11, anchor="middle"))
    desc = (f"Stacked FLOPs of each of the {n} leaf layers of {result.model}: "
            + ", ".join(label for _, label, _ in series) + ".")
    return _document(width, plot.bottom + 50, title, desc, body, "flops-chart")


# --------------------------------------------------------------------------- memory timeline


def _timeline_of(result: ModelResult) -> tuple[Timeline | None, str]:
    m = result.memory
    if result.mode == "train" and m.train_timeline is not None:
        return m.train_timeline, "one training step"
    if m.inference_timeline is not None:
        return m.inference_timeline, "an inference forward pass"
    return m.train_timeline, "one training step"


def downsample(totals: Sequence[int], limit: int = MAX_SAMPLES) -> list[int]:
    """Indices of at most about ``limit`` samples to draw: per equal bucket the sample with
    the most live bytes (the first such), plus the first and last sample. The peak sample
    (first maximum) is always kept."""
    n = len(totals)
    if n <= limit:
        return list(range(n))
    size = math.ceil(n / limit)
    keep = {0, n - 1}
    for start in range(0, n, size):
        bucket = range(start, min(n, start + size))
        keep.add(max(bucket, key=lambda i: (totals[i], -i)))
    return sorted(keep)


def _phase(label: str) -> str:
    return label.split(":", 1)[0] if label else ""


def memory_chart(result: ModelResult) -> str:
    """Live bytes after every op of the step (training; inference results: the forward),
    stacked areas by memory category (``path.mark.area``, ``data-series`` the category),
    phases shaded (``rect.phase``, ``data-phase``), the peak marked (``g.peak``, with
    ``data-sample`` and ``data-value`` in bytes). Timelines longer than
    :data:`MAX_SAMPLES` are thinned, keeping the exact peak sample."""
    from ..memory.timeline import CATEGORIES

    tl, what = _timeline_of(result)
    title = f"Live memory during {what} — {result.model}"
    if tl is None or not tl.rows:
        return _no_data(title, "no memory timeline in this result", "memory-chart")
    totals = tl.totals
    n = len(totals)
    keep = downsample(totals)
    present = [c for j, c in enumerate(CATEGORIES) if any(r[j] for r in tl.rows)]
    plot_w = 880.0
    legend, legend_h = _legend(80, 46, [(category_label(c), CATEGORY_COLOURS[c])
                                        for c in present], plot_w)
    ticks = _byte_ticks(max(totals) or 1)
    plot = _Plot(80, 46 + legend_h + 22, plot_w, 320, ticks[-1])
    xmax = max(n - 1, 1)

    def x(i: float) -> float:
        return plot.left + plot.width * i / xmax

    body = [legend]
    # phases
    runs: list[tuple[str, int, int]] = []
    for i, label in enumerate(tl.labels[:n]):
        ph = _phase(label)
        if runs and runs[-1][0] == ph:
            runs[-1] = (ph, runs[-1][1], i)
        else:
            runs.append((ph, i, i))
    body.append('<g class="phases">')
    for ph, a, b in runs:
        if ph not in PHASE_COLOURS:
            continue
        x0, x1 = x(max(a - 0.5, 0)), x(min(b + 0.5, xmax))
        body.append(f'<rect class="phase" data-phase="{escape(ph, quote=True)}" '
                    f'x="{_f(x0)}" y="{_f(plot.top)}" width="{_f(max(x1 - x0, 0.5))}" '
                    f'height="{_f(plot.height)}" fill="{PHASE_COLOURS[ph]}" '
                    f'fill-opacity="0.08"><title>{escape(ph)}: ops {a}–{b}</title></rect>')
        body.append(_line(x0, plot.top, x0, plot.bottom, PHASE_COLOURS[ph], 1, "3 3"))
        if x1 - x0 >= 7 * len(ph):
            body.append(_text((x0 + x1) / 2, plot.top - 6, ph, size=11, anchor="middle",
                              fill=PHASE_COLOURS[ph], weight="600"))
    body.append("</g>")
    body.append(plot.y_axis(ticks, "live bytes", "bytes"))
    # stacked areas
    body.append('<g class="areas">')
    base = [0] * len(keep)
    for c in present:
        j = CATEGORIES.index(c)
        top = [base[k] + tl.rows[i][j] for k, i in enumerate(keep)]
        upper = " L".join(f"{_f(x(i))},{_f(plot.y(v))}" for i, v in zip(keep, top))
        lower = " L".join(f"{_f(x(i))},{_f(plot.y(v))}"
                          for i, v in zip(reversed(keep), reversed(base)))
        peak_c = max(r[j] for r in tl.rows)
        body.append(f'<path class="mark area" data-series="{c}" data-layer="" '
                    f'd="M{upper} L{lower} Z" fill="{CATEGORY_COLOURS[c]}" fill-opacity="0.85">'
                    f"<title>{escape(category_label(c))}: up to {nbytes(peak_c)} "
                    f"({exact(peak_c)} B)</title></path>")
        base = top
    body.append("</g>")
    # x axis ticks (op index)
    body.append('<g class="axis x-axis">')
    for t in _linear_ticks(xmax, 8):
        if t > xmax:
            break
        body.append(_line(x(t), plot.bottom, x(t), plot.bottom + 4, INK))
        body.append(_text(x(t), plot.bottom + 16, exact(int(t)), size=10, anchor="middle",
                          fill=MUTED))
    body.append(_text(plot.left + plot.width / 2, plot.bottom + 34,
                      "op index (sample 0: before the first op; sample i: after op i)",
                      size=11, anchor="middle"))
    body.append("</g>")
    # peak
    p = tl.peak_index
    pv = totals[p]
    px, py = x(p), plot.y(pv)
    label = tl.labels[p] if p < len(tl.labels) else ""
    where = f" after op {p}" + (f" ({label})" if label else "")
    text = f"peak {nbytes(pv)}"
    right = px > plot.left + plot.width * 0.6
    body.append(
        f'<g class="peak" data-sample="{p}" data-value="{pv}">'
        f"<title>{escape(f'peak {nbytes(pv)} ({exact(pv)} B){where}')}</title>"
        + _line(px, plot.top, px, plot.bottom, "#B00020", 1.2, "4 2")
        + f'<circle cx="{_f(px)}" cy="{_f(py)}" r="4.5" fill="#B00020" stroke="#fff" '
        f'stroke-width="1.5"/>'
        + _text(px + (-8 if right else 8), max(py - 8, plot.top + 12), text, size=12,
                anchor="end" if right else "start", fill="#B00020", weight="600")
        + "</g>"
    )
    desc = (f"Stacked live bytes by category over the {n} samples of {what}"
            + (f" (drawn with {len(keep)} samples)" if len(keep) < n else "")
            + f"; peak {nbytes(pv)}{where}.")
    return _document(plot.left + plot.width + 24, plot.bottom + 50, title, desc, body,
                     "memory-chart")


# --------------------------------------------------------------------------- roofline


@dataclass(frozen=True)
class RooflinePoint:
    """One leaf layer on the roofline: FLOPs per byte and achieved FLOP/s (FLOPs over its
    predicted forward + backward seconds)."""

    name: str
    type: str
    flops: int
    bytes: int
    seconds: float
    bound: str

    @property
    def intensity(self) -> float:
        return self.flops / self.bytes

    @property
    def achieved(self) -> float:
        return self.flops / self.seconds


def roofline_points(result: ModelResult, step: StepTime) -> list[RooflinePoint]:
    """The leaf layers a roofline chart places: those with a predicted time, FLOPs and
    bytes (a layer that moves no bytes or does no FLOPs has no point on log axes)."""
    times = {lt.name: lt for lt in step.layers}
    out = []
    for row in result.layers:
        lt = times.get(row.name)
        if not row.leaf or lt is None:
            continue
        flops = lt.forward_flops + lt.backward_flops
        moved = lt.forward_bytes + lt.backward_bytes
        seconds = lt.forward_s + lt.backward_s
        if flops > 0 and moved > 0 and seconds > 0:
            out.append(RooflinePoint(row.name, row.type, flops, moved, seconds,
                                     lt.bound(step.device, step.dtype, step.tf32)))
    return out


def _decades(lo: float, hi: float) -> tuple[int, int]:
    return math.floor(math.log10(lo)), math.ceil(math.log10(hi))


def roofline_chart(result: ModelResult, step: StepTime) -> str:
    """Log-log roofline of ``step.device`` for the model's dtype: the bandwidth slope, the
    compute ceiling and the ridge point, and each leaf layer (``circle.mark``,
    ``data-layer``, ``data-series`` ``compute``/``memory``) at (FLOPs per byte moved,
    FLOPs / predicted seconds) over its forward and backward ops."""
    dev = step.device
    peak, bw = step.peak, dev.bandwidth
    peak_of = step.dtype if step.peak_note is None else step.peak_dtype  # fp32 fallback
    ridge = peak / bw
    title = f"Roofline — {result.model} on {dev.name} ({step.dtype})"
    points = roofline_points(result, step)
    xs = [p.intensity for p in points] + [ridge]
    ys = [p.achieved for p in points] + [peak]
    x0, x1 = _decades(min(xs) / 2, max(xs) * 2)
    y0, y1 = _decades(min(min(ys) / 2, peak / 1e3), peak * 1.5)
    plot_w, plot_h = 760.0, 420.0
    legend_items = [("compute-bound layer", BOUND_COLOURS["compute"]),
                    ("memory-bound layer", BOUND_COLOURS["memory"])]
    legend, legend_h = _legend(90, 46, legend_items, plot_w, "circle")
    left, top = 90.0, 46 + legend_h + 8

    def px(v: float) -> float:
        return left + plot_w * (math.log10(v) - x0) / (x1 - x0)

    def py(v: float) -> float:
        return top + plot_h - plot_h * (math.log10(v) - y0) / (y1 - y0)

    body = [legend, '<g class="axis">']
    for k in range(x0, x1 + 1):
        x = px(10.0**k)
        body.append(_line(x, top, x, top + plot_h, GRID))
        body.append(_text(x, top + plot_h + 16, si(10**k) if k >= 0 else f"{10.0**k:g}",
                          size=10, anchor="middle", fill=MUTED))
    for k in range(y0, y1 + 1):
        y = py(10.0**k)
        body.append(_line(left, y, left + plot_w, y, GRID))
        body.append(_text(left - 6, y + 4, si(10**k, "FLOP/s") if k >= 0 else f"{10.0**k:g}",
                          size=10, anchor="end", fill=MUTED))
    body.append(_line(left, top, left, top + plot_h))
    body.append(_line(left, top + plot_h, left + plot_w, top + plot_h))
    body.append(_text(left + plot_w / 2, top + plot_h + 36,
                      "arithmetic intensity (FLOPs per byte moved, log scale)", size=11,
                      anchor="middle"))
    body.append(_text(16, top + plot_h / 2, "FLOP/s (log scale)", size=11, anchor="middle",
                      rotate=-90))
    body.append("</g>")
    # the roof, clipped to the plot
    xa = max(10.0**x0, 10.0**y0 / bw)
    roof = f"M{_f(px(xa))},{_f(py(xa * bw))} L{_f(px(ridge))},{_f(py(peak))} " \
           f"L{_f(px(10.0**x1))},{_f(py(peak))}"
    body.append(f'<g class="roof"><path d="{roof}" fill="none" stroke="{INK}" '
                f'stroke-width="2"/>'
                + _line(px(ridge), py(peak), px(ridge), top + plot_h, MUTED, 1, "4 3")
                + f'<circle class="ridge" cx="{_f(px(ridge))}" cy="{_f(py(peak))}" r="3.5" '
                f'fill="{INK}"/>'
                + _text(px(ridge) + 6, py(peak) + 16, f"ridge {si(ridge)} FLOP/B", size=10,
                        fill=MUTED)
                + _text(left + plot_w - 4, py(peak) - 6,
                        f"peak {si(peak, 'FLOP/s')} ({peak_of})", size=11, anchor="end")
                + _text(px(xa) + 8, py(xa * bw) - 8, f"memory {si(bw, 'B/s')}", size=11,
                        rotate=math.degrees(math.atan2(py(peak) - py(xa * bw),
                                                       px(ridge) - px(xa))))
                + "</g>")
    body.append('<g class="points">')
    for p in points:
        tip = (f"{p.name} ({p.type}): {si(p.intensity)} FLOP/B, achieved "
               f"{si(p.achieved, 'FLOP/s')} ({exact(p.flops)} FLOPs, {nbytes(p.bytes)} moved, "
               f"{p.seconds * 1e6:.3g} µs), {p.bound}-bound")
        body.append(f'<circle class="mark" data-layer="{escape(p.name, quote=True)}" '
                    f'data-series="{p.bound}" cx="{_f(px(p.intensity))}" '
                    f'cy="{_f(py(p.achieved))}" r="4" fill="{BOUND_COLOURS[p.bound]}" '
                    f'fill-opacity="0.75" stroke="#fff" stroke-width="0.8">'
                    f"<title>{escape(tip)}</title></circle>")
    body.append("</g>")
    leaves = sum(1 for row in result.layers if row.leaf)
    note = f"{len(points)} of {leaves} leaf layers placed"
    if len(points) < leaves:
        note += " (the others do no FLOPs or move no bytes)"
    body.append(_text(left + plot_w, top + plot_h + 52, note, size=10, anchor="end",
                      fill=MUTED))
    desc = (f"Roofline of {dev.name}: peak {si(peak, 'FLOP/s')} {peak_of}, bandwidth "
            f"{si(bw, 'B/s')}, ridge at {si(ridge)} FLOPs per byte; {note}.")
    return _document(left + plot_w + 24, top + plot_h + 62, title, desc, body,
                     "roofline-chart")


# --------------------------------------------------------------------------- one layer


def time_chart(result: ModelResult, step: StepTime) -> str:
    """Where the estimated step time goes: one stacked bar per leaf layer (table order) of
    its ops' share of the step (forward + backward), split into the GPU running them
    (``data-series="device"``) and the GPU idle while the host issues them
    (``data-series="host"``). ``g.layer[data-layer]`` holds each bar; values in seconds."""
    est = step.estimate
    title = f"Estimated time per layer — {result.model} on {step.device.name}"
    times = {lt.name: lt for lt in step.layers}
    leaves = [row for row in result.layers if row.leaf and row.name in times]
    if est is None or not leaves:
        return _no_data(title, "no estimate", "time-chart")
    stacks = []
    for row in leaves:
        lt = times[row.name]
        wall = lt.est_forward_s + lt.est_backward_s
        device = min(lt.est_device_s, wall)
        stacks.append((row, device, max(0.0, wall - device)))
    top_value = max((d + h for _, d, h in stacks), default=0.0) or 1e-9
    ticks = _linear_ticks(top_value * 1e6)
    n = len(leaves)
    plot_w = min(1200.0, max(560.0, 7.0 * n))
    legend, legend_h = _legend(80, 46, [(label, c) for _, label, c in TIME_SERIES], plot_w)
    plot = _Plot(80, 46 + legend_h + 8, plot_w, 300, ticks[-1])
    body = [legend, plot.y_axis(ticks, "estimated µs (share of the step)", "count")]
    slot = plot.width / n
    bar = max(1.0, slot * 0.8)
    for i, (row, device, host) in enumerate(stacks):
        x = plot.left + i * slot + (slot - bar) / 2
        name = escape(row.name, quote=True)
        tip = (f"{row.name or '(model)'} ({row.type})\nGPU busy {device * 1e6:.1f} µs\n"
               f"GPU idle waiting for the host {host * 1e6:.1f} µs")
        body.append(f'<g class="layer" data-layer="{name}"><title>{escape(tip)}</title>')
        base = 0.0
        for (key, _, colour), v in zip(TIME_SERIES, (device * 1e6, host * 1e6)):
            if v <= 0:
                continue
            y0, y1 = plot.y(base), plot.y(base + v)
            body.append(f'<rect class="mark" data-layer="{name}" data-series="{key}" '
                        f'data-value="{v / 1e6!r}" x="{_f(x)}" y="{_f(y1)}" '
                        f'width="{_f(bar)}" height="{_f(max(y0 - y1, 0.3))}" fill="{colour}"/>')
            base += v
        body.append("</g>")
    bound = "host-bound" if est.host_bound else "device-bound"
    body.append(_text(plot.left + plot.width / 2, plot.bottom + 36,
                      f"leaf layers in execution order — {n} layers; step "
                      f"{est.step_s * 1e3:.3g} ms ({bound}: host {est.host_s * 1e3:.3g} ms, "
                      f"device {est.device_s * 1e3:.3g} ms)", size=11, anchor="middle"))
    desc = (f"Estimated share of the step of each of the {n} leaf layers of {result.model} "
            f"on {step.device.name}, split into GPU busy and GPU waiting for the host.")
    return _document(plot.left + plot.width + 24, plot.bottom + 50, title, desc, body,
                     "time-chart")


def conv_chart(result: ConvResult) -> str:
    """One layer: multiplications and additions (stacked) of the forward pass and each
    gradient, and of the backward total, beside the classic approximations (forward
    ``2·MACs``, backward ``4·MACs``). Marks: ``rect.mark`` with ``data-layer`` the pass
    (``forward``, ``grad_input``, ``grad_weight``, ``grad_bias``, ``backward``) and
    ``data-series`` ``mults``, ``adds`` or ``approx``."""
    b = result.backward
    groups: list[tuple[str, str, int, int, int | None]] = [
        ("forward", "forward", result.forward.mults, result.forward.adds,
         result.seed_forward_flops),
        ("grad_input", "grad-input", b.grad_input.mults, b.grad_input.adds, None),
        ("grad_weight", "grad-weight", b.grad_weight.mults, b.grad_weight.adds, None),
        ("grad_bias", "grad-bias", b.grad_bias.mults, b.grad_bias.adds, None),
        ("backward", "backward total", b.total.mults, b.total.adds, result.seed_backward_flops),
    ]
    colours = {"mults": "#0072B2", "adds": "#56B4E9", "approx": "#BBBBBB"}
    top_value = max(max(m + a, ap or 0) for _, _, m, a, ap in groups)
    ticks = _linear_ticks(top_value or 1)
    legend, legend_h = _legend(80, 46, [("multiplications", colours["mults"]),
                                        ("additions", colours["adds"]),
                                        ("approximation (2·MACs, 4·MACs)", colours["approx"])],
                               600)
    plot = _Plot(80, 46 + legend_h + 8, 600, 280, ticks[-1])
    body = [legend, plot.y_axis(ticks, "operations", "count")]
    slot = plot.width / len(groups)
    for i, (key, label, m, a, ap) in enumerate(groups):
        bars = 2 if ap is not None else 1
        bw = slot * 0.3
        x = plot.left + i * slot + (slot - bars * bw - (bars - 1) * 4) / 2
        tip = f"{label}: {exact(m)} mults + {exact(a)} adds = {exact(m + a)} FLOPs"
        body.append(f'<g class="layer" data-layer="{key}"><title>{escape(tip)}</title>')
        base = 0
        for series, v in (("mults", m), ("adds", a)):
            y0, y1 = plot.y(base), plot.y(base + v)
            body.append(f'<rect class="mark" data-layer="{key}" data-series="{series}" '
                        f'data-value="{v}" x="{_f(x)}" y="{_f(y1)}" width="{_f(bw)}" '
                        f'height="{_f(y0 - y1)}" fill="{colours[series]}"/>')
            base += v
        if ap is not None:
            xa = x + bw + 4
            body.append(f'<rect class="mark" data-layer="{key}" data-series="approx" '
                        f'data-value="{ap}" x="{_f(xa)}" y="{_f(plot.y(ap))}" '
                        f'width="{_f(bw)}" height="{_f(plot.bottom - plot.y(ap))}" '
                        f'fill="{colours["approx"]}"><title>{escape(label)} approximation: '
                        f"{exact(ap)} FLOPs; exact {exact(m + a)} ({m + a - ap:+,})</title>"
                        "</rect>")
        body.append(_text(plot.left + (i + 0.5) * slot, plot.bottom + 16, label, size=11,
                          anchor="middle"))
        body.append(_text(plot.left + (i + 0.5) * slot, plot.bottom + 30, si(m + a), size=10,
                          anchor="middle", fill=MUTED))
        body.append("</g>")
    s = result.spec
    title = f"Operations of one {'transposed ' if s.transposed else ''}convolution layer " \
            f"({result.counting} counting)"
    desc = (f"Exact multiplications and additions per pass; forward {exact(result.forward.flops)}"
            f" FLOPs vs 2·MACs = {exact(result.seed_forward_flops)}, backward "
            f"{exact(b.total.flops)} vs 4·MACs = {exact(result.seed_backward_flops)}.")
    return _document(plot.left + plot.width + 24, plot.bottom + 46, title, desc, body,
                     "conv-chart")


# --------------------------------------------------------------------------- files

PLOT_FORMATS: tuple[str, ...] = (".svg", ".png")


def _plot_target(path: str | Path) -> tuple[Path, str]:
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in PLOT_FORMATS or not p.stem:
        raise SpecError("plot", str(path), "a file name ending in .svg or .png")
    if not p.parent.is_dir():
        raise SpecError("plot", str(path), f"the directory {str(p.parent)!r} does not exist")
    return p, ext


def _write(svg: str, target: Path, ext: str) -> None:
    """Write one chart (PNG: drawn by cairosvg in memory, then written like the SVG); a file
    that cannot be written (a missing or read-only directory, a directory in its place, a
    full disk) is a SpecError naming ``plot``, chained from the OSError."""
    if ext == ".png":
        try:
            cairosvg = importlib.import_module("cairosvg")
        except ImportError:  # pragma: no cover - cairosvg is in the plot and dev extras
            raise SpecError("plot", str(target), "PNG output needs cairosvg "
                            "(pip install 'convcost[plot]'); .svg needs nothing") from None
    data = (svg.encode("utf-8") if ext == ".svg"
            else cairosvg.svg2png(bytestring=svg.encode("utf-8"), scale=2))
    try:
        target.write_bytes(data)
    except OSError as e:
        raise SpecError("plot", str(target), f"cannot be written ({e.strerror or e})") from e


def plot_names(path: str | Path, roofline: bool) -> list[Path]:
    """The files :func:`plots` writes for ``path``: ``STEM-flops.EXT``,
    ``STEM-memory.EXT`` and, with a device, ``STEM-roofline.EXT`` and ``STEM-time.EXT``,
    beside ``path``."""
    p = Path(path)
    keys = ["flops", "memory"] + (["roofline", "time"] if roofline else [])
    return [p.with_name(f"{p.stem}-{k}{p.suffix}") for k in keys]


def plots(result: ModelResult, hw: Hardware | None, path: str | Path) -> list[Path]:
    """Write the model's charts to ``FILE.svg`` or ``FILE.png``: one file per chart beside
    ``FILE`` (:func:`plot_names`: ``-flops``, ``-memory``, and ``-roofline`` and ``-time``
    when ``hw.step`` is given); PNG at twice the SVG's pixel size. Returns the paths written. A bad
    extension or a missing directory raises :class:`~convcost.errors.SpecError` naming
    ``plot`` (before anything is written)."""
    p, ext = _plot_target(path)
    step = hw.step if hw is not None else None
    charts = [flops_chart(result), memory_chart(result)]
    if step is not None:
        charts += [roofline_chart(result, step), time_chart(result, step)]
    targets = plot_names(p, step is not None)
    for svg, target in zip(charts, targets):
        _write(svg, target, ext)
    return targets


def conv_plot(result: ConvResult, path: str | Path) -> list[Path]:
    """Write the single-layer chart (:func:`conv_chart`) to ``path`` (``.svg`` or ``.png``);
    returns ``[path]``. Errors as for :func:`plots`."""
    p, ext = _plot_target(path)
    _write(conv_chart(result), p, ext)
    return [p]


def render(subject: str, result: Any, **options: Any) -> str:
    """The ``svg`` format: one chart as an SVG document. A layer has one chart (``conv``);
    a model's ``chart`` is ``flops`` (default), ``memory``, ``roofline`` or ``time`` (which
    need ``hardware`` with a step time)."""
    chart = options.get("chart", "conv" if subject == "layer" else "flops")
    ok = ("conv",) if subject == "layer" else tuple(c for c in CHARTS if c != "conv")
    if chart not in ok:
        raise SpecError("chart", chart, allowed(ok))
    if chart == "conv":
        return conv_chart(result)
    if chart == "flops":
        return flops_chart(result)
    if chart == "memory":
        return memory_chart(result)
    step = getattr(options.get("hardware"), "step", None)
    if step is None:
        raise SpecError("hardware", options.get("hardware"), f"the {chart} chart needs "
                        "hardware with a step time (a device)")
    return time_chart(result, step) if chart == "time" else roofline_chart(result, step)
