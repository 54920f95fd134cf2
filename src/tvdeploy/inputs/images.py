"""Reading user images: any Pillow-readable file, fully decoded so a truncated file fails here."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError


class ImageReadError(ValueError):
    """The input file is not a readable image."""


def load_rgb_image(path: str | Path) -> Image.Image:
    """Open any Pillow-readable image fully (so truncation is caught here) as RGB."""
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(f"cannot read image {path}: {err}") from err
