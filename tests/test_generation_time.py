"""The time of a generation on a device (convcost.hardware.generation): the generate()
loop's host time per decode step, hand-derived from the stack's counts; the stop check's
synchronisation; the JSON's host/device parts; ``--stack`` with ``--mode generate``."""

from __future__ import annotations

import importlib
import json
from dataclasses import replace

import pytest

from cli_run import run

torch = importlib.import_module("torch")
transformers = pytest.importorskip("transformers")

from convcost.hardware.devices import PRESETS  # noqa: E402
from convcost.hardware.estimate import estimate  # noqa: E402
from convcost.hardware.generation import generation_time  # noqa: E402
from convcost.hardware.stacks import get_stack  # noqa: E402
from convcost.model.generate import analyze_generation  # noqa: E402
from convcost.view.generation import generation_json, generation_lines  # noqa: E402

TINY = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128,
            num_attention_heads=4, num_key_value_heads=2, vocab_size=100)
TINY_ARGS = [x for k, v in TINY.items() for x in ("--model-arg", f"{k}={v}")]


@pytest.fixture(scope="module")
def gen() -> object:
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**TINY)).eval()
    return analyze_generation(model, prompt_len=6, new_tokens=4, exhaustive=True)


def test_loop_host_time_is_the_stacks_counts(gen: object) -> None:
    dev = PRESETS["h100-sxm"]
    st = get_stack("pytorch-2.4")
    t = generation_time(gen, dev)  # type: ignore[arg-type]
    loop = st.generate_loop
    # by hand: 18 kernel ops x 8 us + 4 views x 1 us + 301 Python calls x 0.4 us = 268.4 us
    assert (loop["kernel_ops"], loop["no_kernel_ops"], loop["python_calls"],
            loop["python_call_us"]) == (18, 4, 301, 0.4)
    assert t.steps[0].loop_host_s == pytest.approx(268.4e-6)
    # each step waits for the device: its own timeline, then the loop
    for s, g in zip(t.steps, gen.steps):  # type: ignore[attr-defined]
        assert s.time_s == pytest.approx(estimate(g.result, dev).step_s + 268.4e-6)
    assert t.decode_s == pytest.approx(sum(s.time_s for s in t.steps))  # every step traced
    assert t.decode_host_s == pytest.approx(
        sum(s.estimate.host_s + s.loop_host_s for s in t.steps))


def test_a_deferred_stop_check_pipelines_the_steps(gen: object,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from convcost.hardware import generation as mod

    st = replace(get_stack("pytorch-2.4"), generate_sync_per_step=False)
    monkeypatch.setattr(mod, "get_stack", lambda name, field="stack": st)
    t = mod.generation_time(gen, PRESETS["h100-sxm"])  # type: ignore[arg-type]
    for s in t.steps:
        assert s.time_s == pytest.approx(max(s.estimate.host_s + s.loop_host_s,
                                             s.estimate.device_s))


def test_json_and_text_show_host_and_device(gen: object) -> None:
    t = generation_time(gen, PRESETS["a100-80gb"], stack="pytorch-1.9")  # type: ignore[arg-type]
    d = generation_json(gen, t)  # type: ignore[arg-type]
    hw = d["hardware"]
    assert hw["stack"] == "pytorch-1.9" and hw["sync_per_step"] is True
    assert hw["decode"]["host_s"] > 0 and hw["decode"]["device_s"] > 0
    assert hw["prefill"]["host_s"] > 0 and "phases" in hw["prefill"]["breakdown"]
    assert d["decode"]["time_s"] == pytest.approx(t.decode_s)
    assert all(s["time_s"] is not None for s in d["decode"]["traced_steps"])
    text = "\n".join(generation_lines(gen, t))  # type: ignore[arg-type]
    assert "decode host" in text and "stack pytorch-1.9" in text
    assert generation_json(gen, None)["decode"]["time_s"] is None  # type: ignore[arg-type]


def test_cli_generate_stack(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["model", "hf:LlamaForCausalLM", *TINY_ARGS, "--mode", "generate",
            "--prompt-len", "6", "--new-tokens", "3", "--json", "--device", "h100-sxm"]
    code, out, err = run(base, capsys)
    assert code == 0, err
    new = json.loads(out)
    code, out, err = run([*base, "--stack", "pytorch-1.9"], capsys)
    assert code == 0, err
    old = json.loads(out)
    assert new["hardware"]["stack"] == "pytorch-2.4"
    assert old["decode"]["time_s"] > new["decode"]["time_s"]
    code, out, err = run([*base[:-2], "--stack", "pytorch-1.9"], capsys)
    assert code == 2 and "--stack" in err and len(err.strip().splitlines()) == 1
