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


def _one_step(devices: int, batch_size: int) -> dict[str, torch.Tensor]:
    """One SGD step on 12 images of 3 species, one sequence each (so the DNA partners are not random)."""
    torch.manual_seed(0)
    net = EmbeddingNet(num_classes=3, trunk="resnet18")
    module = ContrastiveAlignModule(
        net,
        DnaTower(k=3, embedding_dim=net.embedding_dim, hidden=16),
        KmerBank(SEQUENCES[:3], k=3),
        [[0], [1], [2]],
        ContrastiveLoss(gather=True),
        optimizer=functools.partial(torch.optim.SGD, lr=0.5),
    )
    trainer = L.Trainer(
        accelerator="cpu", devices=devices, strategy="ddp_fork" if devices > 1 else "auto", max_steps=1,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(module, DataLoader(DictImages(12, 3), batch_size=batch_size))
    return {k: v.clone() for k, v in module.state_dict().items()}


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")
def test_a_ddp_step_on_two_ranks_equals_one_process_on_the_whole_batch(fork_safe_threads: None) -> None:
    # Each rank sees 6 images; with the negatives gathered and the towers' gradients rescaled for DDP's averaging,
    # the step must be the single-process step on all 12 (the loss does not depend on the order of the pairs).
    single, ddp = _one_step(1, 12), _one_step(2, 6)
    for key in ("net.embed_head.weight", "tower.bag.weight", "tower.mlp.2.weight", "loss.log_scale"):
        torch.testing.assert_close(ddp[key], single[key], rtol=1e-4, atol=1e-6)
    assert not torch.equal(single["net.embed_head.weight"], _one_step(1, 6)["net.embed_head.weight"])
