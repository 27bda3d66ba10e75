"""Bounds on the regular expressions a user gives (``freeze``, ``checkpoint``), checked
before they are compiled: :func:`check_pattern`.

Python's ``re`` backtracks, so a short pattern can take exponential time on a short name
(``(a+)+$``, ``(a|aa)*b``), and a matching call cannot be interrupted. The names these
patterns meet are parameter, initializer and module names, so the bounds refuse only what
such names never need:

* at most :data:`MAX_PATTERN_LENGTH` characters;
* no repetition of a group that itself repeats, has an optional part or has alternatives
  (``(a+)+``, ``(a?b)*``, ``(?:x|xy)*``): the shape of every exponential case;
* at most :data:`MAX_REPEATS` repetitions in all (``.*a.*b.*c`` has three): a pattern with
  k of them can take time of the order of the name's length to the power k + 1;
* no back-references (``\\1``, ``(?P=name)``) and no conditional groups (``(?(1)a|b)``).

The check is a small scanner of the pattern's text (the standard library's parser is
private); it errs on the side of refusing. A pattern within these bounds still runs in
polynomial time only; the server's per-job timeout bounds the rest.
"""

from __future__ import annotations

import re

from .errors import SpecError

__all__ = ["MAX_PATTERN_LENGTH", "MAX_REPEATS", "check_pattern"]

#: Longest pattern accepted (characters).
MAX_PATTERN_LENGTH = 256
#: Most repetitions (``*``, ``+``, ``{m,n}`` with n > 1) in one pattern.
MAX_REPEATS = 4

_BRACES = re.compile(r"\{(\d*)(,(\d*))?\}")


class _Group:
    def __init__(self) -> None:
        self.repeats = False  # something inside repeats
        self.branches = False  # an alternative ('|') directly inside


def check_pattern(field: str, pattern: str) -> None:
    """Raise :class:`~convcost.errors.SpecError` naming ``field`` when ``pattern`` is over
    the bounds of this module (its text is not compiled here)."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise SpecError(field, pattern[:40] + "...", f"a pattern of at most "
                        f"{MAX_PATTERN_LENGTH} characters (got {len(pattern)})")
    stack = [_Group()]
    last: _Group | None = None  # the group just closed, when it is the last atom
    atom = False  # is there an atom a quantifier could follow
    repeats = 0
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        quantifier: tuple[int, bool] | None = None  # (characters, can repeat)
        if c == "\\":
            if i + 1 < n and pattern[i + 1] in "123456789":
                raise SpecError(field, pattern, "back-references (\\1) are not allowed")
            i, atom, last = i + 2, True, None
            continue
        if c == "[":
            i, atom, last = _class_end(pattern, i), True, None
            continue
        if c == "(":
            rest = pattern[i + 1:i + 4]
            if rest.startswith("?P="):
                raise SpecError(field, pattern, "back-references ((?P=name)) are not allowed")
            if rest.startswith("?("):
                raise SpecError(field, pattern, "conditional groups ((?(1)...)) are not "
                                "allowed")
            if rest.startswith("?#"):
                close = pattern.find(")", i)
                i = n if close < 0 else close + 1
                continue
            stack.append(_Group())
            i, atom, last = i + 1, False, None
            continue
        if c == ")":
            group = stack.pop() if len(stack) > 1 else _Group()
            stack[-1].repeats |= group.repeats
            stack[-1].branches |= group.branches
            i, atom, last = i + 1, True, group
            continue
        if c == "|":
            stack[-1].branches = True
            i, atom, last = i + 1, False, None
            continue
        if c in "*+":
            quantifier = (1, True)
        elif c == "?":
            quantifier = (1, False)
        elif c == "{":
            m = _BRACES.match(pattern, i)
            if m is not None:
                low, comma, high = m.group(1), m.group(2), m.group(3)
                top = (int(high) if high else None) if comma else (int(low) if low else 0)
                quantifier = (m.end() - i, top is None or top > 1)
        if quantifier is None or not atom:
            i, atom, last = i + 1, True, None  # a literal (or a quantifier re rejects)
            continue
        size, repeating = quantifier
        i += size
        if i < n and pattern[i] in "?+":  # lazy or possessive
            i += 1
        if repeating:
            repeats += 1
            if last is not None and (last.repeats or last.branches):
                raise SpecError(field, pattern, "repeats a group that itself repeats or has "
                                "alternatives (like '(a+)+' or '(a|ab)*'), which can take "
                                "exponential time; write it without the nesting")
        stack[-1].repeats = True  # an optional part is as ambiguous inside a repetition
        atom, last = False, None
    if repeats > MAX_REPEATS:
        raise SpecError(field, pattern, f"at most {MAX_REPEATS} repetitions ('*', '+', "
                        f"'{{m,n}}') in one pattern (got {repeats})")


def _class_end(pattern: str, i: int) -> int:
    """The index after the character class that opens at ``pattern[i]`` ('[')."""
    j = i + 1
    if j < len(pattern) and pattern[j] == "^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    return j + 1
