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


class TraceError(ConvCostError):
    """A model could not be analysed: it failed while being run on fake tensors.

    ``module`` is the path of the module that was running (``""`` for the model itself)
    and ``phase`` the part of the step (``forward``, ``loss``, ``backward``, ``optimizer``);
    the original exception is chained as ``__cause__``. ``data_dependent`` is true when
    the failure is an op whose output size depends on tensor values (``nonzero``, NMS…),
    which :func:`convcost.model.analyze` can handle with its ``data_dependent`` policy.
    """

    def __init__(self, module: str, module_type: str, phase: str, reason: str,
                 data_dependent: bool = False) -> None:
        self.module = module
        self.module_type = module_type
        self.phase = phase
        self.reason = reason
        self.data_dependent = data_dependent
        where = f"module {module!r} ({module_type})" if module else f"the model ({module_type})"
        super().__init__(f"model: cannot be analysed: {where} failed during {phase}: {reason}")
