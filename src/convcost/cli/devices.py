"""``convcost devices``: the accelerator presets (and the devices of a TOML file) as a table
or JSON."""

from __future__ import annotations

import argparse

NAME = "devices"
HELP = "list the accelerator presets (and devices from a TOML file)"
DESCRIPTION = ("Accelerator presets: dense peak FLOP/s per dtype (an FMA counts as 2 "
               "FLOPs), memory bandwidth and capacity, with the source of each number.")
EPILOG: str | None = None


def add_arguments(d: argparse.ArgumentParser) -> None:
    """The options of ``convcost devices``."""
    d.add_argument(
        "--devices-file",
        default=None,
        metavar="TOML",
        help="also list the devices of this TOML file",
    )
    d.add_argument("--json", action="store_true", help="print JSON")


def run(a: argparse.Namespace) -> str:
    """The catalogue as JSON, or as a table with a note on the peaks."""
    from ..hardware.devices import catalog
    from ..renderers import render

    devs = catalog(a.devices_file)
    if a.json:
        return render(devs, "json")
    return render(devs, "table") + "\nDense peaks (vendor sparse figures halved); sources: --json\n"
