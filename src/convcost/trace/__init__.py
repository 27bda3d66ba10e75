"""Front ends that turn a model into op records (:mod:`.records`, torch-free).

The PyTorch front end is :mod:`convcost.trace.torch`; import it explicitly (it imports torch).
"""
