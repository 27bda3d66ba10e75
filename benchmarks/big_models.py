"""Time and peak memory of analysing big models (issue 13): meta construction against the CPU.

Each case runs as its own process under ``/usr/bin/time -v`` (wall seconds, peak RSS), with
bytecode caching on as an installed package has it, after one warm-up run:

* ``torchvision:regnet_y_128gf`` and ``torchvision:vit_h_14`` (batch 1, 224², training step),
  built on the meta device (the default) and, for comparison, on the CPU (a small driver
  script calling ``load_target``, which builds on the CPU, then ``analyze``);
* a Llama-2-7B-shaped ``hf:LlamaForCausalLM`` training step (defaults, ``1x4096:int64``,
  ``--amp bf16 --optimizer adamw``) and, with ``--70b``, the 70 B shape (80 layers, hidden
  8192, intermediate 28672, 64 heads, 8 KV heads). Targets: 7 B ≤ 10 s, 70 B ≤ 30 s and
  ≤ 4 GB.

    .venv/bin/python benchmarks/big_models.py [--70b]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

CLI = [sys.executable, "-m", "convcost", "model"]
CPU_DRIVER = """
import sys
from convcost import analyze
from convcost.frontends.targets import load_target
m = load_target(sys.argv[1])
analyze(m, sys.argv[2], mode="train")
"""


#: Children run with bytecode caching on, as an installed package has it
#: (``PYTHONDONTWRITEBYTECODE``, which some environments set, would make every run recompile
#: convcost's sources and time the compiler too).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str], runs: int = 1) -> tuple[float, float]:
    """(median wall seconds, peak RSS in GB) of ``cmd`` under /usr/bin/time -v over ``runs``
    runs, after one run that warms the caches."""
    subprocess.run(cmd, capture_output=True, env=ENV, check=False)
    results = [_timed_once(cmd) for _ in range(runs)]
    results.sort()
    return results[len(results) // 2]


def _timed_once(cmd: list[str]) -> tuple[float, float]:
    out = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=ENV)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {out.stderr.strip().splitlines()[-1]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", out.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
    assert wall and rss
    h, m, s = wall.groups()
    seconds = int(h or 0) * 3600 + int(m) * 60 + float(s)
    return seconds, int(rss.group(1)) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--70b", dest="big", action="store_true", help="also the 70 B shape")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        driver = Path(tmp) / "cpu_build.py"
        driver.write_text(CPU_DRIVER)
        print(f"{'case':52s} {'seconds':>8s} {'RSS GB':>7s}")
        for target in ("torchvision:regnet_y_128gf", "torchvision:vit_h_14"):
            meta = timed([*CLI, target, "--input", "1x3x224x224", "--json"])
            cpu = timed([sys.executable, str(driver), target, "1x3x224x224"])
            print(f"{target + ' (meta, CLI)':52s} {meta[0]:8.1f} {meta[1]:7.2f}")
            print(f"{target + ' (CPU-built, API)':52s} {cpu[0]:8.1f} {cpu[1]:7.2f}")
            print(f"{'  meta / CPU':52s} {meta[0] / cpu[0]:8.2f} {meta[1] / cpu[1]:7.2f}")
        llama = [*CLI, "hf:LlamaForCausalLM", "--input", "1x4096:int64", "--amp", "bf16",
                 "--optimizer", "adamw", "--json"]
        s, gb = timed(llama, runs=3)
        print(f"{'Llama-2-7B shape, training step, 1x4096 (target 10 s)':52s} {s:8.1f} {gb:7.2f}"
              "  (median of 3)")
        if a.big:
            big = ["--model-arg", "num_hidden_layers=80", "--model-arg", "hidden_size=8192",
                   "--model-arg", "intermediate_size=28672", "--model-arg",
                   "num_attention_heads=64", "--model-arg", "num_key_value_heads=8"]
            s, gb = timed([*llama, *big])
            print(f"{'Llama-2-70B shape, training step (target 30 s, 4 GB)':52s} "
                  f"{s:8.1f} {gb:7.2f}")


if __name__ == "__main__":
    main()
