"""The ``rebalance`` stage: a decoupled rebalancing baseline on the frozen pretrained trunk, scored like alignment.

Rows ``ltr_plain``, ``ltr_crt``, ``ltr_tau_norm``, ``ltr_logit_adjust`` and ``ltr_ncm`` (conf/experiment/)
reuse ``ltr``'s cached pretraining, as the alignment rows do, and replace the alignment by one method of
``visgen.eval.rebalance``. Every row is scored by ``evaluate_embeddings`` (the paper's 5-NN vote and nearest
class mean over its embedding, exactly as the other stages) and, in ``test/clf/*``, by the same metric
function over its classifier's predictions: the softmax classifier for ``plain``, the re-trained one for
``crt``, τ-normalised or logit-adjusted ones, and the class means for ``ncm``. Only cRT changes the
embedding; the post-hoc methods change the classifier alone, so their KNN/NCM numbers are ``ltr``'s.
"""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from visgen.callbacks.knn_eval import KnnEvalCallback
from visgen.eval import rebalance as rb
from visgen.eval.knn import nearest_mean_predict
from visgen.eval.knn_settings import IndexSettings
from visgen.eval.metrics import knn_metrics, per_species_table
from visgen.eval.stage import evaluate_embeddings
from visgen.results import RunRecord, annotate_metrics
from visgen.run.outcomes import species_distances
from visgen.run.stages import load_net_weights

log = logging.getLogger(__name__)


@torch.no_grad()
def _features(net: Any, dm: Any, split: str, device: torch.device, bf16: bool) -> tuple[torch.Tensor, ...]:
    """Pooled trunk features [N, F] (float32), labels [N] and split positions [N] of one split, unaugmented."""
    loader = dm.split_dataloader(split)
    feats, labels, index = [], [], []
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else nullcontext()
    for batch in loader:
        batch = dm.on_after_batch_transfer({k: v.to(device) for k, v in batch.items()}, 0)
        with autocast:
            feats.append(net(batch["image"])["features"].float())
        labels.append(batch["label"])
        index.append(batch["index"])
    return torch.cat(feats), torch.cat(labels), torch.cat(index)


