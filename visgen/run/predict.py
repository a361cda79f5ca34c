"""``visgen predict`` and ``visgen embed``: a trained run applied to new images.

The classifier is the one the run was evaluated with: the KNN callback's gallery (``embeddings.npz``, the
training images embedded by the best checkpoint), its ``k`` and metric (``metrics.json``), and the
evaluation preprocessing (decode to square grey at the run's ``data.image_size``, ImageNet normalisation,
no augmentation). So for a test image of the run, ``pred_1`` is the callback's test prediction.

Ranking: species are ordered by their votes among the k nearest gallery images (ties: the species whose
first neighbour is nearer — the callback's vote rule), then the species without a vote by the distance of
their prototype. ``score_i`` is species i's share of the k votes. ``novelty`` is the distance to the nearest
class prototype over that class's spread (``visgen.eval.prototype_novelty``).
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from visgen.data.decode import BadImageError, load_square_uint8
from visgen.data.layouts.folder import IMAGE_EXTENSIONS
from visgen.errors import UserInputError
from visgen.eval.knn import Metric, knn_search, write_index
from visgen.eval.prototype_novelty import class_prototypes, novelty_scores
from visgen.run.run_files import RunFiles, read_run_files

log = logging.getLogger(__name__)


@dataclass
class TrainedRun:
    """A trained stage, ready to embed and classify images.

    Attributes:
        net: the ``EmbeddingNet`` in eval mode on ``device``.
        normalise: the evaluation preprocessing (``BatchAugment`` without augmentation).
        image_size: the decode size the run used.
        species: C class names (label order).
        gallery: float32 [N, E] the KNN callback's gallery; gallery_labels: int64 [N].
        k, metric: the callback's KNN settings.
        autocast: the run's mixed-precision dtype on ``device`` (None = float32).
        files: where it all came from.
    """

    net: torch.nn.Module
    normalise: torch.nn.Module
    image_size: int
    species: list[str]
    gallery: np.ndarray
    gallery_labels: np.ndarray
    k: int
    metric: Metric
    device: torch.device
    autocast: torch.dtype | None
    files: RunFiles


def load_run(path: str | Path, device: str = "auto") -> TrainedRun:
    """Rebuild the net of a run folder (its last stage) or of a checkpoint, with its gallery and KNN settings."""
    from visgen.data.transforms import BatchAugment
    from visgen.models.backbone import EmbeddingNet
    from visgen.run.stages import load_net_weights

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserInputError(f"--device {device}: no CUDA device here; use --device cpu (or auto)")
    files = read_run_files(Path(path))
    dev = torch.device(
        "cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device)
    )
    net_cfg = files.config["model"]["net"]
    state = torch.load(files.checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    net = EmbeddingNet(
        int(state["net.classifier.weight"].shape[0]),
        trunk=str(net_cfg["trunk"]),
        embedding_dim=int(net_cfg["embedding_dim"]),
        weights=None,
    )
    load_net_weights(net, files.checkpoint)
    data = files.config["data"]
    augment = data.get("augment") or {}
    normalise = BatchAugment(**{k: augment[k] for k in ("mean", "std") if k in augment})
    precision = str(files.config.get("trainer", {}).get("precision", "32"))
    autocast = (
        torch.bfloat16
        if precision.startswith("bf16")
        else (torch.float16 if precision.startswith("16") else None)
    )
    with np.load(files.embeddings, allow_pickle=False) as z:
        gallery, labels, species = z["gallery_embeddings"], z["gallery_labels"], z["species"].tolist()
    return TrainedRun(
        net=net.to(dev).eval(), normalise=normalise.to(dev), image_size=int(data["image_size"]), species=species,
        gallery=np.ascontiguousarray(gallery, dtype=np.float32), gallery_labels=np.asarray(labels, dtype=np.int64),
        k=int(files.metrics.get("k", 5)), metric=files.metrics.get("metric", "euclidean"), device=dev,
        autocast=autocast if dev.type == "cuda" else None, files=files,
    )  # fmt: skip


def list_images(inputs: Sequence[str | Path]) -> list[Path]:
    """Image files named directly or found (recursively, sorted) in the given folders.

    Raises:
        UserInputError: a path that does not exist, or no image at all.
    """
    out: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            out += sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        elif item.is_file():
            out.append(item)
        else:
            raise UserInputError(f"{item}: no such image or folder; check the path")
    if not out:
        raise UserInputError(
            f"no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}) in {', '.join(map(str, inputs))}"
        )
    return out


def _decode(path: Path, size: int) -> np.ndarray | BadImageError:
    try:
        return load_square_uint8(path, size)
    except BadImageError as err:
        return err


def embed_images(
    run: TrainedRun, paths: Sequence[Path], *, batch_size: int = 256, workers: int = 4, progress: bool = True
) -> tuple[np.ndarray, list[Path], Counter[str]]:
    """Embed image files with the run's net, batch by batch; unreadable files are skipped and counted.

    Returns:
        ``(embeddings float32 [M, E], the M embedded paths, {reason: count} of the skipped files)``.
    """
    from tqdm.auto import tqdm

    chunks, kept, bad = [], [], Counter()
    bar = tqdm(total=len(paths), unit="img", disable=not progress, desc="embedding")
    cast = torch.autocast(run.device.type, dtype=run.autocast) if run.autocast else nullcontext()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool, torch.inference_mode():
        for start in range(0, len(paths), batch_size):
            batch = list(paths[start : start + batch_size])
            images = []
            for path, img in zip(batch, pool.map(lambda p: _decode(p, run.image_size), batch), strict=True):
                if isinstance(img, BadImageError):
                    bad[img.reason] += 1
                    log.warning("skipped %s", img)
                else:
                    images.append(img)
                    kept.append(path)
            if images:
                x = torch.from_numpy(np.stack(images)).unsqueeze(1).to(run.device, non_blocking=True)
                with cast:
                    out = run.net(run.normalise(x, train=False))["embedding"]
                chunks.append(out.float().cpu().numpy())
            bar.update(len(batch))
    bar.close()
    emb = np.concatenate(chunks) if chunks else np.zeros((0, run.gallery.shape[1]), np.float32)
    return emb, kept, bad


def rank_species(
    run: TrainedRun, queries: np.ndarray, top_k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-k species per query by the run's KNN vote (see the module docstring), with novelty.

    Returns:
        ``ranked`` int64 [M, top_k] class indices, ``scores`` float64 [M, top_k] vote shares, ``novelty`` [M].
    """
    top_k = min(top_k, len(run.species))
    _, idx = knn_search(run.gallery, queries, k=run.k, metric=run.metric)
    neighbours = run.gallery_labels[idx]  # [M, k], nearest first
    protos, spreads = class_prototypes(run.gallery, run.gallery_labels, len(run.species), run.metric)
    novelty, _, proto_dist = novelty_scores(queries, protos, spreads, run.metric)
    ranked = np.zeros((len(queries), top_k), dtype=np.int64)
    scores = np.zeros((len(queries), top_k))
    for m, row in enumerate(neighbours):
        votes = Counter(row.tolist())
        first = {c: int(np.flatnonzero(row == c)[0]) for c in votes}
        voted = sorted(votes, key=lambda c: (-votes[c], first[c]))
        rest = [int(c) for c in np.argsort(proto_dist[m], kind="stable") if c not in votes]
        order = (voted + rest)[:top_k]
        ranked[m] = order
        scores[m] = [votes.get(c, 0) / run.k for c in order]
    return ranked, scores, novelty


