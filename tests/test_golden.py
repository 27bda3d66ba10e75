"""Golden files for the text, Markdown and CSV outputs.

Regenerate after an intended change with ``pytest tests/test_golden.py --update-golden`` and
review the diff. Outputs are produced exactly as the CLI prints them to a file or pipe (plain
text: no colour codes), so these files are what a user gets.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from shared import R18, CliRun

GOLDEN = Path(__file__).parent / "golden"
LAYER = ["conv", "--input", "3x224x224", "--out-channels", "64", "--kernel", "7", "--stride",
         "2", "--padding", "3", "--no-bias"]

CASES = {
    "conv_table.txt": LAYER,
    "conv_markdown.md": [*LAYER, "--format", "markdown"],
    "conv_explain_en.txt": [*LAYER, "--explain"],
    "conv_explain_zh.md": [*LAYER, "--explain", "--lang", "zh", "--format", "markdown"],
    "conv_transposed_skip_explain.txt": ["conv", "--input", "16x9x9", "--out-channels", "8",
                                         "--kernel", "3", "--stride", "2", "--padding", "1:2x1",
                                         "--transposed", "--groups", "2",
                                         "--output-padding", "1",
                                         "--counting", "skip-padding", "--explain"],
    "resnet18_table.txt": [*R18, "--depth", "2"],
    "resnet18_markdown.md": [*R18, "--depth", "1", "--optimizer", "adam"],
    "resnet18_device_table.txt": [*R18, "--depth", "1", "--device", "a100-80gb"],
    "resnet18_layers.csv": [*R18, "--format", "csv"],
    "resnet18_sweep.csv": [*R18, "--batch", "2,4", "--resolution", "64,96", "--format", "csv"],
    "compare.csv": ["compare", "torchvision:resnet18", "torchvision:resnet18 --amp bf16",
                    "--input", "2x3x64x64", "--format", "csv"],
}


def _output(args: list[str], cli_once: CliRun) -> str:
    code, out, err = cli_once(args)
    assert code == 0, err
    return out


SLOW = {"resnet18_sweep.csv"}  # four analyses


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in sorted(CASES)])
def test_golden(name: str, cli_once: CliRun, update_golden: bool) -> None:
    out = _output(CASES[name], cli_once)
    path = GOLDEN / name
    if update_golden:
        path.write_text(out)
        return
    assert path.exists(), f"missing {path}: run pytest --update-golden"
    assert out == path.read_text(), f"{name} differs from its golden file"


def test_csv_leaf_rows_sum_to_json_totals(cli_once: CliRun) -> None:
    out = _output([*R18, "--format", "csv", "--depth", "9"], cli_once)
    rows = list(csv.DictReader(io.StringIO(out)))
    totals = json.loads(_output([*R18, "--json"], cli_once))["totals"]
    leaves = [r for r in rows if r["leaf"] == "1"]
    assert sum(int(r["forward_flops"]) for r in leaves) == totals["forward"]["flops"]
    assert sum(int(r["forward_macs"]) for r in leaves) == totals["forward"]["macs"]
    assert sum(int(r["backward_flops"]) for r in leaves) == totals["backward"]["flops"]
    assert sum(int(r["params"]) for r in leaves) == totals["params"]
    # the root row is the total
    root = rows[0]
    assert int(root["forward_flops"]) == totals["forward"]["flops"]
    assert int(root["backward_flops"]) == totals["backward"]["flops"]


def test_printed_table_totals_match_rows(cli_once: CliRun) -> None:
    # the "(model)" row of the text table carries the same humanised totals as the summary
    out = _output([*R18, "--depth", "1"], cli_once)
    model_row = next(line for line in out.splitlines() if line.startswith("(model)"))
    forward_line = next(line for line in out.splitlines() if line.startswith("forward"))
    fwd = forward_line.split("FLOPs")[1].split("(")[0].strip()
    assert fwd in model_row
