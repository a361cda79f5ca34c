"""A miniature BIOSCAN-5M written in the published layout, with one record behind each door of the layout.

Written by hand from the data set's description (not with the ``bioscan-dataset`` package), so the package
reading it back is evidence that the layout is right:

    <root>/bioscan5m/metadata/csv/BIOSCAN_5M_Insect_Dataset_metadata.csv
    <root>/bioscan5m/images/cropped_256/<split>/[<chunk>/]<processid>.jpg

20 species in 4 genera (2 orders): 12 seen (train/val/test), 5 unseen (key_unseen/val_unseen/test_unseen),
3 held out (other_heldout), plus pretrain records (most without species). Chunk folders as in the real data:
pretrain two hex digits, train and other_heldout one, the evaluation partitions none. ``dna_less=True`` adds a
21st species, unseen, whose every barcode is ambiguity codes only (no usable DNA: it has images, no anchor).
"""

from __future__ import annotations

import csv
import random
import zlib
from pathlib import Path

from PIL import Image

COLUMNS = ["processid", "sampleid", "taxon", "phylum", "class", "order", "family", "subfamily", "genus", "species",
           "dna_bin", "dna_barcode", "country", "province_state", "coord-lat", "coord-lon",
           "image_measurement_value", "area_fraction", "scale_factor", "inferred_ranks", "split",
           "index_bioscan_1M_insect", "chunk"]  # fmt: skip

#: genus -> (order, family, subfamily (may be empty), epithets).
GENERA = {
    "Megaselia": ("Diptera", "Phoridae", "Metopininae", ["abdita", "aculeata", "brevior", "calva", "dahli", "elongata"]),
    "Drosophila": ("Diptera", "Drosophilidae", "Drosophilinae", ["busckii", "funebris", "immigrans", "melanogaster", "simulans"]),
    "Chironomus": ("Diptera", "Chironomidae", "", ["annularius", "plumosus", "riparius", "tentans", "luridus"]),
    "Aleiodes": ("Hymenoptera", "Braconidae", "Rogadinae", ["alternator", "bicolor", "coxalis", "dissector"]),
}  # fmt: skip
SPECIES = [f"{g} {e}" for g, (_, _, _, eps) in GENERA.items() for e in eps]
SEEN, UNSEEN, HELDOUT = SPECIES[:12], SPECIES[12:17], SPECIES[17:]
DNA_LESS = "Drosophila obscura"
#: Images per unseen species in each unseen partition.
UNSEEN_COUNTS = {"key_unseen": 3, "val_unseen": 1, "test_unseen": 2}
#: The doors: processid -> what is wrong with it.
DOORS = {
    "DOOR0001-24": "no image file",
    "DOOR0002-24": "no barcode",
    "DOOR0003-24": "no species",
    "DOOR0004-24": "unknown split",
}
UNKNOWN_SPLIT = "holdout"
METADATA = Path("bioscan5m/metadata/csv/BIOSCAN_5M_Insect_Dataset_metadata.csv")
IMAGES = Path("bioscan5m/images/cropped_256")


def _barcode(rng: random.Random, n: int = 48) -> str:
    return "".join(rng.choice("ACGT") for _ in range(n))


def _chunk(split: str, rng: random.Random) -> str:
    if split == "pretrain":
        return f"{rng.randrange(256):02x}"
    if split in ("train", "other_heldout"):
        return f"{rng.randrange(16):x}"
    return ""


def write_mini_bioscan5m(root: Path, seed: int = 0, *, dna_less: bool = False) -> Path:
    """Write the miniature under ``root`` (the package's root) and return ``root`` (``dna_less``: see above)."""
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []

    def add(pid: str, split: str, species: str, *, barcode: str | None = None, image: bool = True) -> None:
        genus = species.split(" ")[0] if species else rng.choice(list(GENERA))
        order, family, subfamily, _ = GENERA[genus]
        chunk = _chunk(split, rng)
        rows.append({
            "processid": pid, "sampleid": f"S-{pid}", "taxon": species or genus, "phylum": "Arthropoda",
            "class": "Insecta", "order": order, "family": family, "subfamily": subfamily, "genus": genus,
            "species": species, "dna_bin": f"BOLD:A{zlib.crc32((species or genus).encode()) % 10**5:05d}" if species else "",
            "dna_barcode": _barcode(rng) if barcode is None else barcode, "country": "Canada",
            "province_state": "Ontario", "coord-lat": "43.5", "coord-lon": "-80.2",
            "image_measurement_value": "1234.0", "area_fraction": "0.1", "scale_factor": "1.0",
            "inferred_ranks": "0", "split": split, "index_bioscan_1M_insect": "", "chunk": chunk,
        })  # fmt: skip
        if image:
            path = root / IMAGES / split / chunk / f"{pid}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            shade = (37 * len(rows)) % 256
            Image.new("RGB", (16, 12), (shade, 255 - shade, (3 * shade) % 256)).save(path, quality=85)

    n = 0
    for k, species in enumerate(SEEN):
        for split, count in (("train", 3 + k % 4), ("val", 1), ("test", 2)):
            for _ in range(count):
                n += 1
                add(f"SEEN{n:04d}-23", split, species)
    for species in UNSEEN:
        for split, count in UNSEEN_COUNTS.items():
            for _ in range(count):
                n += 1
                add(f"UNSN{n:04d}-23", split, species)
    for species in HELDOUT:
        for _ in range(2):
            n += 1
            add(f"HELD{n:04d}-23", "other_heldout", species)
    for i in range(6):
        n += 1
        add(f"PRET{n:04d}-22", "pretrain", SEEN[0] if i == 0 else "")
    # Barcodes with ambiguity codes are still barcodes: the layout keeps them; the DNA reader's policy decides.
    rows[0]["dna_barcode"] = rows[0]["dna_barcode"][:40] + "NNNNNNNN"
    rows[1]["dna_barcode"] = rows[1]["dna_barcode"][:10] + "R" + rows[1]["dna_barcode"][11:]
    rows[30]["dna_barcode"] = "N" + rows[30]["dna_barcode"][1:20] + "Y" + rows[30]["dna_barcode"][21:]
    if dna_less:
        for split, count in UNSEEN_COUNTS.items():
            for _ in range(count):
                n += 1
                add(f"NDNA{n:04d}-23", split, DNA_LESS, barcode="N" * 30 + "RYKM" * 4)
    add("DOOR0001-24", "train", SEEN[1], image=False)
    add("DOOR0002-24", "train", SEEN[2], barcode="")
    add("DOOR0003-24", "train", "")
    add("DOOR0004-24", UNKNOWN_SPLIT, SEEN[3])
    csv_path = root / METADATA
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return root
