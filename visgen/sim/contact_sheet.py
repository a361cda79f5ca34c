"""The contact sheet: one row per species, its name on the left, its first images to the right."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

THUMB = 64
PER_ROW = 10
LABEL_WIDTH = 230


def write_contact_sheet(root: Path, species: Sequence[str], out: Path, *, per_row: int = PER_ROW) -> Path:
    """Tile the first ``per_row`` images of every species folder under ``root`` into one PNG.

    Args:
        root: a dataset in the Endless Forams layout (``root/<species>/*.png``).
        species: row order.
        out: output PNG path.
        per_row: thumbnails per species.

    Returns:
        ``out``.
    """
    sheet = Image.new("L", (LABEL_WIDTH + per_row * THUMB, len(species) * THUMB), color=255)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=15)
    for row, name in enumerate(species):
        draw.text((6, row * THUMB + THUMB // 2 - 6), name.replace("_", " "), fill=0, font=font)
        for col, path in enumerate(sorted((root / name).glob("*.png"))[:per_row]):
            with Image.open(path) as img:
                thumb = img.convert("L").resize((THUMB, THUMB), Image.Resampling.BILINEAR)
            sheet.paste(thumb, (LABEL_WIDTH + col * THUMB, row * THUMB))
    sheet.save(out, optimize=True)
    return out
