"""``visgen data check``: everything about an image data set (and its DNA) in one report, before any training.

Reads each file once: a content hash (exact duplicates) and a header read with Pillow's ``verify`` (mode,
size, truncation / corruption), never a full decode, so a folder of 30,000 images is checked in about the
time it takes to read it from disk. The species, the DNA join and the split are those a training run
would use (the same :meth:`~visgen.data.layouts.DataLayout.scan`, for every layout), so what the report says is
what training gets, and every item the scan left out is named with its reason. Pure: no torch.

Exit codes (``exit_code``): 0 clean, 1 problems listed, 2 unusable (no species folders, no readable image).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from visgen.data.layouts import DataLayout, ScanRequest
from visgen.errors import UserInputError
from visgen.eval import longtail
from visgen.genetics.species import missing_dna_hint

_JPEG_END = b"\xff\xd9"


@dataclass
class FileFacts:
    """One image file as read by the audit: ``reason`` is None for a readable file."""

    path: str
    digest: str
    mode: str = ""
    size: tuple[int, int] = (0, 0)
    reason: str | None = None


def read_file_facts(root: Path, rel: str) -> FileFacts:
    """Hash a file and read its header (mode, size); the reason when it cannot be read as an image.

    Args:
        root: dataset folder; rel: path relative to it.
    """
    data = (root / rel).read_bytes()
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    if not data:
        return FileFacts(rel, digest, reason="zero-byte file")
    try:
        with Image.open(io.BytesIO(data)) as img:
            mode, size, fmt = img.mode, img.size, img.format
            img.verify()  # chunk CRCs / structure without decoding the pixels
    except UnidentifiedImageError:
        return FileFacts(rel, digest, reason="not an image")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        return FileFacts(rel, digest, reason=f"truncated or corrupt image ({err})")
    if fmt == "JPEG" and not data.rstrip(b"\0").endswith(_JPEG_END):
        return FileFacts(
            rel, digest, mode, size, reason="truncated or corrupt image (JPEG without end marker)"
        )
    return FileFacts(rel, digest, mode, size)


@dataclass
class AuditReport:
    """What ``visgen data check`` found. ``problems`` make exit code 1, ``fatal`` exit code 2."""

    root: str
    species: list[dict[str, Any]] = field(default_factory=list)
    dna_without_images: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    groups_crossing: list[dict[str, Any]] = field(default_factory=list)
    modes: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_items: list[dict[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fatal: str | None = None

    def exit_code(self) -> int:
        """0 clean, 1 problems, 2 unusable."""
        return 2 if self.fatal else (1 if self.problems else 0)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (``--json``)."""
        out = {k: v for k, v in self.__dict__.items() if k != "root"}
        return {"root": self.root, "exit_code": self.exit_code(), **out}


