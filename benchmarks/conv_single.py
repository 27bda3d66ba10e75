"""Single-layer calculator: start-up cost of the CLI and throughput of the API.

Prints the median wall time of whole processes (``convcost conv … --json``, ``python -c pass``,
``python -c "import torch"``) and their ratios (goal for ``convcost conv``: at most 2.5× a bare
interpreter), then specs analysed per second by the API.

The child processes run with bytecode caching on, as an installed package has it (each
command runs once to warm the cache before timing); ``PYTHONDONTWRITEBYTECODE``, which some
environments set, would make every run recompile the sources and measure the compiler.

    .venv/bin/python benchmarks/conv_single.py [--runs 15] [--specs 2000]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time

import convcost

CONV = [sys.executable, "-m", "convcost", "conv", "--input", "3x224x224", "--out-channels", "64",
        "--kernel", "7", "--stride", "2", "--padding", "3", "--json"]


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


#: What ``convcost conv`` cannot do without: the standard-library modules its parser, JSON
#: output and records use (an ArgumentParser with one option, as argparse's first
#: ``add_argument`` imports more).
FLOOR = ("import argparse, json, dataclasses, typing; "
         "argparse.ArgumentParser().add_argument('--x')")


def wall(cmd: list[str], runs: int) -> float:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=ENV)  # warm the caches
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=ENV)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def random_spec(rng: random.Random) -> convcost.ConvSpec:
    while True:
        nd = rng.choice([1, 2, 2, 2, 3])
        g = rng.choice([1, 1, 2, 4, 32])
        size = tuple(rng.choice([7, 14, 28, 56, 112, 224]) for _ in range(nd))
        if nd == 3:
            size = tuple(min(s, 32) for s in size)
        try:
            return convcost.conv_spec(
                in_channels=g * rng.choice([1, 2, 8, 16]),
                out_channels=g * rng.choice([1, 4, 8]),
                input_size=size,
                kernel=rng.choice([1, 3, 5, 7]),
                stride=rng.choice([1, 2]),
                padding=rng.choice([0, 1, 3]),
                dilation=rng.choice([1, 1, 2]),
                groups=g,
                batch=rng.choice([1, 32]),
                bias=rng.random() < 0.5,
                transposed=rng.random() < 0.2,
            )
        except convcost.SpecError:
            continue


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--specs", type=int, default=2000)
    a = ap.parse_args()
    base = wall([sys.executable, "-c", "pass"], a.runs)
    floor = wall([sys.executable, "-c", FLOOR], a.runs)
    conv = wall(CONV, a.runs)
    torch_import = wall([sys.executable, "-c", "import torch"], max(3, a.runs // 3))
    print(f"python -c pass              {base * 1000:8.1f} ms   1.00x")
    print(f"stdlib the CLI needs        {floor * 1000:8.1f} ms   {floor / base:5.2f}x python"
          "   (argparse, json, dataclasses, typing: the floor for any such CLI)")
    print(f"convcost conv ... --json    {conv * 1000:8.1f} ms   {conv / base:5.2f}x python")
    print(f"python -c 'import torch'    {torch_import * 1000:8.1f} ms   "
          f"{torch_import / base:5.2f}x python   (what a torch-based tool pays before counting)")
    print(f"convcost CLI overhead over bare python: {(conv - base) * 1000:.1f} ms")
    rng = random.Random(0)
    specs = [random_spec(rng) for _ in range(a.specs)]
    for counting in ("dense", "skip-padding"):
        t0 = time.perf_counter()
        for s in specs:
            convcost.analyze_conv(s, counting)
        dt = time.perf_counter() - t0
        print(f"API analyze_conv ({counting:12s}) {len(specs) / dt:10.0f} specs/s "
              f"({dt / len(specs) * 1e6:.0f} µs/spec over {len(specs)} random specs)")


if __name__ == "__main__":
    main()
