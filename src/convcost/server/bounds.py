"""The bounds of the server's requests, and what an error may say to a client.

Decisions:

* **Bounds stated once, here**, used by :mod:`.requests` (which refuses) and :mod:`.openapi`
  (which documents them): string lengths, ``inputs`` entries, ``devices``, ``model_args``.
  Each refusal is one line naming the key.
* **``model_args`` never name a file or a URL** (issue 25): a constructor argument such as
  timm's ``checkpoint_path`` or ``pretrained_cfg_overlay={"file": ...}`` would make the
  worker open (and ``torch.load``) a path of the client's choosing, and differing errors
  would tell which files exist. Keys that would be opened and strings that look like paths
  or URLs are refused from the request's text alone, before anything is imported, so the
  answer never depends on the filesystem.
* **Native error text** (a C++ exception's message carries a stack trace with library paths
  and addresses) is cut to its first line, paths and addresses replaced by ``…``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_DEVICES", "MAX_INPUTS", "MAX_SIZE", "MAX_STR", "MAX_TOKENS", "ApiError",
           "check_model_args", "check_sizes", "clean_native", "one_line"]


class ApiError(Exception):
    """A request the API refuses: HTTP ``status``, one-line ``error`` and the ``field`` (a
    key of the body or a query parameter) it is about, when there is one."""

    def __init__(self, status: int, error: str, field: str | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = one_line(error)
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        return {"error": self.error, "field": self.field}


def one_line(text: str) -> str:
    """``text`` with its unprintable characters escaped, so an error stays on one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


#: Longest string value of a request (the OpenAPI document's ``maxLength``).
MAX_STR = 1024
#: Most entries of ``inputs``, and the most ``devices`` (the document's bounds).
MAX_INPUTS = 64
MAX_DEVICES = 65536
#: Largest ``prompt_len``, ``new_tokens`` and generation ``batch``.
MAX_TOKENS = 2**31
#: Every number in a model input's shape is below this: PyTorch's sizes are int64.
MAX_SIZE = 2**63
_DIGITS = re.compile(r"[0-9]+")


def check_sizes(key: str, text: str) -> None:
    """Refuse (400) an input shape with a number of 2**63 or more (read from the text, the
    shape syntax left to :mod:`convcost.spec`): PyTorch could not make such a tensor, and
    a 1,500-digit size must not reach it."""
    if any(len(m) > 19 or int(m) >= MAX_SIZE for m in _DIGITS.findall(text)):
        raise ApiError(400, f"{key}: got {text!r:.60}; every size must be below 2**63 "
                       "(PyTorch's sizes are 64-bit)", key)


#: A file path of three or more parts (``/usr/lib/x/libc10.so``, ``C:\\a\\b``) in error text.
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][^\s'\"()\[\]{}<>,;:]+){3,}")
#: A memory address (``0x7f3a9c...``) in error text.
_ADDRESS = re.compile(r"\b0x[0-9A-Fa-f]{6,}\b")


def clean_native(text: str) -> str:
    """Error text fit for a client: its first line only (a C++ exception's message goes on
    with a stack trace), file paths and memory addresses replaced by ``…``."""
    first = text.strip().splitlines()[0] if text.strip() else text
    return _ADDRESS.sub("…", _PATH.sub("…", first))



#: Bounds of ``model_args`` (each refusal names ``model_args.<key>``).
MODEL_ARG_INT = 2**31
MODEL_ARG_FLOAT = 1e15
MODEL_ARG_STR = 128
MODEL_ARG_ITEMS = 64
MODEL_ARG_DEPTH = 3
#: ``model_args`` keys that would make a constructor open (or download) something.
OPENING_KEYS = frozenset({
    "checkpoint_path", "pretrained_cfg", "pretrained_cfg_overlay", "pretrained_strict",
    "file", "filename", "path", "url", "uri", "cache_dir", "state_dict", "model_dir", "hub",
    "repo_id", "local_files_only",
})
#: Keys allowed only as ``false``/``null`` (no weights), as ``convcost model --model-arg``.
WEIGHT_KEYS = frozenset({"pretrained", "weights", "weights_backbone"})
OPENING_SUFFIXES = ("_path", "_file", "_dir", "_url", "_uri", "_filename",
                    "_checkpoint", "_weights")
#: A ``model_args`` string may not look like a path or a URL (no ``/``, ``\\``, ``:``,
#: leading ``~`` or ``.``, nor a weights/data file suffix): decided from the text alone.
SAFE_ARG_STR = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-+. ]*")
FILE_SUFFIX = re.compile(r"\.(pth?|bin|safetensors|ckpt|npz|npy|pkl|pickle|json|ya?ml|onnx|"
                         r"h5|msgpack|tar|gz|zip)$", re.IGNORECASE)


