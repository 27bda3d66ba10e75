"""CLI of the single-layer calculator: every option, every kind of bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from convcost.cli import main

BASE = ["conv", "--input", "3x224x224", "--out-channels", "64", "--kernel", "7",
        "--stride", "2", "--padding", "3", "--no-bias"]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def run_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    code, out, err = run([*args, "--json"], capsys)
    assert code == 0, err
    return json.loads(out)


def test_worked_example_json(capsys: pytest.CaptureFixture[str]) -> None:
    d = run_json(BASE, capsys)
    assert d["output_shape"] == [1, 64, 112, 112]
    # MACs = 64·3·112·112·7·7
    assert d["macs"] == 64 * 3 * 112 * 112 * 49 == 118_013_952
    # one JSON shape for every cost: macs, mults, adds, other, flops
    assert d["forward"] == {"macs": 118_013_952, "mults": 118_013_952, "adds": 117_211_136,
                            "other": 0, "flops": 235_225_088}
    assert d["backward"]["grad_input"]["adds"] == 117_856_629
    assert d["backward"]["grad_weight"]["adds"] == 118_004_544
    assert d["backward"]["grad_bias"] == {"macs": 0, "mults": 0, "adds": 0, "other": 0,
                                          "flops": 0}
    assert d["seed_approx"] == {"forward_flops": 236_027_904, "backward_flops": 472_055_808}
    assert d["layer"]["padding"] == [[3, 3], [3, 3]]
    assert d["counting"] == "dense"
    mem = d["memory"]
    assert set(mem["forward"]) == {"input", "weight", "bias", "output", "total_elements",
                                   "total_bytes"}
    assert set(mem["backward"]) == {"input", "weight", "bias", "grad_output", "grad_weight",
                                    "grad_bias", "grad_input", "total_elements", "total_bytes"}
    # derivation: c_i·h·w + c_o·c_i·k·k + c_o·h_out·w_out = 150528 + 9408 + 802816
    assert mem["forward"]["total_elements"] == 962_752
    assert mem["forward"]["total_bytes"] == 962_752 * 4
    # 2·150528 + 2·9408 + 802816
    assert mem["backward"]["total_elements"] == 1_122_688


def test_format_json_equals_shorthand(capsys: pytest.CaptureFixture[str]) -> None:
    a = run_json(BASE, capsys)
    code, out, _ = run([*BASE, "--format", "json"], capsys)
    assert code == 0 and json.loads(out) == a


def test_json_equals_api_to_dict(capsys: pytest.CaptureFixture[str]) -> None:
    import convcost

    r = convcost.conv_cost(in_channels=3, out_channels=64, input_size=(224, 224), kernel=7,
                           stride=2, padding=3, bias=False)
    assert run_json(BASE, capsys) == json.loads(json.dumps(r.to_dict()))


@pytest.mark.parametrize(
    ("extra", "check"),
    [
        (["--batch", "4"], lambda d: d["output_shape"][0] == 4 and d["macs"] == 4 * 118_013_952),
        (["--dilation", "2"], lambda d: d["output_shape"] == [1, 64, 109, 109]),
        (["--groups", "3", "--out-channels", "63"], lambda d: d["layer"]["groups"] == 3),
        (["--dtype", "bf16"], lambda d: d["layer"]["dtype"] == "bfloat16"
         and d["memory"]["forward"]["total_bytes"] == 2 * d["memory"]["forward"]["total_elements"]),
        (["--counting", "skip-padding"], lambda d: d["counting"] == "skip-padding"
         and d["forward"]["mults"] < d["macs"]),
        (["--no-input-grad"], lambda d: d["backward"]["grad_input"]["flops"] == 0
         and d["memory"]["backward"]["grad_input"] == 0),
        (["--stride", "2x1"], lambda d: d["output_shape"] == [1, 64, 112, 224]),
        (["--padding", "1:2x0"], lambda d: d["layer"]["padding"] == [[1, 2], [0, 0]]),
        (["--padding", "valid"], lambda d: d["output_shape"] == [1, 64, 109, 109]),
        (["--kernel", "7x3"], lambda d: d["layer"]["kernel"] == [7, 3]),
    ],
)
def test_options(extra: list[str], check, capsys: pytest.CaptureFixture[str]) -> None:
    args = list(BASE)
    # later flags override earlier ones in argparse
    d = run_json([*args, *extra], capsys)
    assert check(d), d


def test_bias_default_on(capsys: pytest.CaptureFixture[str]) -> None:
    args = [a for a in BASE if a != "--no-bias"]
    d = run_json(args, capsys)
    assert d["layer"]["bias"] is True
    assert d["backward"]["grad_bias"]["adds"] == 64 * 112 * 112 - 64
    assert d["memory"]["forward"]["bias"] == 64


def test_same_padding_and_1d_3d(capsys: pytest.CaptureFixture[str]) -> None:
    d = run_json(["conv", "--input", "8x10", "--out-channels", "4", "--kernel", "4",
                  "--padding", "same"], capsys)
    assert d["layer"]["padding"] == [[1, 2]] and d["output_shape"] == [1, 4, 10]
    d = run_json(["conv", "--input", "2x4x5x6", "--out-channels", "3", "--kernel", "3"], capsys)
    assert d["output_shape"] == [1, 3, 2, 3, 4]


def test_transposed(capsys: pytest.CaptureFixture[str]) -> None:
    d = run_json(["conv", "--input", "16x8x8", "--out-channels", "8", "--kernel", "4",
                  "--stride", "2", "--padding", "1", "--transposed", "--output-padding", "1"],
                 capsys)
    # (8−1)·2 − 2·1 + (4−1) + 1 + 1 = 17
    assert d["output_shape"] == [1, 8, 17, 17]
    assert d["layer"]["transposed"] is True and d["layer"]["output_padding"] == [1, 1]


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_table_and_markdown(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([*BASE, "--format", fmt], capsys)
    assert code == 0
    assert "118,013,952" in out and "117,211,136" in out and "472,055,808" in out
    if fmt == "markdown":
        assert "| forward |" in out


def test_explain_english_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([*BASE, "--explain"], capsys)
    assert code == 0
    order = ["Output size", "Forward cost", "Forward memory", "Backward memory",
             "gradient of the input", "gradient of the weight", "classic approximation",
             "Summary"]
    positions = [out.index(s) for s in order]
    assert positions == sorted(positions)
    assert "⌊(224 + 2·3 − 7)/2⌋ + 1" in out
    assert "118,013,952 − 802,816" in out
    assert "117,211,136" in out and "117,856,629" in out and "118,004,544" in out
    # exact vs approximation: forward differs by the 802,816 output points
    assert "-802,816" in out


def test_explain_chinese_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([*BASE, "--explain", "--lang", "zh", "--format", "markdown"], capsys)
    assert code == 0
    assert "## 1. 输出尺寸" in out and "前向" in out and "反向" in out
    assert r"\left\lfloor \frac{224 + 2 \cdot 3 - 7}{2} \right\rfloor + 1 = 112" in out
    assert "$$" in out


def test_help_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["conv", "--help"])
    assert e.value.code == 0
    assert "examples:" in capsys.readouterr().out


BAD = [
    (["--input", "3x2", "--out-channels", "4", "--kernel", "5"], "--input"),
    (["--input", "3xa", "--out-channels", "4", "--kernel", "1"], "--input"),
    (["--input", "3", "--out-channels", "4", "--kernel", "1"], "--input"),
    (["--input", "1x2x3x4x5", "--out-channels", "4", "--kernel", "1"], "--input"),
    (["--input", "0x8x8", "--out-channels", "4", "--kernel", "1"], "--input"),
    (["--input", "4x8x8", "--out-channels", "0", "--kernel", "3"], "--out-channels"),
    (["--input", "4x8x8", "--out-channels", "x", "--kernel", "3"], "--out-channels"),
    (["--input", "4x8x8", "--out-channels", "6", "--kernel", "3", "--groups", "4"], "--groups"),
    (["--input", "4x8x8", "--out-channels", "4", "--kernel", "0"], "--kernel"),
    (["--input", "4x8x8", "--out-channels", "4", "--kernel", "3x3x3"], "--kernel"),
    (["--input", "4x8x8", "--out-channels", "4", "--kernel", "3", "--stride", "0"], "--stride"),
    (["--input", "4x8x8", "--out-channels", "4", "--kernel", "3", "--dilation", "0"],
     "--dilation"),
    (["--input", "4x8x8", "--out-channels", "4", "--kernel", "3", "--padding", "-1"],
     "--padding"),
    (["--input", "4x8x8", "--out-channels", "4", "--kernel", "3", "--padding", "1:2:3"],
     "--padding"),
    (["--input", "4x8x8", "--out-channels", "4", "--kernel", "3", "--padding", "same",
      "--stride", "2"], "--padding"),
    (["--input", "4x8x8", "--out-channels", "4", "--kernel", "3", "--transposed",
      "--output-padding", "2"], "--output-padding"),
    (["--input", "4x8x8", "--out-channels", "4", "--kernel", "3", "--output-padding", "1",
      "--stride", "2"], "--output-padding"),
    (["--input", "4x8x8", "--out-channels", "4", "--kernel", "3", "--dtype", "f13"], "--dtype"),
    (["--input", "4x8x8", "--out-channels", "4", "--kernel", "3", "--batch", "0"], "--batch"),
    (["--input", "4x8x8", "--out-channels", "4", "--kernel", "3", "--counting", "foo"],
     "--counting"),
    (["--input", "4x8x8", "--out-channels", "4", "--kernel", "3", "--explain", "--json"],
     "--explain"),
    (["--input", "4x8x8", "--out-channels", "4", "--kernel", "3", "--lang", "fr"], "--lang"),
    (["--input", "4x8x8", "--out-channels", "4"], "--kernel"),
]


@pytest.mark.parametrize(("args", "flag"), BAD)
def test_bad_input_one_line_exit_2(args: list[str], flag: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(["conv", *args])
    except SystemExit as e:  # argparse-level errors
        code = e.code  # type: ignore[assignment]
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert flag in lines[0]
    assert "Traceback" not in err


def test_subprocess_exit_code_no_traceback_no_torch() -> None:
    bad = subprocess.run([sys.executable, "-m", "convcost", "conv", "--input", "3x2",
                          "--out-channels", "4", "--kernel", "5"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    # The single-layer path must never import torch.
    code = ("import sys, runpy; sys.argv = ['convcost', 'conv', '--input', '3x8x8', "
            "'--out-channels', '4', '--kernel', '3', '--json', '--explain', '--format', 'table'];"
            "\ntry:\n    runpy.run_module('convcost', run_name='__main__')\nexcept SystemExit: pass"
            "\nassert 'torch' not in sys.modules, 'torch was imported'")
    ok = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    code2 = ("import sys; from convcost.cli import main; main(['conv', '--input', '3x8x8', "
             "'--out-channels', '4', '--kernel', '3', '--explain']);"
             "assert 'torch' not in sys.modules, 'torch was imported'")
    ok = subprocess.run([sys.executable, "-c", code2], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
