"""Fuzzing the command line: hypothesis-generated argument lists for ``convcost conv`` and
``convcost model`` (on the tiny models of ``robust_models``) never end in a traceback — any
exception escaping :func:`convcost.cli.main` fails the test — and always exit 0 or 2, with a
one-line ``convcost …: error:`` message when they exit 2.

The arguments mix valid values, values just outside what is allowed, and arbitrary text
(never containing a path separator: everything runs in a temporary working directory, so
whatever ``--output``/``--plot`` write, or argparse's abbreviations of them, stays there).
The examples are derandomised so the suite is reproducible; set CONVCOST_FUZZ_EXAMPLES to
run more of them.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convcost.cli import main

T = TypeVar("T")
SCALE = int(os.environ.get("CONVCOST_FUZZ_EXAMPLES", "0") or 0)


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=SCALE or examples, deadline=None, derandomize=True,
                    database=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@contextlib.contextmanager
def inside(path: Path) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """``convcost ARGS`` in this process. Only SystemExit (argparse) is caught: any other
    exception is a traceback the user would see, and fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    return code, out.getvalue(), err.getvalue()


def check(args: list[str]) -> None:
    code, out, err = run_cli(args)
    assert code in (0, 2), (args, code, err)
    assert "Traceback" not in err, (args, err)
    if code == 2:
        assert out == "", (args, out)
        last = err.strip().split("\n")[-1] if err.strip() else ""
        assert last.startswith("convcost") and ": error: " in last, (args, err)


# ---------------------------------------------------------------------------- values

# text of any kind except path separators and NUL (argv cannot hold NUL)
junk = st.text(st.characters(blacklist_characters="/\\\x00", blacklist_categories=("Cs",)),
               max_size=12)
small = st.integers(1, 9).map(str)
numbers = st.one_of(st.integers(-3, 70).map(str), st.sampled_from(
    ["0", "00", "1_0", "٣", "+2", " 3", "3 ", "1e3", "2.0", "99999999999", "9" * 40, ""]))


