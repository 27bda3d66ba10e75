"""The accelerator presets, read from the data file ``device_presets.json`` beside this module.

The file holds every figure of every preset with its source; this module reads it once, at
import, checks it, and builds :data:`PRESETS`. A preset is a ``[device.NAME]`` table of a user
devices file (:func:`~convcost.hardware.device_files.load_devices`) written in JSON and read by
the same :func:`~convcost.hardware.device_files.parse_device`, with these differences:

* ``description``, ``arch``, ``peak_tflops``, ``bandwidth_gbps``, ``memory_gib`` and
  ``source`` are required; ``memory_gb`` and ``reserve_mib`` are refused (a vendor's "GB" of
  device memory is read as GiB, :data:`MEMORY_IS_BINARY`; the reserve is derived, below); a key
  the parser does not know is refused, and each value must have its JSON type (``sms`` an
  integer, ``hbm`` a boolean, the rest strings, numbers and objects as in the TOML format).
* ``source`` cites every peak, the bandwidth and the memory; ``sources`` cites one field on its
  own (keys as :attr:`DeviceSpec.sources`: ``peak.fp16``, ``sms``, ``clock_mhz``, ``l2``…), and
  each ``sms``, ``clock_mhz`` and ``l2_mib`` given needs one, as does each ``timing`` value
  (key ``timing.<key>``, e.g. ``timing.bandwidth_efficiency``: a constant of the
  execution-time estimate measured on this device). In any source, ``{NAME}`` stands
  for the file's ``references.NAME`` (a document several presets cite).
* ``hbm`` (ECC costs no capacity, :data:`HBM_PRESETS`) and ``reported_total`` (the total CUDA
  or nvidia-smi/rocm-smi reports, :data:`REPORTED_TOTAL`: ``by`` ``"cuda"`` or ``"smi"``, the
  amount in exactly one of ``gib``, ``mib``, ``bytes``, and its ``source``) give the reserve:
  ``memory - total (+ SMI_GAP for an smi total) + CONTEXT_RESERVE``, or without a total
  :func:`~convcost.hardware.device_spec.default_reserve` (no ECC share when ``hbm``).

A problem with the file raises :class:`~convcost.errors.SpecError` whose one-line message
names the file, the preset and the field (``…/device_presets.json: device.h200.sms: got
'132'; must be an integer``). Everything public here is re-exported by
:mod:`convcost.hardware.devices`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib.resources import files
from pathlib import Path
from typing import Any

from ..errors import SpecError
from .device_files import DEVICE_KEYS, parse_device
from .device_spec import CONTEXT_RESERVE, GIB, MIB, SMI_GAP, DeviceSpec, default_reserve

#: The data file's name, in the package ``convcost.hardware``.
PRESET_FILE_NAME = "device_presets.json"

_TOP_KEYS = ("about", "references", "device")
_PRESET_ONLY = ("source", "hbm", "reported_total")
_REFUSED = ("memory_gb", "reserve_mib")
_ALLOWED = (*(k for k in DEVICE_KEYS if k not in _REFUSED), *_PRESET_ONLY)
_REQUIRED = ("description", "arch", "peak_tflops", "bandwidth_gbps", "memory_gib", "source")
_STRINGS = ("description", "arch", "source")
_OBJECTS = ("peak_tflops", "timing", "sources", "reported_total")
_NUMBERS = ("bandwidth_gbps", "memory_gib", "clock_mhz", "l2_mib", "cudnn_workspace_mib")
#: A field of the device -> its key in ``sources``.
_OWN_SOURCE = {"sms": "sms", "clock_mhz": "clock_mhz", "l2_mib": "l2"}
_TOTAL_UNITS = {"gib": GIB, "mib": MIB, "bytes": 1}
_REF = re.compile(r"\{([^{}]*)\}")
_REF_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


@dataclass(frozen=True)
class PresetData:
    """What the presets' data file holds: the devices (in file order) and what their reserves
    are derived from (see the module's documentation)."""

    devices: dict[str, DeviceSpec]
    reported_total: dict[str, tuple[int, str, str]]
    hbm: frozenset[str]
    memory_is_binary: str


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _no_duplicates(where: str) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """A ``json`` object hook that refuses a key given twice (``json`` keeps the last)."""

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise SpecError(where, k, "a key appears twice in one object")
            out[k] = v
        return out

    return hook


def load_preset_file(path: str | Path | None = None) -> PresetData:
    """Read and check a presets data file (default: the packaged ``device_presets.json``).

    Raises :class:`~convcost.errors.SpecError` naming the file, the preset and the field.
    """
    if path is None:
        res = files(__package__ or "convcost.hardware").joinpath(PRESET_FILE_NAME)
        where, text = str(res), res.read_text(encoding="utf-8")
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise SpecError("presets_file", where, f"cannot be read ({e.strerror or e})") from e
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates(where))
    except json.JSONDecodeError as e:
        raise SpecError("presets_file", where, f"is not valid JSON ({e})") from None
    return _presets(data, where)


