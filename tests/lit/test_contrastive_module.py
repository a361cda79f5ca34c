"""ContrastiveAlignModule: what trains and what stays frozen, the DNA partners it draws, refused inputs."""

from __future__ import annotations

import functools

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from tests.lit.test_align_module import DictImages
from visgen.errors import UserInputError
from visgen.lit.contrastive import ContrastiveAlignModule
from visgen.losses.contrastive import ContrastiveLoss
from visgen.models.backbone import EmbeddingNet
from visgen.models.dna_tower import DnaTower, KmerBank

SEQUENCES = ["acgtacgtaa", "acgtacgtcc", "ttgaccattg", "gggaaatttc", "cagtcagtca", "cagtcagtgg"]
CLASS_ROWS = [[0, 1], [2], [3, 4, 5]]


def make_module(class_rows: list[list[int]] = CLASS_ROWS) -> ContrastiveAlignModule:
    torch.manual_seed(0)
    net = EmbeddingNet(num_classes=3, trunk="resnet18")
    return ContrastiveAlignModule(
        net,
        DnaTower(k=3, embedding_dim=net.embedding_dim, hidden=16),
        KmerBank(SEQUENCES, k=3),
        class_rows,
        ContrastiveLoss(gather=False),
        optimizer=functools.partial(torch.optim.Adam, lr=1e-2),
    )


def test_head_tower_and_temperature_train_while_trunk_and_classifier_stay_bit_identical() -> None:
    module = make_module()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    trainer = L.Trainer(
        accelerator="cpu", max_steps=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(module, DataLoader(DictImages(12, 3), batch_size=6))
    after = module.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert not any(k.startswith(("net.trunk.", "net.classifier.")) for k in changed)
    assert {"net.embed_head.weight", "tower.bag.weight", "tower.mlp.0.weight", "loss.log_scale"} <= changed
    # The tokenised sequences are rebuilt from the FASTA, not stored in checkpoints.
    assert not any(k.startswith("bank.") or k.startswith("seq_") for k in after)
    terms = ("loss", "image_to_dna", "dna_to_image", "logit_scale")
    assert {f"train/{t}_epoch" for t in terms} <= set(trainer.logged_metrics)


def test_each_image_is_paired_with_a_sequence_of_its_own_species_drawn_uniformly() -> None:
    module = make_module()
    torch.manual_seed(1)
    labels = torch.tensor([0, 1, 2] * 2000)
    rows = module.partners(labels)
    for c, own in enumerate(CLASS_ROWS):
        drawn = rows[labels == c]
        assert set(drawn.tolist()) == set(own)
        counts = torch.bincount(drawn, minlength=len(SEQUENCES))[own].float()
        assert (counts / counts.sum() - 1 / len(own)).abs().max() < 0.05


def test_a_class_without_sequences_is_refused_in_one_line() -> None:
    with pytest.raises(UserInputError, match="1 image classes have no sequence"):
        make_module([[0, 1], [], [2]])


def test_species_anchors_have_one_row_per_class() -> None:
    anchors = make_module().species_anchors()
    assert anchors.shape == (3, 256) and torch.isfinite(anchors).all()