def mostly(ok: st.SearchStrategy[T], bad: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """``ok`` more often than ``bad`` (four branches to one)."""
    return st.one_of(ok, ok, ok, ok, bad)


SEPARATORS = st.sampled_from(["x", "x", "×", "X"])


def dims(lo: int, hi: int, part: st.SearchStrategy[str] = small) -> st.SearchStrategy[str]:
    """``lo`` to ``hi`` dimensions joined by a separator convcost accepts."""
    return st.tuples(st.lists(part, min_size=lo, max_size=hi), SEPARATORS).map(
        lambda t: t[1].join(t[0]))


bad_dims = st.one_of(dims(0, 5, st.one_of(small, numbers)), junk)
conv_values: dict[str, st.SearchStrategy[str]] = {
    "--input": mostly(dims(2, 4), bad_dims),
    "--out-channels": mostly(small, numbers),
    "--kernel": mostly(dims(1, 1, st.integers(1, 3).map(str)), bad_dims),
    "--stride": mostly(dims(1, 2), bad_dims),
    "--padding": mostly(st.one_of(dims(1, 2, st.integers(0, 3).map(str)),
                                  st.sampled_from(["same", "valid", "1:2", "0:1x2"])),
                        st.one_of(st.sampled_from(["1:2:3", ":", "SAME", "-1"]), bad_dims)),
    "--dilation": mostly(dims(1, 2, st.integers(1, 3).map(str)), bad_dims),
    "--groups": mostly(st.sampled_from(["1", "2", "3"]), numbers),
    "--batch": mostly(small, numbers),
    "--output-padding": mostly(st.sampled_from(["0", "1", "1x0"]), bad_dims),
    "--dtype": mostly(st.sampled_from(["float32", "fp16", "bf16", "int8", "float8_e5m2",
                                       "INT8"]), st.one_of(st.just("float99"), junk)),
    "--counting": mostly(st.sampled_from(["dense", "skip-padding"]), junk),
    "--format": mostly(st.sampled_from(["table", "json", "markdown", "html"]),
                       st.one_of(st.just("csv"), junk)),
    "--output": st.sampled_from(["r.json", "r.md", "r.txt", "r.html", "r.csv", "r.xyz", "r",
                                 "", "nodir/r.json", "."]),
    "--plot": st.sampled_from(["c.svg", "c.png", "c.pdf", "", "nodir/c.svg", "."]),
    "--lang": mostly(st.sampled_from(["en", "zh"]), junk),
}
conv_switches = ["--no-bias", "--transposed", "--no-input-grad", "--json", "--explain"]


def option_lists(values: dict[str, st.SearchStrategy[str]], switches: list[str],
                 max_size: int) -> st.SearchStrategy[list[str]]:
    """Lists of ``FLAG VALUE`` pairs and switches, now and then a stray token."""
    pair = st.sampled_from(sorted(values)).flatmap(
        lambda f: values[f].map(lambda v: [f, v]))
    switch = st.sampled_from(switches).map(lambda s: [s])
    stray = st.one_of(junk, st.sampled_from(["--", "-", "-h", "--help", "--version",
                                             "--nope"])).map(lambda s: [s])
    item = st.one_of(pair, pair, pair, pair, switch, switch, stray)
    return st.lists(item, max_size=max_size).map(lambda xs: [t for x in xs for t in x])


#: mostly a complete layer (the three required options, plausible values) plus options;
#: sometimes the required options after the others
conv_args = st.tuples(
    st.tuples(conv_values["--input"], conv_values["--out-channels"],
              conv_values["--kernel"]).map(
        lambda t: ["--input", t[0], "--out-channels", t[1], "--kernel", t[2]]),
    option_lists(conv_values, conv_switches, 5),
    st.booleans(),
).map(lambda t: (t[0] + t[1]) if t[2] else (t[1] + t[0]))


@fuzz_settings(150)
@given(args=mostly(conv_args, option_lists(conv_values, conv_switches, 8)))
def test_conv_never_crashes(args: list[str], workdir: Path) -> None:
    with inside(workdir):
        check(["conv", *args])


# ---------------------------------------------------------------------------- model

model_targets = mostly(
    st.sampled_from(["robust_models:tiny", "robust_models:TINY", "robust_models:noisy"]),
    st.sampled_from(["robust_models:raises_in_forward", "robust_models:exits_in_forward",
                     "robust_models:nope", "robust_models", "torchvision:resnet",
                     "nope_mod:f", ""]))
shape_4d = st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6)).map(
    lambda t: f"{t[0]}x2x{t[1]}x{t[2]}")
model_inputs = mostly(
    st.one_of(shape_4d, shape_4d, shape_4d.map(lambda s: s + ":float16"),
              shape_4d.map(lambda s: s.replace("x", "×"))),
    st.one_of(shape_4d.map(lambda s: s + ":int64"),
              st.sampled_from(["x=1x2x4x4", "y=2x6", "1x2x4_4", "1x2x٤x4", "0x2x4x4", "1x2",
                               "=1x2", "1-x=1x2", "1x2x4x4:float99", "1x3x4x4",
                               "99999999999999999999x2x4x4", "9999999999x2x9999999999x4"]),
              bad_dims))
