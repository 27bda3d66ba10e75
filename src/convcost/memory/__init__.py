"""Tensor lifetimes -> live bytes over time, saved activations and peaks (no torch)."""

from .timeline import CATEGORIES, Life, Timeline, build_timeline

__all__ = ["CATEGORIES", "Life", "Timeline", "build_timeline"]
