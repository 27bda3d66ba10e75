"""Measured kernel latencies (NeuSight's public data set) against convcost's device time model.

What it measures: for every row of ``data/neusight_kernels.csv`` (one PyTorch call — a
``nn.Linear``, ``torch.bmm``, ``nn.Conv2d``, an elementwise op, ``nn.LayerNorm`` or
``nn.Softmax`` — of a given shape, timed by NeuSight on a V100, A100, H100, L4, T4, P100 or P4
with PyTorch 2.1 in fp32, forward only under ``no_grad``; see ``data/neusight_kernels.md``)
it builds the same call as a one-op module on the meta device, traces it with
:func:`convcost.analyze` (inference, the CUDA dispatch path for the GPU's compute capability)
and predicts its time with the execution-time estimate
(:func:`convcost.hardware.estimate.estimate` on the GPU's preset, TF32 off as in NeuSight's
runs). Two predictions per row:

* ``device``: the sum of ``OpTime.device_s`` over the call's ops (ops without device work
  add 0) — the kernels alone;
* ``+host``: the estimate's played time of the call (``Estimate.step_s``: the host issues the
  op, then the GPU runs it). NeuSight times each call with CUDA events recorded on either
  side of it on an idle GPU, so a short kernel's measurement is mostly the host's dispatch
  time, which ``device`` leaves out by definition.
* ``+call``: ``device`` plus the measured call overhead of NeuSight's own hosts (its Python
  call, the op's dispatch up to the launch, the events): for each GPU and NeuSight op, the
  median of measured − ``device`` over the five **tuning** rows with the shortest predicted
  kernels (each ≤ 20 µs, where the interval is mostly host time). An op with fewer than
  :data:`MIN_OVERHEAD_ROWS` such rows on a GPU takes the median over the GPUs that have them
  (the L4, H100 and A100 80 GB rows are NeuSight's large test shapes only). This is a property
  of the measurement's hosts, not of convcost's stacks; the kernel target is judged on it,
  because a measured interval of an idle GPU holds both.

Rows are split 50/50 into a tuning part and a held-out part by a hash of the op and shape
(the same shape is in the same part on every GPU). For each part × op class × GPU it prints
the rows, the median of |pred/meas − 1|, the geometric mean of meas/pred and the share within
±25 %, for the three predictions, then a held-out summary per op class (target: median |error|
≤ 20 % for ``+call``; ``device`` is also shown). GPUs without a convcost preset (P100, P4)
are counted and skipped.

Run (about a minute on a 2-core machine; every row, traces cached by op, shape and compute
capability)::

    .venv/bin/python benchmarks/kernels_vs_measured.py
    .venv/bin/python benchmarks/kernels_vs_measured.py --part held-out --op linear --gpu t4
    .venv/bin/python benchmarks/kernels_vs_measured.py --by op --min-ms 0.2 --json

It reads only the CSV; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

DATA = Path(__file__).with_name("data") / "neusight_kernels.csv"

#: NeuSight's GPUs (the CSV's short names) → convcost presets; ``None``: no preset, skipped.
#: The A100 PCIe 40 GB takes the SXM4 preset (same SMs, clocks, peaks and bandwidth); the
#: A100 PCIe 80 GB its own preset (1,935 GB/s); the V100 PCIe 32 GB takes ``v100-pcie`` (the
#: 16 GB PCIe preset: same rates and bandwidth); "NVIDIA H100 80GB HBM3" is the SXM5 card.
PRESET: dict[str, str | None] = {
    "V100-PCIE-32GB": "v100-pcie",
    "A100-PCIE-40GB": "a100-40gb",
    "A100-PCIE-80GB": "a100-80gb-pcie",
    "H100-SXM5-80GB": "h100-sxm",
    "L4": "l4",
    "T4": "t4",
    "P100-PCIE-16GB": None,
    "P4": None,
}

BINARY = ("add", "mul", "pow", "div")
SCALAR = ("addu", "mulu", "powu", "divu")
UNARY = ("relu", "gelu", "tanh")
#: NeuSight's op names → op classes of the report.
CLASS: dict[str, str] = {
    "linear": "linear", "bmm": "bmm", "conv": "conv2d", "ln": "layernorm",
    "softmax": "softmax", **{op: "elementwise" for op in BINARY + SCALAR + UNARY},
}
CLASSES = ("linear", "bmm", "conv2d", "elementwise", "layernorm", "softmax")
#: NeuSight's scalar operand is ``1 - random.random()``; any value that is not one of
#: ``pow``'s special exponents (0.5, 2, 3, -0.5, -1, -2) gives the same ops.
SCALAR_OPERAND = 0.37
#: PyTorch 2.1's default (``torch.backends.cuda.matmul.allow_tf32 = False``) and NeuSight's
#: ``torch.backends.cudnn.allow_tf32 = False``: fp32 on the CUDA cores throughout.
TF32 = False
PARTS = ("tuning", "held-out")
WITHIN = 0.25
TARGET = 0.20
#: The call overhead of a GPU and op comes from its tuning rows with the shortest predicted
#: kernels: at most OVERHEAD_ROWS of them, each predicted at most SMALL_DEVICE_S, at least
#: MIN_OVERHEAD_ROWS.
OVERHEAD_ROWS = 5
SMALL_DEVICE_S = 20e-6
MIN_OVERHEAD_ROWS = 3


@dataclass(frozen=True)
class Row:
    """One measured call: NeuSight's set (``train``/``test``), op, GPU, shape (NeuSight's dims
    order), latency in milliseconds, kernels launched (where NeuSight recorded them), cuDNN's
    algorithm family (convolutions) and the main kernel's name."""

    set: str
    op: str
    gpu: str
    shape: tuple[int, ...]
    latency_ms: float
    kernels: int | None = None
    algo: str = ""
    kernel: str = ""

    @property
    def cls(self) -> str:
        """The op class of the report."""
        return CLASS[self.op]

    @property
    def key(self) -> str:
        """Op and shape, as the split hashes them."""
        return f"{self.op}|{';'.join(map(str, self.shape))}"

    @property
    def part(self) -> str:
        """``tuning`` or ``held-out``: the first byte of SHA-256 of ``"split|" + key``."""
        return PARTS[hashlib.sha256(f"split|{self.key}".encode()).digest()[0] >= 128]