model_values: dict[str, st.SearchStrategy[str]] = {
    "--mode": mostly(st.sampled_from(["train", "inference"]), junk),
    "--dtype": mostly(st.sampled_from(["float32", "bfloat16", "float16", "float64"]),
                      st.one_of(st.sampled_from(["int8", "fp16"]), junk)),
    "--amp": mostly(st.sampled_from(["bf16", "fp16"]), junk),
    "--optimizer": mostly(st.sampled_from(["none", "sgd", "momentum", "adam", "adamw"]),
                          junk),
    "--freeze": mostly(st.sampled_from(["^conv", "head", ".*", "bias$"]),
                       st.one_of(st.sampled_from(["((", "nothing", ""]), junk)),
    "--counting": mostly(st.sampled_from(["dense", "skip-padding"]), st.just("sparse")),
    "--depth": mostly(st.sampled_from(["0", "1", "2", "5"]), numbers),
    "--format": mostly(st.sampled_from(["table", "json", "csv", "markdown", "html"]), junk),
    "--output": st.sampled_from(["m.json", "m.md", "m.txt", "m.html", "m.csv", "m.xyz", "",
                                 "nodir/m.json", "."]),
    "--plot": st.sampled_from(["m.svg", "m.png", "m.gif", "", "nodir/m.svg"]),
    "--device": mostly(st.sampled_from(["h100-sxm", "a100-80gb", "t4", "cpu", "H100-SXM"]),
                       st.one_of(st.just("h100sxm"), junk)),
    "--devices-file": st.sampled_from(["missing.toml", "", "."]),
    "--reserve": mostly(st.sampled_from(["1GiB", "500MiB", "0", "2GB", "79.5GiB"]),
                        st.one_of(st.sampled_from(["-1", "-1GiB", "-.5GiB", "1e3", "GiB",
                                                   "999TiB", ""]), junk)),
    "--devices": mostly(st.sampled_from(["1", "2", "8"]), numbers),
    "--strategy": mostly(st.sampled_from(["ddp", "zero1", "zero2", "zero3", "fsdp"]), junk),
    "--interconnect": mostly(st.sampled_from(["nvlink4", "pcie4", "ib-ndr"]),
                             st.one_of(st.just("nvlnk"), junk)),
    "--batch": mostly(st.sampled_from(["1,2", "2", "1, 3"]),
                      st.one_of(st.sampled_from(["0", "1,,2", "1_0", "٢", "1,2,1"]), junk)),
    "--resolution": mostly(st.sampled_from(["4", "3,5"]), st.sampled_from(["0", "x", ""])),
}
model_switches = ["--json", "--tf32", "--channels-last", "--fit", "--ops", "--timeline"]


@fuzz_settings(40)
@given(target=st.sampled_from(["robust_models:tiny", "robust_models:TINY",
                               "robust_models:noisy"]),
       shape=shape_4d, options=option_lists(model_values, model_switches, 4))
def test_model_options_never_crash(target: str, shape: str, options: list[str],
                                   workdir: Path) -> None:
    with inside(workdir):
        check(["model", target, "--input", shape, *options])


@fuzz_settings(25)
@given(target=model_targets,
       inputs=mostly(st.lists(model_inputs, min_size=1, max_size=1),
                     st.lists(model_inputs, max_size=2)),
       options=option_lists(model_values, model_switches, 2))
def test_model_targets_and_inputs_never_crash(target: str, inputs: list[str],
                                              options: list[str], workdir: Path) -> None:
    with inside(workdir):
        check(["model", target, *[t for i in inputs for t in ("--input", i)], *options])


@fuzz_settings(10)
@given(options=option_lists(model_values, model_switches, 3))
def test_compare_never_crashes(options: list[str], workdir: Path) -> None:
    with inside(workdir):
        check(["compare", "robust_models:tiny", "robust_models:TINY --amp bf16", "--input",
               "1x2x4x4", *options])


# ---------------------------------------------------------------------------- generate

GPT2_ARGS = [x for kv in ("n_layer=1", "n_embd=16", "n_head=2", "vocab_size=50",
                          "n_positions=12") for x in ("--model-arg", kv)]
lengths = mostly(st.integers(1, 14).map(str), numbers)
generate_values: dict[str, st.SearchStrategy[str]] = {
    "--reserve": model_values["--reserve"],
    "--device": model_values["--device"],
    "--amp": model_values["--amp"],
    "--dtype": model_values["--dtype"],
    "--dispatch": mostly(st.sampled_from(["cpu", "cuda"]), junk),
    "--stack": mostly(st.sampled_from(["pytorch-2.4", "pytorch-1.9"]), junk),
    "--format": mostly(st.sampled_from(["table", "json", "markdown"]), junk),
    "--batch": mostly(st.sampled_from(["1", "2"]), st.sampled_from(["0", "1,2", "x"])),
}


@fuzz_settings(10)
@given(prompt=lengths, new=lengths,
       options=option_lists(generate_values, ["--json", "--tf32"], 3))
def test_generate_never_crashes(prompt: str, new: str, options: list[str],
                                workdir: Path) -> None:
    """A tiny GPT-2 whose 12 positions the prompt and new tokens often exceed."""
    with inside(workdir):
        check(["model", "hf:GPT2LMHeadModel", *GPT2_ARGS, "--mode", "generate",
               "--prompt-len", prompt, "--new-tokens", new, *options])
