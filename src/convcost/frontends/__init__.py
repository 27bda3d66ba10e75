"""Front ends: turn a model into op records (:mod:`.records`, torch-free).

* :mod:`.torch_trace` — a PyTorch ``nn.Module`` run once on fake tensors (imports torch).
* :mod:`.onnx` — an ONNX graph lowered to torch ops and traced the same way (imports torch, onnx).
* :mod:`.targets` — resolves a CLI/API target string (``torchvision:NAME``, ``timm:NAME``,
  ``pkg.mod:factory``, ``file.onnx``) to a model.
* :mod:`.records` and :mod:`.dataflow` — what every front end produces and how backward ops
  are attributed to gradients; shared, torch-free.
"""
