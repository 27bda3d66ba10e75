"""What the CUDA dispatch path costs to trace, against the CPU path, on the same models in the
same process (issue 23's target: at most 1.2x). Each case is a training step with AdamW
(foreach on both paths, so the optimizer is the same work), analysed with ``convcost.analyze``;
the median of ``--repeat`` alternating runs per path, after one warm-up run of each, each run
after a ``gc.collect()`` (a collection falling inside one run but not the other moved single
ratios by 0.3 here).

    .venv/bin/python benchmarks/cuda_path_cost.py [--repeat 5] [--quick]

Prints one row per model (seconds per analysis on each path and their ratio) and the
geometric mean of the ratios. The machine is shared and noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import convcost


def _cases(quick: bool) -> list[tuple[str, Callable[[], Any], list[Any], dict[str, Any]]]:
    from convcost.frontends.hf import load_hf
    from convcost.frontends.targets import build_target

    def tv(name: str) -> Callable[[], Any]:
        return lambda: build_target(f"torchvision:{name}", {}).model

    def hf(arch: str, **args: Any) -> Callable[[], Any]:
        return lambda: load_hf(arch, args)[0]

    cases: list[tuple[str, Callable[[], Any], list[Any], dict[str, Any]]] = [
        ("resnet50 32x3x224x224", tv("resnet50"), ["32x3x224x224"], {}),
        ("mobilenet_v3_large 32x3x224x224", tv("mobilenet_v3_large"), ["32x3x224x224"], {}),
        ("vit_b_16 8x3x224x224 bf16", tv("vit_b_16"), ["8x3x224x224"], {"amp": "bf16"}),
        ("gpt2 (12 layers) 4x1024 bf16", hf("GPT2LMHeadModel"), ["4x1024:int64"],
         {"amp": "bf16"}),
        ("llama 4 layers h1024 2x2048 bf16",
         hf("LlamaForCausalLM", num_hidden_layers=4, hidden_size=1024,
            intermediate_size=2816, num_attention_heads=16, num_key_value_heads=4),
         ["2x2048:int64"], {"amp": "bf16"}),
    ]
    return cases[:2] if quick else cases


def _time(fn: Callable[[], Any]) -> float:
    gc.collect()  # each run starts with the previous run's garbage gone
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="two CNNs only")
    a = ap.parse_args()
    ratios = []
    print(f"{'model':34s} {'cpu path s':>10s} {'cuda path s':>11s} {'cuda/cpu':>8s}")
    for label, build, inputs, opts in _cases(a.quick):
        model = build()

        def run(dispatch: str | None, model: Any = model, inputs: list[Any] = inputs,
                opts: dict[str, Any] = opts) -> float:
            return _time(lambda: convcost.analyze(model, inputs, optimizer="adamw",
                                                  optimizer_foreach=True, dispatch=dispatch,
                                                  **opts))

        run(None), run("cuda")  # warm-up: first-use initialisation of each path
        cpu, cuda = [], []
        for _ in range(a.repeat):
            cpu.append(run(None))
            cuda.append(run("cuda"))
        c, g = statistics.median(cpu), statistics.median(cuda)
        ratios.append(g / c)
        print(f"{label:34s} {c:10.3f} {g:11.3f} {g / c:8.2f}")
    geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    print(f"geometric mean cuda/cpu: {geo:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
