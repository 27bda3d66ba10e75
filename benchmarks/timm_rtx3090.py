"""End-to-end check of the time estimate against timm's published RTX 3090 benchmarks.

What it measures: for a deterministic sample of timm models, the published throughput
(samples/s) of timm's ``benchmark.py`` on an RTX 3090 — eager PyTorch, float16 AMP — next to
convcost's execution-time estimate and roofline for the same model, batch, image size,
memory layout and mode on the ``rtx3090`` preset. Ratios are published / predicted (1.0 is
exact, below 1 means convcost is too optimistic). Per CSV file (software stack) and per
model family (convnets, ViT/transformers/MLPs, depthwise/mobile nets): count, geometric
mean of the ratios, share within ±25 % and ±15 %, for the estimate and the roofline, and the
share of rows the estimate calls host-bound.

How timm measured (``benchmark.py`` at timm commit ``aa4b5850``): ``timm.create_model``
with the model's defaults (``global_pool`` the model's own), ``torch.backends.cudnn.benchmark
= True`` and ``torch.backends.cuda.matmul.allow_tf32 = True``; ``--amp``: autocast to
float16; ``--channels-last`` for the ``nhwc`` files (model and input). Inference: eval mode
under ``torch.inference_mode()``, 10 warm-up then 40 timed forwards, each ending in
``torch.cuda.synchronize()``; samples/s = samples / elapsed. Training: train mode,
``zero_grad``, forward, ``CrossEntropyLoss`` on random targets, backward, SGD (timm's
``sgd``: momentum 0.9, Nesterov, lr 1e-4, no weight decay), synchronize. Batch sizes and
image sizes are each row's own (timm lowers the batch and retries on out-of-memory).

How it is predicted: ``convcost.analyze(model, [(batch, 3, img, img)], mode=…,
amp="fp16", dispatch="cuda", compute_capability="8.6")`` of the model built on the meta
device (no weights, nothing downloaded; a model that fails there is built on the CPU), then
``convcost.hardware.answer.answer(result, rtx3090, channels_last=<nhwc file>, tf32=True,
stack=…)`` with stack ``pytorch-2.4`` for the pt210/pt240 files and ``pytorch-1.9`` for
the pt112 file. Training rows: ``optimizer="momentum"`` (SGD, momentum 0.9; Nesterov's one
extra add per parameter and the cross-entropy loss are not counted: the backward starts
from the sum of the outputs), per-parameter optimizer kernels for PyTorch 1.12 (its
``foreach`` default was off). The sample: the ``--models`` models of the pt240 NCHW
inference file with the smallest SHA-256 of their name, and the same models in the other
files. Predictions are cached on disk (``--cache``), keyed by row and by a hash of
convcost's sources, so a rerun after no change to ``src/convcost`` costs nothing.

Data: the CSVs are read from ``--csv-dir`` or, by default, from the git mirror of
huggingface/pytorch-image-models with ``git show HEAD:results/<file>``; without them the
script exits with one line and status 2. The data is not part of this repository.

    .venv/bin/python benchmarks/timm_rtx3090.py [--models 60] [--csv-dir DIR] [--rows]
        [--json OUT.json] [--no-cache]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MIRROR = Path("/work/.mirror/huggingface+pytorch-image-models/repo")
TIMM_COMMIT = "aa4b5850"
DEVICE = "rtx3090"
SRC = Path(__file__).resolve().parent.parent / "src" / "convcost"
DEFAULT_CACHE = Path.home() / ".cache" / "convcost" / "timm_rtx3090.json"


@dataclass(frozen=True)
class CsvFile:
    """One published CSV: its file name, mode, layout, PyTorch version and the convcost
    stack of its host constants."""

    key: str
    name: str
    mode: str  # "inference" or "train"
    channels_last: bool
    torch: str
    stack: str

    @property
    def foreach(self) -> bool:
        """Whether the optimizer ran PyTorch's multi-tensor kernels (the CUDA default from
        PyTorch 2.0; off in 1.12)."""
        return not self.torch.startswith("1.")


FILES: tuple[CsvFile, ...] = (
    CsvFile("infer-nchw-pt240", "benchmark-infer-amp-nchw-pt240-cu124-rtx3090.csv",
            "inference", False, "2.4.0", "pytorch-2.4"),
    CsvFile("infer-nhwc-pt240", "benchmark-infer-amp-nhwc-pt240-cu124-rtx3090.csv",
            "inference", True, "2.4.0", "pytorch-2.4"),
    CsvFile("infer-nchw-pt210", "benchmark-infer-amp-nchw-pt210-cu121-rtx3090.csv",
            "inference", False, "2.1.0", "pytorch-2.4"),
    CsvFile("infer-nhwc-pt210", "benchmark-infer-amp-nhwc-pt210-cu121-rtx3090.csv",
            "inference", True, "2.1.0", "pytorch-2.4"),
    CsvFile("train-nchw-pt112", "benchmark-train-amp-nchw-pt112-cu113-rtx3090.csv",
            "train", False, "1.12", "pytorch-1.9"),
    CsvFile("train-nhwc-pt112", "benchmark-train-amp-nhwc-pt112-cu113-rtx3090.csv",
            "train", True, "1.12", "pytorch-1.9"),
)
#: The file whose models the sample is drawn from.
SAMPLE_FILE = "infer-nchw-pt240"
FAMILIES = ("convnet", "transformer", "depthwise")
FAMILY_LABEL = {"convnet": "convnets", "transformer": "ViT/transformers/MLPs",
                "depthwise": "depthwise/mobile"}


@dataclass(frozen=True)
class Row:
    """One published measurement."""

    file: str
    model: str
    img: int
    batch: int
    published: float  # samples/s
    mode: str
    channels_last: bool
    stack: str
    foreach: bool


@dataclass(frozen=True)
class Prediction:
    """convcost's answer for one row (samples/s), the estimate's host and device seconds,
    and the model's family."""

    estimate: float
    roofline: float
    host_bound: bool
    host_s: float
    device_s: float
    family: str