def _presets(data: Any, where: str) -> PresetData:
    if not isinstance(data, dict):
        raise SpecError(where, type(data).__name__, "must be a JSON object")
    for k in data:
        if k not in _TOP_KEYS:
            raise SpecError(f"{where}: {k}", k, f"unknown key; allowed: {', '.join(_TOP_KEYS)}")
    about = data.get("about", [])
    if not isinstance(about, list) or not all(isinstance(s, str) for s in about):
        raise SpecError(f"{where}: about", about, "must be a list of strings")
    refs = _references(data.get("references", {}), where)
    tables = data.get("device")
    if not isinstance(tables, dict) or not tables:
        raise SpecError(f"{where}: device", tables, "must be an object with at least one preset")
    devices: dict[str, DeviceSpec] = {}
    reported: dict[str, tuple[int, str, str]] = {}
    hbm: set[str] = set()
    for name, t in tables.items():
        d, total, is_hbm = _preset(name, t, refs, where)
        if total is not None:
            reported[name] = total
        if is_hbm:
            hbm.add(name)
        devices[name] = _with_reserve(d, total, is_hbm)
    return PresetData(devices, reported, frozenset(hbm), refs["MEMORY_IS_BINARY"])


def _references(refs: Any, where: str) -> dict[str, str]:
    if not isinstance(refs, dict):
        raise SpecError(f"{where}: references", refs, "must be an object of strings")
    for k, v in refs.items():
        if not _REF_NAME.fullmatch(k):
            raise SpecError(f"{where}: references.{k}", k,
                            "a reference name is a letter, then letters, digits or _")
        if not isinstance(v, str):
            raise SpecError(f"{where}: references.{k}", v, "must be a string")
    if "MEMORY_IS_BINARY" not in refs:
        raise SpecError(f"{where}: references.MEMORY_IS_BINARY", None,
                        "is required (cited by every preset's memory)")
    return dict(refs)


def _expand(text: str, refs: dict[str, str], field: str) -> str:
    """``text`` with each ``{NAME}`` replaced by ``refs[NAME]``."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in refs:
            raise SpecError(field, m.group(0),
                            f"unknown reference; references: {', '.join(refs)}")
        return refs[m.group(1)]

    rest = _REF.sub("", text)
    if "{" in rest or "}" in rest:
        raise SpecError(field, text, "has a brace that is not part of a {NAME} reference")
    return _REF.sub(sub, text)


def _check_types(name: str, t: dict[str, Any], where: str) -> None:
    at = f"{where}: device.{name}"
    for k in t:
        if k not in _ALLOWED:
            raise SpecError(f"{at}.{k}", k, f"unknown key; allowed keys: {', '.join(_ALLOWED)}")
    for k in _REQUIRED:
        if k not in t:
            raise SpecError(f"{at}.{k}", None, "is required")
    for k, v in t.items():
        if k in _STRINGS and not isinstance(v, str):
            raise SpecError(f"{at}.{k}", v, "must be a string")
        if k in _OBJECTS and not isinstance(v, dict):
            raise SpecError(f"{at}.{k}", v, "must be an object")
        if k in _NUMBERS and not _is_number(v):
            raise SpecError(f"{at}.{k}", v, "must be a number")
    if "sms" in t and (isinstance(t["sms"], bool) or not isinstance(t["sms"], int)):
        raise SpecError(f"{at}.sms", t["sms"], "must be an integer")
    if not isinstance(t.get("hbm", False), bool):
        raise SpecError(f"{at}.hbm", t["hbm"], "must be true or false")


def _sources(name: str, t: dict[str, Any], refs: dict[str, str], where: str) -> dict[str, str]:
    """Every field's source: ``source`` for the peaks, bandwidth and memory, then ``sources``."""
    at = f"{where}: device.{name}"
    source = _expand(t["source"], refs, f"{at}.source")
    peaks = t["peak_tflops"]
    own = {_OWN_SOURCE[k] for k in _OWN_SOURCE if k in t}
    own |= {f"timing.{k}" for k in t.get("timing", {})}
    allowed = [*(f"peak.{k}" for k in peaks), "bandwidth", "memory", *sorted(own)]
    given: dict[str, str] = {}
    for k, v in t.get("sources", {}).items():
        if k not in allowed:
            raise SpecError(f"{at}.sources.{k}", k,
                            f"not a field of this preset; allowed: {', '.join(allowed)}")
        if not isinstance(v, str):
            raise SpecError(f"{at}.sources.{k}", v, "must be a string")
        given[k] = _expand(v, refs, f"{at}.sources.{k}")
    missing = sorted(own - set(given))
    if missing:
        raise SpecError(f"{at}.sources.{missing[0]}", None,
                        "is required: each sms, clock_mhz, l2_mib and timing value needs its "
                        "own source")
    sources = {f"peak.{k}": source for k in peaks}
    sources["bandwidth"] = source
    sources["memory"] = (f"{source} (the vendor's GB read as GiB: "
                         f"{refs['MEMORY_IS_BINARY']})")
    sources.update(given)
    return sources