def parse_rows(lines: Iterable[str]) -> list[Row]:
    """Rows of the CSV format of ``data/neusight_kernels.csv`` (header first)."""
    out = []
    for r in csv.DictReader(lines):
        out.append(Row(r["set"], r["op"], r["gpu"], tuple(int(x) for x in r["shape"].split(";")),
                       float(r["latency_ms"]), int(r["kernels"]) if r["kernels"] else None,
                       r["algo"], r["kernel"]))
    return out


def load_rows(path: Path = DATA) -> list[Row]:
    """Every row of the copied CSV."""
    with path.open(newline="", encoding="utf-8") as f:
        return parse_rows(f)


def call_for(op: str, shape: Sequence[int]) -> tuple[Any, list[tuple[tuple[int, ...], str]]]:
    """The one-op module (on the meta device) and inputs NeuSight timed for ``op`` at
    ``shape`` (``neusight/Dataset/collect.py::profile_kernel``): ``nn.Linear(n, k,
    bias=True)`` on ``(b, m, n)``; ``torch.bmm`` of ``(b, m, n)`` and ``(b, n, k)``;
    ``nn.Conv2d(cin, cout, ks, stride, padding, bias=False)`` on ``(b, cin, s, s)``;
    ``nn.LayerNorm(h)``, ``nn.Softmax`` (over the last of two dims) and the elementwise ops
    on ``(b, h)``: binary ops of two such tensors, the ``…u`` ops with a Python scalar."""
    f32 = "float32"
    if op == "linear":
        b, m, n, k = shape
        return nn.Linear(n, k, bias=True, device="meta"), [((b, m, n), f32)]
    if op == "bmm":
        b, m, n, k = shape
        return Call(torch.bmm), [((b, m, n), f32), ((b, n, k), f32)]
    if op == "conv":
        b, cin, cout, ks, size, stride, pad = shape
        conv = nn.Conv2d(cin, cout, ks, stride=stride, padding=pad, bias=False, device="meta")
        return conv, [((b, cin, size, size), f32)]
    b, h = shape
    x = ((b, h), f32)
    if op == "ln":
        return nn.LayerNorm(h, device="meta"), [x]
    if op == "softmax":
        return nn.Softmax(dim=1), [x]
    if op in BINARY:
        return Call(getattr(torch, op)), [x, x]
    if op in SCALAR:
        fn = getattr(torch, op[:-1])
        return Call(lambda t: fn(t, SCALAR_OPERAND)), [x]
    unary: dict[str, Callable[[], Any]] = {"relu": nn.ReLU, "gelu": nn.GELU,
                                           "tanh": lambda: Call(torch.tanh)}
    return unary[op](), [x]