def predict(
    run_path: str | Path, inputs: Sequence[str | Path], *, out: str | Path, top_k: int = 5,
    batch_size: int = 256, device: str = "auto", progress: bool = True,
) -> tuple[Path, int, Counter[str]]:  # fmt: skip
    """Write ``path, pred_1, score_1, …, pred_k, score_k, novelty`` for every readable image.

    Returns:
        ``(the CSV, images predicted, {reason: count} of skipped files)``.
    """
    if top_k < 1:
        raise UserInputError(f"--top-k {top_k}: must be >= 1")
    run = load_run(run_path, device)
    paths = list_images(inputs)
    emb, kept, bad = embed_images(run, paths, batch_size=batch_size, progress=progress)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    k = min(top_k, len(run.species))
    with out.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(
            ["path", *[f"{c}_{i}" for i in range(1, k + 1) for c in ("pred", "score")], "novelty"]
        )
        for rows in _batches(len(kept), 4096):
            ranked, scores, novelty = rank_species(run, emb[rows], k)
            for j, m in enumerate(rows):
                cells = [v for i in range(k) for v in (run.species[ranked[j, i]], f"{scores[j, i]:.3f}")]
                writer.writerow([str(kept[m]), *cells, f"{novelty[j]:.4f}"])
    return out, len(kept), bad


def _batches(n: int, size: int) -> Iterator[np.ndarray]:
    for start in range(0, n, size):
        yield np.arange(start, min(n, start + size))


def embed(
    run_path: str | Path, inputs: Sequence[str | Path], *, out: str | Path, batch_size: int = 256,
    device: str = "auto", progress: bool = True,
) -> tuple[Path, Path, int, Counter[str]]:  # fmt: skip
    """Write ``ids, embeddings, labels, species`` (npz) and the gallery's FAISS index (``<out>.faiss``).

    ``labels`` is the class of an image's species folder when the folder names a class of the run (folder
    names read as training reads them), else -1.

    Returns:
        ``(the npz, the index file, images embedded, {reason: count} of skipped files)``.
    """
    from visgen.genetics.species import canonical_species

    run = load_run(run_path, device)
    emb, kept, bad = embed_images(run, list_images(inputs), batch_size=batch_size, progress=progress)
    synonyms = (run.files.config.get("genetics") or {}).get("synonyms") or {}
    lookup = {name: c for c, name in enumerate(run.species)}
    labels = np.asarray(
        [lookup.get(canonical_species(p.parent.name, synonyms), -1) for p in kept], dtype=np.int64
    )
    out = Path(out) if str(out).endswith(".npz") else Path(f"{out}.npz")  # what np.savez writes
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        out,
        ids=np.array([str(p) for p in kept]),
        embeddings=emb,
        labels=labels,
        species=np.array(run.species),
    )
    index_path = out.with_suffix(".faiss")
    write_index(run.gallery, str(index_path), run.metric)
    return out, index_path, len(kept), bad
