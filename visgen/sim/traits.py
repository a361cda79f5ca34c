"""Brownian-motion traits along a species tree, with Pagel's lambda (pure numpy).

Pagel's lambda scales the internal branches of the tree's shared-path covariance ``C``:
``C_lambda = lambda*C + (1-lambda)*diag(C)`` (1: traits follow the tree, 0: a star, i.e. independence).
"""

from __future__ import annotations

import numpy as np


def pagel_lambda(cov: np.ndarray, lam: float) -> np.ndarray:
    """Pagel's lambda transform ``lam*C + (1-lam)*diag(C)`` (1: the tree, 0: a star, i.e. independence)."""
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"phylo_signal (Pagel's lambda) must lie in [0, 1], got {lam}")
    return lam * cov + (1.0 - lam) * np.diag(np.diag(cov))


def brownian_traits(cov: np.ndarray, n_traits: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n_traits`` independent Brownian-motion characters with species covariance ``cov``.

    Uses the symmetric square root (eigendecomposition), which tolerates the zero-length branches that
    identical profiles would give, where a Cholesky factor would fail.

    Returns:
        ``[N, n_traits]`` float64, each column ~ N(0, cov).
    """
    vals, vecs = np.linalg.eigh(cov)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    return root @ rng.standard_normal((cov.shape[0], n_traits))