class DataMissingError(Exception):
    """The published CSVs are not where they were looked for."""


def read_csv_text(f: CsvFile, csv_dir: Path | None, mirror: Path = MIRROR) -> str:
    """The text of ``f``: from ``csv_dir`` when given, else from the mirror's HEAD."""
    if csv_dir is not None:
        p = csv_dir / f.name
        if not p.is_file():
            raise DataMissingError(f"{p} not found")
        return p.read_text("utf-8")
    if not mirror.exists():
        raise DataMissingError(f"timm mirror {mirror} not found (give --csv-dir)")
    run = subprocess.run(["git", "-C", str(mirror), "show", f"HEAD:results/{f.name}"],
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise DataMissingError(f"results/{f.name} not in {mirror}: {run.stderr.strip()}")
    return run.stdout


def parse_rows(text: str, f: CsvFile) -> tuple[list[Row], int]:
    """The rows of one CSV (``infer_*`` or ``train_*`` columns, in any order; batch sizes
    may be written ``1024.0``) and how many rows lacked a number."""
    prefix = "infer" if f.mode == "inference" else "train"
    rows: list[Row] = []
    bad = 0
    for r in csv.DictReader(io.StringIO(text)):
        try:
            rows.append(Row(f.key, r["model"].strip(), int(float(r[f"{prefix}_img_size"])),
                            int(float(r[f"{prefix}_batch_size"])),
                            float(r[f"{prefix}_samples_per_sec"]), f.mode, f.channels_last,
                            f.stack, f.foreach))
        except (KeyError, TypeError, ValueError):
            bad += 1
    return rows, bad


def name_hash(model: str) -> str:
    """The SHA-256 of a model name (the sample's order)."""
    return hashlib.sha256(model.encode()).hexdigest()


def sample(models: Iterable[str], n: int) -> list[str]:
    """The ``n`` names with the smallest SHA-256 (deterministic, independent of order)."""
    return sorted(set(models), key=name_hash)[:n]


def family(model: Any, result: Any) -> str:
    """``transformer`` (attention in the trace — SDPA or batched matmuls — or more matmul
    than convolution FLOPs: ViTs, hybrids, MLP-mixers), ``depthwise`` (three or more
    depthwise convolutions: MobileNets, EfficientNets, ConvNeXts) or ``convnet``."""
    import torch

    conv_flops = mm_flops = 0
    attention = False
    for o in result.ops:
        if o.phase != "forward":
            continue
        n = o.name
        if "scaled_dot_product" in n or n.startswith("bmm") or "baddbmm" in n:
            attention = True
        if "convolution" in n:
            conv_flops += o.cost.flops
        elif n.startswith(("mm", "addmm", "bmm", "baddbmm", "_scaled_dot_product")):
            mm_flops += o.cost.flops
    if attention or mm_flops > conv_flops:
        return "transformer"
    depthwise = sum(1 for m in model.modules()
                    if isinstance(m, torch.nn.Conv2d) and m.groups > 1
                    and m.groups == m.in_channels)
    return "depthwise" if depthwise >= 3 else "convnet"


class TraceTimeoutError(Exception):
    """A model's analysis ran past its time limit."""


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Raise :class:`TraceTimeoutError` after ``seconds`` (SIGALRM; no limit at 0)."""
    if seconds <= 0 or not hasattr(signal, "SIGALRM"):
        yield
        return

    def fire(signum: int, frame: Any) -> None:
        raise TraceTimeoutError(f"analysis over {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def build(name: str) -> Any:
    """The timm model ``name`` without weights, on the meta device."""
    import timm
    import torch

    with torch.device("meta"):
        return timm.create_model(name, pretrained=False)


def analyse(model: Any, batch: int, img: int, mode: str, foreach: bool) -> Any:
    """convcost's analysis of one step (fp16 AMP, CUDA path for compute capability 8.6)."""
    import convcost

    extra: dict[str, Any] = {}
    if mode == "train":
        extra = {"optimizer": "momentum", "optimizer_foreach": foreach}
    return convcost.analyze(model, [(batch, 3, img, img)], mode=mode, amp="fp16",
                            dispatch="cuda", compute_capability="8.6", **extra)


def predict_group(rows: Sequence[Row], timeout: int = 300) -> dict[Row, Prediction | str]:
    """Predictions for rows that share model, batch, image size, mode and optimizer
    kernels (one analysis; one answer per layout and stack). A string: why it failed."""
    import torch

    from convcost.hardware.answer import answer
    from convcost.hardware.devices import get_device

    r0 = rows[0]
    device = get_device(DEVICE)
    out: dict[Row, Prediction | str] = {}
    result = None
    model = None
    why = ""
    for where in ("meta", "cpu"):
        try:
            with time_limit(timeout):
                if where == "meta":
                    model = build(r0.model)
                else:
                    import timm

                    with torch.device("cpu"):
                        model = timm.create_model(r0.model, pretrained=False)
                result = analyse(model, r0.batch, r0.img, r0.mode, r0.foreach)
            break
        except Exception as e:  # any failure of build or trace is a skip
            kind = "build" if model is None else "trace"
            why = f"{kind}: {type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"
            model = None
    if result is None or model is None:
        return {r: why for r in rows}
    fam = family(model, result)
    for r in rows:
        hw = answer(result, device, channels_last=r.channels_last, stack=r.stack, tf32=True,
                    foreach=r.foreach)
        s = hw.step
        if s is None or s.estimate is None:
            out[r] = "no step time"
            continue
        e = s.estimate
        out[r] = Prediction(e.samples_per_s, s.samples_per_s, e.host_bound, e.host_s,
                            e.device_s, fam)
    return out


def source_hash() -> str:
    """A hash of convcost's sources (the prediction cache's validity)."""
    h = hashlib.sha256()
    for p in sorted(SRC.rglob("*")):
        if p.suffix in (".py", ".json") and p.is_file():
            h.update(str(p.relative_to(SRC)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def row_key(r: Row) -> str:
    """The cache key of a row's prediction."""
    return (f"{r.model}|{r.mode}|{r.batch}|{r.img}|{int(r.channels_last)}|{r.stack}|"
            f"{int(r.foreach)}")


def load_cache(path: Path | None, version: str) -> dict[str, Any]:
    """The cached predictions for this version of convcost (empty otherwise)."""
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return dict(data.get("rows", {})) if data.get("version") == version else {}


def save_cache(path: Path | None, version: str, rows: dict[str, Any]) -> None:
    """Write the prediction cache."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": version, "rows": rows}), "utf-8")


def predict_all(rows: Sequence[Row], cache: dict[str, Any], timeout: int,
                progress: bool = True) -> dict[Row, Prediction | str]:
    """Every row's prediction, from ``cache`` where present (``cache`` is updated)."""
    out: dict[Row, Prediction | str] = {}
    groups: dict[tuple[str, int, int, str, bool], list[Row]] = {}
    for r in rows:
        hit = cache.get(row_key(r))
        if hit is not None:
            out[r] = hit if isinstance(hit, str) else Prediction(**hit)
        else:
            groups.setdefault((r.model, r.batch, r.img, r.mode, r.foreach), []).append(r)
    t0 = time.time()
    for i, (k, group) in enumerate(sorted(groups.items())):
        t = time.time()
        got = predict_group(group, timeout)
        for r, p in got.items():
            out[r] = p
            cache[row_key(r)] = p if isinstance(p, str) else asdict(p)
        if progress:
            status = next(iter(got.values()))
            msg = status if isinstance(status, str) else "ok"
            print(f"  [{i + 1}/{len(groups)}] {k[0]} {k[3]} b{k[1]} {k[2]}px: "
                  f"{time.time() - t:.1f} s {msg}", file=sys.stderr, flush=True)
    if progress and groups:
        print(f"  {len(groups)} analyses in {time.time() - t0:.0f} s", file=sys.stderr)
    return out


def geomean(xs: Sequence[float]) -> float:
    """Geometric mean (nan for none)."""
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else math.nan


def within(xs: Sequence[float], tol: float) -> float:
    """Share of ratios within ``±tol`` of 1 (nan for none)."""
    return sum(1 for x in xs if abs(x - 1) <= tol) / len(xs) if xs else math.nan


def summary(pairs: Sequence[tuple[Row, Prediction]]) -> dict[str, float]:
    """Count, geometric means and shares within ±25 %/±15 % of published/predicted for the
    estimate and the roofline, and the share the estimate calls host-bound."""
    est = [r.published / p.estimate for r, p in pairs]
    roof = [r.published / p.roofline for r, p in pairs]
    return {"n": len(pairs), "est_gm": geomean(est), "est_25": within(est, 0.25),
            "est_15": within(est, 0.15), "roof_gm": geomean(roof),
            "roof_25": within(roof, 0.25), "roof_15": within(roof, 0.15),
            "host_bound": (sum(p.host_bound for _, p in pairs) / len(pairs)
                           if pairs else math.nan)}


def fmt(x: float, pct: bool = False) -> str:
    """A number or share for the tables (``—`` for nan)."""
    if math.isnan(x):
        return "—"
    return f"{100 * x:.0f} %" if pct else f"{x:.2f}"


def table(groups: Sequence[tuple[str, str, Sequence[tuple[Row, Prediction]]]]) -> str:
    """A Markdown table of :func:`summary` per (file, group)."""
    head = ("| file | group | n | est. pub/pred | est. ±25 % | est. ±15 % | roofline pub/pred "
            "| roof. ±25 % | roof. ±15 % | host-bound |")
    lines = [head, "| " + " | ".join(["---"] * 10) + " |"]
    for f, g, pairs in groups:
        s = summary(pairs)
        if not s["n"]:
            continue
        lines.append(f"| {f} | {g} | {s['n']} | {fmt(s['est_gm'])} | {fmt(s['est_25'], True)} "
                     f"| {fmt(s['est_15'], True)} | {fmt(s['roof_gm'])} "
                     f"| {fmt(s['roof_25'], True)} | {fmt(s['roof_15'], True)} "
                     f"| {fmt(s['host_bound'], True)} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison; 2 when the published data is absent."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv-dir", type=Path, default=None,
                    help="folder holding the CSVs (default: git show from the timm mirror)")
    ap.add_argument("--mirror", type=Path, default=MIRROR, help="timm git mirror")
    ap.add_argument("--models", type=int, default=60, help="models in the sample")
    ap.add_argument("--files", default=",".join(f.key for f in FILES),
                    help="comma-separated file keys")
    ap.add_argument("--rows", action="store_true", help="print every row")
    ap.add_argument("--json", type=Path, default=None, help="write every row's result here")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per analysis")
    a = ap.parse_args(argv)
    keys = a.files.split(",")
    files = [f for f in FILES if f.key in keys]
    unknown = set(keys) - {f.key for f in FILES}
    if unknown:
        ap.error(f"unknown file keys: {', '.join(sorted(unknown))}")
    t0 = time.time()
    parsed: dict[str, list[Row]] = {}
    try:
        for f in {f.key: f for f in (*files, FILES[0])}.values():
            rows, bad = parse_rows(read_csv_text(f, a.csv_dir, a.mirror), f)
            parsed[f.key] = rows
            if bad:
                print(f"{f.name}: {bad} rows without numbers skipped", file=sys.stderr)
    except DataMissingError as e:
        print(f"timm_rtx3090: published data absent: {e}", file=sys.stderr)
        return 2
    chosen = set(sample((r.model for r in parsed[SAMPLE_FILE]), a.models))
    rows = [r for f in files for r in parsed[f.key] if r.model in chosen]
    cache_path = None if a.no_cache else a.cache
    version = source_hash()
    cache = load_cache(cache_path, version)
    print(f"timm RTX 3090 (timm {TIMM_COMMIT}): {len(chosen)} models sampled from "
          f"{FILES[0].name}; {len(rows)} rows in {len(files)} files; "
          f"{sum(1 for r in rows if row_key(r) in cache)} cached", flush=True)
    preds = predict_all(rows, cache, a.timeout)
    save_cache(cache_path, version, cache)
    ok: list[tuple[Row, Prediction]] = []
    skipped: dict[str, list[str]] = {}
    for r in rows:
        p = preds[r]
        if isinstance(p, str):
            skipped.setdefault(p, []).append(f"{r.model} ({r.file})")
        else:
            ok.append((r, p))
    print()
    for f in files:
        n_all = sum(1 for r in rows if r.file == f.key)
        n_ok = sum(1 for r, _ in ok if r.file == f.key)
        present = {r.model for r in rows if r.file == f.key}
        print(f"{f.key}: {n_ok} rows used ({len(present)} models), {n_all - n_ok} skipped, "
              f"{len(chosen - present)} sampled models not in {f.name}")
    for why, names in sorted(skipped.items()):
        print(f"  skipped ({len(names)}): {why}: {', '.join(sorted(set(names)))}")
    if a.rows:
        print("\n| file | model | batch | img | family | published | estimate | pub/est | "
              "roofline | pub/roof | host-bound |")
        print("| " + " | ".join(["---"] * 11) + " |")
        for r, p in ok:
            print(f"| {r.file} | {r.model} | {r.batch} | {r.img} | {p.family} "
                  f"| {r.published:.0f} | {p.estimate:.0f} | {r.published / p.estimate:.2f} "
                  f"| {p.roofline:.0f} | {r.published / p.roofline:.2f} "
                  f"| {'yes' if p.host_bound else 'no'} |")
    groups: list[tuple[str, str, Sequence[tuple[Row, Prediction]]]] = []
    for f in files:
        in_file = [(r, p) for r, p in ok if r.file == f.key]
        groups.append((f.key, "all", in_file))
        for fam in FAMILIES:
            groups.append((f.key, FAMILY_LABEL[fam], [x for x in in_file
                                                      if x[1].family == fam]))
    print("\n" + table(groups))
    if a.json is not None:
        a.json.write_text(json.dumps([{**asdict(r), **asdict(p)} for r, p in ok], indent=1),
                          "utf-8")
    print(f"\n{time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
