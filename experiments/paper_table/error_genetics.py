"""Are the KNN's mistakes phylogenetic? For each wrong prediction, how close is the predicted species to the true one
in the genetic anchor space (experiments/paper_table/README.md, "Where the errors go").

For every finished ``ltr_align`` job with genetic anchors (``align/anchors.npy``, control none) the script
re-runs the k = 5 Euclidean KNN over the stored ``embeddings.npz`` of both stages (pretraining and alignment)
and ranks, for each misclassified test image, the predicted species among the true species' genetic
neighbours (rank 1 = the species whose anchor is nearest the true species' anchor). It prints, per λ and
stage, the share of errors that land on one of the 3 nearest relatives (chance: 3 / (C - 1)) and the median
rank, for all errors and for errors on rare species, and how many of the rare species' errors go to
the 5 species with the most training images (the long tail's pull, which no anchor geometry addresses).

    python experiments/paper_table/error_genetics.py multirun/paper_table_quick multirun/paper_table_quick_draw*
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from visgen.eval.knn import knn_predict
from visgen.results import (
    RunRecord,
    find_job_dirs,
    read_anchors,
    read_embeddings,
    read_metrics,
    read_per_species,
)

NEAREST = 3
LARGEST = 5


def genetic_ranks(anchors: np.ndarray) -> np.ndarray:
    """``rank[t, p]``: how many species are at least as close to ``t`` as ``p`` is (1 = nearest other species)."""
    d = np.linalg.norm(anchors[:, None, :] - anchors[None, :, :], axis=-1)
    np.fill_diagonal(d, np.inf)
    return (d[:, None, :] <= d[:, :, None]).sum(axis=-1)


def stage_errors(stage_dir: Path, ranks: np.ndarray) -> tuple[list[int], list[int], list[bool]]:
    """Genetic ranks of the predicted species for all errors and for errors on rare species, and for each
    rare-species error whether the predicted species is one of the ``LARGEST`` with most training images."""
    emb = read_embeddings(stage_dir)
    assert emb is not None, f"{stage_dir}: no embeddings.npz"
    k = int(
        read_metrics(stage_dir).get("k", 5)
    )  # the run's k (5, the paper's, before metrics.json recorded it)
    table = {row["species"]: row for row in read_per_species(stage_dir)}
    rows = [table[str(s)] for s in emb["species"]]
    rare = np.array([row["rare"] == "True" for row in rows])
    counts = np.array([int(row["n_train"]) for row in rows])
    pred, _ = knn_predict(emb["gallery_embeddings"], emb["gallery_labels"], emb["query_embeddings"], k=k)
    truth = emb["query_labels"].astype(np.int64)
    wrong = pred != truth
    r = ranks[truth[wrong], pred[wrong]]
    many = np.zeros(len(counts), dtype=bool)
    many[np.argsort(-counts, kind="stable")[:LARGEST]] = True
    on_rare = rare[truth[wrong]]
    return r.tolist(), r[on_rare].tolist(), many[pred[wrong][on_rare]].tolist()


def main(dirs: list[str]) -> None:
    pooled: dict[tuple, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    n_classes = set()
    for d in dirs:
        for job in find_job_dirs(Path(d)):
            record = RunRecord.read(job)
            if record.status != "ok" or record.name != "ltr_align":
                continue
            if record.value("align.control") != "none" or record.value("align.anchor_mode") != "raw":
                continue
            anchors = read_anchors(job / "align")
            if anchors is None:
                continue
            anchors = anchors.astype(np.float64)
            n_classes.add(len(anchors))
            ranks = genetic_ranks(anchors)
            for stage in ("pretrain", "align"):
                every, rare, to_many = stage_errors(job / stage, ranks)
                key = (record.phylo_signal, stage)
                pooled[key]["all"] += every
                pooled[key]["rare"] += rare
                pooled[key]["to_many"] += to_many
                pooled[key]["jobs"].append(str(job))
    if not pooled:
        sys.exit(f"no finished ltr_align jobs with genetic anchors under {dirs}")
    (c,) = n_classes
    print(f"Errors whose predicted species is one of the true species' {NEAREST} genetically nearest species")
    print(
        f"(chance {100 * NEAREST / (c - 1):.1f} %, {c} species); median genetic rank of the predicted species.\n"
    )
    print(
        f"| λ | stage | jobs | errors | share to {NEAREST} nearest | median rank | rare errors | share | median rank "
        f"| rare errors to the {LARGEST} largest species (chance {100 * LARGEST / (c - 1):.1f} %) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (lam, stage), p in sorted(pooled.items(), key=lambda kv: (-kv[0][0], kv[0][1] != "pretrain")):
        cells = []
        for group in ("all", "rare"):
            r = np.asarray(p[group])
            cells += [str(len(r)), f"{100 * np.mean(r <= NEAREST):.1f} %", f"{statistics.median(r):g}"]
        cells.append(f"{100 * np.mean(p['to_many']):.1f} %")
        print(f"| {lam:g} | {stage} | {len(set(p['jobs']))} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
