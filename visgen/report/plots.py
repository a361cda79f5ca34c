"""Plots of a run folder (called by the pipeline at the end of a run) and of a whole multirun (the report).

``log_run_plots(run_dir, logger)`` draws from ``<run_dir>/<stage>/{per_species.csv,embeddings.npz}``
into ``<run_dir>/plots/`` and, when the logger can log images (W&B), logs them. A plot whose inputs
are absent is skipped and counted in the log line, never an error: plots must not fail a training run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from visgen.report import figures
from visgen.report.directions import headline_lambda
from visgen.results import (
    STAGES,
    RunRecord,
    per_species_accuracy,
    read_anchors,
    read_embeddings,
    read_metrics,
)

log = logging.getLogger(__name__)

_STAGE_TITLE = {"pretrain": "before alignment (pretrain)", "align": "after alignment"}


def mean_per_species(stage_dirs: Sequence[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Per-species accuracy averaged over runs (seeds): (``n_train`` [S], ``acc`` [S]), from each ``per_species.csv``."""
    tables = [per_species_accuracy(p) for p in stage_dirs]
    species = sorted(set().union(*tables))
    n = np.array([next(t[s][0] for t in tables if s in t) for s in species])
    acc = np.array([np.mean([t[s][1] for t in tables if s in t]) for s in species])
    return n, acc


def _knn_pred(z: Mapping[str, np.ndarray], stage_dir: Path) -> tuple[np.ndarray, int]:
    """The stage's KNN predictions for its queries [M], with the k and distance its metrics.json records."""
    from visgen.eval.knn import knn_predict  # the one door into FAISS

    facts = read_metrics(stage_dir)
    k = int(facts.get("k", 5))  # 5: runs before metrics.json recorded k used the paper's k
    pred, _ = knn_predict(
        np.ascontiguousarray(z["gallery_embeddings"], dtype=np.float32),
        np.asarray(z["gallery_labels"]),
        np.ascontiguousarray(z["query_embeddings"], dtype=np.float32),
        k=k,
        metric=str(facts.get("metric", "euclidean")),
    )
    return np.asarray(pred), k


def draw_run_plots(
    run_dir: Path, out_dir: Path, prefix: str = "", stage_names: Sequence[str] = STAGES
) -> tuple[list[Path], list[str]]:
    """All plots one run folder supports (for ``stage_names``); returns (written PNGs, reasons for skips)."""
    stages = {s: read_embeddings(run_dir / s) for s in stage_names}
    stages = {s: z for s, z in stages.items() if z is not None}
    written: list[Path] = []
    skipped: list[str] = []
    if not stages:
        return [], ["no <stage>/embeddings.npz"]
    last = list(stages)[-1]
    species = [str(s) for s in stages[last]["species"]]
    n_classes = len(species)

    tables = {s: run_dir / s for s in stages if per_species_accuracy(run_dir / s)}
    if tables:
        series = {_STAGE_TITLE[s]: mean_per_species([p]) for s, p in tables.items()}
        written.append(figures.per_class_vs_count(series, out_dir / f"{prefix}per_class_vs_count.png"))
    else:
        skipped.append("per-class plot: no per_species.csv")

    panels = {_STAGE_TITLE[s]: (z["query_embeddings"], z["query_labels"]) for s, z in stages.items()}
    anchors = read_anchors(run_dir / "align") if "align" in stages else None
    if anchors is not None and np.isnan(anchors).any():  # data.classes=all: image-only species have no anchor
        skipped.append("anchor plots: some species have no DNA (NaN anchor rows)")
        anchors = None
    anchor_map = {_STAGE_TITLE["align"]: anchors} if anchors is not None else None
    written.append(
        figures.embedding_tsne(panels, n_classes, out_dir / f"{prefix}tsne.png", anchors=anchor_map)
    )
    if anchors is None and "align" in stages:
        skipped.append("anchor markers: no align/anchors.npy")

    try:
        pred, k = _knn_pred(stages[last], run_dir / last)
        written.append(
            figures.confusion_matrix(
                stages[last]["query_labels"], pred, species, out_dir / f"{prefix}confusion.png", k=k
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
    ok = [r for r in records if r.status == "ok" and r.run_dir is not None]
    lam = headline_lambda(r.phylo_signal for r in ok)
    ok = [r for r in ok if r.phylo_signal == lam]
    series = {}
    for label, names in (
        ("baseline", ("rtl_softmax", "baseline")),
        ("LTR", ("ltr",)),
        ("LTR + align", ("ltr_align",)),
    ):
        for name in names:
            paths = [r.run_dir / r.stage for r in ok if r.name == name and r.run_dir]
            paths = [p for p in paths if per_species_accuracy(p)]
            if paths:
                series[f"{label} ({name}, {len(paths)} seed{'s' if len(paths) > 1 else ''})"] = (
                    mean_per_species(paths)
                )
                break
    written = [figures.per_class_vs_count(series, out_dir / "per_class_vs_count.png")] if series else []
    runs = sorted((r for r in ok if r.name == "ltr_align"), key=lambda r: (r.seed is None, r.seed))
    if runs and runs[0].run_dir is not None:
        more, skipped = draw_run_plots(runs[0].run_dir, out_dir, prefix=f"ltr_align_seed{runs[0].seed}_")
        written += [p for p in more if "per_class_vs_count" not in p.name]
        if skipped:
            log.info("report plots skipped: %s", "; ".join(skipped))
    return written
