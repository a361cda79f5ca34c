"""Do genetic anchors separate convergent look-alikes? (experiments/paper_table/README.md, "Convergent look-alikes")

On a ForamSim draw with ``data.sim_convergent=K`` the K rarest species look like common, genetically distant
partners (``visgen/sim/convergence.py``; the pairs are in each job's ``run.json``). For every finished job
of the given sweeps, the script re-runs the k = 5 Euclidean KNN over each stage's ``embeddings.npz`` and
measures, on the test split: the per-class accuracy over the K look-alike species, the share of their test
images predicted as their partner, and the per-class accuracy over the other rare species. It prints the mean
over seeds per experiment and stage, then paired differences by seed: alignment − LTR pretraining (same job)
and genetic − shuffled / random anchors (after alignment). ``--classifier ncm`` scores with the nearest class
mean instead of the 5-NN vote (a look-alike with few training images is then not outvoted by its partner).

    python experiments/paper_table/convergent_probe.py [--classifier ncm] multirun/convergent4
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from visgen.eval.knn import knn_predict, nearest_mean_predict
from visgen.eval.metrics import per_class_accuracy
from visgen.results import RunRecord, find_job_dirs, read_embeddings, read_metrics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from align_probes import mean_se  # the sibling script's paired mean and standard error

STAGES = ("pretrain", "align")


def stage_scores(
    stage_dir: Path, pairs: dict[str, str], rare: list[str], classifier: str = "knn"
) -> dict[str, float]:
    """Look-alike accuracy, share of look-alike images predicted as the partner, other-rare accuracy (in %),
    under the 5-NN vote (``knn``, the paper's) or the nearest class mean (``ncm``)."""
    emb = read_embeddings(stage_dir)
    assert emb is not None, f"{stage_dir}: no embeddings.npz"
    k = int(
        read_metrics(stage_dir).get("k", 5)
    )  # the run's k (5, the paper's, before metrics.json recorded it)
    species = [str(s) for s in emb["species"]]
    gallery = (emb["gallery_embeddings"], emb["gallery_labels"], emb["query_embeddings"])
    pred = knn_predict(*gallery, k=k)[0] if classifier == "knn" else nearest_mean_predict(*gallery)
    truth = emb["query_labels"].astype(np.int64)

    acc, _ = per_class_accuracy(pred, truth, len(species))

    def class_acc(names: list[str]) -> float:
        return 100 * float(np.mean([acc[species.index(s)] for s in names]))

    to_partner = [
        np.mean(pred[truth == species.index(r)] == species.index(p)) for r, p in pairs.items() if r in species
    ]
    others = [s for s in rare if s not in pairs]
    return {
        "look-alike acc": class_acc([r for r in pairs if r in species]),
        "to partner": 100 * float(np.mean(to_partner)),
        "other rare acc": class_acc(others) if others else float("nan"),
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classifier", choices=("knn", "ncm"), default="knn")
    parser.add_argument("dirs", nargs="+", help="sweep folders on a convergent ForamSim draw")
    args = parser.parse_args(argv)
    dirs = args.dirs
    scores: dict[tuple[str, str], dict[int, dict[str, float]]] = defaultdict(dict)
    for d in dirs:
        for job in find_job_dirs(Path(d)):
            record = RunRecord.read(job)
            pairs = record.data.get("convergent_pairs")
            if record.status != "ok" or not pairs or not (job / "align").is_dir():
                continue
            for stage in STAGES:
                scores[(record.name, stage)][record.seed] = stage_scores(
                    job / stage, pairs, record.data.get("rare_species", []), args.classifier
                )
    if not scores:
        sys.exit(f"no finished alignment jobs on a convergent ForamSim draw under {dirs}")
    metrics = ("look-alike acc", "to partner", "other rare acc")
    print("| experiment | stage | seeds | " + " | ".join(metrics) + " |")
    print("|---|---|---|" + "---|" * len(metrics))
    for (name, stage), by_seed in sorted(scores.items(), key=lambda kv: (kv[0][0], STAGES.index(kv[0][1]))):
        means = [statistics.mean(s[m] for s in by_seed.values()) for m in metrics]
        print(f"| {name} | {stage} | {len(by_seed)} | " + " | ".join(f"{v:.1f}" for v in means) + " |")
    print("\nPaired differences by seed, mean (SE), pp:\n")
    print("| comparison | " + " | ".join(metrics) + " |")
    print("|---|" + "---|" * len(metrics))
    comparisons = [(f"{n}: align − LTR", (n, "align"), (n, "pretrain")) for n, st in scores if st == "align"]
    for control in ("ltr_align_shuffled", "ltr_align_random"):
        comparisons.append((f"ltr_align − {control}", ("ltr_align", "align"), (control, "align")))
    for label, a, b in comparisons:
        if a not in scores or b not in scores:
            continue
        seeds = sorted(scores[a].keys() & scores[b].keys())
        cells = [mean_se([scores[a][s][m] - scores[b][s][m] for s in seeds]) for m in metrics]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
