"""Memory per device and communication per step when training is spread over N devices.

Model states are split as each strategy does (Rajbhandari et al., "ZeRO: Memory
Optimizations Toward Training Trillion Parameter Models", 2020, §5 and Figure 1):

* ``ddp``  — every device holds parameters P, gradients G and optimizer state O.
* ``zero1`` — optimizer state sharded: P + G + O/N.
* ``zero2`` — gradients too: P + (G + O)/N.
* ``zero3`` / ``fsdp`` (full sharding) — everything: (P + G + O)/N.

With mixed-precision Adam, P = 2Ψ, G = 2Ψ, O = KΨ with K = 12 (fp32 master weights, momentum,
variance), giving the paper's 2Ψ + 2Ψ + KΨ/N_d and so on. Activations are per device at the
per-device batch and are not sharded by these strategies.

Communication (bytes each device sends per step, ring collectives):

* all-reduce of B bytes: 2·(N−1)/N·B; reduce-scatter or all-gather: (N−1)/N·B.
* ``ddp``: all-reduce of the gradients.
* ``zero1``/``zero2``: reduce-scatter of gradients + all-gather of updated parameters
  (the same volume as DDP, as the paper notes).
* ``zero3``/``fsdp``: all-gather of parameters in forward and again in backward, plus
  reduce-scatter of gradients: 1.5× DDP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import SpecError
from ..memory.timeline import CATEGORIES, Timeline
from ..vocab import STRATEGIES, did_you_mean
from .device_spec import DeviceSpec


@dataclass(frozen=True)
class Interconnect:
    """A link between devices: bandwidth per direction per device (B/s), latency (s)."""

    name: str
    description: str
    bandwidth: float
    latency: float
    source: str


INTERCONNECTS: dict[str, Interconnect] = {
    i.name: i
    for i in [
        Interconnect(
            "nvlink4",
            "NVLink 4 (H100/H200 SXM): 900 GB/s total, 450 GB/s per direction",
            450e9,
            3e-6,
            "NVIDIA H100 datasheet (NVLink 900 GB/s bidirectional)",
        ),
        Interconnect(
            "nvlink3",
            "NVLink 3 (A100 SXM): 600 GB/s total, 300 GB/s per direction",
            300e9,
            3e-6,
            "NVIDIA A100 datasheet (NVLink 600 GB/s bidirectional)",
        ),
        Interconnect(
            "ib-ndr",
            "InfiniBand NDR 400 Gb/s per device",
            50e9,
            5e-6,
            "NVIDIA Quantum-2 InfiniBand NDR (400 Gb/s per port)",
        ),
        Interconnect(
            "ib-hdr",
            "InfiniBand HDR 200 Gb/s per device",
            25e9,
            5e-6,
            "NVIDIA Quantum InfiniBand HDR (200 Gb/s per port)",
        ),
        Interconnect(
            "pcie3",
            "PCIe 3.0 x16: about 16 GB/s per direction",
            15.75e9,
            10e-6,
            "PCI-SIG PCIe 3.0 (8 GT/s × 16 lanes, 128b/130b); NVIDIA T4 datasheet (PCIe Gen3 x16)",
        ),
        Interconnect(
            "pcie4",
            "PCIe 4.0 x16: about 32 GB/s per direction",
            32e9,
            10e-6,
            "PCI-SIG PCIe 4.0 (16 GT/s × 16 lanes, 128b/130b)",
        ),
        Interconnect(
            "pcie5",
            "PCIe 5.0 x16: about 64 GB/s per direction",
            64e9,
            10e-6,
            "PCI-SIG PCIe 5.0 (32 GT/s × 16 lanes, 128b/130b)",
        ),
    ]
}


@dataclass(frozen=True)
class ShardedStep:
    """What one device holds and sends for one training step (bytes, seconds)."""

    strategy: str
    devices: int
    params: float
    grads: float
    optimizer: float
    activations: float
    comm_bytes: float

    @property
    def model_states(self) -> float:
        """Parameters + gradients + optimizer state on one device."""
        return self.params + self.grads + self.optimizer

    @property
    def total(self) -> float:
        """Model states + activations on one device."""
        return self.model_states + self.activations

    def comm_time(self, link: Interconnect) -> float:
        """Predicted communication time per step over ``link`` (no overlap with compute)."""
        n = self.devices
        if n == 1:
            return 0.0
        # each collective step pays one latency; ring collectives have N−1 steps per phase
        phases = {"ddp": 2, "zero1": 2, "zero2": 2, "zero3": 3, "fsdp": 3}[self.strategy]
        return self.comm_bytes / link.bandwidth + phases * (n - 1) * link.latency


def shard(
    strategy: str,
    devices: int,
    params: float,
    grads: float,
    optimizer: float,
    activations: float = 0.0,
) -> ShardedStep:
    """Per-device memory and bytes sent per step for ``strategy`` over ``devices``.

    ``params``, ``grads`` and ``optimizer`` are the whole model's bytes (unsharded);
    ``activations`` is one device's activation memory at its per-device batch.
    """
    if strategy not in STRATEGIES:
        raise SpecError("strategy", strategy, f"allowed: {', '.join(STRATEGIES)}")
    if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
        raise SpecError("devices", devices, "must be a whole number ≥ 1")
    n = devices
    p, g, o = float(params), float(grads), float(optimizer)
    if strategy == "zero1":
        o /= n
    elif strategy == "zero2":
        g, o = g / n, o / n
    elif strategy in ("zero3", "fsdp"):
        p, g, o = p / n, g / n, o / n
    frac = (n - 1) / n
    if strategy in ("ddp", "zero1", "zero2"):
        comm = 2 * frac * float(grads) if strategy == "ddp" else frac * (grads + params)
    else:
        comm = frac * (2 * float(params) + float(grads))
    return ShardedStep(strategy, n, p, g, o, float(activations), comm)


#: Which memory categories each strategy divides by the number of devices.
SHARDED: dict[str, frozenset[str]] = {
    "ddp": frozenset(),
    "zero1": frozenset({"optimizer_state"}),
    "zero2": frozenset({"optimizer_state", "gradients"}),
    "zero3": frozenset({"optimizer_state", "gradients", "parameters"}),
    "fsdp": frozenset({"optimizer_state", "gradients", "parameters"}),
}


def sharded_peak(timeline: Timeline, strategy: str, devices: int) -> tuple[float, dict[str, float]]:
    """Peak bytes one device holds during the step, and its categories at that peak.

    Every sample of the single-device timeline is re-weighted: the categories the strategy
    shards count ``1/devices``. Activations and temporaries are per device at the
    per-device batch (the timeline's batch). Not modelled: ZeRO-3/FSDP's transient
    all-gathered parameters of the layer being computed, and communication buffers.
    """
    if strategy not in STRATEGIES:
        raise SpecError("strategy", strategy, f"allowed: {', '.join(STRATEGIES)}")
    if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
        raise SpecError("devices", devices, "must be a whole number ≥ 1")
    shard_set = SHARDED[strategy]
    weights = [1 / devices if c in shard_set else 1.0 for c in CATEGORIES]
    best, best_row = 0.0, None
    for row in timeline.rows:
        total = sum(w * b for w, b in zip(weights, row))
        if best_row is None or total > best:
            best, best_row = total, row
    at = {c: w * b for c, w, b in zip(CATEGORIES, weights, best_row or (0,) * len(CATEGORIES))}
    return best, at


def load_interconnects(data: dict[str, object], where: str) -> dict[str, Interconnect]:
    """``[interconnect.NAME]`` tables (``bandwidth_gbps`` per direction, ``latency_us``)."""
    out: dict[str, Interconnect] = {}
    tables = data.get("interconnect", {})
    if not isinstance(tables, dict):
        raise SpecError(f"{where}: interconnect", tables, "must be a table of tables")
    for name, t in tables.items():
        if not isinstance(t, dict):
            raise SpecError(f"{where}: interconnect.{name}", t, "must be a table")
        values: dict[str, float] = {}
        for key, v in (("bandwidth_gbps", t.get("bandwidth_gbps")),
                       ("latency_us", t.get("latency_us", 5))):
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float))
                or not math.isfinite(v)
                or v < 0
                or (key == "bandwidth_gbps" and v == 0)
            ):
                raise SpecError(
                    f"{where}: interconnect.{name}.{key}", v, "must be a positive number"
                )
            values[key] = float(v)
        out[name] = Interconnect(
            name,
            str(t.get("description", name)),
            values["bandwidth_gbps"] * 1e9,
            values["latency_us"] * 1e-6,
            str(t.get("source", where)),
        )
    return out


def get_interconnect(name: str, extra: dict[str, Interconnect] | None = None) -> Interconnect:
    """A preset or user interconnect by name."""
    pool = {**INTERCONNECTS, **(extra or {})}
    if name in pool:
        return pool[name]
    raise SpecError("interconnect", name,
                    f"unknown interconnect{did_you_mean(name, pool)}; known: {', '.join(pool)}")


@dataclass(frozen=True)
class DistributedStep:
    """One device's view of a sharded training step.

    ``peak_bytes`` — the per-device peak over the first step and later steps (optimizer
    state present from the start); ``at_peak`` its categories; ``states`` the model-state
    split and bytes sent per step (:func:`shard`); ``link`` the interconnect.
    """

    peak_bytes: float
    at_peak: dict[str, float]
    states: ShardedStep
    link: Interconnect

    @property
    def comm_time(self) -> float:
        """Predicted seconds of communication per step (not overlapped)."""
        return self.states.comm_time(self.link)

    def to_dict(self) -> dict[str, object]:
        """JSON form."""
        s = self.states
        return {
            "strategy": s.strategy,
            "devices": s.devices,
            "interconnect": self.link.name,
            "peak_bytes_per_device": self.peak_bytes,
            "at_peak": dict(self.at_peak),
            "params_bytes_per_device": s.params,
            "grads_bytes_per_device": s.grads,
            "optimizer_bytes_per_device": s.optimizer,
            "model_states_bytes_per_device": s.model_states,
            "comm_bytes_per_step": s.comm_bytes,
            "comm_time_s": self.comm_time,
        }


def distributed_step(timelines: list[Timeline], strategy: str, devices: int,
                     params: float, grads: float, optimizer: float,
                     link: Interconnect) -> DistributedStep:
    """Per-device peak (over ``timelines``: first and later steps) and model states."""
    best: tuple[float, dict[str, float]] = (0.0, {})
    for t in timelines:
        p = sharded_peak(t, strategy, devices)
        if p[0] >= best[0]:
            best = p
    states = shard(strategy, devices, params, grads, optimizer)
    return DistributedStep(best[0], best[1], states, link)


#: ``(arch, NVLink-class board)`` -> the interconnect assumed when ``--interconnect`` is not
#: given: NVLink only on SXM/HGX boards (H100/H200/B200 SXM: NVLink 4 or faster, A100 SXM:
#: NVLink 3), PCIe of the card's generation otherwise (T4, V100 PCIe and Turing cards: Gen3;
#: Hopper/Blackwell PCIe cards: Gen5; the rest Gen4); no ``--device``: NVLink 4, the
#: library's default.
PCIE_GEN = {"turing": "pcie3", "volta": "pcie3", "hopper": "pcie5", "blackwell": "pcie5"}


def assumed_interconnect(device: DeviceSpec | None, flag: str = "--interconnect"
                         ) -> Interconnect:
    """The interconnect of several devices when none is given, from the device preset (see
    :data:`PCIE_GEN`), its description saying it is assumed and naming ``flag`` (the report
    shows it): a T4 has no NVLink."""
    from dataclasses import replace

    arch = "" if device is None else device.arch
    board = "" if device is None else device.description.upper()
    nvlink = any(w in board for w in ("SXM", "HGX"))
    if device is None:  # no device: the library's default (convcost.hardware.answer)
        name, why = "nvlink4", "no device given"
    elif nvlink and arch in ("hopper", "blackwell"):
        name, why = "nvlink4", "an SXM board"
    elif nvlink and arch in ("ampere", "volta"):
        name, why = "nvlink3", "an SXM board" + ("; V100's NVLink 2 is half as fast"
                                                 if arch == "volta" else "")
    else:
        name = PCIE_GEN.get(arch, "pcie4")
        why = ("Infinity Fabric is not modelled" if arch.startswith("cdna") else
               "a PCIe card, no NVLink")
    link = INTERCONNECTS[name]
    what = device.name if device is not None else "the devices"
    return replace(link, description=f"{link.description}; assumed for {what} ({why}): "
                   f"give {flag} to choose")
