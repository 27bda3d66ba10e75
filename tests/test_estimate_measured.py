"""Device constants measured on a device (session 8 of the NeuSight comparison), each
checked against a hand derivation."""

from __future__ import annotations

import pytest

from convcost.hardware.devices import PRESETS
from convcost.hardware.estimate import BANDWIDTH_EFFICIENCY, constants


@pytest.mark.parametrize(("name", "eff"), [("v100-pcie", 0.91), ("t4", 0.75), ("l4", 0.78)])
def test_measured_bandwidth_efficiency(name: str, eff: float) -> None:
    """The measured presets take their own figure, with a source; the rest of their arch
    keeps the default (the L4 does not take the RTX 4090's 921/1008)."""
    d = PRESETS[name]
    c = constants(d)
    assert c.bandwidth_efficiency == eff
    assert c.origin["bandwidth_efficiency"] == "device"
    assert "NeuSight" in d.sources["timing.bandwidth_efficiency"]


def test_unmeasured_presets_keep_the_arch_default() -> None:
    assert constants(PRESETS["v100"]).bandwidth_efficiency == 750 / 900
    assert constants(PRESETS["rtx4090"]).bandwidth_efficiency == 921 / 1008
    assert constants(PRESETS["rtx2080ti"]).bandwidth_efficiency == BANDWIDTH_EFFICIENCY["turing"]
