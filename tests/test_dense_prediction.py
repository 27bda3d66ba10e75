"""Segmentation and detection models (issue 16): built offline, analysed, data-dependent ops.

Oracles: a real CPU step's live tensor bytes (memory), PyTorch's ``FlopCounterMode`` on a
real run with the same input and seed (forward MACs), and the rule that the ``bound``
policy is never below ``run`` and equals it where the limits are reached.
"""

from __future__ import annotations

import socket

import pytest
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

from cli_run import run
from convcost import analyze
from convcost.errors import SpecError, TraceError
from convcost.frontends.detection import bounded, open_limits
from convcost.frontends.targets import load_target, no_network, weight_arguments
from convcost.frontends.torch_trace import trace_model
from convcost.memory.model import run_memory
from convcost.spec import InputSpec

SEGMENTATION = ["fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101",
                "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large"]
DETECTION = ["fasterrcnn_mobilenet_v3_large_320_fpn", "fasterrcnn_mobilenet_v3_large_fpn",
             "fasterrcnn_resnet50_fpn", "fasterrcnn_resnet50_fpn_v2", "maskrcnn_resnet50_fpn",
             "maskrcnn_resnet50_fpn_v2", "keypointrcnn_resnet50_fpn", "retinanet_resnet50_fpn",
             "retinanet_resnet50_fpn_v2", "fcos_resnet50_fpn", "ssd300_vgg16",
             "ssdlite320_mobilenet_v3_large"]


# --------------------------------------------------------------------------- no downloads


def test_every_torchvision_builder_has_its_weight_arguments_set() -> None:
    for name in torchvision.models.list_models():
        builder = torchvision.models.get_model_builder(name)
        off = weight_arguments(builder)
        assert "weights" in off, name
        import inspect

        params = inspect.signature(builder).parameters
        # every parameter that could load weights is among those set to None
        risky = [p for p in params if "weight" in p or "pretrained" in p]
        assert set(risky) <= set(off), (name, risky)


