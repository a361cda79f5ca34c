"""Is it the embedding or the classifier? The paper's 5-NN vote against nearest-class-mean (NCM) prediction over
the same stored embeddings (experiments/paper_table/README.md, "The classifier, not the alignment").

For every finished job of the given sweeps and each of its stages, the script scores the test queries of
``embeddings.npz`` with ``visgen.eval.stage.evaluate_embeddings`` — what the KNN callback computes: the k = 5
Euclidean KNN vote and nearest-class-mean prediction — so it also covers runs whose metrics.json predates NCM. Rare species and shot buckets come from the stage's ``per_species.csv``;
overall accuracy skips the test floor's extra images, as in the report. It prints the mean over seeds per
(experiment, λ, stage) and paired differences by cell (ForamSim draw, seed — so a row may come from another
sweep folder than its partner): NCM − KNN, and, under each classifier, LTR − baseline (``ltr`` against
``rtl_softmax`` pretraining), alignment − LTR (the same job's two stages) and genetic − shuffled / random anchors.

    python experiments/paper_table/classifier_probe.py multirun/paper_table_quick multirun/paper_table_quick_draw*
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from visgen.eval.stage import evaluate_embeddings
from visgen.report.table import lam_text
from visgen.results import RunRecord, find_job_dirs, read_embeddings, read_metrics, read_per_species

sys.path.insert(0, str(Path(__file__).resolve().parent))
from align_probes import mean_se  # the sibling script's paired mean and standard error

METRICS = {"overall": "acc", "per-class": "per_class_acc", "rare": "rare_acc"}
CLASSIFIERS = ("knn", "ncm")
CONTROLS = ("ltr_align_shuffled", "ltr_align_random")


def stage_scores(stage_dir: Path) -> dict[str, dict[str, float]]:
    """``{"knn": {"overall": %, "per-class": %, "rare": %}, "ncm": {...}}`` for one stage folder."""
    emb = read_embeddings(stage_dir)
    assert emb is not None, f"{stage_dir}: no embeddings.npz"
    table = {row["species"]: row for row in read_per_species(stage_dir)}
    rows = [table[str(s)] for s in emb["species"]]
    facts = read_metrics(
        stage_dir
    )  # the k and distance the run was scored with (5, euclidean before they were recorded)
    scores, _ = evaluate_embeddings(
        emb["gallery_embeddings"], emb["gallery_labels"], emb["query_embeddings"], emb["query_labels"],
        num_classes=len(rows), k=int(facts.get("k", 5)), metric=str(facts.get("metric", "euclidean")),
        rare_classes=[c for c, row in enumerate(rows) if row["rare"] == "True"],
        buckets=[row["bucket"] for row in rows],
        overall_mask=~emb.get("query_extra", np.zeros(len(emb["query_labels"]), dtype=bool)),
    )  # fmt: skip
    return {cl: {label: 100 * scores[f"{cl}/{key}"] for label, key in METRICS.items()} for cl in CLASSIFIERS}


def draw(record: RunRecord) -> int | None:
    """The ForamSim draw (``data.sim_seed``) a job ran on, from its run.json; None for real images."""
    return record.data.get("seed")


def main(dirs: list[str]) -> None:
    # (experiment, λ, stage) -> (draw, seed) -> classifier -> metric -> %
    scores: dict[tuple, dict[tuple, dict]] = defaultdict(dict)
    for d in dirs:
        for job in find_job_dirs(Path(d)):
            record = RunRecord.read(job)
            if record.status != "ok":
                continue
            for stage in ("pretrain", "align"):
                if (job / stage / "embeddings.npz").exists():
                    key, cell = (record.name, record.phylo_signal, stage), (draw(record), record.seed)
                    if cell in scores[key]:
                        sys.exit(
                            f"{job}: {key} of draw {cell[0]}, seed {cell[1]} is in two of the folders given"
                        )
                    scores[key][cell] = stage_scores(job / stage)
    if not scores:
        sys.exit(f"no finished jobs with stored embeddings under {dirs}")
    print("Mean over cells (sweeps × seeds), %:\n")
    print(
        "| experiment | λ | stage | cells | "
        + " | ".join(f"{c} {m}" for c in CLASSIFIERS for m in METRICS)
        + " |"
    )
    print("|---|---|---|---|" + "---|" * (len(CLASSIFIERS) * len(METRICS)))
    for (name, lam, stage), cells in sorted(
        scores.items(), key=lambda kv: (kv[0][0], -(kv[0][1] or 0), kv[0][2])
    ):
        means = [statistics.fmean(c[cl][m] for c in cells.values()) for cl in CLASSIFIERS for m in METRICS]
        print(
            f"| {name} | {lam_text(lam)} | {stage} | {len(cells)} | "
            + " | ".join(f"{v:.1f}" for v in means)
            + " |"
        )

    def paired(a: tuple, ca: str, b: tuple, cb: str, metric: str) -> str:
        common = sorted(scores.get(a, {}).keys() & scores.get(b, {}).keys())
        return mean_se([scores[a][c][ca][metric] - scores[b][c][cb][metric] for c in common])

    print("\nPaired differences by cell, mean (SE), pp:\n")
    print("| comparison | λ | " + " | ".join(METRICS) + " |")
    print("|---|---|" + "---|" * len(METRICS))
    for lam in sorted({k[1] for k in scores}, key=lambda x: -(x or 0)):
        # (label, (experiment, stage), (experiment, stage)): the same comparison under each classifier.
        pairs = [
            ("ltr − rtl_softmax", ("ltr", "pretrain"), ("rtl_softmax", "pretrain")),
            ("ltr_align − ltr", ("ltr_align", "align"), ("ltr_align", "pretrain")),
            *((f"ltr_align − {c}", ("ltr_align", "align"), (c, "align")) for c in CONTROLS),
        ]
        rows = [
            ("ltr: NCM − KNN", ("ltr_align", lam, "pretrain"), "ncm", ("ltr_align", lam, "pretrain"), "knn")
        ]
        rows += [
            (f"{cl}: {label}", (a[0], lam, a[1]), cl, (b[0], lam, b[1]), cl)
            for cl in CLASSIFIERS
            for label, a, b in pairs
        ]
        for label, a, ca, b, cb in rows:
            if a in scores and b in scores:
                print(
                    f"| {label} | {lam_text(lam)} | "
                    + " | ".join(paired(a, ca, b, cb, m) for m in METRICS)
                    + " |"
                )


if __name__ == "__main__":
    main(sys.argv[1:])
