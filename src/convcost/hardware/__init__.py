"""Hardware: device data, roofline time, fit, and memory/communication when sharded."""
