"""The GZSL stage: recognise held-out species from their DNA with the pretrained, frozen trunk.

After pretraining on the seen species (``data.unseen`` / ``data.unseen_fold``, or the data set's own unseen
partitions where its layout names them; ``data.shots`` images of each target), the trunk's features are
computed ONCE per cell (cached beside the pretraining's checkpoint) and every anchor of the ladder (``gzsl.anchors``; ``encoders`` there expands to each of ``gzsl.encoders``' rungs) is scored with both prototype methods (``gzsl.methods``,
``visgen.eval.gzsl_score``) along the k-shot curve ``gzsl.shots``, then the permutation null
(``gzsl.null``) refits only the map / head under permuted anchors. Writes ``<run>/gzsl/metrics.json``
(``test/gzsl/<anchor>/<method>/k<k>/<metric>`` plus p-values; the same k = 0 spaces scored as the peers'
retrieval, ``test/retrieval/...``: ``visgen.eval.gzsl_retrieval``; ``test/gzsl/novelty/*`` where the data has
species outside seen and unseen) and ``null.npz``.
"""

from __future__ import annotations

import json
import logging
import os
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from visgen.errors import UserInputError
from visgen.eval.gzsl_novelty import NOVELTY, novelty_metrics
from visgen.eval.gzsl_retrieval import ANCHOR_FREE_IMAGES, cell_retrieval, retrieval_metric
from visgen.eval.gzsl_score import (
    NULL_VERSION,
    CellFeatures,
    HeadSettings,
    explained_variance,
    p_value,
    permutation_null,
    permutations,
    reduce_features,
    score_with_space,
)
from visgen.eval.mistakes import genus_ids
from visgen.results import RunRecord, write_metrics, write_permutation_null
from visgen.run.outcomes import species_distances
from visgen.run.stages import load_net_weights

log = logging.getLogger(__name__)

#: ``novel``: a data set's species outside seen and unseen (empty unless its partitions name some).
SPLITS: tuple[str, ...] = ("train", "test", "support", "novel")


def cell_seed(cfg: DictConfig, targets: list[str]) -> int:
    """A seed that names the cell (seed, λ, ForamSim draw, targets, shots): controls and permutations follow it."""
    d = cfg.data
    key = [int(cfg.seed), d.get("phylo_signal"), d.get("sim_seed"), sorted(targets)]  # null for real images
    return zlib.crc32(json.dumps([*key, int(d.get("shots", 0))]).encode())


def extract_features(cfg: DictConfig, dm: Any, weights: Path) -> dict[str, np.ndarray]:
    """Trunk features, embeddings and labels of the train/test/support splits (cached beside ``weights``)."""
    path = Path(weights).parent / "gzsl_features.npz"
    if path.is_file() and path.stat().st_mtime >= Path(weights).stat().st_mtime:
        with np.load(path) as f:
            cached = dict(f)
        if all(f"{split}_x" in cached for split in SPLITS):  # a file from before a split existed is redone
            log.info("gzsl: reusing cached trunk features %s", path)
            return cached
    net = instantiate(cfg.model.net, num_classes=dm.num_classes)
    load_net_weights(net, weights)
    use_cuda = torch.cuda.is_available() and cfg.trainer.accelerator != "cpu"
    device = torch.device("cuda" if use_cuda else "cpu")
    net.to(device).eval()
    out: dict[str, np.ndarray] = {}
    with torch.inference_mode():
        for split in SPLITS:
            feats, embs, labels = [], [], []
            for batch in dm.split_dataloader(split):
                batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
                batch = dm.on_after_batch_transfer(batch, 0)
                res = net(batch["image"])
                feats.append(res["features"].float().cpu().numpy())
                embs.append(res["embedding"].float().cpu().numpy())
                labels.append(batch["label"].cpu().numpy())
            dim = net.feature_dim
            out[f"{split}_x"] = np.concatenate(feats) if feats else np.zeros((0, dim), np.float32)
            out[f"{split}_e"] = np.concatenate(embs) if embs else np.zeros((0, net.embed_head.out_features))
            out[f"{split}_y"] = np.concatenate(labels) if labels else np.zeros(0, np.int64)
    _savez_atomic(path, out)
    return out


