"""Models built on the meta device by default, with constructor arguments (issue 13, part 1).

A model built on meta has no memory and no initialisation; its analysis must equal the
CPU-built model's exactly. Constructors that compute with tensors get their parameters moved
to meta as they are registered; builders that fail either way are built on the CPU, and the
output says why.
"""

from __future__ import annotations

import json

import pytest
import torch
import torchvision

from cli_run import run
from convcost import analyze
from convcost.errors import SpecError
from convcost.frontends.offline import empty_parameters
from convcost.frontends.targets import build_target, load_target
from convcost.spec import parse_model_args


def _devices(model: torch.nn.Module) -> set[str]:
    return {p.device.type for p in model.parameters()}


def test_torchvision_models_are_built_on_meta_and_analyse_the_same() -> None:
    built = build_target("torchvision:resnet18")
    assert built.device == "meta" and _devices(built.model) == {"meta"}
    cpu = load_target("torchvision:resnet18")
    assert _devices(cpu) == {"cpu"}
    a = analyze(built.model, (2, 3, 64, 64), optimizer="adamw")
    b = analyze(cpu, (2, 3, 64, 64), optimizer="adamw")
    assert a.totals == b.totals and a.memory == b.memory and a.layers == b.layers


def test_a_constructor_that_computes_gets_meta_parameters() -> None:
    # RegNet computes its block widths with tensors: wholly-meta construction fails
    built = build_target("torchvision:regnet_y_400mf")
    assert built.device == "meta" and _devices(built.model) == {"meta"}
    cpu = load_target("torchvision:regnet_y_400mf")
    assert analyze(built.model, (1, 3, 64, 64)).totals == analyze(cpu, (1, 3, 64, 64)).totals


def test_empty_parameters_moves_registered_parameters() -> None:
    with empty_parameters():
        lin = torch.nn.Linear(4, 3)
        lin.extra = torch.nn.Parameter(torch.ones(2))
    assert _devices(lin) == {"meta"}
    assert torch.nn.Linear(2, 2).weight.device.type == "cpu"  # restored afterwards


def test_a_builder_failing_on_meta_is_built_on_the_cpu_and_says_why(
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = torchvision.models.get_model
    calls = {"n": 0}

    def picky(name: str, **kwargs: object) -> torch.nn.Module:
        calls["n"] += 1
        if calls["n"] < 3:  # on meta, then with meta parameters
            raise RuntimeError("this builder needs real tensors")
        return real(name, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(torchvision.models, "get_model", picky)
    built = build_target("torchvision:resnet18")
    assert built.device.startswith("cpu (") and "needs real tensors" in built.device
    assert _devices(built.model) == {"cpu"}


def test_detection_models_are_built_on_the_cpu() -> None:
    built = build_target("torchvision:fasterrcnn_mobilenet_v3_large_320_fpn")
    assert built.device.startswith("cpu") and "detection" in built.device


def test_model_args() -> None:
    assert parse_model_args("m", ["image_size=518", "act=gelu", "sizes=[1, 2]"]) == {
        "image_size": 518, "act": "gelu", "sizes": [1, 2]}
    for bad in (["518"], ["=1"], ["a b=1"], ["x=1", "x=2"]):
        with pytest.raises(SpecError, match=r"^m: "):
            parse_model_args("m", bad)
    m = build_target("torchvision:resnet18", {"num_classes": 10}).model
    assert m.fc.out_features == 10
    vit = build_target("torchvision:vit_b_16", {"image_size": 96}).model
    assert analyze(vit, (1, 3, 96, 96), mode="inference").layers[0].output_shape == (1, 1000)
    with pytest.raises(SpecError, match=r"^model_args: .*never loaded"):
        build_target("torchvision:resnet18", {"weights": "DEFAULT"})


def test_cli_model_arg_and_construction(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["model", "torchvision:resnet18", "--input", "2x3x32x32",
                          "--model-arg", "num_classes=10", "--json"], capsys)
    assert code == 0, err
    d = json.loads(out)
    assert d["construction"] == "meta" and d["layers"][0]["output_shape"] == [2, 10]
    code, out, err = run(["model", "torchvision:resnet18", "--input", "2x3x32x32",
                          "--model-arg", "10"], capsys)
    assert code == 2 and "--model-arg" in err and len(err.strip().splitlines()) == 1
    code, out, err = run(["model", "torchvision:fasterrcnn_mobilenet_v3_large_320_fpn",
                          "--input", "1x3x320x320", "--mode", "inference", "--depth", "0"],
                         capsys)
    assert code == 0, err
    assert "built     on the CPU (a detection model" in out
