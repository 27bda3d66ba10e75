"""Checks that a PNG file really is a picture of something: decoded with Pillow, its pixel
size, and that it is not blank."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from PIL import Image

#: ``plots``/``conv_plot`` write PNGs at twice the SVG's pixel size (cairosvg ``scale=2``).
PNG_SCALE = 2


def png_pixels(path: Path) -> np.ndarray:
    """The decoded RGB pixels (height × width × 3) of the PNG file ``path``."""
    with Image.open(path) as im:
        assert im.format == "PNG", (path, im.format)
        return np.asarray(im.convert("RGB"))


def assert_not_blank(pixels: np.ndarray, share: float = 0.01) -> None:
    """More than ``share`` of the pixels differ from the top-left corner's colour."""
    differ = (pixels != pixels[0, 0]).any(axis=-1).mean()
    assert differ > share, f"only {differ:.2%} of the pixels differ from the background"


def assert_png_of_svg(png: Path, svg_doc: str, scale: int = PNG_SCALE) -> None:
    """``png`` is the chart ``svg_doc`` rendered at ``scale``: the SVG's width and height
    times ``scale`` in pixels, and not blank."""
    root = ET.fromstring(svg_doc)
    width, height = float(root.get("width", "")), float(root.get("height", ""))
    pixels = png_pixels(png)
    assert (pixels.shape[1], pixels.shape[0]) == (round(width * scale), round(height * scale))
    assert_not_blank(pixels)