def audit(
    layout: DataLayout,
    *,
    dna_species: Collection[str] | None = None,
    synonyms: Mapping[str, str] | None = None,
    split_fractions: Sequence[float] = (0.7, 0.1, 0.2),
    split_seed: int = 0,
    workers: int = 8,
) -> AuditReport:
    """Check a data set the way training would read it, collecting everything at once.

    Args:
        layout: the data set (:mod:`visgen.data.layouts`).
        dna_species: species with DNA (a FASTA's, after synonyms); None = no DNA join reported.
        synonyms, split_fractions, split_seed: as :class:`~visgen.data.layouts.ScanRequest`.
        workers: reader threads (hashing and Pillow release the GIL on large reads).

    Returns:
        The report.
    """
    report = AuditReport(layout.describe())
    request = ScanRequest(
        classes="all", dna_species=dna_species if dna_species is not None else (), synonyms=synonyms,
        split_fractions=split_fractions, split_seed=split_seed,
    )  # fmt: skip
    try:
        index, scan_problems = layout.scan(request)
    except UserInputError as err:
        report.fatal = str(err)
        return report
    report.problems += scan_problems
    if index is None:
        report.fatal = "; ".join(scan_problems) or "no images found"
        return report
    report.skipped = dict(index.skipped)
    report.skipped_items = [{"item": s.item, "reason": s.reason} for s in index.skipped_items]
    with ThreadPoolExecutor(max_workers=max(1, min(workers, os.cpu_count() or 1))) as pool:
        facts = list(pool.map(lambda rel: read_file_facts(index.root, rel), index.paths))
    ok = np.asarray([f.reason is None for f in facts], dtype=bool)
    report.unreadable = [(f.path, f.reason) for f in facts if f.reason is not None]
    if not ok.any():
        report.fatal = (
            f"none of the {len(facts)} image files can be read (e.g. {facts[0].path}: {facts[0].reason})"
        )
        return report
    for path, reason in report.unreadable:
        report.problems.append(f"{path}: {reason}; replace or remove the file")
    report.modes = dict(Counter(f.mode for f in facts if f.reason is None).most_common())
    report.sizes = {
        f"{w}x{h}": n for (w, h), n in Counter(f.size for f in facts if f.reason is None).most_common()
    }
    if len(report.modes) > 1:
        report.notes.append(f"mixed image modes {report.modes}: all are converted to 8-bit grey when decoded")
    _species_rows(report, index, ok, dna_species)
    _duplicates(report, index, facts, ok)
    if layout.facts.has_groups:  # otherwise there is no group to give
        _groups_crossing(report, index)
    return report


def _species_rows(report: AuditReport, index: Any, ok: np.ndarray, dna: Collection[str] | None) -> None:
    """Images per species and split (readable ones), shot buckets, and the DNA join."""
    names = index.class_names
    counts = {
        s: np.bincount(index.labels[ok & (index.splits == s)], minlength=len(names))
        for s in ("train", "val", "test")
    }
    buckets = longtail.shot_buckets(counts["train"], index.class_scale)
    test_only: list[str] = []
    # Species the data set's own partitions keep out of training (BIOSCAN-5M's unseen ones) are meant so.
    n_images = np.bincount(index.labels, minlength=len(names))
    planned = np.bincount(index.labels[index.partitions != ""], minlength=len(names)) == n_images
    for c, name in enumerate(names):
        row = {
            "species": name,
            "location": index.locations[name],
            "dna": None if dna is None else name in dna,
        }
        row.update({s: int(counts[s][c]) for s in counts}, bucket=buckets[c])
        report.species.append(row)
        if row["train"] == 0 and planned[c]:
            test_only.append(name)
        elif row["train"] == 0:
            report.problems.append(
                f"{name}: no readable training image, so the KNN can never predict it; add images"
            )
    if test_only:
        report.notes.append(
            f"{len(test_only)} species have no training image by the data set's own partitions (test only, the "
            f"KNN cannot name them): {', '.join(test_only)}"
        )
    if dna is not None:
        report.dna_without_images = sorted(set(dna) - set(names))
        no_dna = [n for n in names if n not in dna]
        for row in report.species:
            if row["dna"] is False:
                row["hint"] = missing_dna_hint(row["species"], dna)
                if "did you mean" in row["hint"]:  # most likely a misspelt species, not a new one
                    report.problems.append(f"{row['location']}: {row['hint']}")
        if no_dna:
            report.notes.append(
                f"{len(no_dna)} species have images but no DNA ({', '.join(no_dna)}): data.classes=dna leaves them out, "
                "data.classes=all trains and scores them without alignment"
            )
        if report.dna_without_images:
            report.notes.append(f"{len(report.dna_without_images)} species in the FASTA have no image folder")


