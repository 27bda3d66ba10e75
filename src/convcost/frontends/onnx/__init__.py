"""ONNX models: the same analysis as for PyTorch models, from an ``.onnx`` file.

An ONNX graph is turned into a ``torch.nn.Module`` that *interprets* it with torch ops
(:class:`~.module.OnnxModule`), and that module is analysed by :func:`convcost.analyze` on
fake tensors like any PyTorch model. So there is one set of per-op formulas, one set of
backward rules and one memory model for both front ends; nothing here counts anything (the
only formula-registry entries added here call the single-layer calculator: :mod:`.formulas`).

How the graph becomes a module (:func:`load_onnx`, :mod:`.load`):

* The file is parsed **without executing anything** (external-data files are not read),
  checked (opset, ``onnx.checker``, external-data files present) (:mod:`.reader`), and each
  graph input's shape is resolved (:mod:`.inputs`): symbolic or unknown dimensions
  (``batch``) must be set with ``--input NAME=1x3x224x224`` (or ``--input 1x3x224x224``,
  which fills the graph's inputs in order). A symbolic dimension named the same in several
  inputs takes one value.
* **Initializers** (:mod:`.weights`) are trainable parameters (on the meta device: no
  weight data is read), buffers (``BatchNormalization``'s running statistics) or constants
  (values: shapes, axes, scalars...); each parameter is owned by the first node using it.
  ``freeze`` matches the ONNX initializer names (``re.search``), which for a PyTorch export
  are the PyTorch parameter names.
* **Nodes.** Each node that computes on data becomes a small submodule whose class is named
  after the op type (the table's type column reads ``Conv``, ``Gemm``...) and runs the
  node's lowering (:mod:`.lowering`: the torch ops a PyTorch model would use). Node names
  with ``/`` become a module hierarchy (:mod:`.scopes`), so ``--depth`` works as for
  PyTorch models. ``Identity`` nodes are aliases (no row).
* **Shape computations** (``Shape -> Gather -> Concat -> Reshape``, ``Constant`` nodes, any
  node whose inputs are all constant) are evaluated with concrete integers when the module
  runs, outside the fake-tensor run: they cost nothing, as Python integer arithmetic on
  ``x.shape`` costs nothing in a PyTorch model, and have no row.

Choices worth knowing:

* **Asymmetric padding** of ``Conv``/``ConvTranspose`` (explicit begin/end ``pads`` or
  ``auto_pad=SAME_*``) runs as one op, ``convcost_onnx::conv`` (:mod:`.lowering.conv_op`),
  whose formulas are the single-layer calculator with the same ``(begin, end)`` padding
  (forward, grad-input, grad-weight, grad-bias; dense and skip-padding), and which saves its
  input and weight for backward like ``aten.convolution``. Symmetric padding runs
  ``aten.convolution`` itself. Pooling with asymmetric pads pads explicitly (``F.pad``),
  then pools without padding: the padded elements count as data.
* **BatchNormalization** follows the analysis mode, not the graph's ``training_mode``: a
  training analysis normalises with batch statistics and updates the running statistics
  (``F.batch_norm(training=True)``, the op ``nn.BatchNorm2d`` runs when training), an
  inference analysis uses the running statistics. ``Dropout`` likewise is active exactly in
  a training analysis (ratio > 0).
* **Ops without a mapping** (``Loop``, ``If``, ``NonMaxSuppression``, other domains...)
  are never silently dropped (:mod:`.fallback`): if ONNX shape inference gives their output
  shapes, they run as a placeholder op ``onnx_op::<OpType>`` that has no formula, so it is
  listed in ``unsupported_ops`` (its cost is not in the totals) while gradients still flow
  to the layers before it; otherwise the analysis stops with an error naming the node. A
  constant node (all inputs constant) of such a type is evaluated with ONNX's reference
  implementation.
* ``Constant`` *nodes* are constants (no gradient) even when they hold floating weights;
  only initializers are parameters.

Errors (file missing, truncated or not ONNX, unsupported opset, missing external-data file,
unset symbolic dimension, unknown input name, wrong rank) are one-line
:class:`~convcost.errors.SpecError` messages naming the file or input and the problem; a
node that cannot run raises :class:`~.node.OnnxNodeError`.

Imports torch (``onnx`` only in the functions that need it); import it only for ``.onnx``
targets: nothing in ``import convcost`` imports this package.
"""

from __future__ import annotations

from .inputs import parse_input_args
from .load import load_onnx
from .lowering import supported_ops
from .module import OnnxModule
from .node import OnnxNodeError
from .reader import MIN_OPSET

__all__ = [
    "MIN_OPSET",
    "OnnxModule",
    "OnnxNodeError",
    "load_onnx",
    "parse_input_args",
    "supported_ops",
]
