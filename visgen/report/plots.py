"""Plots of a run folder (called by the pipeline at the end of a run) and of a whole multirun (the report).

``log_run_plots(run_dir, logger)`` draws from ``<run_dir>/<stage>/{per_species.csv,embeddings.npz}``
into ``<run_dir>/plots/`` and, when the logger can log images (W&B), logs them. A plot whose inputs
are absent is skipped and counted in the log line, never an error: plots must not fail a training run.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from visgen.report import figures
from visgen.report.runs import STAGES, RunRecord, headline_lambda

log = logging.getLogger(__name__)

_STAGE_TITLE = {"pretrain": "before alignment (pretrain)", "align": "after alignment"}


def read_per_species(path: Path) -> dict[str, tuple[float, float]]:
    """``per_species.csv`` -> ``{species: (n_train, acc)}`` (acc as a fraction; rows without acc skipped)."""
    out: dict[str, tuple[float, float]] = {}
    with path.open(newline="") as fh:
        for rec in csv.DictReader(fh):
            if rec.get("acc") not in (None, "", "nan"):
                out[rec["species"]] = (float(rec["n_train"]), float(rec["acc"]))
    return out


def mean_per_species(paths: Sequence[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Per-species accuracy averaged over runs (seeds): (``n_train`` [S], ``acc`` [S])."""
    tables = [read_per_species(p) for p in paths]
    species = sorted(set().union(*tables))
    n = np.array([next(t[s][0] for t in tables if s in t) for s in species])
    acc = np.array([np.mean([t[s][1] for t in tables if s in t]) for s in species])
    return n, acc


def _load_npz(path: Path) -> dict[str, np.ndarray] | None:
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _knn_pred(z: Mapping[str, np.ndarray]) -> np.ndarray:
    from visgen.eval.knn import knn_predict  # the one door into FAISS

    pred, _ = knn_predict(
        np.ascontiguousarray(z["gallery_embeddings"], dtype=np.float32),
        np.asarray(z["gallery_labels"]),
        np.ascontiguousarray(z["query_embeddings"], dtype=np.float32),
        k=5,
        metric="euclidean",
    )
    return np.asarray(pred)


def _anchors(run_dir: Path, z: Mapping[str, np.ndarray] | None) -> np.ndarray | None:
    """The anchors the alignment used [C, D]: saved with the run, else rebuilt from its config."""
    if z is None:
        return None
    if "anchors" in z:
        return z["anchors"]
    path = run_dir / "align" / "anchors.npy"
    if path.exists():
        return np.load(path, allow_pickle=False)
    cfg_path = run_dir / ".hydra" / "config.yaml"
    if not cfg_path.exists():
        return None
    try:
        from omegaconf import OmegaConf

        from visgen.run.pipeline import build_anchors  # the pipeline's own recipe: same FASTA, mode and control

        return np.asarray(build_anchors(OmegaConf.load(cfg_path), [str(s) for s in z["species"]]))
    except Exception as err:  # plots are optional: a config we cannot rebuild from is a logged skip
        log.info("anchors of %s not rebuilt (%s: %s)", run_dir, type(err).__name__, err)
        return None


def draw_run_plots(
    run_dir: Path, out_dir: Path, prefix: str = "", stage_names: Sequence[str] = STAGES
) -> tuple[list[Path], list[str]]:
    """All plots one run folder supports (for ``stage_names``); returns (written PNGs, reasons for skips)."""
    stages = {s: _load_npz(run_dir / s / "embeddings.npz") for s in stage_names}
    stages = {s: z for s, z in stages.items() if z is not None}
    written: list[Path] = []
    skipped: list[str] = []
    if not stages:
        return [], ["no <stage>/embeddings.npz"]
    last = list(stages)[-1]
    species = [str(s) for s in stages[last]["species"]]
    n_classes = len(species)

    tables = {
        s: run_dir / s / "per_species.csv" for s in stages if (run_dir / s / "per_species.csv").exists()
    }
    if tables:
        series = {_STAGE_TITLE[s]: mean_per_species([p]) for s, p in tables.items()}
        written.append(figures.per_class_vs_count(series, out_dir / f"{prefix}per_class_vs_count.png"))
    else:
        skipped.append("per-class plot: no per_species.csv")

    panels = {_STAGE_TITLE[s]: (z["query_embeddings"], z["query_labels"]) for s, z in stages.items()}
    anchors = _anchors(run_dir, stages.get("align"))
    if anchors is not None and np.isnan(anchors).any():  # data.classes=all: image-only species have no anchor
        skipped.append("anchor plots: some species have no DNA (NaN anchor rows)")
        anchors = None
    anchor_map = {_STAGE_TITLE["align"]: anchors} if anchors is not None else None
    written.append(
        figures.embedding_tsne(panels, n_classes, out_dir / f"{prefix}tsne.png", anchors=anchor_map)
    )
    if anchors is None and "align" in stages:
        skipped.append("anchor markers: align/embeddings.npz has no `anchors`")

    try:
        pred = _knn_pred(stages[last])
        written.append(
            figures.confusion_matrix(
                stages[last]["query_labels"], pred, species, out_dir / f"{prefix}confusion.png"
            )
        )
    except ImportError as err:
        skipped.append(f"confusion matrix: {err}")

    if anchors is not None:
        visual = {
            _STAGE_TITLE[s]: figures.class_centroids(z["gallery_embeddings"], z["gallery_labels"], n_classes)
            for s, z in stages.items()
        }
        try:
            path, stats = figures.genetic_vs_visual(
                anchors, visual, out_dir / f"{prefix}genetic_vs_visual.png"
            )
            written.append(path)
            log.info("Mantel r (genetic vs visual): %s", {k: round(v[0], 3) for k, v in stats.items()})
        except (ImportError, ValueError) as err:  # ValueError: e.g. equidistant anchors, no correlation
            skipped.append(f"genetic vs visual: {err}")
    else:
        skipped.append("genetic vs visual: no anchors saved")
    return written, skipped