@torch.no_grad()
def _heads(net: Any, features: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    out = net.heads(features)
    return out["embedding"].float().cpu().numpy(), out["logits"].float().cpu().numpy()


def rebalance_stage(cfg: DictConfig, dm: Any, run_dir: Path, record: RunRecord, weights: Path) -> None:
    """Run ``cfg.rebalance.method`` on the pretrained net in ``weights`` and write the stage's test outputs."""
    start = time.time()
    rcfg = cfg.rebalance
    method = str(rcfg.method)
    cuda = torch.cuda.is_available() and cfg.trainer.accelerator != "cpu"
    device = torch.device("cuda" if cuda else "cpu")
    bf16 = cuda and "bf16" in str(cfg.trainer.get("precision", ""))
    net = instantiate(cfg.model.net, num_classes=dm.num_classes)
    load_net_weights(net, weights)
    net.to(device).eval()
    dm.setup("test")
    split = {s: _features(net, dm, s, device, bf16) for s in ("train", "val", "test")}
    facts: dict[str, Any] = {"method": method}
    counts = np.asarray(dm.train_counts)
    if method == "crt":
        torch.manual_seed(int(cfg.seed))
        facts["train_loss"] = rb.crt_retrain(
            split["train"][0], split["train"][1], net.embed_head, net.classifier,
            epochs=int(rcfg.epochs), batch_size=int(rcfg.batch_size), lr=float(rcfg.lr), seed=int(cfg.seed),
        )  # fmt: skip
    emb = {s: _heads(net, f) for s, (f, _, _) in split.items()}
    y = {s: split[s][1].cpu().numpy() for s in split}
    gallery = emb["train"][0]

    def predict(s: str, tau: float) -> np.ndarray:
        """The method's classifier predictions on split ``s`` at τ."""
        z, logits = emb[s]
        if method == "tau_norm":
            w = rb.tau_normalise(net.classifier.weight.detach().cpu().numpy(), tau)
            return np.argmax(z @ w.T + net.classifier.bias.detach().cpu().numpy(), axis=1)
        if method == "logit_adjust":
            return np.argmax(rb.logit_adjust(logits, rb.class_prior(counts), tau), axis=1)
        if method == "ncm":
            return nearest_mean_predict(gallery, y["train"], z, metric=cfg.callbacks.knn_eval.metric)
        return np.argmax(logits, axis=1)

    tau = 0.0
    if method in ("tau_norm", "logit_adjust"):
        tau, scores = rb.choose_tau(lambda t: predict("val", t), y["val"], list(rcfg.tau_grid))
        facts.update(tau=tau, val_per_class_by_tau=dict(zip(map(float, rcfg.tau_grid), scores, strict=True)))
        log.info("%s: τ = %.2f chosen on validation (per-class accuracy %.4f)", method, tau, max(scores))
    _score_and_write(cfg, dm, run_dir / "rebalance", split, emb, predict("test", tau))
    annotate_metrics(run_dir / "rebalance", profile=cfg.profile.name, stage="rebalance")
    record.stages["rebalance"] = {**facts, "from": str(weights), "wall_s": round(time.time() - start, 2)}


def knn_index_options(knn: Any) -> dict[str, Any]:
    """``{"index", "index_settings"}`` of the ``callbacks.knn_eval`` node, as the callback receives them."""
    node = knn.get("index_settings")
    return {
        "index": knn.get("index", "flat"),
        "index_settings": instantiate(node) if node is not None else IndexSettings(),
    }


def _score_and_write(
    cfg: DictConfig, dm: Any, stage_dir: Path, split: dict[str, tuple[torch.Tensor, ...]],
    emb: dict[str, tuple[np.ndarray, np.ndarray]], clf_pred: np.ndarray,
) -> None:  # fmt: skip
    """KNN/NCM over the embedding and ``clf/*`` over the classifier's test predictions, written like a test."""
    knn = cfg.callbacks.knn_eval
    index = knn_index_options(knn)
    names, rare = list(dm.class_names), sorted(int(c) for c in dm.rare_classes)
    g_lab, g_idx = (t.cpu().numpy() for t in split["train"][1:])
    q_lab, q_idx = (t.cpu().numpy() for t in split["test"][1:])
    extra = np.asarray(dm.extra_test, dtype=bool)[q_idx]
    groups = {"num_classes": len(names), "rare_classes": rare, "buckets": list(dm.shot_buckets)}
    distances = species_distances(cfg, names)
    scores, pred = evaluate_embeddings(
        emb["train"][0],
        g_lab,
        emb["test"][0],
        q_lab,
        k=int(knn.k),
        metric=knn.metric,
        overall_mask=~extra,
        distances=distances,
        **index,
        **groups,
    )
    clf = knn_metrics(clf_pred, q_lab, clf_pred[:, None], overall_mask=~extra, **groups)
    scores.update({f"clf/{k}": v for k, v in clf.items() if not k.startswith("top")})
    n_train = np.bincount(g_lab, minlength=len(names))
    table = per_species_table(
        pred, q_lab, class_names=names, n_train=n_train, rare_classes=rare, buckets=groups["buckets"]
    )
    writer = KnnEvalCallback(
        k=int(knn.k), metric=knn.metric, out_dir=stage_dir, species_distances=distances, **index
    )
    writer.write_outputs(
        {f"test/{k}": v for k, v in scores.items()}, names, rare, table,
        (emb["train"][0], g_lab, g_idx), (emb["test"][0], q_lab, q_idx), extra,
    )  # fmt: skip
    log.info(
        "rebalance test: knn acc %.4f, rare %.4f; ncm rare %.4f; classifier acc %.4f, per-class %.4f, rare %.4f",
        scores["knn/acc"], scores["knn/rare_acc"], scores["ncm/rare_acc"],
        scores["clf/acc"], scores["clf/per_class_acc"], scores["clf/rare_acc"],
    )  # fmt: skip
