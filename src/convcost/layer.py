"""Single-layer analysis: the public result records, built from the numeric conv kernel
(:func:`~convcost.formulas.conv.conv_numbers`); the explanation's terms
(:func:`~convcost.formulas.conv_terms.conv_terms`) are built only when asked for."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .cost import BackwardCost, Cost
from .formulas.conv import conv_numbers
from .spec import ConvSpec, conv_spec

if TYPE_CHECKING:
    from .formulas.conv_terms import ConvTerms
    from .vocab import Counting


@dataclass(frozen=True)
class MemoryTable:
    """Tensors held during one pass, in elements; bytes = elements × ``element_bytes``."""

    entries: tuple[tuple[str, int], ...]
    element_bytes: int

    @property
    def total_elements(self) -> int:
        """Sum of all entries, in elements."""
        return sum(n for _, n in self.entries)

    @property
    def total_bytes(self) -> int:
        """``total_elements × element_bytes``."""
        return self.total_elements * self.element_bytes

    def __getitem__(self, name: str) -> int:
        return dict(self.entries)[name]

    def to_dict(self) -> dict[str, int]:
        """Entries plus ``total_elements`` and ``total_bytes``."""
        d = dict(self.entries)
        d["total_elements"] = self.total_elements
        d["total_bytes"] = self.total_bytes
        return d


@dataclass(frozen=True)
class ConvResult:
    """Everything convcost computes for one layer (exact integers).

    * ``macs`` — dense multiply-accumulates ``N·c_o·(c_i/g)·Π out·Π kernel`` (conv view).
    * ``forward`` / ``backward`` — multiplications, additions, FLOPs (= mults + adds) under
      ``counting``.
    * ``seed_forward_flops`` / ``seed_backward_flops`` — the classic approximations
      ``2·MACs`` and ``4·MACs``.
    * ``memory_forward`` — input, weight, bias, output; ``memory_backward`` — cached input,
      weight, bias, output grad, weight grad, bias grad, input grad (elements and bytes).
    * ``terms`` — the same numbers as formula terms with their symbols (used by
      ``--explain`` and the reports); built on first access.
    """

    spec: ConvSpec
    counting: str
    macs: int
    forward: Cost
    backward: BackwardCost
    seed_forward_flops: int
    seed_backward_flops: int
    memory_forward: MemoryTable
    memory_backward: MemoryTable

    @cached_property
    def terms(self) -> ConvTerms:
        """The terms of :func:`~convcost.formulas.conv_terms.conv_terms` for this layer (their
        values equal the numbers above; a property test checks it)."""
        from .formulas.conv_terms import conv_terms

        return conv_terms(self.spec, self.counting)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """``(N, C_out, *spatial_out)``."""
        return self.spec.output_shape

    def to_pandas(self) -> Any:
        """mults/adds/FLOPs per computation as a pandas DataFrame (needs pandas)."""
        from .renderers import to_frame

        return to_frame(self)

    def _repr_html_(self) -> str:
        from .renderers import render

        return render(self, "notebook")

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``convcost conv --json``."""
        return {
            "layer": self.spec.to_dict(),
            "counting": self.counting,
            "output_shape": list(self.output_shape),
            "macs": self.macs,
            "forward": self.forward.to_dict(),
            "backward": self.backward.to_dict(),
            "seed_approx": {
                "forward_flops": self.seed_forward_flops,
                "backward_flops": self.seed_backward_flops,
            },
            "memory": {
                "forward": self.memory_forward.to_dict(),
                "backward": self.memory_backward.to_dict(),
            },
        }


def analyze_conv(spec: ConvSpec, counting: Counting = "dense") -> ConvResult:
    """Exact cost of one (transposed) convolution layer under ``counting``.

    ``counting`` is ``"dense"`` (every tap counts, padding included; the classic derivation
    and im2col/GEMM) or ``"skip-padding"`` (products with padding zeros are never formed).
    Raises :class:`~convcost.errors.SpecError` for an unknown convention.
    """
    nums = conv_numbers(spec, counting)
    eb = spec.element_bytes
    return ConvResult(
        spec=spec,
        counting=counting,
        macs=nums.macs,
        forward=nums.forward,
        backward=nums.backward,
        seed_forward_flops=2 * nums.macs,
        seed_backward_flops=4 * nums.macs,
        memory_forward=MemoryTable(nums.memory_forward, eb),
        memory_backward=MemoryTable(nums.memory_backward, eb),
    )


def conv_cost(counting: Counting = "dense", **kwargs: Any) -> ConvResult:
    """Shorthand: ``analyze_conv(conv_spec(**kwargs), counting)``.

    Example: ``conv_cost(in_channels=3, out_channels=64, input_size=(224, 224), kernel=7,
    stride=2, padding=3, bias=False)``.
    """
    return analyze_conv(conv_spec(**kwargs), counting)
