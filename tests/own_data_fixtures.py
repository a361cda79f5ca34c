"""A user's own image set with the quirks real ones have, for the data-check / training / predict tests.

Five species: three with the shipped 18S data under the folder-name forms people use, one folder named by
the species' current name (``Trilobatus_sacculifer``, a synonym of the image class Globigerinoides_sacculifer),
and one benthic species without DNA (``Ammonia_tepida``). Each specimen is photographed as 3 serial slices
(one ``group``). Files are saved in the modes real data arrives in (8-bit grey, RGB, RGBA, 16-bit grey,
palette, CMYK JPEG), plus a zero-byte file, a truncated PNG and an exact copy of one image under another
specimen (a duplicate that lands in another split). ``manifest.csv`` lists ``path,group``.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

#: folder name -> (image class after synonyms, has DNA in the shipped FASTA)
FOLDERS: dict[str, tuple[str, bool]] = {
    "Globigerinoides_ruber": ("Globigerinoides_ruber", True),
    "03 - Globigerina bulloides": ("Globigerina_bulloides", True),
    "orbulina universa": ("Orbulina_universa", True),
    "Trilobatus_sacculifer": ("Globigerinoides_sacculifer", True),
    "Ammonia_tepida": ("Ammonia_tepida", False),
}
SPECIMENS = 6
SLICES = 3
MODES = ("L", "RGB", "RGBA", "I;16", "P", "CMYK")
DUPLICATE = ("Globigerinoides_ruber/ruber_s1_slice0.png", "Globigerinoides_ruber/ruber_s1_slice0_copy.png")
ZERO_BYTE = "orbulina universa/universa_s5_slice1.png"
TRUNCATED = "Ammonia_tepida/tepida_s5_slice1.png"


def _save(grey: np.ndarray, path: Path, mode: str) -> Path:
    """Save a uint8 [H, W] image in ``mode`` (CMYK as JPEG, the format that carries it)."""
    img = Image.fromarray(grey)
    if mode == "I;16":
        Image.fromarray(grey.astype(np.uint16) * 257).save(path)  # 16-bit PNG, same brightness
    elif mode == "CMYK":
        path = path.with_suffix(".jpg")
        img.convert("CMYK").save(path, quality=95)
    elif mode == "P":
        img.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=64).save(path)
    elif mode == "RGBA":
        rgba = img.convert("RGBA")
        rgba.putalpha(255)
        rgba.save(path)
    else:
        img.convert(mode).save(path)
    return path


def write_quirky_folder(root: Path, size: int = 40, seed: int = 0) -> Path:
    """Write the data set described in the module docstring; returns ``root`` (manifest at root/manifest.csv)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    rows: list[tuple[str, str]] = []
    n = 0
    for s, (folder, _) in enumerate(FOLDERS.items()):
        (root / folder).mkdir(parents=True, exist_ok=True)
        stem = folder.split()[-1].split("_")[-1].lower()
        radius = 4 + 3 * s
        for specimen in range(SPECIMENS):
            centre = size / 2 + rng.uniform(-3, 3, size=2)
            for k in range(SLICES):
                disc = (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= (radius - k * 0.5) ** 2
                grey = rng.integers(0, 40, size=(size, size)).astype(np.uint8)
                grey[disc] = 190 + 10 * k
                path = _save(grey, root / folder / f"{stem}_s{specimen}_slice{k}.png", MODES[n % len(MODES)])
                n += 1
                rows.append((path.relative_to(root).as_posix(), f"{stem}-{specimen}"))
    (root / ZERO_BYTE).write_bytes(b"")
    data = (root / TRUNCATED).read_bytes()
    (root / TRUNCATED).write_bytes(data[: len(data) // 2])
    shutil.copy(root / DUPLICATE[0], root / DUPLICATE[1])
    rows.append((DUPLICATE[1], "ruber-copy"))
    with open(root / "manifest.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "group"])
        writer.writerows(rows)
    return root


if (
    __name__ == "__main__"
):  # `python tests/own_data_fixtures.py /tmp/my_forams`: the docs' worked example data
    import sys

    print(write_quirky_folder(Path(sys.argv[1])))
