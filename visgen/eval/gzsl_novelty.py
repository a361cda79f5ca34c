"""Novelty of a data set's species outside seen and unseen: can the frozen embedding tell them from seen species?

A data set may hold images of species that are neither trained on nor targets (BIOSCAN-5M's ``other_heldout``).
They are queries only: each is scored with the GZSL stage's novelty score (``zeroshot.novelty_scores``: the
distance to the nearest seen prototype over that species' spread, in the pretrained embedding space the KNN
evaluation uses) and set against the seen species' test images. Anchor-free, so one set of numbers per cell.
Pure numpy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from visgen.eval.zeroshot import auroc, class_means, class_spread, novelty_scores

#: The metrics' name in ``gzsl/metrics.json``: ``test/gzsl/novelty/<key>`` (not an anchor, though it sits where one does).
NOVELTY = "novelty"


def novelty_metrics(
    train_e: np.ndarray,
    train_y: np.ndarray,
    seen: Sequence[int],
    test_e: np.ndarray,
    test_y: np.ndarray,
    novel_e: np.ndarray,
) -> dict[str, float]:
    """AUROC of the novelty score for novel-species images (positives) against the seen species' test images.

    Args:
        train_e: [N, D] training embeddings of the seen species; train_y: int [N].
        seen: the seen classes (the prototypes).
        test_e: [M, D] test embeddings; test_y: int [M] (only the seen classes' rows are used).
        novel_e: [Q, D] embeddings of the novel species' images.

    Returns:
        ``auroc`` (0.5 = no better than chance; NaN without either side), ``n_seen`` and ``n_novel`` (the
        images scored) and the median score of each side (``seen_median``, ``novel_median``); empty when
        there is no novel image.
    """
    if len(novel_e) == 0:
        return {}
    means = class_means(train_e, train_y, seen)
    spread = class_spread(train_e, train_y, seen, means)
    on_seen = np.isin(test_y, list(seen))
    seen_scores = novelty_scores(test_e[on_seen], means, spread)
    novel_scores = novelty_scores(novel_e, means, spread)
    scores = np.concatenate([seen_scores, novel_scores])
    positive = np.r_[np.zeros(len(seen_scores), bool), np.ones(len(novel_scores), bool)]
    return {
        "auroc": auroc(scores, positive),
        "n_seen": len(seen_scores),
        "n_novel": len(novel_scores),
        "seen_median": float(np.median(seen_scores)) if len(seen_scores) else float("nan"),
        "novel_median": float(np.median(novel_scores)),
    }