@pytest.mark.parametrize("name", [
    "lraspp_mobilenet_v3_large", "fasterrcnn_mobilenet_v3_large_320_fpn",
    pytest.param("fcn_resnet50", marks=pytest.mark.slow),
    pytest.param("deeplabv3_mobilenet_v3_large", marks=pytest.mark.slow),
    pytest.param("retinanet_resnet50_fpn", marks=pytest.mark.slow),
    pytest.param("ssdlite320_mobilenet_v3_large", marks=pytest.mark.slow),
])
def test_dense_prediction_targets_build_without_the_network(name: str,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    attempts: list[object] = []

    def record(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network access in a test")

    monkeypatch.setattr(socket, "create_connection", record)
    model = load_target(f"torchvision:{name}")
    assert isinstance(model, torch.nn.Module)
    assert attempts == []


def test_a_builder_that_downloads_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def downloading(name: str, **kwargs: object) -> torch.nn.Module:
        socket.getaddrinfo("download.pytorch.org", 443)  # what a weight download does first
        raise AssertionError("the lookup should have been refused")

    monkeypatch.setattr(torchvision.models, "get_model", downloading)
    with pytest.raises(SpecError) as err:
        load_target("torchvision:lraspp_mobilenet_v3_large")
    msg = str(err.value)
    assert msg.startswith("target: ") and "\n" not in msg
    assert "network" in msg and "weights=None" in msg and "weights_backbone=None" in msg


def test_no_network_restores_the_socket_functions() -> None:
    before = socket.getaddrinfo, socket.socket.connect
    with pytest.raises(Exception, match="network"), no_network():
        socket.getaddrinfo("example.org", 80)
    assert (socket.getaddrinfo, socket.socket.connect) == before


# --------------------------------------------------------------------------- segmentation


@pytest.mark.parametrize("name, shape", [
    ("lraspp_mobilenet_v3_large", (2, 3, 64, 64)),
    pytest.param("fcn_resnet50", (1, 3, 64, 64), marks=pytest.mark.slow),
    pytest.param("deeplabv3_mobilenet_v3_large", (2, 3, 64, 64), marks=pytest.mark.slow),
])
def test_segmentation_training_peak_is_the_real_steps(name: str, shape: tuple[int, ...]) -> None:
    model = load_target(f"torchvision:{name}")
    r = analyze(model, shape, mode="train", optimizer="momentum")
    real = run_memory(trace_model(model, [InputSpec(shape)], mode="train",
                                  optimizer="momentum", real=True)).peak
    assert r.memory.peak_train_bytes is not None
    assert abs(r.memory.peak_train_bytes - real) <= 0.02 * real
    assert r.data_dependent is None  # nothing data-dependent in a segmentation model


def _flop_counter_forward(model: torch.nn.Module, x: torch.Tensor) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return int(counter.get_total_flops())


def _counted_macs(r: object) -> int:
    """Forward MACs of the op families FlopCounterMode counts (convolutions, matmuls)."""
    fam = ("convolution", "addmm", "mm", "bmm", "baddbmm", "_scaled_dot_product")
    return sum(o.cost.macs for o in r.ops  # type: ignore[attr-defined]
               if o.phase == "forward" and o.name.startswith(fam))


def test_segmentation_forward_macs_equal_the_flop_counter() -> None:
    model = load_target("torchvision:lraspp_mobilenet_v3_large").eval()
    r = analyze(model, (1, 3, 96, 96), mode="inference")
    flops = _flop_counter_forward(model, torch.randn(1, 3, 96, 96))
    assert 2 * _counted_macs(r) == flops
    assert r.totals.forward.macs >= _counted_macs(r)


def test_segmentation_dict_outputs_train_with_aux() -> None:
    model = load_target("torchvision:lraspp_mobilenet_v3_large")
    r = analyze(model, (2, 3, 64, 64), mode="train")
    assert r.totals.backward.total.flops > r.totals.forward.flops  # backward of every output


# --------------------------------------------------------------------------- detection


@pytest.fixture(scope="module")
def frcnn() -> torch.nn.Module:
    return load_target("torchvision:fasterrcnn_mobilenet_v3_large_320_fpn").eval()


def test_detection_run_macs_equal_the_flop_counter(frcnn: torch.nn.Module) -> None:
    r = analyze(frcnn, (1, 3, 320, 320), mode="inference", data_dependent="run")
    assert r.data_dependent is not None and r.data_dependent.policy == "run"
    torch.manual_seed(0)  # the input analyze's real run used
    x = torch.randn(1, 3, 320, 320)
    flops = _flop_counter_forward(frcnn, x)
    assert 2 * _counted_macs(r) == flops
    assert r.unsupported_ops == ()


def test_detection_bound_reaches_the_model_limits_and_is_never_below_run(
        frcnn: torch.nn.Module) -> None:
    bound = analyze(frcnn, (1, 3, 320, 320), mode="inference")  # bound is the default
    ran = analyze(frcnn, (1, 3, 320, 320), mode="inference", data_dependent="run")
    assert bound.data_dependent is not None and bound.data_dependent.policy == "bound"
    rpn = frcnn.rpn  # type: ignore[union-attr]
    heads = frcnn.roi_heads  # type: ignore[union-attr]
    assert bound.layer("rpn").output_shape == (rpn.post_nms_top_n(), 4)
    assert bound.layer("roi_heads").output_shape == (heads.detections_per_img, 4)
    for key in ("macs", "mults", "adds", "other"):
        assert getattr(bound.totals.forward, key) >= getattr(ran.totals.forward, key), key
    assert bound.memory.peak_inference_bytes >= ran.memory.peak_inference_bytes
    # where the run also reached the limits, the layers' costs are the same
    if ran.layer("rpn").output_shape == bound.layer("rpn").output_shape:
        assert ran.layer("rpn").forward.macs == bound.layer("rpn").forward.macs
    # the model itself is not modified
    assert rpn.nms_thresh == 0.7 and heads.score_thresh == 0.05


def test_open_limits_and_bounded() -> None:
    class Head(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.score_thresh = 0.3
            self.nms_thresh = 0.5

    m = torch.nn.Sequential(Head())
    copy, opened = open_limits(m)
    assert opened == (("0", "score_thresh", 0.3, -1.0), ("0", "nms_thresh", 0.5, 1.0))
    assert m[0].score_thresh == 0.3 and copy[0].score_thresh == -1.0
    from torchvision.ops import boxes

    b = torch.tensor([[0.0, 0.0, 0.001, 0.001], [0.0, 0.0, 5.0, 5.0]])
    assert boxes.remove_small_boxes(b, 1.0).tolist() == [1]
    with bounded():
        assert boxes.remove_small_boxes(b, 1.0).tolist() == [0, 1]
    assert boxes.remove_small_boxes(b, 1.0).tolist() == [1]


def test_detection_training_is_a_one_line_error(frcnn: torch.nn.Module) -> None:
    # torchvision's detection models need targets to train (not an input convcost builds)
    with pytest.raises(TraceError) as err:
        analyze(frcnn, (1, 3, 320, 320), mode="train")
    assert "targets" in str(err.value) and "\n" not in str(err.value)


def test_data_dependent_on_a_model_without_such_ops_says_so() -> None:
    r = analyze(torch.nn.Linear(4, 4), (2, 4), mode="inference", data_dependent="run")
    assert r.data_dependent is not None and r.data_dependent.policy is None
    assert "no effect" in r.data_dependent.note
    assert r.to_dict()["data_dependent"]["computed"] is False
    with pytest.raises(SpecError, match=r"^data_dependent: "):
        analyze(torch.nn.Linear(4, 4), (2, 4), data_dependent="maybe")  # type: ignore[arg-type]


def test_cli_detection_json_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    code, out, err = run(["model", "torchvision:ssdlite320_mobilenet_v3_large", "--input",
                          "1x3x320x320", "--mode", "inference", "--data-dependent", "run",
                          "--json"], capsys)
    assert code == 0, err
    d = json.loads(out)
    assert d["data_dependent"]["policy"] == "run" and d["data_dependent"]["computed"] is True
    assert d["unsupported_ops"] == {}
    code, out, err = run(["model", "torchvision:ssdlite320_mobilenet_v3_large", "--input",
                          "1x3x320x320", "--mode", "inference", "--depth", "0"], capsys)
    assert code == 0, err
    assert "data-dep  data-dependent sizes at their upper bound" in out
    code, out, err = run(["model", "torchvision:ssdlite320_mobilenet_v3_large", "--input",
                          "1x3x320x320", "--data-dependent", "sometimes"], capsys)
    assert code == 2 and "--data-dependent" in err


@pytest.mark.slow
@pytest.mark.parametrize("name", DETECTION)
def test_every_detection_model_is_analysed_in_both_policies(name: str) -> None:
    model = load_target(f"torchvision:{name}").eval()
    shape = (1, 3, 320, 320)
    bound = analyze(model, shape, mode="inference")
    ran = analyze(model, shape, mode="inference", data_dependent="run")
    assert bound.unsupported_ops == () and ran.unsupported_ops == ()
    assert bound.totals.forward.flops >= ran.totals.forward.flops


@pytest.mark.slow
@pytest.mark.parametrize("name", SEGMENTATION)
def test_every_segmentation_model_is_analysed(name: str) -> None:
    r = analyze(load_target(f"torchvision:{name}"), (1, 3, 64, 64), mode="inference")
    assert r.unsupported_ops == () and r.totals.forward.macs > 0


@pytest.mark.slow
def test_detection_under_amp_runs_as_pytorch_does(frcnn: torch.nn.Module) -> None:
    """Issue 27 item 1: ``--amp bf16`` used to abort the process ("corrupted double-linked
    list"): the fake trace left fake anchors in the model (``AnchorGenerator`` caches its
    ``cell_anchors`` in the input's dtype), which the real run then read. PyTorch runs this
    model under CPU autocast; so must the analysis, leaving the model as it was."""
    before = [a.clone() for a in frcnn.rpn.anchor_generator.cell_anchors]
    r = analyze(frcnn, (1, 3, 320, 320), mode="inference", amp="bfloat16",
                data_dependent="run")
    assert r.amp == "bfloat16" and r.totals.forward.macs > 0
    after = frcnn.rpn.anchor_generator.cell_anchors
    assert all(type(a) is torch.Tensor and torch.equal(a, b) for a, b in zip(after, before))
    torch.manual_seed(0)
    with torch.no_grad(), torch.autocast("cpu", torch.bfloat16):
        frcnn([torch.randn(1, 3, 320, 320)[0]])  # the same run, for real, works


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_detection_in_a_dtype_the_cpu_cannot_run_is_one_line(
        frcnn: torch.nn.Module, dtype: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``--dtype float16`` used to segfault. The model runs for real on the CPU, and
    PyTorch's own CPU run of it in that dtype raises (torchvision's ``nms`` has no CPU kernel
    for it): so the analysis says so in one line, and the model keeps its float32 weights."""
    torch.manual_seed(0)
    x = torch.randn(1, 3, 320, 320)
    with pytest.raises(RuntimeError, match="not implemented for"):
        with torch.no_grad():
            copy = load_target("torchvision:fasterrcnn_mobilenet_v3_large_320_fpn").eval()
            copy.to(getattr(torch, dtype))([x[0].to(getattr(torch, dtype))])
    with pytest.raises(TraceError, match=f"no {dtype} kernel for this op") as e:
        analyze(frcnn, (1, 3, 320, 320), mode="inference", dtype=dtype)
    assert "\n" not in str(e.value)
    assert all(p.dtype == torch.float32 for p in frcnn.parameters())
    code, _, err = run(["model", "torchvision:fasterrcnn_mobilenet_v3_large_320_fpn",
                        "--input", "1x3x320x320", "--mode", "inference", "--dtype", dtype],
                       capsys)
    assert code == 2 and f"no {dtype} kernel" in err and "Traceback" not in err