def _reported_total(name: str, r: dict[str, Any], memory: int, refs: dict[str, str],
                    where: str) -> tuple[int, str, str]:
    at = f"{where}: device.{name}.reported_total"
    units = [k for k in r if k in _TOTAL_UNITS]
    for k in r:
        if k not in ("by", "source", *_TOTAL_UNITS):
            raise SpecError(f"{at}.{k}", k,
                            f"unknown key; allowed keys: by, source, {', '.join(_TOTAL_UNITS)}")
    if r.get("by") not in ("cuda", "smi"):
        raise SpecError(f"{at}.by", r.get("by"), "must be 'cuda' or 'smi'")
    if not isinstance(r.get("source"), str):
        raise SpecError(f"{at}.source", r.get("source"), "must be a string (is required)")
    if len(units) != 1:
        raise SpecError(f"{at}.{'/'.join(_TOTAL_UNITS)}", units or None,
                        "exactly one of gib, mib and bytes is required")
    unit = units[0]
    amount = r[unit]
    if (not _is_number(amount) or not math.isfinite(amount) or amount <= 0
            or (unit == "bytes" and not isinstance(amount, int))):
        raise SpecError(f"{at}.{unit}", amount,
                        "must be a positive integer" if unit == "bytes"
                        else "must be a positive number")
    total = int(amount * _TOTAL_UNITS[unit])
    if total > memory:
        raise SpecError(f"{at}.{unit}", amount, f"must not exceed memory ({memory} bytes)")
    return total, r["by"], _expand(r["source"], refs, f"{at}.source")


def _preset(name: str, t: Any, refs: dict[str, str],
            where: str) -> tuple[DeviceSpec, tuple[int, str, str] | None, bool]:
    """A preset without its reserve, its reported total (if any) and whether it is HBM."""
    if not isinstance(t, dict):
        raise SpecError(f"{where}: device.{name}", t, "must be an object")
    _check_types(name, t, where)
    table = {k: v for k, v in t.items() if k not in _PRESET_ONLY}
    table["sources"] = _sources(name, t, refs, where)
    d = parse_device(name, table, where)
    if d.arch == "cpu" and ("hbm" in t or "reported_total" in t):
        raise SpecError(f"{where}: device.{name}.arch", "cpu",
                        "a CPU preset has no reserve: no hbm or reported_total")
    total = (_reported_total(name, t["reported_total"], d.memory, refs, where)
             if "reported_total" in t else None)
    return d, total, bool(t.get("hbm", False))


def _with_reserve(d: DeviceSpec, total: tuple[int, str, str] | None, hbm: bool) -> DeviceSpec:
    """``d`` with the reserve its reported total (or the default) gives, and its source."""
    if d.arch == "cpu":
        return d
    if total is None:
        if hbm:
            reserve, why = default_reserve(d.memory, hbm=True), (
                "not known for this device: 768 MiB + 512 MiB CUDA context assumed (HBM: ECC "
                "costs no capacity; convcost.hardware.devices.default_reserve)")
        else:
            reserve, why = -1, ("not known for this device: 1/16 of the memory + 768 MiB + 512 "
                                "MiB CUDA context assumed (convcost.hardware.devices."
                                "default_reserve)")
    else:
        reported, kind, source = total
        gap = SMI_GAP if kind == "smi" else 0
        how = ("memory - the total CUDA reports" if kind == "cuda"
               else "memory - (the total nvidia-smi/rocm-smi reports - 768 MiB)")
        reserve = d.memory - reported + gap + CONTEXT_RESERVE
        why = f"{how} + 512 MiB CUDA context; total: {source}"
    return replace(d, reserve=reserve, sources={**d.sources, "reserve": why})


_DATA = load_preset_file()

#: The accelerator presets by name, in the data file's order.
PRESETS: dict[str, DeviceSpec] = _DATA.devices

#: The total memory CUDA (``torch.cuda.get_device_properties().total_memory``, the "total
#: capacity" of PyTorch's out-of-memory message) or the system tool reports, per preset:
#: ``(bytes, "cuda" | "smi", source)``. The rest of the physical memory is kept by the driver
#: (ECC on GDDR, page tables, reserved regions).
REPORTED_TOTAL: dict[str, tuple[int, str, str]] = _DATA.reported_total

#: Presets whose memory is HBM, whose ECC is stored beside the data and costs no capacity
#: (the A100 80 GB and the V100 32 GB report their full 81920 / 32768 MiB with ECC on,
#: :data:`REPORTED_TOTAL`), unlike GDDR boards, where ECC takes 1/16 (T4: 15360 of 16384 MiB).
HBM_PRESETS: frozenset[str] = _DATA.hbm

#: Why a GPU vendor's "GB" of device memory is read as GiB.
MEMORY_IS_BINARY: str = _DATA.memory_is_binary
