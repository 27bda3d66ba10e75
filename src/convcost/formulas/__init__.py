"""Pure counting formulas: spec -> terms -> Cost. No torch, no I/O."""