def _image_loggers(logger: Any) -> list[Any]:
    loggers: Iterable[Any] = logger if isinstance(logger, list | tuple) else [logger]
    return [lg for lg in loggers if lg is not None and hasattr(lg, "log_image")]


def log_run_plots(run_dir: Path, logger: Any = None) -> list[Path]:
    """Draw a finished run's plots into ``<run_dir>/plots/`` and log them to image-capable loggers.

    Args:
        run_dir: the run folder (``<stage>/embeddings.npz``, ``<stage>/per_species.csv``).
        logger: a Lightning logger or list of loggers; those with ``log_image`` (W&B) get the PNGs.

    Returns:
        The PNGs written (possibly none).
    """
    run_dir = Path(run_dir)
    written, skipped = draw_run_plots(run_dir, run_dir / "plots")
    for lg in _image_loggers(logger):
        for path in written:
            lg.log_image(key=f"plots/{path.stem}", images=[str(path)])
    log.info(
        "wrote %d plots to %s; skipped %d (%s)",
        len(written),
        run_dir / "plots",
        len(skipped),
        "; ".join(skipped),
    )
    return written


def stage_plots(stage_dir: Path) -> list[Path]:
    """Plots of one finished stage (``<run_dir>/<stage>``) into ``<stage_dir>/plots/``, for the stage's logger."""
    stage_dir = Path(stage_dir)
    written, skipped = draw_run_plots(stage_dir.parent, stage_dir / "plots", stage_names=(stage_dir.name,))
    log.info(
        "wrote %d plots for stage %s; skipped %d (%s)",
        len(written),
        stage_dir.name,
        len(skipped),
        "; ".join(skipped),
    )
    return written


def write_report_plots(records: Sequence[RunRecord], out_dir: Path) -> list[Path]:
    """Plots beside the table: per-class accuracy vs training count for baseline, LTR and LTR + align
    (averaged over seeds) and the full plot set of one LTR + align run (lowest seed), all at λ = 1
    (or real images)."""
    ok = [r for r in records if r.status == "ok" and r.job_dir is not None]
    lam = headline_lambda(r.phylo_signal for r in ok)
    ok = [r for r in ok if r.phylo_signal == lam]
    series = {}
    for label, names in (
        ("baseline", ("rtl_softmax", "baseline")),
        ("LTR", ("ltr",)),
        ("LTR + align", ("ltr_align",)),
    ):
        for name in names:
            paths = [r.job_dir / str(r.stage) / "per_species.csv" for r in ok if r.name == name and r.job_dir]
            paths = [p for p in paths if p.exists()]
            if paths:
                series[f"{label} ({name}, {len(paths)} seed{'s' if len(paths) > 1 else ''})"] = (
                    mean_per_species(paths)
                )
                break
    written = [figures.per_class_vs_count(series, out_dir / "per_class_vs_count.png")] if series else []
    runs = sorted((r for r in ok if r.name == "ltr_align"), key=lambda r: (r.seed is None, r.seed))
    if runs and runs[0].job_dir is not None:
        more, skipped = draw_run_plots(runs[0].job_dir, out_dir, prefix=f"ltr_align_seed{runs[0].seed}_")
        written += [p for p in more if "per_class_vs_count" not in p.name]
        if skipped:
            log.info("report plots skipped: %s", "; ".join(skipped))
    return written
