"""User devices files: ``[device.NAME]`` (and ``[interconnect.NAME]``) tables in TOML.

Every key is checked: an unknown one (``reserve_mb``, ``clock_mhzz``, a misspelt table) is a
SpecError naming it and the allowed keys, not silently ignored; a ``reserve_mib`` of at least
the device's memory is an error naming that field when the file is read (never clamped).

:func:`parse_device` is the one reader of a device table: the presets' data file
(:mod:`convcost.hardware.device_presets`) goes through it too, so both are checked by the
same rules. Everything public here is re-exported by :mod:`convcost.hardware.devices`.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from ..errors import SpecError
from .device_spec import ARCHS, GB, GIB, MIB, PEAK_KEYS, TIMING_KEYS, DeviceSpec, T

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

#: The keys :func:`parse_device` reads in a ``[device.NAME]`` table (any other key is refused,
#: in a user file as in the presets' data file).
DEVICE_KEYS: tuple[str, ...] = (
    "description", "peak_tflops", "bandwidth_gbps", "memory_gb", "memory_gib", "sms",
    "clock_mhz", "l2_mib", "arch", "reserve_mib", "cudnn_workspace_mib", "timing", "sources",
    "stack",
)
#: The top-level tables of a user devices file.
FILE_KEYS: tuple[str, ...] = ("device", "interconnect")
#: The keys of an ``[interconnect.NAME]`` table.
INTERCONNECT_KEYS: tuple[str, ...] = ("description", "bandwidth_gbps", "latency_us", "source")


def _read_toml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        data: dict[str, Any] = tomllib.loads(p.read_text())
        return data
    except (FileNotFoundError, IsADirectoryError):
        raise SpecError("devices_file", str(p), "no such file") from None
    except OSError as e:
        raise SpecError("devices_file", str(p), f"cannot be read ({e.strerror or e})") from e
    except tomllib.TOMLDecodeError as e:
        raise SpecError("devices_file", str(p), f"is not valid TOML ({e})") from None
    except UnicodeDecodeError:
        raise SpecError("devices_file", str(p), "is not a text file") from None


def load_devices(path: str | Path) -> dict[str, DeviceSpec]:
    """Read user devices from a TOML file.

    Format: one table per device, ``[device.NAME]`` with ``description``, ``bandwidth_gbps``,
    ``memory_gb`` (decimal GB) or ``memory_gib`` (GiB), a ``[device.NAME.peak_tflops]``
    table (keys among fp64, fp32, tf32, fp16,
    bf16, fp8, int8; fp32 required) and optionally ``sms``, ``clock_mhz``, ``l2_mib``,
    ``arch`` (one of :data:`ARCHS`), ``reserve_mib`` (memory PyTorch cannot use; default:
    :func:`default_reserve`), ``cudnn_workspace_mib`` (per convolution; default
    0), ``[device.NAME.timing]`` (keys of :data:`TIMING_KEYS`,
    e.g. ``bandwidth_efficiency = 0.85`` or ``"gemm_efficiency.fp16" = 0.8``) and
    ``[device.NAME.sources]``. The same file may define interconnects
    (:func:`load_hardware`).
    """
    return load_hardware(path)[0]


def load_hardware(path: str | Path) -> tuple[dict[str, DeviceSpec], dict[str, Any]]:
    """Devices (``[device.NAME]``) and interconnects (``[interconnect.NAME]`` with
    ``bandwidth_gbps`` per direction and ``latency_us``) of a TOML file."""
    from .distributed import load_interconnects

    data = _read_toml(path)
    where = str(path)
    _known(data, FILE_KEYS, where, "")
    tables = data.get("device", {})
    if not isinstance(tables, dict) or not (tables or data.get("interconnect")):
        raise SpecError("devices_file", str(path),
                        "needs at least one [device.NAME] or [interconnect.NAME] table")
    for name, t in tables.items():
        if isinstance(t, dict):
            _known(t, DEVICE_KEYS, where, f"device.{name}.")
    links = data.get("interconnect", {})
    for name, t in (links.items() if isinstance(links, dict) else ()):
        if isinstance(t, dict):
            _known(t, INTERCONNECT_KEYS, where, f"interconnect.{name}.")
    devices = {name: parse_device(name, t, where) for name, t in tables.items()}
    return devices, load_interconnects(data, where)


def _known(table: dict[str, Any], keys: tuple[str, ...], where: str, at: str) -> None:
    """Every key of ``table`` is one of ``keys``: an unknown one (``reserve_mb``,
    ``clock_mhzz``) would be silently ignored, so it is a SpecError naming it."""
    from ..vocab import did_you_mean

    for k in table:
        if k not in keys:
            raise SpecError(f"{where}: {at}{k}", k, f"unknown key{did_you_mean(k, keys)}; "
                            f"allowed keys: {', '.join(keys)}")


def parse_device(name: str, t: Any, where: str) -> DeviceSpec:
    """The device ``name`` of a ``[device.NAME]`` table ``t`` (the format of
    :func:`load_devices`), read from ``where`` (a file, named in errors).

    Raises :class:`~convcost.errors.SpecError` naming ``where``, the device and the field for
    a missing or invalid field. ``clock_mhz`` is kept as written (an integer stays one).
    """

    def num(key: str, value: Any) -> float:
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or value <= 0):
            raise SpecError(f"{where}: device.{name}.{key}", value, "must be a positive number")
        return float(value)

    def nonneg(key: str, value: Any) -> float:
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or value < 0):
            raise SpecError(f"{where}: device.{name}.{key}", value,
                            "must be a non-negative number")
        return float(value)

    if not isinstance(t, dict):
        raise SpecError(f"{where}: device.{name}", t, "must be a table")
    peaks = t.get("peak_tflops")
    if not isinstance(peaks, dict) or "fp32" not in peaks:
        raise SpecError(
            f"{where}: device.{name}.peak_tflops", peaks, "must be a table with at least fp32"
        )
    for k in peaks:
        if k not in PEAK_KEYS:
            raise SpecError(
                f"{where}: device.{name}.peak_tflops.{k}",
                k,
                f"allowed keys: {', '.join(PEAK_KEYS)}",
            )
    if "bandwidth_gbps" not in t:
        raise SpecError(f"{where}: device.{name}.bandwidth_gbps", None, "is required")
    mem_keys = [k for k in ("memory_gb", "memory_gib") if k in t]
    if len(mem_keys) != 1:
        raise SpecError(f"{where}: device.{name}.memory_gb", None if not mem_keys else mem_keys,
                        "is required: exactly one of memory_gb (decimal, 1e9 bytes) and "
                        "memory_gib (binary, 2**30 bytes)")
    mem_key = mem_keys[0]
    sources = t.get("sources", {})
    arch = t.get("arch", "")
    if arch not in ("", *ARCHS):
        raise SpecError(f"{where}: device.{name}.arch", arch, f"allowed: {', '.join(ARCHS)}")
    timing = t.get("timing", {})
    if not isinstance(timing, dict):
        raise SpecError(f"{where}: device.{name}.timing", timing, "must be a table")
    flat: dict[str, float] = {}
    for k, v in timing.items():
        for sub, val in (v.items() if isinstance(v, dict) else [(None, v)]):
            key = f"{k}.{sub}" if sub is not None else k
            if key not in TIMING_KEYS:
                raise SpecError(f"{where}: device.{name}.timing.{key}", key,
                                f"allowed keys: {', '.join(TIMING_KEYS)}")
            # a host time may be 0 (the pytorch-1.9 stack charges no module call)
            flat[key] = (nonneg(f"timing.{key}", val) if key.startswith("host_us.")
                         else num(f"timing.{key}", val))
            if "efficiency" in key and flat[key] > 1:
                raise SpecError(f"{where}: device.{name}.timing.{key}", val,
                                "must be a fraction in (0, 1]")
    stack = t.get("stack", "")
    if stack:
        from .stacks import get_stack

        get_stack(stack, f"{where}: device.{name}.stack")
    memory = round(num(mem_key, t[mem_key]) * (GB if mem_key == "memory_gb" else GIB))
    reserve = (round(nonneg("reserve_mib", t["reserve_mib"]) * MIB)
               if "reserve_mib" in t else -1)
    if reserve >= memory:  # never clamped: the device would have no usable memory
        raise SpecError(f"{where}: device.{name}.reserve_mib", t["reserve_mib"],
                        f"must be less than the device's memory ({memory / MIB:g} MiB, "
                        f"from {mem_key} = {t[mem_key]!r})")
    clock_mhz: float = 0.0
    if "clock_mhz" in t:
        num("clock_mhz", t["clock_mhz"])
        clock_mhz = t["clock_mhz"]  # as written: 1980 stays an int, as in the presets
    return DeviceSpec(
        name=name,
        description=str(t.get("description", name)),
        peak={k: num(f"peak_tflops.{k}", v) * T for k, v in peaks.items()},
        bandwidth=num("bandwidth_gbps", t["bandwidth_gbps"]) * GB,
        memory=memory,
        sources={str(k): str(v) for k, v in sources.items()} if isinstance(sources, dict) else {},
        sms=int(num("sms", t["sms"])) if "sms" in t else 0,
        clock_mhz=clock_mhz,
        l2_bytes=int(num("l2_mib", t["l2_mib"]) * MIB) if "l2_mib" in t else 0,
        arch=str(arch),
        timing=flat,
        reserve=reserve,
        cudnn_workspace=(round(nonneg("cudnn_workspace_mib", t["cudnn_workspace_mib"])
                                   * MIB) if "cudnn_workspace_mib" in t else 0),
        stack=str(stack),
    )


def _q(text: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML)."""
    return json.dumps(text)


