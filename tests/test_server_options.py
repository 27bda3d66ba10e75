"""The time-estimate and data-dependence options of ``POST /api/model`` (checked without a
server: :func:`convcost.server.requests.model_params` and ``run_analysis``)."""

from __future__ import annotations

import json

import pytest

from convcost.errors import SpecError
from convcost.server.requests import ApiError, model_params, run_analysis


def test_data_dependent_and_optimizer_kernels_are_checked() -> None:
    p = model_params({"target": "torchvision:resnet18", "inputs": ["1x3x32x32"],
                      "mode": "inference", "data_dependent": "run"}, False)
    assert p["data_dependent"] == "run"
    with pytest.raises(SpecError, match=r"^data_dependent: "):
        model_params({"target": "torchvision:resnet18", "inputs": ["1x3x32x32"],
                      "data_dependent": "maybe"}, False)
    with pytest.raises(SpecError, match=r"^optimizer_kernels: .*without device"):
        model_params({"target": "torchvision:resnet18", "inputs": ["1x3x32x32"],
                      "optimizer": "sgd", "optimizer_kernels": "foreach"}, False)
    with pytest.raises(SpecError, match=r"^optimizer_kernels: .*optimizer step"):
        model_params({"target": "torchvision:resnet18", "inputs": ["1x3x32x32"],
                      "device": "a100-80gb", "optimizer_kernels": "foreach"}, False)


def test_the_options_reach_the_analysis() -> None:
    p = model_params({"target": "torchvision:resnet18", "inputs": ["2x3x32x32"],
                      "optimizer": "sgd", "device": "a100-80gb",
                      "optimizer_kernels": "per-parameter", "data_dependent": "bound"}, False)
    out = run_analysis(p)
    assert out.status == 200, out
    d = json.loads(out.json)
    assert d["hardware"]["estimate"]["optimizer_kernels"] == "per-parameter"
    assert d["hardware"]["estimate"]["memory_format"] == "contiguous"
    assert d["data_dependent"]["policy"] is None  # resnet18 has no data-dependent op


def test_channels_last_is_checked_and_reaches_the_estimate() -> None:
    with pytest.raises(SpecError, match=r"^channels_last: .*without device"):
        model_params({"target": "torchvision:resnet18", "inputs": ["1x3x32x32"],
                      "channels_last": True}, False)
    with pytest.raises(ApiError, match=r"^channels_last: .*true or false") as e:
        model_params({"target": "torchvision:resnet18", "inputs": ["1x3x32x32"],
                      "device": "a100-80gb", "channels_last": "yes"}, False)
    assert e.value.status == 422  # the same as every mistyped key
    with pytest.raises(SpecError, match=r"^channels_last: .*no effect on cpu"):
        model_params({"target": "torchvision:resnet18", "inputs": ["1x3x32x32"],
                      "device": "cpu", "channels_last": True}, False)
    p = model_params({"target": "torchvision:resnet18", "inputs": ["8x3x64x64"],
                      "amp": "fp16", "device": "a100-80gb", "channels_last": True}, False)
    d = json.loads(run_analysis(p).json)
    assert d["hardware"]["estimate"]["memory_format"] == "channels_last"


def test_model_args_reach_the_constructor() -> None:
    p = model_params({"target": "torchvision:resnet18", "inputs": ["2x3x32x32"],
                      "mode": "inference", "model_args": {"num_classes": 10}}, False)
    out = run_analysis(p)
    assert out.status == 200, out
    d = json.loads(out.json)
    assert d["layers"][0]["output_shape"] == [2, 10] and d["construction"] == "meta"
    with pytest.raises(Exception, match="model_args"):
        model_params({"target": "torchvision:resnet18", "inputs": ["2x3x32x32"],
                      "model_args": ["num_classes"]}, False)


