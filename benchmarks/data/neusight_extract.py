"""Build ``neusight_kernels.csv`` from a git snapshot of NeuSight (sitar-lab/NeuSight).

Run once, by hand, where a snapshot's git directory is on disk (nothing is downloaded)::

    python benchmarks/data/neusight_extract.py /path/to/NeuSight/.git

It reads the per-GPU measurement files (``scripts/asplos/data/dataset/train/collect/<op>/
p2.1.0/<GPU>.csv``) and the merged held-out files (``scripts/asplos/data/dataset/test/
{linear,bmm,elem,ln,softmax}.csv``) with ``git show`` at the snapshot's ``HEAD``, keeps a
deterministic subset (per NeuSight set, op and GPU the shapes with the smallest SHA-256 of
``"subset|<op>|<shape>"``, up to :data:`CAP` of them) and writes one compact CSV beside this
script. ``neusight_kernels.md`` describes the columns and what was left out.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import subprocess
import sys
from pathlib import Path

ROOT = "scripts/asplos/data/dataset"
OPS_TRAIN = ("linear", "bmm", "conv", "ln", "softmax", "add", "mul", "pow", "div", "addu",
             "mulu", "powu", "divu", "relu", "gelu", "tanh")
TEST_FILES = ("linear", "bmm", "elem", "ln", "softmax")
ELEMENTWISE = frozenset({"add", "mul", "pow", "div", "addu", "mulu", "powu", "divu", "relu",
                         "gelu", "tanh"})

#: Shapes kept per (NeuSight set, op, GPU); ``None`` keeps every row.
CAP: dict[tuple[str, str], int | None] = {
    ("train", "linear"): 1000, ("train", "bmm"): 1500, ("train", "conv"): 1200,
    ("train", "ln"): 400, ("train", "softmax"): 400,
    ("test", "linear"): 400, ("test", "bmm"): 400,
}
ELEMENTWISE_CAP = {"train": 200, "test": None}
VEC_TEST_CAP = None

#: NeuSight's device names → the short names of the CSV.
GPUS = {
    "Tesla V100-PCIE-32GB": "V100-PCIE-32GB",
    "NVIDIA A100-PCIE-40GB": "A100-PCIE-40GB",
    "NVIDIA A100 80GB PCIe": "A100-PCIE-80GB",
    "NVIDIA H100 80GB HBM3": "H100-SXM5-80GB",
    "NVIDIA L4": "L4",
    "Tesla T4": "T4",
    "Tesla P100-PCIE-16GB": "P100-PCIE-16GB",
    "Tesla P4": "P4",
}

COLUMNS = ("set", "op", "gpu", "shape", "latency_ms", "kernels", "algo", "kernel")


def git_show(gitdir: str, path: str) -> str:
    """The text of ``path`` at the snapshot's HEAD."""
    return subprocess.run(["git", "--git-dir", gitdir, "show", f"HEAD:{path}"], check=True,
                          capture_output=True, text=True).stdout


def git_ls(gitdir: str, path: str) -> list[str]:
    """Files under ``path`` at HEAD."""
    out = subprocess.run(["git", "--git-dir", gitdir, "ls-tree", "-r", "--name-only", "HEAD",
                          path], check=True, capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.endswith(".csv")]


def short_kernel(name: str) -> str:
    """A kernel's name without ``void``, namespaces, template arguments and parameters;
    CUTLASS ``Kernel<...>`` wrappers keep their template's name; cuBLAS xmma names lose their
    stage/warp suffix."""
    k = name.strip().replace("(anonymous namespace)::", "")
    k = re.sub(r"^void ", "", k)
    wrapped = re.match(r"cutlass::[Kk]ernel2?<([A-Za-z0-9_]+)", k)
    if wrapped:
        return wrapped.group(1)
    k = k.split("(")[0]
    out, depth = [], 0
    for ch in k:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    base = "".join(out).split("::")[-1].strip()
    return re.sub(r"_stage\d.*$", "", base)


def conv_algo(kernels: str) -> str:
    """cuDNN's algorithm family from the launched kernels of a convolution call."""
    ks = kernels.lower()
    if "winograd" in ks:
        return "winograd"
    if "fft" in ks:
        return "fft"
    if "convolve_sgemm" in ks or "im2col" in ks:
        return "gemm"
    return "implicit"


def shape_of(op: str, r: dict[str, str]) -> str:
    """NeuSight's dims notation of a row (the order of its dims files)."""
    if op in ("linear", "bmm"):
        keys = ("B", "M", "N", "K")
    elif op == "conv":
        keys = ("B", "Input_Channel", "Output_Channel", "Kernel_Szie", "Input_Size", "Stride",
                "Padding")
    else:
        keys = ("B", "H")
    return ";".join(str(int(float(r[k]))) for k in keys)


def rank(op: str, shape: str) -> str:
    return hashlib.sha256(f"subset|{op}|{shape}".encode()).hexdigest()


def rows_of(text: str, nset: str) -> list[dict[str, str]]:
    out = []
    for r in csv.DictReader(io.StringIO(text)):
        op = r["OPName"]
        kernels = r.get("Kernels") or ""
        out.append({
            "set": nset,
            "op": op,
            "gpu": GPUS[r["Device"].strip()],
            "shape": shape_of(op, r),
            "latency_ms": f"{float(r['Latency']):.6g}",
            "kernels": str(kernels.count(";")) if kernels else "",
            "algo": conv_algo(kernels) if op == "conv" else "",
            "kernel": short_kernel(r["Kernel Name"]),
        })
    return out


def cap(nset: str, op: str) -> int | None:
    if op in ELEMENTWISE:
        return ELEMENTWISE_CAP[nset]
    return CAP.get((nset, op), VEC_TEST_CAP)


def main(gitdir: str) -> None:
    rows: list[dict[str, str]] = []
    for op in OPS_TRAIN:
        for path in git_ls(gitdir, f"{ROOT}/train/collect/{op}/p2.1.0"):
            rows += rows_of(git_show(gitdir, path), "train")
    for name in TEST_FILES:
        rows += rows_of(git_show(gitdir, f"{ROOT}/test/{name}.csv"), "test")
    groups: dict[tuple[str, str, str], list[dict[str, str]]] = {}
    for r in rows:
        groups.setdefault((r["set"], r["op"], r["gpu"]), []).append(r)
    kept: list[dict[str, str]] = []
    for (nset, op, _gpu), group in sorted(groups.items()):
        group.sort(key=lambda r: (rank(op, r["shape"]), r["latency_ms"]))
        n = cap(nset, op)
        kept += group if n is None else group[:n]
    out = Path(__file__).with_name("neusight_kernels.csv")
    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(kept)
    print(f"{len(rows)} rows read, {len(kept)} written to {out}")


if __name__ == "__main__":
    main(sys.argv[1])