class Call(nn.Module):
    """A module whose forward is one function call."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *args: Any) -> Any:
        return self.fn(*args)


@dataclass(frozen=True)
class Prediction:
    """Predicted seconds of one row: the kernels alone and the played call (host + device),
    and how many of the call's ops run on the device."""

    device_s: float
    timeline_s: float
    device_ops: int


class Predictor:
    """Traces each (op, shape, compute capability) once and predicts rows on their GPU's
    preset with convcost's estimate."""

    def __init__(self) -> None:
        self.traces: dict[tuple[str, tuple[int, ...], str], Any] = {}

    @staticmethod
    def device(gpu: str) -> Any:
        """The preset of a NeuSight GPU (``None`` when convcost has none)."""
        from convcost.hardware.devices import get_device

        name = PRESET.get(gpu)
        return None if name is None else get_device(name)

    def trace(self, op: str, shape: tuple[int, ...], device: Any) -> Any:
        """``convcost.analyze`` of the call on the CUDA path for ``device``'s capability."""
        from convcost import analyze
        from convcost.hardware.dispatch import dispatch_options

        options = dispatch_options(device, "cuda")
        key = (op, shape, options["compute_capability"])
        if key not in self.traces:
            module, inputs = call_for(op, shape)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.traces[key] = analyze(module, inputs=inputs, mode="inference",
                                           name=op, **options)
        return self.traces[key]

    def predict(self, row: Row) -> Prediction | None:
        """The row's prediction, ``None`` for a GPU without a preset."""
        from convcost.hardware.estimate import estimate

        device = self.device(row.gpu)
        if device is None:
            return None
        result = self.trace(row.op, row.shape, device)
        est = estimate(result, device, tf32=TF32)
        device_s = sum(t.device_s for t in est.ops)
        return Prediction(device_s, est.step_s, sum(1 for t in est.ops if t.device_s > 0))


@dataclass(frozen=True)
class Stats:
    """Agreement of a group: rows, median |pred/meas − 1|, geometric mean meas/pred, share
    within ±25 %."""

    rows: int
    median_abs_error: float
    geomean_meas_over_pred: float
    within_25: float

    def to_dict(self) -> dict[str, float]:
        return {"rows": self.rows, "median_abs_error": self.median_abs_error,
                "geomean_meas_over_pred": self.geomean_meas_over_pred,
                "within_25": self.within_25}


def stats(pairs: Sequence[tuple[float, float]]) -> Stats:
    """:class:`Stats` of (measured, predicted) seconds."""
    errs = [abs(p / m - 1) for m, p in pairs]
    logs = [math.log(m / p) for m, p in pairs]
    return Stats(len(pairs), statistics.median(errs), math.exp(statistics.fmean(logs)),
                 sum(e <= WITHIN for e in errs) / len(errs))


@dataclass(frozen=True)
class Scored:
    """A row with its prediction and (``+call``) the measurement hosts' call overhead."""

    row: Row
    pred: Prediction
    overhead_s: float = 0.0


def call_overheads(scored: Iterable[Scored]) -> dict[tuple[str, str], float]:
    """Seconds of NeuSight's call overhead per (GPU, op): the median of measured − predicted
    kernels over the (at most :data:`OVERHEAD_ROWS`) **tuning** rows with the shortest
    predicted kernels, each at most :data:`SMALL_DEVICE_S`. Ops with fewer than
    :data:`MIN_OVERHEAD_ROWS` such rows on a GPU take the median over the GPUs that have them
    (key ``("*", op)``)."""
    small: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for s in scored:
        if s.row.part == "tuning" and s.pred.device_s <= SMALL_DEVICE_S:
            small.setdefault((s.row.gpu, s.row.op), []).append(
                (s.pred.device_s, s.row.latency_ms * 1e-3 - s.pred.device_s))
    own = {k: statistics.median(gap for _, gap in sorted(v)[:OVERHEAD_ROWS])
           for k, v in small.items() if len(v) >= MIN_OVERHEAD_ROWS}
    by_op: dict[str, list[float]] = {}
    for (_, op), gap in own.items():
        by_op.setdefault(op, []).append(gap)
    return {**own, **{("*", op): statistics.median(v) for op, v in by_op.items()}}


def with_overheads(scored: Sequence[Scored]) -> list[Scored]:
    """``scored`` with each row's call overhead (:func:`call_overheads`; 0 for an op no GPU
    measured small enough)."""
    ov = call_overheads(scored)
    return [Scored(s.row, s.pred, ov.get((s.row.gpu, s.row.op), ov.get(("*", s.row.op), 0.0)))
            for s in scored]