def check_model_args(args: Mapping[str, Any]) -> None:
    """Refuse (400, field ``model_args``, the text naming ``model_args.<key>``) a key that
    would be opened as a file or URL, a string that looks like a path or URL, and values
    outside the bounds above, before anything is imported or built: the answer depends on
    the request's text only, never on which files exist."""
    def refuse(key: str, value: object, why: str) -> ApiError:
        return ApiError(400, f"model_args.{key}: got {value!r:.60}; {why}", "model_args")

    def check(key: str, value: object, depth: int) -> None:
        if value is None or isinstance(value, bool):
            return
        if isinstance(value, int):
            if abs(value) > MODEL_ARG_INT:
                raise refuse(key, value, f"integers must be within ±2**31 ({MODEL_ARG_INT:,})")
        elif isinstance(value, float):
            if not abs(value) <= MODEL_ARG_FLOAT:
                raise refuse(key, value, f"numbers must be finite and within ±{MODEL_ARG_FLOAT:g}")
        elif isinstance(value, str):
            if len(value) > MODEL_ARG_STR:
                raise refuse(key, value, f"strings have at most {MODEL_ARG_STR} characters")
            if value and (not SAFE_ARG_STR.fullmatch(value) or FILE_SUFFIX.search(value)
                          or ".." in value):
                raise refuse(key, value, "strings may not name a file or URL (letters, "
                             "digits, '_', '-', '+', '.' and spaces; no path, no file suffix)")
        elif isinstance(value, (list, dict)):
            if depth >= MODEL_ARG_DEPTH:
                raise refuse(key, value, f"values nest at most {MODEL_ARG_DEPTH} deep")
            if len(value) > MODEL_ARG_ITEMS:
                raise refuse(key, f"{len(value)} items", f"at most {MODEL_ARG_ITEMS} items")
            if isinstance(value, dict):
                for k, v in value.items():
                    check_key(f"{key}.{k}", k)
                    check(f"{key}.{k}", v, depth + 1)
            else:
                for i, v in enumerate(value):
                    check(f"{key}[{i}]", v, depth + 1)
        else:  # pragma: no cover - JSON has no other types
            raise refuse(key, value, "must be a JSON value")

    def check_key(name: str, key: str) -> None:
        low = key.lower()
        if len(key) > MODEL_ARG_STR or not (key.isascii() and key.isidentifier()):
            raise refuse(name, key, "keys are identifiers of at most "
                         f"{MODEL_ARG_STR} characters")
        if (low in OPENING_KEYS or low.endswith(OPENING_SUFFIXES)
                or (low in WEIGHT_KEYS and "." in name)):
            raise refuse(name, key, "names a file, a URL or pretrained weights, which the "
                         "server never opens (convcost counts without weights)")

    if len(args) > MODEL_ARG_ITEMS:
        raise ApiError(400, f"model_args: {len(args)} keys; at most {MODEL_ARG_ITEMS}",
                       "model_args")
    for k, v in args.items():
        if k.lower() in WEIGHT_KEYS and v not in (None, False):
            raise refuse(k, v, "pretrained weights are never loaded (convcost counts without "
                         "weights): give false or null, or leave it out")
        check_key(k, k)
        check(k, v, 0)