def ladder_anchors(cfg: DictConfig, class_names: list[str], seed: int) -> dict[str, np.ndarray]:
    """Every anchor set of the ladder (``visgen.eval.zeroshot.ladder_names``), rows in class order.

    Each DNA encoder of ``gzsl.encoders`` is built once (``visgen.run.anchors.build_encoder``) and its anchors are
    preprocessed three ways; the shuffled and random controls use the first encoder's ``gzsl.control_of`` set.
    """
    from visgen.eval.zeroshot import ENCODER_MODES, ladder_names
    from visgen.genetics.anchors import control_anchors, equiangular_anchors, preprocess_anchors
    from visgen.genetics.dataset import load_genetic_anchors
    from visgen.run.anchors import build_encoder, genetics_options
    from visgen.sim import trees
    from visgen.sim.oracle import oracle_anchors

    fasta, genetics = genetics_options(cfg)
    names = ladder_names(list(cfg.gzsl.anchors), list(cfg.gzsl.encoders))
    dna: dict[str, np.ndarray] = {}
    for encoder_name in cfg.gzsl.encoders:
        if not any(n.startswith(f"{encoder_name}_") for n in names) and encoder_name != cfg.gzsl.encoders[0]:
            continue  # an encoder none of whose rungs is asked for
        encoder = build_encoder(cfg, str(encoder_name))
        raw, missing = load_genetic_anchors(
            fasta, encoder=encoder, **genetics, cache_dir=Path(cfg.cache_dir) / "genetics"
        ).for_classes(class_names)
        if missing:
            raise UserInputError(
                f"{fasta}: no DNA for image species {', '.join(missing)}; use data.classes=dna"
            )
        dna.update({f"{encoder_name}_{mode}": preprocess_anchors(raw, mode) for mode in ENCODER_MODES})
    base = dna[f"{cfg.gzsl.encoders[0]}_{cfg.gzsl.control_of}"]
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name in dna:
            out[name] = dna[name]
        elif name == "shuffled":  # a fresh derangement per cell
            out[name] = control_anchors(base, "shuffled", seed=seed)
        elif name == "random":
            out[name] = control_anchors(base, "random", seed=seed + 1)
        elif name == "equiangular":
            out[name] = equiangular_anchors(len(class_names), len(class_names), seed=None)
        elif name == "tower":
            continue  # fitted on the cell's features by gzsl_stage (visgen.run.contrastive.gzsl_tower_anchors)
        else:
            d = cfg.data
            out[name] = oracle_anchors(
                name, class_names, seed=int(d.sim_seed), phylo_signal=float(d.phylo_signal),
                intra_spread=float(d.sim_intra_spread), convergent=int(d.get("sim_convergent", 0)),
                convergent_skip=int(d.get("sim_convergent_skip", 0)),
                tree=str(d.get("sim_tree") or trees.DEFAULT),  # the generator's tree, so the oracle is its truth
            )  # fmt: skip
    return out


