"""A small trainable DNA encoder: a sequence's overlapping k-mers -> bag-of-k-mers embedding -> MLP -> E dims.

The contrastive alignment (``align.objective=contrastive``) trains it jointly with the image head. A bag of
k-mers (mean of per-k-mer vectors) ignores k-mer order beyond k, which is what the SGT anchors and the k-mer
distances of ``visgen.genetics`` also capture, and it trains in milliseconds per batch on a CPU.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from visgen.errors import UserInputError

#: Digit of each nucleotide in a k-mer id (base 4, first base most significant).
BASES = "acgt"


def kmer_ids(sequence: str, k: int) -> np.ndarray:
    """The multiset of overlapping k-mers of one sequence, as ids in order of position.

    Windows that hold a symbol other than a, c, g, t (either case) are skipped: an IUPAC ambiguity code
    stands for several k-mers and none of them is known.

    Returns:
        int64 [n], n = number of ACGT-only windows; id = Σ_i digit(base_i)·4^(k−1−i).
    """
    code = np.full(256, -1, dtype=np.int64)
    for digit, base in enumerate(BASES):
        code[ord(base)] = code[ord(base.upper())] = digit
    digits = code[np.frombuffer(sequence.encode("ascii", errors="replace"), dtype=np.uint8)]
    if digits.size < k:
        return np.zeros(0, dtype=np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(digits, k)
    valid = (windows >= 0).all(axis=1)
    return windows[valid] @ (4 ** np.arange(k - 1, -1, -1, dtype=np.int64))


class KmerBank(nn.Module):
    """Sequences stored as flat k-mer ids with offsets, so any subset feeds ``nn.EmbeddingBag`` at once.

    Buffers are not persistent: they are rebuilt from the FASTA, so checkpoints stay small.

    Args:
        sequences: N nucleotide sequences.
        k: k-mer length.
    """

    def __init__(self, sequences: Sequence[str], k: int) -> None:
        super().__init__()
        ids = [kmer_ids(s, k) for s in sequences]
        empty = [i for i, x in enumerate(ids) if x.size == 0]
        if empty:
            raise UserInputError(
                f"align.contrastive.kmer={k}: {len(empty)} sequences have no ACGT-only {k}-mer; lower the k "
                "or raise genetics.min_length"
            )
        lengths = torch.tensor([x.size for x in ids], dtype=torch.long)
        self.register_buffer("ids", torch.from_numpy(np.concatenate(ids)), persistent=False)
        self.register_buffer("lengths", lengths, persistent=False)
        self.register_buffer("starts", torch.cumsum(lengths, 0) - lengths, persistent=False)

    def __len__(self) -> int:
        return len(self.lengths)

    def select(self, rows: Tensor) -> tuple[Tensor, Tensor]:
        """Flat ids and bag offsets of sequences ``rows`` (long [B]), for ``nn.EmbeddingBag``."""
        lengths = self.lengths[rows]
        offsets = torch.cumsum(lengths, 0) - lengths
        # Position p of the output belongs to bag b; its id sits at starts[rows[b]] + (p − offsets[b]).
        bag = torch.repeat_interleave(torch.arange(len(rows), device=rows.device), lengths)
        within = torch.arange(int(lengths.sum()), device=rows.device) - offsets[bag]
        return self.ids[self.starts[rows][bag] + within], offsets


class DnaTower(nn.Module):
    """Bag of k-mer embeddings (mean over the sequence's k-mers) -> 2-layer MLP -> E.

    Args:
        k: k-mer length (vocabulary 4^k).
        embedding_dim: E, the image embedding's size.
        hidden: width of the k-mer vectors and of the MLP's hidden layer.
    """

    def __init__(self, k: int = 5, embedding_dim: int = 256, hidden: int = 256) -> None:
        super().__init__()
        if not 1 <= k <= 8:
            raise UserInputError(f"align.contrastive.kmer={k}: must lie in 1..8 (vocabulary 4^k); e.g. 5")
        self.k = int(k)
        self.bag = nn.EmbeddingBag(4**k, hidden, mode="mean")
        self.mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, embedding_dim))

    def forward(self, ids: Tensor, offsets: Tensor) -> Tensor:
        """Embed B sequences given as flat k-mer ids [n] and bag starts [B]; returns [B, E]."""
        return self.mlp(self.bag(ids, offsets))

    def embed(self, bank: KmerBank, rows: Tensor) -> Tensor:
        """Embed sequences ``rows`` (long [B]) of ``bank``; returns [B, E]."""
        return self(*bank.select(rows))


@torch.no_grad()
def tower_anchors(tower: DnaTower, bank: KmerBank, species_rows: Sequence[Sequence[int]]) -> Tensor:
    """Species anchors from a trained tower: the mean of each species' L2-normalised sequence embeddings.

    Normalised first because the contrastive loss only sees directions; a long sequence's norm must not
    outweigh the others. These are the ``[S, E]`` anchors a GZSL ladder can score images against.

    Args:
        tower: the trained DNA tower.
        bank: the tokenised sequences.
        species_rows: S lists of the rows of ``bank`` that belong to species s (empty: a NaN row).

    Returns:
        float32 [S, E].
    """
    was_training = tower.training
    tower.eval()
    emb = nn.functional.normalize(tower.embed(bank, torch.arange(len(bank), device=bank.ids.device)), dim=1)
    tower.train(was_training)
    out = torch.full((len(species_rows), emb.shape[1]), float("nan"), device=emb.device)
    for s, rows in enumerate(species_rows):
        if len(rows):
            out[s] = emb[torch.as_tensor(list(rows), device=emb.device)].mean(dim=0)
    return out
