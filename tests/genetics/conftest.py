"""Shared fixtures for the genetics tests: the published oracle and the shipped real FASTA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from visgen.genetics.fasta import SequenceRecord, read_fasta
from visgen.resources import data_path

ORACLE = Path(__file__).resolve().parents[1] / "data" / "sgt_oracle"
ROOT = Path(__file__).resolve().parents[2]
SHARED_RDNA = ROOT.parent / "shared" / "data" / "forams" / "rdna"


@pytest.fixture(scope="session")
def genetics_cfg() -> dict:
    """The project's genetics config (conf/genetics/sgt.yaml) as a plain dict."""
    return yaml.safe_load((ROOT / "conf" / "genetics" / "sgt.yaml").read_text())


@pytest.fixture(scope="session")
def oracle() -> pd.DataFrame:
    """804 rows of the authors' 32-class join: accession, class_32, published encodings."""
    return pd.read_csv(ORACLE / "encodings.csv.gz")


@pytest.fixture(scope="session")
def oracle_embeddings() -> np.ndarray:
    """The paper's SGT embeddings [804, 256] (stride 1, kappa 1), rows in oracle order."""
    return np.load(ORACLE / "embeddings_16_noskip.npy")


@pytest.fixture(scope="session")
def real_records() -> dict[str, SequenceRecord]:
    """Every usable record of the shipped 878-sequence FASTA, by accession (no synonyms)."""
    return {r.id: r for r in read_fasta(data_path("foram_18S_rDNA.fasta")).records}


@pytest.fixture(scope="session")
def oracle_sequences(oracle: pd.DataFrame, real_records: dict[str, SequenceRecord]) -> list[str]:
    """The 804 join sequences from the shipped FASTA, in oracle row order."""
    return [real_records[a].sequence for a in oracle["accession"]]