def gzsl_stage(cfg: DictConfig, dm: Any, run_dir: Path, record: RunRecord, weights: Path) -> dict[str, Any]:
    """Score the anchor ladder x prototype methods on the held-out species; write ``gzsl/metrics.json``."""
    start = time.time()
    g = cfg.gzsl
    stage_dir = run_dir / "gzsl"
    stage_dir.mkdir(parents=True, exist_ok=True)
    names = list(dm.class_names)
    targets = [names.index(t) for t in dm.targets]
    seed = cell_seed(cfg, list(dm.targets))
    f = extract_features(cfg, dm, weights)
    seen = sorted({int(c) for c in f["train_y"]} - set(targets))
    on_seen = ~np.isin(f["train_y"], targets)  # k-shot targets' kept images enter only as support
    distances = species_distances(cfg, names)  # where the targets' errors land, along the data's tree
    cell = CellFeatures(
        f["train_x"][on_seen], f["train_e"][on_seen], f["train_y"][on_seen],
        f["test_x"], f["test_e"], f["test_y"], f["support_x"], f["support_e"], f["support_y"],
        seen, targets, len(names), distances,
    )  # fmt: skip
    kept = explained_variance(cell.train_x, int(g.head.pca_dims))
    cell = reduce_features(cell, int(g.head.pca_dims))
    head = HeadSettings(int(g.head.steps), float(g.head.lr), float(cfg.align.margin), int(g.head.per_class))
    shots = [int(k) for k in g.shots]
    pool = {names[c]: int((cell.support_y == c).sum()) for c in targets}
    short = {t: n for t, n in pool.items() if n < max(shots)}
    if short:
        log.warning(
            "gzsl: k-shot support capped at the pool size for %s (k up to %d asked)", short, max(shots)
        )
    anchors = ladder_anchors(cfg, names, seed)
    if "tower" in g.anchors:
        from visgen.eval.zeroshot import ladder_names
        from visgen.run.contrastive import gzsl_tower_anchors

        fitted = gzsl_tower_anchors(cfg, cell.train_x, cell.train_y, names, seed)
        order = ladder_names(list(g.anchors), list(g.encoders))
        anchors = {n: fitted if n == "tower" else anchors[n] for n in order}  # the ladder's order
    log.info("gzsl: features ready after %.1f s; scoring %d anchor sets", time.time() - start, len(anchors))
    metrics: dict[str, Any] = {}
    genus, retrieved_by = genus_ids(names), {}
    for i, (name, a) in enumerate(anchors.items()):
        for method in g.methods:
            scores, space = score_with_space(cell, a, method, shots, head, seed)
            for k, m in scores.items():
                metrics.update({f"test/gzsl/{name}/{method}/k{k}/{key}": v for key, v in m.items()})
            # The peers' retrieval numbers in the same k = 0 spaces (image keys: the first anchor set only
            # where the image space does not depend on it).
            images = i == 0 or method not in ANCHOR_FREE_IMAGES
            found = cell_retrieval(cell, space, name, method, genus, images=images)
            metrics.update({f"test/retrieval/{key}": v for key, v in found.items()})
            retrieved_by[method] = retrieval_metric(space)
    if (
        distances.tree is not None
    ):  # how much of the data's tree each anchor set carries (no training involved)
        from visgen.eval.mantel import tree_signal

        for name, a in anchors.items():
            r, p = tree_signal(a, distances.tree, seed=seed)
            metrics.update({f"test/gzsl/{name}/tree_r": r, f"test/gzsl/{name}/tree_p": p})
    novelty = novelty_metrics(cell.train_e, cell.train_y, seen, cell.test_e, cell.test_y, f["novel_e"])
    metrics.update({f"test/gzsl/{NOVELTY}/{key}": v for key, v in novelty.items()})
    null: dict[str, np.ndarray] = {}
    for name in g.permutation.anchors:
        for method in g.permutation.methods:
            rng = np.random.default_rng([seed, zlib.crc32(f"{name}/{method}".encode())])
            perms = permutations(len(names), int(g.permutation.n), rng)
            tick = time.time()
            draws = _cached_null(Path(weights).parent, cell, anchors[name], method, perms, head, seed)
            for key, values in draws.items():
                null[f"{name}/{method}/{key}"] = values
                observed = metrics[f"test/gzsl/{name}/{method}/k0/{key}"]
                metrics[f"test/gzsl/{name}/{method}/p_{key}"] = p_value(observed, values)
            log.info(
                "gzsl: %d permutations of %s / %s in %.1f s", len(perms), name, method, time.time() - tick
            )
    write_permutation_null(stage_dir, null)
    facts = {
        "targets": list(dm.targets),
        "seen": [names[c] for c in seen],
        "chance_zsl": 1.0 / len(targets),
        "support_pool": pool,
        "cell_seed": seed,
        "pca_dims": int(g.head.pca_dims),
        "pca_variance_kept": kept,
        "permutations": int(g.permutation.n),
        "test_images": {names[c]: int((cell.test_y == c).sum()) for c in targets},
        "error_tree": distances.source,
        "retrieval_metric": retrieved_by,
        # The data set's own species outside seen and unseen (novelty queries, never targets), if it has any.
        "novel_images": {
            names[c]: int((f["novel_y"] == c).sum()) for c in sorted(set(f["novel_y"].tolist()))
        },
    }
    payload = {"profile": str(cfg.profile.name), "stage": "gzsl", **facts, **metrics}
    write_metrics(stage_dir, payload)
    record.stages["gzsl"] = {"from": str(weights), "wall_s": round(time.time() - start, 2), **facts}
    _log_summary(metrics, list(anchors), list(g.methods), facts["chance_zsl"])
    return payload


def _cached_null(
    folder: Path,
    cell: CellFeatures,
    anchors: np.ndarray,
    method: str,
    perms: np.ndarray,
    head: HeadSettings,
    seed: int,
) -> dict[str, np.ndarray]:
    """``permutation_null``, stored beside the cached features under a hash of everything it depends on.

    A rerun of a sweep (e.g. after a change to the k-shot curve, which the k = 0 null does not use) then costs
    seconds per cell instead of minutes.
    """
    import hashlib

    digest = hashlib.sha256()
    for part in (anchors, perms, cell.train_x, cell.test_x, np.asarray(cell.targets)):
        digest.update(np.ascontiguousarray(part).tobytes())
    digest.update(json.dumps([method, seed, head.__dict__, NULL_VERSION]).encode())
    path = folder / f"gzsl_null-{digest.hexdigest()[:16]}.npz"
    if path.is_file():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    draws = permutation_null(cell, anchors, method, perms, head, seed)
    _savez_atomic(path, draws)
    return draws


def _savez_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` through a temporary file named with the process id and a rename: cells may share the cache."""
    tmp = path.with_name(f"{path.stem}.tmp-{os.getpid()}.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _log_summary(metrics: dict[str, Any], anchors: list[str], methods: list[str], chance: float) -> None:
    lines = [f"GZSL k=0 (zsl top-1 chance {100 * chance:.0f} %): anchor / method: zsl top-1, unseen top-1, H"]
    for a in anchors:
        for m in methods:
            p = f"test/gzsl/{a}/{m}/k0/"
            lines.append(
                f"  {a:14s} {m:8s} {100 * metrics[p + 'zsl_top1']:5.1f} {100 * metrics[p + 'unseen_top1']:5.1f} "
                f"{100 * metrics[p + 'h']:5.1f}"
            )
    log.info("\n".join(lines))