def device_to_toml(d: DeviceSpec) -> str:
    """One ``[device.NAME]`` table in the format :func:`load_devices` reads (the name and all
    strings quoted, so any name or description round-trips)."""
    key = f"device.{_q(d.name)}"
    lines = [
        f"[{key}]",
        f"description = {_q(d.description)}",
        f"bandwidth_gbps = {d.bandwidth / GB!r}",
        f"memory_gib = {d.memory / GIB!r}",
    ]
    if d.reserve >= 0:
        lines.append(f"reserve_mib = {d.reserve / MIB!r}")
    if d.cudnn_workspace:
        lines.append(f"cudnn_workspace_mib = {d.cudnn_workspace / MIB!r}")
    if d.sms:
        lines.append(f"sms = {d.sms}")
    if d.clock_mhz:
        lines.append(f"clock_mhz = {d.clock_mhz!r}")
    if d.l2_bytes:
        lines.append(f"l2_mib = {d.l2_bytes / MIB!r}")
    if d.arch:
        lines.append(f"arch = {_q(d.arch)}")
    if d.stack:
        lines.append(f"stack = {_q(d.stack)}")
    lines += ["", f"[{key}.peak_tflops]"]
    lines += [f"{k} = {v / T!r}" for k, v in d.peak.items()]
    if d.timing:
        lines += ["", f"[{key}.timing]"]
        lines += [f"{_q(k)} = {v!r}" for k, v in d.timing.items()]
    if d.sources:
        lines += ["", f"[{key}.sources]"]
        lines += [f"{_q(k)} = {_q(v)}" for k, v in d.sources.items()]
    return "\n".join(lines) + "\n"


