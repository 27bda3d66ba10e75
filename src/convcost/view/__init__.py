"""The view layer: results -> rows, cells and summary lines, built once for every format.

* :mod:`.cells` — the typed cells (:class:`~.cells.Q`: a number and what it measures),
  lines and tables every view returns; numbers stay numbers until a renderer formats them.
* :mod:`.layer` — one convolution layer (:class:`~convcost.layer.ConvResult`): header, cost
  and memory tables, the structured explanation.
* :mod:`.model` — a whole model (:class:`~convcost.model.ModelResult`) with its hardware
  answers: per-layer lines and their columns, summary and hardware lines, JSON document.
* :mod:`.study` — sweeps and comparisons (:mod:`convcost.study`).
* :mod:`.devices` — the device catalogue.
* :mod:`.words` — the sentences and labels of the single-layer views, per language.

Nothing here imports torch, a renderer, or (at run time) the model analyser.
"""
