"""What ``transformers``' ``generate()`` issues on the host per greedy decode step outside
the model's forward: the counts behind the stacks' ``generate_loop``
(``src/convcost/hardware/stacks.json``).

A real ``generate()`` of a tiny random Llama runs on the CPU twice (4 and 12 new tokens);
the difference over 8 steps gives, per decode step, the aten ops outside the forward (a
``TorchDispatchMode``; ops launching a kernel and views apart) and the Python function
calls outside the forward (``sys.setprofile``). A third pass times the loop outside the
forward and subtracts the ops' own host time (a tiny CPU add, timed here too), which
leaves the host time per Python call (body included).

Run: ``.venv/bin/python benchmarks/generate_loop.py``. The counts depend on the installed
transformers version (printed); the per-call time on this machine's CPU.
"""

from __future__ import annotations

import collections
import sys
import time
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from transformers import LlamaConfig, LlamaForCausalLM, __version__

VIEWS = {"aten.select.int", "aten.slice.Tensor", "aten.unsqueeze.default", "aten.view.default",
         "aten.alias.default", "aten.expand.default"}


def main() -> None:
    cfg = LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    model = LlamaForCausalLM(cfg).eval()
    inside = [0]
    spent = [0.0]
    forward = model.forward

    def wrapped(*a: Any, **k: Any) -> Any:
        inside[0] += 1
        t = time.perf_counter()
        try:
            return forward(*a, **k)
        finally:
            inside[0] -= 1
            spent[0] += time.perf_counter() - t

    model.forward = wrapped  # type: ignore[method-assign]
    ops: collections.Counter[str] = collections.Counter()
    calls = [0]

    class Count(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (),
                               kwargs: Any = None) -> Any:
            if not inside[0]:
                ops[str(func)] += 1
            return func(*args, **(kwargs or {}))

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and not inside[0]:
            calls[0] += 1

    ids = torch.randint(0, 128, (1, 8))

    def counted(n: int) -> tuple[dict[str, int], int]:
        ops.clear()
        calls[0] = 0
        with Count():
            sys.setprofile(profile)
            try:
                model.generate(ids, max_new_tokens=n, do_sample=False, pad_token_id=0)
            finally:
                sys.setprofile(None)
        return dict(ops), calls[0]

    def outside(n: int) -> float:
        spent[0] = 0.0
        t = time.perf_counter()
        model.generate(ids, max_new_tokens=n, do_sample=False, pad_token_id=0)
        return time.perf_counter() - t - spent[0]

    (a, ca), (b, cb) = counted(4), counted(12)
    per = {k: (b.get(k, 0) - a.get(k, 0)) / 8 for k in set(a) | set(b)}
    per = {k: v for k, v in sorted(per.items()) if v}
    views = sum(v for k, v in per.items() if k in VIEWS)
    syncs = per.get("aten._local_scalar_dense.default", 0)
    kernels = sum(per.values()) - views - syncs
    py = (cb - ca) / 8
    outside(4)
    loop_s = min((outside(104) - outside(4)) / 100 for _ in range(5))
    x = torch.ones(4)
    t = time.perf_counter()
    for _ in range(100_000):
        x.add(1)
    op_s = (time.perf_counter() - t) / 100_000
    per_call = (loop_s - (kernels + views) * op_s) / py
    print(f"transformers {__version__}, torch {torch.__version__}, Python "
          f"{sys.version.split()[0]}")
    print("aten ops per decode step outside the forward:", per)
    print(f"kernel ops {kernels:g}, views {views:g}, host syncs {syncs:g}, "
          f"Python calls {py:g}")
    print(f"host time of the loop outside the forward {loop_s * 1e6:.1f} us per step; a tiny "
          f"CPU op {op_s * 1e6:.2f} us; per Python call {per_call * 1e6:.2f} us")


if __name__ == "__main__":
    main()