def _duplicates(report: AuditReport, index: Any, facts: list[FileFacts], ok: np.ndarray) -> None:
    """Exact duplicates (same content hash): where they cross splits or species, each is a problem."""
    by_hash: dict[str, list[int]] = defaultdict(list)
    for i, f in enumerate(facts):
        if ok[i]:
            by_hash[f.digest].append(i)
    for members in (m for m in by_hash.values() if len(m) > 1):
        splits = sorted({str(index.splits[i]) for i in members})
        species = sorted({index.class_names[index.labels[i]] for i in members})
        entry = {"paths": [index.paths[i] for i in members], "splits": splits, "species": species,
                 "crosses_splits": len(splits) > 1, "crosses_species": len(species) > 1}  # fmt: skip
        report.duplicates.append(entry)
        if entry["crosses_species"]:
            report.problems.append(
                f"identical images labelled as different species: {', '.join(entry['paths'])}; keep one"
            )
        elif entry["crosses_splits"]:
            report.problems.append(
                f"identical images in splits {'/'.join(splits)} (a test image is its own gallery twin): "
                f"{', '.join(entry['paths'])}; delete the copies"
            )
    if report.duplicates and not any(d["crosses_splits"] or d["crosses_species"] for d in report.duplicates):
        report.notes.append(f"{len(report.duplicates)} sets of identical images within one split")


def _groups_crossing(report: AuditReport, index: Any) -> None:
    """Groups (specimens, ``species/group``) whose images lie in more than one split."""
    seen: dict[str, set[str]] = defaultdict(set)
    for label, group, split in zip(index.labels, index.groups, index.splits, strict=True):
        if group:  # scoped by species, as the group split scopes them
            seen[f"{index.class_names[label]}/{group}"].add(str(split))
    report.groups_crossing = [
        {"group": g, "splits": sorted(s)} for g, s in sorted(seen.items()) if len(s) > 1
    ]
    if not seen:
        report.notes.append("no groups (specimen ids): if images are serial slices or repeated shots of one "
                            "specimen, give a manifest 'group' column or data.group_regex, or the split leaks")  # fmt: skip


def format_report(report: AuditReport) -> str:
    """The report as text: a species table, then every problem, then the notes, then the verdict."""
    lines = [f"visgen data check: {report.root}"]
    if report.fatal:
        return "\n".join([*lines, f"UNUSABLE: {report.fatal}"])
    header = f"{'species':<34} {'location':<30} {'DNA':>4} {'train':>6} {'val':>5} {'test':>5}  bucket"
    lines += ["", header, "-" * len(header)]
    for r in report.species:
        dna = "?" if r["dna"] is None else ("yes" if r["dna"] else "NO")
        lines.append(
            f"{r['species']:<34} {r['location'][:30]:<30} {dna:>4} {r['train']:>6} {r['val']:>5} {r['test']:>5}  {r['bucket']}"
            + (f"  ({r['hint']})" if r.get("hint") else "")
        )
    total = {s: sum(r[s] for r in report.species) for s in ("train", "val", "test")}
    lines.append(
        f"{len(report.species)} species; {total['train']} train, {total['val']} val, {total['test']} test images"
    )
    lines.append(f"image modes: {report.modes}; sizes: {dict(list(report.sizes.items())[:5])}"
                 + (f" (+{len(report.sizes) - 5} more)" if len(report.sizes) > 5 else ""))  # fmt: skip
    if report.skipped:
        lines.append(
            "skipped while scanning: " + ", ".join(f"{n} {why}" for why, n in sorted(report.skipped.items()))
        )
        lines += [f"  skipped {s['item']}: {s['reason']}" for s in report.skipped_items]
    if report.dna_without_images:
        shown = report.dna_without_images[:10]
        more = len(report.dna_without_images) - len(shown)
        lines.append(
            f"DNA without images ({len(report.dna_without_images)}): "
            + ", ".join(shown)
            + (f", +{more} more" if more else "")
        )
    if report.groups_crossing:
        lines.append(f"groups in more than one split: {len(report.groups_crossing)}")
    lines.append("")
    lines += [f"PROBLEM {i}: {p}" for i, p in enumerate(report.problems, start=1)]
    lines += [f"note: {n}" for n in report.notes]
    lines.append(f"{len(report.problems)} problem(s)" if report.problems else "clean: no problems found")
    return "\n".join(lines)
