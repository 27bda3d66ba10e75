"""Robustness of the CLI: no traceback from user code or the file system, options that would
have no effect are errors, clean standard output, the format from the ``--output``
extension, strict integer parsing, close-match hints, keyword-only inputs, help texts.

Every error is one line on stderr naming the option, exit code 2, nothing on stdout."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from cli_run import run
from convcost.errors import SpecError

TINY = ["model", "robust_models:tiny", "--input", "1x2x4x4"]
LAYER = ["conv", "--input", "3x8x8", "--out-channels", "4", "--kernel", "3"]


def one_line_error(code: int, out: str, err: str, *needles: str) -> str:
    """Assert the one-line error contract; return the line."""
    assert code == 2, (out, err)
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def write_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str) -> None:
    (tmp_path / f"{name}.py").write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(name, None)


# ------------------------------------------------------------ 2. no traceback: user code


@pytest.mark.parametrize(("source", "needle"), [
    ("raise RuntimeError('boom at import')\n", "RuntimeError: boom at import"),
    ("def f(:\n", "SyntaxError"),
    ("import sys\nsys.exit(5)\n", "SystemExit: 5"),
    ("import no_such_dependency_xyz\n", "No module named 'no_such_dependency_xyz'"),
    ("1 / 0\n", "ZeroDivisionError"),
])
def test_target_module_failing_at_import(source: str, needle: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    write_module(tmp_path, monkeypatch, "bad_at_import", source)
    line = one_line_error(*run(["model", "bad_at_import:build", "--input", "1x4"], capsys),
                          "TARGET", "bad_at_import:build", needle)
    assert line.startswith("convcost model: error: TARGET: got 'bad_at_import:build'; "
                           "importing module 'bad_at_import' raised")


def test_missing_module_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(*run(["model", "no_such_pkg_xyz.sub:f", "--input", "1x4"], capsys),
                          "TARGET")
    assert line.endswith("no module named 'no_such_pkg_xyz'")


def test_library_error_is_chained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from convcost.frontends.targets import load_target

    write_module(tmp_path, monkeypatch, "bad_chained", "raise KeyError('k')\n")
    with pytest.raises(SpecError) as e:
        load_target("bad_chained:f")
    assert e.value.field == "target" and isinstance(e.value.__cause__, KeyError)
    with pytest.raises(SpecError) as e2:
        load_target("robust_models:exits_in_factory")
    assert isinstance(e2.value.__cause__, SystemExit)


@pytest.mark.parametrize(("target", "needle"), [
    ("robust_models:exits_in_factory", "exits_in_factory() raised SystemExit: 4"),
    ("robust_models:exits_in_forward", "sys.exit(3)"),
    ("robust_models:raises_in_forward", "ValueError: forward exploded"),
    ("robust_models:nothing_here", "has no callable or nn.Module 'nothing_here'"),
])
def test_target_code_failing(target: str, needle: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(*run(["model", target, "--input", "1x2x4x4"], capsys), needle)


def test_target_may_name_a_module_instance(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["model", "robust_models:TINY", "--input", "1x2x4x4", "--json"],
                         capsys)
    assert code == 0, err
    by_factory = run([*TINY, "--json"], capsys)[1]
    d, f = json.loads(out), json.loads(by_factory)
    assert d["totals"] == f["totals"] and d["model"] == "robust_models:TINY"


# ------------------------------------------------------ 2. no traceback: the file system


@pytest.mark.parametrize("ext", [".svg", ".png"])
def test_conv_plot_unwritable(ext: str, capsys: pytest.CaptureFixture[str]) -> None:
    # /proc exists but no file can be created in it (not even by root): the write fails
    one_line_error(*run([*LAYER, "--plot", f"/proc/p{ext}"], capsys),
                   "--plot", f"/proc/p{ext}", "cannot be written")


@pytest.mark.parametrize("ext", [".svg", ".png"])
def test_model_plot_unwritable(ext: str, capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(*run([*TINY, "--plot", f"/proc/p{ext}"], capsys),
                   "--plot", "/proc/p-flops", "cannot be written")


def test_plot_missing_directory_and_bad_name(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(*run([*TINY, "--plot", str(tmp_path / "no" / "p.svg")], capsys),
                   "--plot", "does not exist")
    one_line_error(*run([*TINY, "--plot", str(tmp_path / "p.pdf")], capsys),
                   "--plot", ".svg or .png")
    one_line_error(*run([*LAYER, "--plot", ""], capsys), "--plot")
    (tmp_path / "d.svg").mkdir()
    one_line_error(*run([*LAYER, "--plot", str(tmp_path / "d.svg")], capsys),
                   "--plot", "cannot be written")


@pytest.mark.parametrize("base", [LAYER, TINY])
def test_output_unwritable(base: list[str], tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(*run([*base, "--output", "/proc/r.txt"], capsys),
                   "--output", "/proc/r.txt", "cannot be written")
    one_line_error(*run([*base, "--output", str(tmp_path / "no" / "r.txt")], capsys),
                   "--output", "does not exist")
    one_line_error(*run([*base, "--output", str(tmp_path)], capsys),
                   "--output", "not a directory")
    one_line_error(*run([*base, "--output", ""], capsys), "--output")


def test_calibrate_output_unwritable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    # a missing directory is found before measuring (which takes seconds)
    one_line_error(*run(["calibrate", "--target", "cpu", "--output",
                         str(tmp_path / "no" / "d.toml")], capsys),
                   "--output", "does not exist")
    # a file that cannot be created is found when writing (the measurement is faked here)
    from convcost.hardware import calibrate
    from convcost.hardware.devices import get_device

    monkeypatch.setattr(calibrate, "calibrate_cpu", lambda name, size, progress: get_device("cpu"))
    one_line_error(*run(["calibrate", "--target", "cpu", "--output", "/proc/d.toml"], capsys),
                   "--output", "cannot be written")


def test_devices_file_unreadable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(*run(["devices", "--devices-file", str(tmp_path)], capsys), "--devices-file")


# ----------------------------------------- 5b. options that would have no effect are errors


@pytest.mark.parametrize(("extra", "needles"), [
    (["--tf32"], ("--tf32", "--device")),
    (["--channels-last"], ("--channels-last", "--device")),
    (["--strategy", "zero3"], ("--strategy", "--devices")),
    (["--interconnect", "pcie4"], ("--interconnect", "--devices")),
    (["--devices", "1", "--strategy", "zero2"], ("--strategy", "--devices")),
    (["--ops"], ("--ops", "--json")),
    (["--timeline", "--format", "csv"], ("--timeline", "--json")),
    (["--depth", "3", "--json"], ("--depth", "json")),
    (["--depth", "1", "--format", "html"], ("--depth", "html")),
    (["--ops", "--json", "--batch", "1,2"], ("--ops", "sweep")),
    (["--depth", "1", "--batch", "1,2"], ("--depth", "sweep")),
    (["--freeze", "^nothing_matches"], ("--freeze", "conv.weight", "matches no parameter")),
])
def test_model_option_without_effect(extra: list[str], needles: tuple[str, ...],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(*run([*TINY, *extra], capsys), *needles)


@pytest.mark.parametrize("extra", [
    ["--tf32", "--device", "a100-80gb"],
    ["--devices", "2", "--strategy", "zero3", "--interconnect", "pcie4"],
    ["--ops", "--timeline", "--json"],
    ["--depth", "1", "--format", "csv"],
    ["--depth", "0", "--format", "markdown"],
    ["--freeze", r"^conv\."],
])
def test_model_option_with_effect(extra: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run([*TINY, *extra], capsys)
    assert code == 0, err


@pytest.mark.parametrize(("extra", "needles"), [
    (["--lang", "zh", "--json"], ("--lang", "json")),
    (["--explain", "--format", "html"], ("--explain", "html")),
])
def test_conv_option_without_effect(extra: list[str], needles: tuple[str, ...],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(*run([*LAYER, *extra], capsys), *needles)


@pytest.mark.parametrize("extra", [["--depth", "1"], ["--ops"], ["--timeline"]])
def test_compare_option_without_effect(extra: list[str],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    # given after the entries (shared): the flag is named, not the first entry (issue 27)
    line = one_line_error(*run(["compare", "robust_models:tiny", "robust_models:TINY",
                                "--input", "1x2x4x4", *extra], capsys), extra[0])
    assert line.startswith(f"convcost compare: error: {extra[0]}: got "), line
    # in one entry: that entry is named
    line = one_line_error(*run(["compare", "robust_models:tiny",
                                "robust_models:TINY " + " ".join(extra), "--input", "1x2x4x4"],
                               capsys), extra[0])
    assert line.startswith("convcost compare: error: ENTRY: got 'robust_models:TINY "), line


def test_compare_report_options_are_shared(capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(*run(["compare", "robust_models:tiny", "robust_models:TINY --json",
                         "--input", "1x2x4x4"], capsys), "ENTRY", "after the entries")
    # the entry that has its own --json is blamed, even when it is the first one
    line = one_line_error(*run(["compare", "robust_models:tiny --json", "robust_models:TINY",
                                "--input", "1x2x4x4"], capsys), "after the entries")
    assert "ENTRY: got 'robust_models:tiny --json'" in line


def test_compare_shared_option_errors_say_compare(capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(*run(["compare", "robust_models:tiny", "robust_models:TINY",
                                "--input", "1x2x4x4", "--optimizer", "nope"], capsys),
                          "--optimizer", "nope")
    assert line.startswith("convcost compare: error: ")  # not "convcost model"


def test_freeze_matching_nothing_library() -> None:
    import robust_models
    from convcost import analyze

    with pytest.raises(SpecError) as e:
        analyze(robust_models.tiny(), (1, 2, 4, 4), freeze="nothing")
    assert e.value.field == "freeze" and "head.bias" in str(e.value)
    r = analyze(robust_models.tiny(), (1, 2, 4, 4), freeze="^head")
    assert r.totals.trainable_params == 3 * 2 * 9 + 3  # the conv's weight and bias


def test_freeze_matching_nothing_onnx(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.zeros((4, 2, 3, 3), np.float32), "conv1.weight")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "conv1.weight"], ["y"], name="conv1")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 3, 3])], [w])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    one_line_error(*run(["model", str(path), "--input", "1x2x5x5", "--freeze", "fc"], capsys),
                   "--freeze", "conv1.weight")
    # freezing every initializer leaves nothing to differentiate: a real backward raises
    one_line_error(*run(["model", str(path), "--input", "1x2x5x5", "--freeze", "conv1"],
                        capsys), "--freeze", "nothing is left to differentiate")
    code, out, err = run(["model", str(path), "--input", "1x2x5x5", "--freeze", "conv1",
                          "--input-grad", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["totals"]["trainable_params"] == 0


# --------------------------------------------------------------------- 7. clean streams


def test_model_prints_go_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["model", "robust_models:noisy", "--input", "1x2x4x4", "--json"],
                         capsys)
    assert code == 0, err
    json.loads(out)  # stdout is the report alone
    assert "noisy:" not in out
    assert "noisy: building" in err and "noisy: forward" in err


def test_compare_prints_go_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["compare", "robust_models:noisy", "robust_models:tiny", "--input",
                          "1x2x4x4", "--json"], capsys)
    assert code == 0, err
    json.loads(out)
    assert "noisy: forward" in err


def test_library_does_not_redirect(capsys: pytest.CaptureFixture[str]) -> None:
    import robust_models
    from convcost import analyze

    analyze(robust_models.noisy(), (1, 2, 4, 4))
    assert "noisy: forward" in capsys.readouterr().out  # the caller's stdout stays theirs


def _check(fmt: str, text: str) -> None:
    if fmt == "json":
        json.loads(text)
    elif fmt == "csv":
        assert len(list(csv.reader(io.StringIO(text)))) > 1
    elif fmt == "html":
        assert text.startswith("<!DOCTYPE html>")
    elif fmt == "markdown":
        assert "| " in text
    else:
        assert text.startswith("convcost")


@pytest.mark.parametrize(("name", "fmt"), [("r.json", "json"), ("r.csv", "csv"),
                                           ("r.md", "markdown"), ("r.html", "html"),
                                           ("r.txt", "table"), ("R.JSON", "json")])
def test_model_output_format_from_extension(name: str, fmt: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([*TINY, "--output", str(tmp_path / name)], capsys)
    assert code == 0 and out == "", err
    _check(fmt, (tmp_path / name).read_text())


@pytest.mark.parametrize(("name", "fmt"), [("r.json", "json"), ("r.md", "markdown"),
                                           ("r.html", "html"), ("r.txt", "table")])
def test_conv_output_format_from_extension(name: str, fmt: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([*LAYER, "--output", str(tmp_path / name)], capsys)
    assert code == 0 and out == "", err
    _check(fmt, (tmp_path / name).read_text())


def test_compare_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["compare", "robust_models:tiny", "robust_models:TINY", "--input",
                          "1x2x4x4", "--output", str(tmp_path / "c.csv")], capsys)
    assert code == 0 and out == "", err
    _check("csv", (tmp_path / "c.csv").read_text())


def test_format_flag_wins_for_unknown_extension(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run([*TINY, "--format", "json", "--output", str(tmp_path / "r.out")], capsys)
    assert code == 0, err
    json.loads((tmp_path / "r.out").read_text())
    # .txt is any text: with --format it takes that format
    code, _, err = run([*TINY, "--format", "markdown", "--output", str(tmp_path / "r.txt")],
                       capsys)
    assert code == 0, err
    _check("markdown", (tmp_path / "r.txt").read_text())


@pytest.mark.parametrize(("base", "extra", "needles"), [
    (TINY, ["--output", "r.xyz"], ("--output", "r.xyz", "extension")),
    (TINY, ["--output", "report"], ("--output", "extension")),
    (TINY, ["--format", "csv", "--output", "r.json"], ("--output", "json", "--format csv")),
    (TINY, ["--json", "--output", "r.html"], ("--output", "html", "--json")),
    (TINY, ["--json", "--format", "html"], ("--json", "--format html")),
    (LAYER, ["--json", "--format", "markdown"], ("--json", "--format markdown")),
    (LAYER, ["--output", "r.csv"], ("--output", "csv")),
    (LAYER, ["--format", "json", "--output", "r.md"], ("--output", "markdown")),
])
def test_output_format_contradictions(base: list[str], extra: list[str],
                                      needles: tuple[str, ...], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    one_line_error(*run([*base, *extra], capsys), *needles)
    assert list(tmp_path.iterdir()) == []  # nothing written


# ----------------------------------------------------------------- 8. parsing and hints


@pytest.mark.parametrize("shape", ["3x8_0", "3x+8", "3x-8", "3x 8", "3 x8", "٣x8", "3x8x٣",
                                   "3x８", "3x²", "3x0x8", "3xx8", "x3", "3.0x8", "1e3x8"])
def test_conv_input_rejects_non_ascii_digits(shape: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(*run(["conv", "--input", shape, "--out-channels", "4", "--kernel", "1"],
                        capsys), "--input")


@pytest.mark.parametrize(("flag", "value"), [
    ("--out-channels", "٤"), ("--out-channels", "1_0"), ("--out-channels", " 4"),
    ("--groups", "+1"), ("--batch", "-1"), ("--kernel", "3_0"), ("--stride", "١"),
    ("--padding", "1_0"), ("--padding", "1:-1"), ("--dilation", " 1"),
])
def test_conv_numbers_are_ascii_digits(flag: str, value: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    args = {"--input": "4x8x8", "--out-channels": "4", "--kernel": "3", flag: value}
    one_line_error(*run(["conv", *[x for kv in args.items() for x in kv]], capsys), flag)


@pytest.mark.parametrize(("extra", "flag"), [
    (["--input", "1x2x4_4"], "--input"),
    (["--input", "1x2x4x٤"], "--input"),
    (["--input", "1x2x4x4", "--depth", "1_0"], "--depth"),
    (["--input", "1x2x4x4", "--devices", "٢"], "--devices"),
    (["--input", "1x2x4x4", "--batch", "1,2_0"], "--batch"),
    (["--input", "1x2x4x4", "--resolution", "٨"], "--resolution"),
])
def test_model_numbers_are_ascii_digits(extra: list[str], flag: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(*run(["model", "robust_models:tiny", *extra], capsys), flag)


def test_parsers_directly() -> None:
    from convcost.spec import parse_count, parse_int_list, parse_ints, parse_padding, parse_shape

    assert parse_shape("x", "8×3×32×32") == ((8, 3, 32, 32), None)
    assert parse_shape("x", "8X3:Int64 ") == ((8, 3), "int64")
    assert parse_padding("p", " same ") == "same"
    assert parse_ints("k", "3×1") == (3, 1)
    assert parse_padding("p", "1:2×0") == [(1, 2), (0, 0)]
    assert parse_int_list("b", "1, 8,64") == [1, 8, 64]
    assert parse_count("n", "007") == 7
    for bad in ("3_0", "٣", " 3", "+3", "-3", "", "3 "):
        with pytest.raises(SpecError):
            parse_count("n", bad)
        with pytest.raises(SpecError):
            parse_shape("x", f"2x{bad}")
    with pytest.raises(SpecError):
        parse_shape("x", "9" * 5000)  # more digits than int() converts: an error, not a crash


def test_times_sign_is_a_separator(capsys: pytest.CaptureFixture[str]) -> None:
    code, with_x, _ = run([*LAYER, "--json"], capsys)
    code2, with_times, err = run(["conv", "--input", "3×8×8", "--out-channels", "4",
                                  "--kernel", "3×3", "--json"], capsys)
    assert code == code2 == 0, err
    assert json.loads(with_x) == json.loads(with_times)
    code, out, err = run(["model", "robust_models:tiny", "--input", "1×2×4×4", "--json"],
                         capsys)
    assert code == 0, err
    assert json.loads(out)["inputs"][0]["shape"] == [1, 2, 4, 4]


@pytest.mark.parametrize(("args", "needles"), [
    (["model", "torchvision:resnet5", "--input", "1x3x8x8"], ("did you mean", "resnet50")),
    (["model", "torchvision:mobilenetv2", "--input", "1x3x8x8"],
     ("did you mean", "mobilenet_v2")),
    (["model", "timm:resnet1", "--input", "1x3x8x8"], ("did you mean", "resnet18")),
    ([*TINY, "--device", "h100sxm"], ("--device", "did you mean h100-sxm")),
    ([*TINY, "--device", "A100-80G"], ("--device", "did you mean a100-80gb")),
    ([*TINY, "--devices", "2", "--interconnect", "nvlnk4"],
     ("--interconnect", "did you mean nvlink4")),
    (["model", "robust_models:tiyn", "--input", "1x2x4x4"], ("did you mean tiny",)),
])
def test_close_matches(args: list[str], needles: tuple[str, ...],
                       capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(*run(args, capsys), *needles)


def test_keyword_only_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["model", "robust_models:keyword_only", "--input", "x=2x8",
                          "--input", "y=2x6", "--json"], capsys)
    assert code == 0, err
    d = json.loads(out)
    assert [(i["name"], i["shape"]) for i in d["inputs"]] == [("x", [2, 8]), ("y", [2, 6])]
    # two linear layers: 2·4·8 + 2·4·6 = 112 MACs
    assert d["totals"]["forward"]["macs"] == 112
    code, out, err = run(["model", "robust_models:keyword_only", "--input", "x=2x8",
                          "--input", "y=2x6", "--batch", "1,4", "--json"], capsys)
    assert code == 0, err
    assert [r["totals"]["forward"]["macs"] for r in json.loads(out)["sweep"]] == [56, 224]
    one_line_error(*run(["model", "robust_models:keyword_only", "--input", "x=2x8",
                         "--input", "y=2x6", "--resolution", "4"], capsys), "--resolution")


def test_keyword_only_inputs_library() -> None:
    import robust_models
    from convcost import analyze
    from convcost.spec import InputSpec

    r = analyze(robust_models.keyword_only(), [],
                kwargs={"x": InputSpec((2, 8)), "y": InputSpec((2, 6))})
    assert r.totals.forward.macs == 112
    with pytest.raises(SpecError):
        analyze(robust_models.keyword_only(), [])  # no input at all


def test_compare_help_lists_shared_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["compare", "--help"], capsys)
    assert code == 0
    shared = out[out.index("options of each entry"):]
    for flag in ("--input", "--optimizer", "--amp", "--device", "--devices", "--format",
                 "--output", "--json"):
        assert flag in shared, flag
    for flag in ("--fit", "--batch", "--plot", "--timeline"):  # not for a comparison
        assert flag not in shared, flag


def test_bare_convcost_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([], capsys)
    assert code == 2 and out == ""
    assert err.startswith("usage: convcost") and "conv" in err and "compare" in err


def test_sweep_json_shape_is_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([*TINY, "--batch", "1,2", "--json"], capsys)
    assert code == 0, err
    rows: list[dict[str, Any]] = json.loads(out)["sweep"]
    assert [r["batch"] for r in rows] == [1, 2]


def test_target_module_found_in_the_current_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # as `python -m` does: a module file in the working directory is importable as a target
    # (the README's `blocks:vit_block` example), and the import path is left as it was
    (tmp_path / "cwd_block_xyz.py").write_text(
        "from torch import nn\n\n\ndef build() -> nn.Module:\n    return nn.Linear(4, 3)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "cwd_block_xyz", raising=False)
    path_before = list(sys.path)
    code, out, err = run(["model", "cwd_block_xyz:build", "--input", "2x4", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["totals"]["forward"]["macs"] == 2 * 3 * 4
    assert sys.path == path_before
    sys.modules.pop("cwd_block_xyz", None)


# ------------------------------------------------ installed without the torch extra

#: Runs ``convcost ARGS`` as if torch, torchvision and timm were not installed: a meta-path
#: finder refuses them as Python does a module that is missing.
WITHOUT_TORCH = """
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("torch", "torchvision", "timm"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, NoTorch())
from convcost.cli import main
sys.exit(main(sys.argv[1:]))
"""


def without_torch(*args: str) -> tuple[int, str, str]:
    import os
    import subprocess

    import convcost

    env = dict(os.environ)
    src = str(Path(convcost.__file__).resolve().parents[1])
    here = str(Path(__file__).resolve().parent)
    env["PYTHONPATH"] = os.pathsep.join([src, here, env.get("PYTHONPATH", "")])
    p = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, *args], capture_output=True,
                       text=True, env=env, timeout=120)
    return p.returncode, p.stdout, p.stderr


def test_without_the_torch_extra(tmp_path: Path) -> None:
    """``pip install .`` has no torch: ``conv`` works, ``model`` (a PyTorch target or an
    ONNX file), ``compare`` and ``calibrate`` say in one line which extra to install."""
    code, out, err = without_torch(*LAYER, "--json")
    assert code == 0, err
    assert json.loads(out)["forward"]["macs"] == 4 * 3 * 9 * 6 * 6  # 4 outputs of 6×6, 27 taps
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(b"")  # never read: torch is needed first
    for args, command in ((TINY, "model"), (["model", str(onnx_file)], "model"),
                          (["compare", "robust_models:tiny --input 1x2x4x4",
                            "robust_models:tiny --input 2x2x4x4"], "compare"),
                          (["calibrate"], "calibrate")):
        line = one_line_error(*without_torch(*args), "pip install 'convcost[torch]'")
        assert line == (f"convcost {command}: error: PyTorch is not installed (convcost "
                        f"{command} needs it): pip install 'convcost[torch]'")


# ------------------------------------------------------------ scalar (rank-0) inputs


def test_scalar_inputs_of_a_pytorch_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """An empty shape is a 0-d tensor (``--input s=``, ``s=:float64``, ``InputSpec(())``):
    y = Linear(4 -> 3)(x) · s, by hand 2·3·4 MACs plus 2·3 multiplications by s."""
    write_module(tmp_path, monkeypatch, "scalar_model", (
        "import torch\n"
        "class M(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.lin = torch.nn.Linear(4, 3)\n"
        "    def forward(self, x, s):\n"
        "        assert s.dim() == 0\n"
        "        return self.lin(x) * s\n"
        "def build():\n"
        "    return M()\n"))
    from convcost import analyze
    from convcost.spec import InputSpec

    for extra in (["--input", "s="], ["--input", "s=:float64"], ["--input", ""]):
        code, out, err = run(["model", "scalar_model:build", "--input", "2x4", *extra,
                              "--mode", "inference", "--json"], capsys)
        assert code == 0, err
        fwd = json.loads(out)["totals"]["forward"]
        assert (fwd["macs"], fwd["mults"]) == (2 * 3 * 4, 2 * 3 * 4 + 2 * 3)
    import scalar_model

    r = analyze(scalar_model.build(), ["2x4", InputSpec(())], mode="inference")
    assert r.totals.forward.mults == 2 * 3 * 4 + 2 * 3
    with pytest.raises(SpecError):
        analyze(scalar_model.build(), ["2x4", ()], mode="inference")  # () alone is no shape


# ------------------------------------------------------------ issue 27: --mode generate

GEN_LLAMA = ["model", "hf:LlamaForCausalLM", *(x for k, v in dict(
    num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4,
    num_key_value_heads=2, vocab_size=100).items() for x in ("--model-arg", f"{k}={v}")),
    "--mode", "generate", "--prompt-len", "6", "--new-tokens", "3"]
GEN_GPT2 = ["model", "hf:GPT2LMHeadModel", *(x for k, v in dict(
    n_layer=2, n_embd=32, n_head=2, vocab_size=100, n_positions=16).items()
    for x in ("--model-arg", f"{k}={v}"))]


@pytest.mark.parametrize(("args", "needles"), [
    ([*GEN_LLAMA, "--reserve", "banana", "--device", "h100-sxm"], ("--reserve", "banana")),
    ([*GEN_LLAMA, "--reserve", "1GiB"], ("--reserve", "without --device")),
    ([*GEN_LLAMA, "--reserve", "80GiB", "--device", "h100-sxm"], ("--reserve", "less than")),
    ([*GEN_GPT2, "--mode", "generate", "--prompt-len", "10", "--new-tokens", "8"],
     ("--new-tokens", "got 8", "n_positions = 16", "at most 7 new tokens")),
    ([*GEN_GPT2, "--mode", "generate", "--prompt-len", "17", "--new-tokens", "1"],
     ("--prompt-len", "got 17", "n_positions = 16")),
    ([*GEN_GPT2, "--input", "1x17:int64", "--mode", "inference"],
     ("--input", "1x17:int64", "n_positions = 16")),
    (["model", "hf:T5ForConditionalGeneration", "--model-arg", "num_layers=1",
      "--model-arg", "d_model=16", "--model-arg", "d_ff=32", "--model-arg", "num_heads=2",
      "--model-arg", "d_kv=8", "--model-arg", "vocab_size=100", "--mode", "generate",
      "--prompt-len", "4", "--new-tokens", "2"], ("--mode", "encoder-decoder")),
])
def test_generate_refusals(args: list[str], needles: tuple[str, ...],
                           capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(*run(args, capsys), *needles)
    assert "prompt_len" not in line and "new_tokens" not in line  # the CLI names flags


def test_generate_fit_follows_the_reserve(capsys: pytest.CaptureFixture[str]) -> None:
    """80 GiB less an 81,904 MiB reserve leaves 16 MiB, less than the 32 MiB cuBLAS
    workspace the first GEMM allocates on a Hopper GPU: it does not fit."""
    code, out, err = run([*GEN_LLAMA, "--device", "h100-sxm", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["hardware"]["memory"]["fits"] is True
    code, out, err = run([*GEN_LLAMA, "--device", "h100-sxm", "--reserve", "81904MiB"], capsys)
    assert code == 0, err
    assert "of usable 16.00 MiB" in out and "DOES NOT FIT" in out and "weights" in out
    code, out, err = run([*GEN_LLAMA, "--device", "h100-sxm", "--reserve", "81904MiB",
                          "--json"], capsys)
    mem = json.loads(out)["hardware"]["memory"]
    assert (mem["usable_bytes"], mem["fits"]) == (16 * 2**20, False)


def test_gpt2_at_its_position_limit_runs(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run([*GEN_GPT2, "--mode", "generate", "--prompt-len", "10",
                        "--new-tokens", "7"], capsys)
    assert code == 0, err
    code, _, err = run([*GEN_GPT2, "--input", "1x16:int64", "--mode", "inference"], capsys)
    assert code == 0, err


def test_mistral_generates_with_its_default_window(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["model", "hf:MistralForCausalLM", *GEN_LLAMA[2:]], capsys)
    assert code == 0, err
    assert "2 of 2 layers with window 4096 keep at most 4095 positions" in out


def test_generate_markdown_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "g.md"
    code, _out, err = run([*GEN_LLAMA, "--output", str(out_file)], capsys)
    assert code == 0, err
    text = out_file.read_text()
    assert text.startswith("**hf:LlamaForCausalLM: generation") and "| phase |" in text


def test_conv_too_small_input_echoes_the_flag_as_given(capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    """Issue 27 item 9: ``conv --kernel 9`` on 3x8x8 echoed ``got '8x8'``. A 9-wide kernel on
    8 positions leaves 8 − 9 + 1 = 0 outputs: the error names --input as given and the
    kernel, stride, dilation and padding that make it too small."""
    from cli_run import run

    code, _, err = run(["conv", "--input", "3x8x8", "--kernel", "9", "--out-channels", "4"],
                       capsys)
    assert code == 2
    assert err.count("\n") <= 1 and "--input: got '3x8x8'" in err
    assert "output size 0x0 with kernel 9x9, stride 1x1, dilation 1x1 and padding 0x0" in err


# ------------------------------------------------- issue 27: hf config values transformers refuses


@pytest.mark.parametrize(("arg", "shown"), [("hidden_size=66", "66"), ("hidden_size=64.5", "64.5"),
                                            ("num_hidden_layers='two'", "'two'")])
def test_hf_model_arg_refused_by_transformers(arg: str, shown: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("transformers")
    line = one_line_error(*run(["model", "hf:LlamaForCausalLM", "--model-arg", arg,
                                "--input", "1x8"], capsys))
    key = arg.partition("=")[0]
    assert line.startswith(f"convcost model: error: --model-arg {key}: got {shown}; "
                           "LlamaConfig refuses it: "), line


@pytest.mark.parametrize(("args", "needles"), [
    (["model", "robust_models:int_output", "--input", "2x4"], ("--mode", "int64")),
    (["model", "robust_models:none_output", "--input", "2x4"], ("--mode", "NoneType")),
    ([*TINY, "--freeze", "."], ("--freeze", "every trainable parameter")),
    (["model", "robust_models:int_output", "--input", "2x4:int64", "--input-grad"],
     ("--input-grad", "floating")),
    ([*TINY, "--mode", "inference", "--freeze", "head"], ("--freeze", "--mode train")),
])
def test_nothing_to_differentiate(args: list[str], needles: tuple[str, ...],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(*run(args, capsys), *needles)


# -------------------------------------------------- issue 27: honest optimizer and link labels


def test_cpu_optimizer_label_is_the_traced_per_parameter_step(
        capsys: pytest.CaptureFixture[str]) -> None:
    import torch
    from torch.optim.optimizer import _default_to_fused_or_foreach

    # PyTorch's own choice for CPU parameters: neither fused nor foreach (per-parameter)
    assert _default_to_fused_or_foreach([torch.zeros(2)], False, False) == (False, False)
    code, out, err = run([*TINY, "--device", "cpu", "--optimizer", "adam"], capsys)
    assert code == 0, err
    est = next(x for x in out.splitlines() if x.startswith("estimate"))
    assert "(per-parameter)" in est and "(foreach)" not in est
    # asked for, foreach is honoured on the CPU too (torch.optim takes foreach=True there)
    code, out, err = run([*TINY, "--device", "cpu", "--optimizer", "adam",
                          "--optimizer-kernels", "foreach"], capsys)
    assert code == 0, err
    assert "(foreach)" in next(x for x in out.splitlines() if x.startswith("estimate"))


@pytest.mark.parametrize(("device", "link"), [
    ("t4", "pcie3"),  # NVIDIA T4 datasheet: PCIe Gen3 x16, no NVLink
    ("h100-pcie", "pcie5"),  # H100 PCIe: PCIe Gen5 x16 (its NVLink bridge is optional)
    ("a100-80gb-pcie", "pcie4"),
    ("h100-sxm", "nvlink4"),  # SXM5: NVLink 4
    ("a100-80gb", "nvlink3"),  # SXM4: NVLink 3
])
def test_devices_interconnect_default_follows_the_preset(
        device: str, link: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["model", "robust_models:tiny", "--input", "2x2x4x4", "--device", device,
            "--devices", "2"]
    code, out, err = run([*base, "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["distributed"]["interconnect"] == link
    code, out, err = run(base, capsys)
    sharded = next(x for x in out.splitlines() if x.startswith("sharded"))
    assert f"over {link} (assumed for {device} (" in sharded and "--interconnect" in sharded
    code, out, err = run([*base, "--interconnect", "nvlink4"], capsys)
    sharded = next(x for x in out.splitlines() if x.startswith("sharded"))
    assert sharded.endswith("over nvlink4")  # chosen: no assumption to state


# ------------------------------------------------------------- issue 27: sweeps


def test_failing_sweep_setting_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    import robust_models

    robust_models.fixed_size()(torch.randn(1, 2, 4, 4))  # the 4×4 setting runs for real...
    with pytest.raises(RuntimeError):  # ...and the 8×8 one fails for real
        robust_models.fixed_size()(torch.randn(1, 2, 8, 8))
    line = one_line_error(*run(["model", "robust_models:fixed_size", "--input", "1x2x4x4",
                                "--resolution", "4,8", "--batch", "1"], capsys))
    assert line.startswith("convcost model: error: batch 1, resolution 8: model: cannot be "
                           "analysed: module '2' (Linear)"), line


@pytest.mark.parametrize(("extra", "flag", "twice"), [
    (["--batch", "1,2,1"], "--batch", "1 given more than once"),
    (["--resolution", "4,8,8,4"], "--resolution", "4, 8 given more than once"),
])
def test_duplicate_sweep_settings_are_refused(extra: list[str], flag: str, twice: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    one_line_error(*run([*TINY, *extra], capsys), flag, twice)


def test_sweep_record_refuses_duplicate_rows() -> None:
    import robust_models
    from convcost import analyze
    from convcost.hardware.answer import Hardware
    from convcost.study import Sweep, SweepRow

    r = analyze(robust_models.tiny(), (1, 2, 4, 4), mode="inference")
    row = SweepRow(2, None, r, Hardware())
    with pytest.raises(SpecError, match=r"^rows: got 'batch 2'; each setting once"):
        Sweep((row, row))


# ------------------------------------------------------------- issue 27: unclear errors


@pytest.mark.parametrize("words", [["--reserve", "-1GiB"], ["--reserve=-1GiB"],
                                   ["--reserve", "-.5GiB"]])
def test_negative_reserve_is_its_own_error(words: list[str],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(*run([*TINY, "--device", "t4", *words], capsys))
    value = words[-1].removeprefix("--reserve=")
    assert line == (f"convcost model: error: --reserve: got {value!r}; must be 0 or more "
                    "(a size such as 1.5GiB, 800MiB or 2GB)")
    assert "expected one argument" not in line


@pytest.mark.parametrize("shape", ["99999999999999999999x2x4x4", "9999999999x2x9999999999x4"])
def test_input_larger_than_pytorch_can_describe(shape: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    dims = [int(d) for d in shape.split("x")]
    with pytest.raises((RuntimeError, TypeError)):  # PyTorch's own refusal, on meta too
        torch.empty(dims, device="meta")
    line = one_line_error(*run(["model", "robust_models:tiny", "--input", shape], capsys))
    assert line.startswith(f"convcost model: error: --input: got {shape!r}; too large: ")
    assert "2**63 - 1 bytes" in line and "forward" not in line


def test_kilobyte_error_is_cut(capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(*run(["model", "robust_models:long_error", "--input", "1x2"], capsys))
    assert len(line) < 1200 and "characters cut]" in line
    assert line.startswith("convcost model: error: model: cannot be analysed")
    assert line.endswith("(the end)")