def select(rows: Iterable[Row], part: str, gpu: str | None, op: str | None,
           nset: str, min_ms: float) -> list[Row]:
    """The rows the options keep (``gpu`` a CSV name or a preset name, ``op`` a class or a
    NeuSight op name; case-insensitive)."""
    g = gpu.lower() if gpu else None
    o = op.lower() if op else None
    out = []
    for r in rows:
        if part != "all" and r.part != part:
            continue
        if g and g not in (r.gpu.lower(), (PRESET.get(r.gpu) or "").lower()):
            continue
        if o and o not in (r.op, r.cls):
            continue
        if nset != "all" and r.set != nset:
            continue
        if r.latency_ms < min_ms:
            continue
        out.append(r)
    return out


def group(scored: Iterable[Scored], by: str) -> dict[tuple[str, str, str], list[Scored]]:
    """Scored rows by (part, class or op, GPU), in report order."""
    groups: dict[tuple[str, str, str], list[Scored]] = {}
    for s in scored:
        name = s.row.cls if by == "class" else s.row.op
        groups.setdefault((s.row.part, name, s.row.gpu), []).append(s)
    order = list(CLASSES) if by == "class" else list(CLASS)
    gpus = list(PRESET)
    return dict(sorted(groups.items(), key=lambda kv: (PARTS.index(kv[0][0]),
                                                       order.index(kv[0][1]),
                                                       gpus.index(kv[0][2]))))


def pairs(group_rows: Iterable[Scored], metric: str) -> list[tuple[float, float]]:
    """(measured, predicted) seconds for ``metric``: ``device``, ``timeline`` (+host) or
    ``call`` (device + the measurement's call overhead)."""
    def pred(s: Scored) -> float:
        if metric == "device":
            return s.pred.device_s
        if metric == "call":
            return s.pred.device_s + s.overhead_s
        return s.pred.timeline_s

    return [(s.row.latency_ms * 1e-3, pred(s)) for s in group_rows]


def fmt(st: Stats) -> str:
    return (f"{100 * st.median_abs_error:7.1f}%  {st.geomean_meas_over_pred:9.3f}  "
            f"{100 * st.within_25:5.0f}%")


def report(scored: list[Scored], by: str) -> dict[str, Any]:
    """The tables as data: per (part, class/op, GPU) and the held-out summary per class/op,
    for both predictions."""
    groups = group(scored, by)
    table = [{"part": p, by: name, "gpu": g,
              "device": stats(pairs(rs, "device")).to_dict(),
              "timeline": stats(pairs(rs, "timeline")).to_dict(),
              "call": stats(pairs(rs, "call")).to_dict()}
             for (p, name, g), rs in groups.items()]
    summary = []
    names = list(CLASSES) if by == "class" else list(CLASS)
    for part in PARTS:
        for name in names:
            rs = [s for s in scored if s.row.part == part
                  and (s.row.cls if by == "class" else s.row.op) == name]
            if rs:
                dev = stats(pairs(rs, "device"))
                call = stats(pairs(rs, "call"))
                summary.append({"part": part, by: name, "device": dev.to_dict(),
                                "timeline": stats(pairs(rs, "timeline")).to_dict(),
                                "call": call.to_dict(),
                                "device_meets_target": dev.median_abs_error <= TARGET,
                                "call_meets_target": call.median_abs_error <= TARGET})
    return {"table": table, "summary": summary}