def test_dispatch_is_checked_and_reaches_the_analysis() -> None:
    """``dispatch``: the CUDA path by default with a GPU device, forced either way, refused
    on the cpu device and for unknown paths; ``optimizer_kernels: fused`` traces the fused
    optimizer."""
    base = {"target": "torchvision:resnet18", "inputs": ["2x3x32x32"]}
    with pytest.raises(SpecError, match=r"^dispatch: got 'gpu'; allowed: cpu, cuda"):
        model_params({**base, "dispatch": "gpu"}, False)
    with pytest.raises(SpecError, match=r"^dispatch: got 'cuda'; the cpu device"):
        model_params({**base, "device": "cpu", "dispatch": "cuda"}, False)
    d = json.loads(run_analysis(model_params({**base, "device": "a100-80gb",
                                              "optimizer": "adamw",
                                              "optimizer_kernels": "fused"}, False)).json)
    assert (d["dispatch"], d["compute_capability"]) == ("cuda", "8.0")
    assert d["backends"]["optimizer"] == "fused" and d["optimizer_fused"]
    d = json.loads(run_analysis(model_params({**base, "device": "a100-80gb",
                                              "dispatch": "cpu"}, False)).json)
    assert d["dispatch"] == "cpu" and d["backends"] == {}


def test_stack_is_checked_and_reaches_the_estimate() -> None:
    """``stack``: needs a device, names a known stack, and sets the estimate's host costs."""
    base = {"target": "torchvision:resnet18", "inputs": ["1x3x32x32"], "mode": "inference"}
    with pytest.raises(SpecError, match=r"^stack: got 'pytorch-1\.9'; has no effect without"):
        model_params({**base, "stack": "pytorch-1.9"}, False)
    with pytest.raises(SpecError, match=r"^stack: got 'jax'; allowed: pytorch-2\.4"):
        model_params({**base, "device": "a100-80gb", "stack": "jax"}, False)
    d = json.loads(run_analysis(model_params({**base, "device": "a100-80gb",
                                              "stack": "pytorch-1.9"}, False)).json)
    assert d["hardware"]["estimate"]["stack"] == "pytorch-1.9"
    d = json.loads(run_analysis(model_params({**base, "device": "a100-80gb"}, False)).json)
    assert d["hardware"]["estimate"]["stack"] == "pytorch-2.4"


def test_ordinary_model_args_pass_the_checks() -> None:
    """The bounds of model_args (bounds.py) let real constructor arguments through."""
    from convcost.server.bounds import check_model_args

    check_model_args({"num_classes": 10, "drop_rate": 0.1, "act_layer": "gelu_tanh",
                      "depths": [2, 2, 6, 2], "pretrained": False, "weights": None,
                      "global_pool": "", "norm_layer": "layernorm2d", "in_chans": 1,
                      "block_kwargs": {"attn_layer": "se", "dims": [[1, 2], [3, 4]]},
                      "mlp_ratio": 4.0, "img_size": [224, 224], "num_heads": 2**31})
    for bad in ({"num_heads": 2**31 + 1}, {"checkpoint_path": ""}, {"Cache_Dir": "x"},
                {"x": {"y_path": "a"}}, {"x": "a/b"}, {"x": "C:a"}, {"x": "a.safetensors"},
                {"x": float("nan")}, {"x": [[[[0]]]]}):
        with pytest.raises(ApiError) as e:
            check_model_args(bad)
        assert e.value.status == 400 and e.value.field == "model_args"
        assert e.value.error.startswith("model_args.")


def test_layer_integers_are_bounded_in_the_python_api() -> None:
    """conv_spec states the bound the API and the CLI share: below 10**30."""
    from convcost.spec import MAX_LAYER_INT, conv_spec

    assert MAX_LAYER_INT == 10**30
    conv_spec(in_channels=10**30 - 1, out_channels=1, input_size=8, kernel=1)
    with pytest.raises(SpecError, match="10\\*\\*30"):
        conv_spec(in_channels=3, out_channels=1, input_size=[8, 10**30], kernel=1)
    with pytest.raises(SpecError, match="batch"):
        conv_spec(in_channels=3, out_channels=1, input_size=8, kernel=1, batch=10**1500)


def test_a_busy_port_is_one_line_exit_2() -> None:
    """Issue 27 item 9: ``serve --port`` on a port another program listens on exited 3 with
    uvicorn's message. The bind fails as it would for uvicorn (EADDRINUSE): one line naming
    --port, exit 2, before any worker starts."""
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "convcost", "serve", "--port", str(port)],
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.startswith(f"convcost serve: error: --port: got {port}; is in use")
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
