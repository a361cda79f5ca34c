"""load_genetic_anchors on the shipped data: the paper's anchors, missing classes, the disk cache."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from visgen.errors import UserInputError
from visgen.genetics import dataset as D
from visgen.genetics.dataset import load_genetic_anchors
from visgen.genetics.encoders.sgt import SgtEncoder
from visgen.resources import data_path


def _kwargs(cfg: dict) -> dict:
    """The reader keys of conf/genetics/sgt.yaml and the default SGT encoder."""
    return {k: v for k, v in cfg.items() if k not in ("fasta", "defaults")} | {"encoder": SgtEncoder()}


@pytest.fixture(scope="module")
def genetic(genetics_cfg: dict) -> D.GeneticAnchors:
    return load_genetic_anchors(data_path("foram_18S_rDNA.fasta"), **_kwargs(genetics_cfg), cache_dir=None)


def test_default_config_gives_the_papers_anchors(
    genetic: D.GeneticAnchors, oracle: pd.DataFrame, oracle_embeddings: np.ndarray
) -> None:
    with open(data_path("image_dna_join.csv"), newline="") as fh:
        join = list(csv.DictReader(fh))
    species_of_class = {int(r["dna_class_32"]): r["image_species"] for r in join}
    names = [species_of_class[c] for c in sorted(species_of_class)]
    anchors, missing = genetic.for_classes(names)
    paper = np.stack(
        [oracle_embeddings[oracle["class_32"].to_numpy() == c].mean(axis=0) for c in sorted(species_of_class)]
    )
    assert missing == [] and anchors.shape == (32, 256)
    assert np.abs(anchors - paper).max() <= 1e-9
    assert genetic.counts.shape == (len(genetic.species),) and genetic.counts.sum() == 853
    assert genetic.name_map()["Trilobatus_sacculifer"] == "Globigerinoides_sacculifer"
    assert genetic.name_map()["Globigerinoides_tenellus"] == "Globoturborotalita_tenella"


def test_image_classes_without_dna_are_listed(
    genetic: D.GeneticAnchors, caplog: pytest.LogCaptureFixture
) -> None:
    classes = pd.read_csv(data_path("endless_forams_classes.csv"))["species"].tolist()
    with caplog.at_level(logging.WARNING, logger="visgen.genetics.dataset"):
        anchors, missing = genetic.for_classes(classes)
    assert sorted(missing) == ["Globigerinella_adamsi", "Globorotalia_crassaformis", "Turborotalita_humilis"]
    assert np.isnan(anchors[[classes.index(m) for m in missing]]).all()
    assert np.isfinite(np.delete(anchors, [classes.index(m) for m in missing], axis=0)).all()
    assert "Turborotalita_humilis" in caplog.text


def test_cache_is_reused_and_keyed_by_content_and_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fasta = tmp_path / "small.fasta"
    fasta.write_text(
        ">A1 Orbulina universa\nacgtacgtta\n>A2 Orbulina universa\nggcatt\n>B1 Candeina nitida\nttgacc\n"
    )
    first = load_genetic_anchors(fasta, encoder=SgtEncoder(), cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(SgtEncoder, "encode", boom)
    again = load_genetic_anchors(fasta, encoder=SgtEncoder(), cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(again.anchors, first.anchors)
    assert again.species == first.species == ["Candeina_nitida", "Orbulina_universa"]
    np.testing.assert_array_equal(again.counts, first.counts)
    assert again.counts.tolist() == [1, 2] and again.summary == first.summary
    assert (again.n_read, again.skipped, again.name_map()) == (first.n_read, first.skipped, first.name_map())
    with pytest.raises(AssertionError, match="recomputed"):  # another option -> another key
        load_genetic_anchors(fasta, encoder=SgtEncoder(kappa=2), cache_dir=tmp_path / "cache")
    fasta.write_text(fasta.read_text() + ">B2 Candeina nitida\nacgg\n")
    with pytest.raises(AssertionError, match="recomputed"):  # other bytes -> another key
        load_genetic_anchors(fasta, encoder=SgtEncoder(), cache_dir=tmp_path / "cache")


def test_truncated_cache_is_recomputed(tmp_path: Path) -> None:
    fasta = tmp_path / "small.fasta"
    fasta.write_text(">A1 Orbulina universa\nacgtacgtta\n")
    first = load_genetic_anchors(fasta, encoder=SgtEncoder(), cache_dir=tmp_path)
    (cache_file,) = tmp_path.glob("*.npz")
    cache_file.write_bytes(cache_file.read_bytes()[:100])
    np.testing.assert_array_equal(
        load_genetic_anchors(fasta, encoder=SgtEncoder(), cache_dir=tmp_path).anchors, first.anchors
    )


def test_no_usable_record_is_one_line(tmp_path: Path) -> None:
    fasta = tmp_path / "ambiguous.fasta"
    fasta.write_text(">A1 Orbulina universa\nnnnn\n")
    with pytest.raises(UserInputError, match=r"no usable records .*skipped 1 \(IUPAC"):
        load_genetic_anchors(fasta, encoder=SgtEncoder())
    with pytest.raises(UserInputError, match=r"genetics\.encoder\.alphabet=protein: unknown"):
        load_genetic_anchors(fasta, encoder=SgtEncoder(alphabet="protein"))


def test_composed_hydra_config_drives_the_loader() -> None:
    """The genetics group as Hydra composes it (conf/train.yaml) is exactly the loader's keyword set plus the encoder."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    conf_dir = Path(__file__).resolve().parents[2] / "conf"
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        cfg = compose(config_name="train")
    genetics = OmegaConf.to_container(cfg.genetics, resolve=True)
    assert isinstance(genetics, dict)
    fasta = genetics.pop("fasta") or data_path("foram_18S_rDNA.fasta")
    encoder = instantiate(genetics.pop("encoder"))
    assert isinstance(encoder, SgtEncoder) and encoder.cache_options() == SgtEncoder().cache_options()
    result = load_genetic_anchors(fasta, encoder=encoder, **genetics, cache_dir=None)
    # 39 names in the file; the synonyms merge G. ruber-albus and G. ruber-ruber into G. ruber
    assert len(result.species) == 38 and result.anchors.shape == (38, 256)
    assert "Globigerinoides_ruber" in result.species and "Trilobatus_sacculifer" not in result.species