def print_report(data: dict[str, Any], by: str, header: Sequence[str]) -> None:
    for line in header:
        print(line)
    head = (f"{'part':8}  {by:11}  {'gpu':14}  {'rows':>5}  "
            f"{'device: med|err|':>16}  {'meas/pred':>9}  {'±25%':>5}  "
            f"{'+host: med|err|':>16}  {'meas/pred':>9}  {'±25%':>5}  "
            f"{'+call: med|err|':>16}  {'meas/pred':>9}  {'±25%':>5}")
    print()
    print(head)
    print("-" * len(head))
    last = None
    for t in data["table"]:
        if last is not None and last != t["part"]:
            print()
        last = t["part"]
        dev, tl, call = Stats(**t["device"]), Stats(**t["timeline"]), Stats(**t["call"])
        print(f"{t['part']:8}  {t[by]:11}  {t['gpu']:14}  {dev.rows:5d}  "
              f"{fmt(dev):>33}  {fmt(tl):>34}  {fmt(call):>34}")
    print()
    print(f"Summary per {by} (all GPUs with a preset; target: held-out +call median "
          f"|error| ≤ {100 * TARGET:.0f} %):")
    for s in data["summary"]:
        dev, tl, call = Stats(**s["device"]), Stats(**s["timeline"]), Stats(**s["call"])
        mark = "meets" if s["call_meets_target"] else "misses"
        print(f"{s['part']:8}  {s[by]:11}  {'all':14}  {dev.rows:5d}  "
              f"{fmt(dev):>33}  {fmt(tl):>34}  {fmt(call):>34}  "
              f"{mark if s['part'] == 'held-out' else ''}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--part", choices=("tuning", "held-out", "all"), default="all")
    ap.add_argument("--gpu", help="a GPU of the CSV (e.g. T4, V100-PCIE-32GB) or a preset")
    ap.add_argument("--op", help="an op class (" + ", ".join(CLASSES) + ") or NeuSight op")
    ap.add_argument("--by", choices=("class", "op"), default="class",
                    help="group by op class (default) or by NeuSight's op name")
    ap.add_argument("--set", dest="nset", choices=("train", "test", "all"), default="all",
                    help="NeuSight's own split (its test set: larger, model-derived shapes)")
    ap.add_argument("--min-ms", type=float, default=0.0,
                    help="only rows measured at least this many milliseconds")
    ap.add_argument("--max-rows", type=int, default=0,
                    help="at most this many rows per (part, op, GPU), by the split hash "
                    "order (0: all)")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    a = ap.parse_args(argv)

    if not a.data.exists():
        print(f"{a.data} is missing: build it once with benchmarks/data/neusight_extract.py "
              "from a snapshot of NeuSight (see data/neusight_kernels.md)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    everything = load_rows(a.data)
    rows = select(everything, a.part, a.gpu, a.op, a.nset, a.min_ms)
    if a.max_rows:
        kept: dict[tuple[str, str, str], list[Row]] = {}
        for r in sorted(rows, key=lambda r: hashlib.sha256(r.key.encode()).hexdigest()):
            bucket = kept.setdefault((r.part, r.op, r.gpu), [])
            if len(bucket) < a.max_rows:
                bucket.append(r)
        rows = [r for b in kept.values() for r in b]
    predictor = Predictor()
    scored: list[Scored] = []
    skipped: dict[str, int] = {}
    for r in rows:
        p = predictor.predict(r)
        if p is None:
            skipped[r.gpu] = skipped.get(r.gpu, 0) + 1
        else:
            scored.append(Scored(r, p))
    elapsed = time.perf_counter() - started
    if not scored:
        print("no rows to predict with these options", file=sys.stderr)
        return 1
    scored = with_overheads(scored)
    overheads = call_overheads(scored)
    data = report(scored, a.by)
    meta = {
        "data": str(a.data), "rows_in_file": len(everything), "rows_selected": len(rows),
        "rows_predicted": len(scored), "skipped_no_preset": skipped,
        "traces": len(predictor.traces), "seconds": elapsed, "tf32": TF32,
        "presets": {g: p for g, p in PRESET.items() if p},
        "call_overhead_us": {f"{g}|{op}": round(v * 1e6, 2)
                             for (g, op), v in sorted(overheads.items())},
    }
    if a.json:
        json.dump({**meta, **data}, sys.stdout, indent=1)
        print()
        return 0
    skip = ", ".join(f"{g} {n} rows" for g, n in skipped.items()) or "none"
    header = [
        "NeuSight kernel latencies (fp32, forward, no_grad, PyTorch 2.1) against convcost's "
        "estimate (TF32 off)",
        f"data: {a.data.name}: {len(everything)} rows; {len(rows)} selected, {len(scored)} "
        f"predicted ({len(predictor.traces)} traces, {elapsed:.0f} s)",
        f"skipped, no convcost preset: {skip}",
        "presets: " + ", ".join(f"{g} → {p}" for g, p in PRESET.items() if p),
        "device = sum of OpTime.device_s; +host = Estimate.step_s (host issue, then the "
        "kernels); +call = device + NeuSight's call overhead per GPU and op (its 5 tuning rows "
        "of shortest predicted kernels, ≤ 20 µs); med|err| = median |pred/meas − 1|; "
        "meas/pred = geometric mean",
        "call overhead, µs (* = median over GPUs): " + ", ".join(
            f"{g}/{op} {v * 1e6:.0f}" for (g, op), v in sorted(overheads.items())),
    ]
    print_report(data, a.by, header)
    return 0


if __name__ == "__main__":
    sys.exit(main())
