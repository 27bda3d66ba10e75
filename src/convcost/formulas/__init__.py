"""Pure counting formulas: spec -> terms -> Cost. No torch, no I/O.

:mod:`.registry` holds the registry object, :mod:`.catalog` builds the default registry from
the formula modules (each declares its own ``FORMULAS``) and the public
``register_formula``; :mod:`.conv` is the convolution kernel shared by the layer calculator
and the conv ops; :mod:`.traffic` counts the bytes an op moves.
"""
