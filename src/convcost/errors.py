"""Project error types.

Every problem with user input is reported as a :class:`ConvCostError` (a ``ValueError``
subclass) whose message is one line naming the field, the value and what is allowed.
"""

from __future__ import annotations


class ConvCostError(ValueError):
    """Base class of all errors convcost raises for bad input."""


class SpecError(ConvCostError):
    """A layer, tensor or device specification is invalid.

    ``field`` names the offending field, ``value`` is what was given and ``allowed``
    says what would be accepted; ``str(err)`` is one line with all three.
    """

    def __init__(self, field: str, value: object, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field}: got {value!r}; {allowed}")
