"""Species held out of training: generalized zero-shot (GZSL) folds and k-shot target species.

A *target* species keeps its test images but loses its validation images and all but ``shots`` of its
training images (``shots = 0``: unseen, i.e. no training, validation or gallery image at all). Its test
images are still classified among all species. The training images a target loses stay available as its
*support pool* (seeded order): the GZSL stage draws k-shot support images from it, and the first
``shots`` of the pool are exactly the training images the data module kept.

Folds (``leave_species_out_folds``) split the anchored species into F groups spread over the tree and
over the tail: species are walked in the leaf order of the 18S tree (close relatives adjacent), cut into
blocks of F consecutive leaves, and each block deals one species to every fold, its rarest species to
the fold that holds the least of the tail so far. A fold therefore never holds two sister species of one
block, and the rare species are spread evenly. Pure numpy (+ scipy's clustering for the leaf order).
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from visgen.data.layouts.roles import NOVEL, PartitionRoles
from visgen.errors import UserInputError, is_int


def tree_leaf_order(names: Sequence[str]) -> list[str]:
    """``names`` in the leaf order of the average-linkage tree of their 18S tree covariance (relatives adjacent).

    The tree is the 18S k-mer UPGMA tree (``visgen.genetics.divergence``), built from the DNA alone, so the folds
    of a real data set and of every ForamSim tree source are spread over the same clades.
    """
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    from visgen.genetics.divergence import genetic_distances
    from visgen.genetics.trees import tree_covariance

    dist, with_dna = genetic_distances(list(names))
    if len(with_dna) != len(names):
        missing = sorted(set(names) - set(with_dna))
        raise UserInputError(
            f"held-out folds: {', '.join(missing)} have no shipped 18S sequence; hold out others"
        )
    cov = tree_covariance(dist)
    dist = np.clip(1.0 - cov, 0.0, None)  # 1 - shared path: the tip-to-MRCA depth, a tree metric
    np.fill_diagonal(dist, 0.0)
    order = leaves_list(linkage(squareform(dist, checks=False), method="average"))
    return [names[i] for i in order]


def leave_species_out_folds(
    names: Sequence[str], counts: Sequence[int], n_folds: int, seed: int = 0
) -> list[list[str]]:
    """Seeded leave-species-out folds over ``names``, spread over clades and over the tail.

    Args:
        names: the anchored species (S of them).
        counts: images per species (the tail), same order as ``names``.
        n_folds: F, 2 <= F <= S.
        seed: picks where the walk along the leaves starts and breaks ties.

    Returns:
        F lists of species; together they hold every species once; sizes differ by at most one.
    """
    names = list(names)
    if not 2 <= n_folds <= len(names):
        raise UserInputError(f"data.unseen_folds={n_folds}: use 2..{len(names)} (the anchored species)")
    rng = np.random.default_rng([int(seed), 0xF01D])
    order = tree_leaf_order(names)
    start = int(rng.integers(len(order)))
    order = order[start:] + order[:start]
    by_name = dict(zip(names, counts, strict=True))
    rarity = {n: r for r, n in enumerate(sorted(names, key=lambda n: (by_name[n], n), reverse=True))}
    folds: list[list[str]] = [[] for _ in range(n_folds)]
    load = np.zeros(n_folds)  # summed rarity rank: higher = more of the tail
    for b in range(0, len(order), n_folds):
        block = sorted(order[b : b + n_folds], key=lambda n: -rarity[n])  # rarest first
        tie = rng.random(n_folds)
        free = sorted(range(n_folds), key=lambda f: (len(folds[f]), load[f], tie[f]))
        for name, f in zip(block, free, strict=False):
            folds[f].append(name)
            load[f] += rarity[name]
    return folds


def resolve_targets(
    class_names: Sequence[str],
    *,
    unseen: Sequence[str] | None,
    unseen_fold: int | None,
    unseen_folds: int,
    unseen_seed: int,
    counts: Sequence[int],
) -> list[str]:
    """The target species: ``unseen`` as given, or fold ``unseen_fold`` of the folds over ``class_names``."""
    if unseen:
        return list(unseen)
    if unseen_fold is None:
        return []
    folds = leave_species_out_folds(class_names, counts, unseen_folds, unseen_seed)
    if not 0 <= unseen_fold < len(folds):
        raise UserInputError(f"data.unseen_fold={unseen_fold}: out of range; use 0..{len(folds) - 1}")
    return folds[unseen_fold]


def hold_out(
    labels: np.ndarray,
    splits: np.ndarray,
    class_names: Sequence[str],
    targets: Sequence[str],
    shots: int,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Drop the targets' validation images and all but ``shots`` of their training images.

    Args:
        labels: int [N] class index per image.
        splits: str [N] ``train``/``val``/``test``.
        class_names: species per class index.
        targets: the target species (names in ``class_names``).
        shots: training images kept per target (0 = unseen).
        seed: orders each target's training images (with a hash of its name, so targets are independent).

    Returns:
        ``(dropped bool [N], pool int [P])``: the images left out of train/val, and every target's original
        training images in seeded order, species by species (the first ``shots`` of each were kept).

    Raises:
        UserInputError: a target has fewer than ``shots`` training images.
    """
    dropped = np.zeros(len(labels), dtype=bool)
    pool: list[np.ndarray] = []
    for name in targets:
        c = list(class_names).index(name)
        train = np.flatnonzero((labels == c) & (splits == "train"))
        if shots > len(train):
            raise UserInputError(
                f"data.shots={shots}: {name} has only {len(train)} training images; use data.shots<={len(train)}"
            )
        rng = np.random.default_rng([int(seed), zlib.crc32(name.encode()), 0x5407])
        train = train[rng.permutation(len(train))]
        pool.append(train)
        dropped[train[shots:]] = True
        dropped[(labels == c) & (splits == "val")] = True
    return dropped, (np.concatenate(pool) if pool else np.zeros(0, dtype=np.int64)).astype(np.int64)


def partition_hold_out(
    labels: np.ndarray,
    splits: np.ndarray,
    partitions: np.ndarray,
    class_names: Sequence[str],
    roles: PartitionRoles,
    shots: int,
    seed: int = 0,
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """``hold_out`` with the targets and their roles taken from the data set's own partitions.

    The targets are the species of the unseen partitions; their support-partition images are their
    "training" images (the pool, ``shots`` of each kept in train), their validation-partition images are
    withheld, their query-partition images are test images. Novel-partition images leave train/val/test.

    Args:
        labels: int [N]; splits: str [N] (the layout's mapping); partitions: str [N].
        class_names, shots, seed: as :func:`hold_out`.
        roles: the layout's :class:`~visgen.data.layouts.PartitionRoles`.

    Returns:
        ``(targets, splits [N], dropped bool [N], pool int [P])``: the images' splits by role (``novel`` for
        the novelty queries), the images left out of train/val/test (novel ones included) and the pool.
    """
    targets = roles.targets(partitions, labels, list(class_names))
    by_role = roles.splits(partitions, splits)
    label_of = {name: c for c, name in enumerate(class_names)}
    keys = Counter(labels[by_role == "train"].tolist())  # a target's "training" images are its key images
    short = [t for t in targets if keys[label_of[t]] < shots]
    if short:  # said here in the partitions' words (hold_out would say "training images")
        n = keys[label_of[short[0]]]
        raise UserInputError(
            f"data.shots={shots}: {short[0]} has only {n} image{'s' if n != 1 else ''} in "
            f"{'/'.join(roles.support)}; use data.shots<={n}"
        )
    dropped, pool = hold_out(labels, by_role, class_names, targets, shots, seed)
    return targets, by_role, dropped | (by_role == NOVEL), pool


def check_partition_heldout(data: Mapping[str, Any], source: str, roles: PartitionRoles) -> None:
    """A layout whose partitions name the unseen species: ``data.unseen`` / ``data.unseen_fold`` would contradict them.

    One ``UserInputError`` line naming the key; ``data.shots`` is checked as for folds.
    """
    for key in ("unseen_fold", "unseen"):
        value = data.get(key)
        if value is not None and value != []:
            raise UserInputError(
                f"data.{key}={value}: data.source={source} names its own unseen species by partition "
                f"({roles.describe()}); drop data.{key}"
            )
    shots = data.get("shots", 0)
    if shots is not None and not (is_int(shots) and shots >= 0):
        raise UserInputError(f"data.shots={shots}: must be an integer >= 0")


def anchored_species(class_names: Sequence[str]) -> list[str]:
    """The species of ``class_names`` that have 18S DNA (the ones a fold may hold out), in class order."""
    from visgen.genetics.species import known_species

    dna = set(known_species()[1])
    return [n for n in class_names if n in dna]


def tail_counts(names: Sequence[str]) -> list[int]:
    """Real Endless Forams image counts of ``names`` (0 for a species outside the table): the tail folds spread."""
    from visgen.genetics.species import species_table

    table = dict(species_table())
    return [int(table.get(n, 0)) for n in names]


def _classes(data: Mapping[str, Any]) -> list[str]:
    from visgen.genetics.species import known_species, normalise_species_name

    all_names, dna = known_species()
    classes = data.get("classes", "dna")
    if classes in (None, "dna"):
        return list(dna)
    if classes == "all":
        return list(dna) + [n for n in all_names if n not in dna]
    return [normalise_species_name(str(c)) for c in classes]


def check_heldout(data: Mapping[str, Any], train: Mapping[str, int] | None = None) -> list[str]:
    """Check ``data.unseen`` / ``unseen_fold`` / ``unseen_folds`` / ``shots``; return the target species.

    Runs in the config check, before anything is built: an unknown or DNA-less unseen species, a fold index out
    of range or more shots than a species has training images is one ``error:`` line, not a failed pretraining.

    Args:
        data: the ``data`` config group.
        train: training images per species when the layout knows them without a scan (a generator does).
    """
    from visgen.genetics.species import known_species, normalise_species_name, suggest_name

    unseen, fold = data.get("unseen"), data.get("unseen_fold")
    folds, shots = data.get("unseen_folds", 8), data.get("shots", 0)
    for key, value, least in (("unseen_folds", folds, 2), ("unseen_fold", fold, 0), ("shots", shots, 0)):
        if value is not None and not (is_int(value) and value >= least):
            raise UserInputError(f"data.{key}={value}: must be an integer >= {least}")
    if unseen and fold is not None:
        raise UserInputError(
            f"data.unseen_fold={fold}: data.unseen is also set; give the species list or a fold, not both"
        )
    classes = _classes(data)
    anchored = anchored_species(classes)
    all_names, dna = known_species()
    for name in unseen or []:
        canon = normalise_species_name(str(name))
        if canon not in all_names and canon not in classes:
            raise UserInputError(
                f"data.unseen=[{name}]: unknown species ({suggest_name(canon, all_names)}); use Genus_species"
            )
        if canon not in dna:
            raise UserInputError(
                f"data.unseen=[{name}]: {canon} has no DNA, so nothing could recognise it unseen; "
                "hold out species with 18S sequences"
            )
        if canon not in classes:
            raise UserInputError(f"data.unseen=[{name}]: {canon} is not in data.classes; add it or drop it")
    if fold is not None and not fold < folds:
        raise UserInputError(
            f"data.unseen_fold={fold}: out of range for data.unseen_folds={folds}; use 0..{folds - 1}"
        )
    if fold is not None and folds > len(anchored):
        raise UserInputError(
            f"data.unseen_folds={folds}: only {len(anchored)} species have DNA; use 2..{len(anchored)}"
        )
    targets = resolve_targets(
        anchored, unseen=[normalise_species_name(str(n)) for n in unseen or []] or None, unseen_fold=fold,
        unseen_folds=int(folds), unseen_seed=int(data.get("unseen_seed", 0)), counts=tail_counts(anchored),
    )  # fmt: skip
    if shots and not targets:
        raise UserInputError(
            f"data.shots={shots}: no target species; set data.unseen=[...] or data.unseen_fold=i"
        )
    n_seen = len(classes) - (len(targets) if not shots else 0)
    m, batch = data.get("m_per_class", 4), data.get("batch_size", 64)
    if targets and data.get("sampler", "m_per_class") == "m_per_class" and batch // m > n_seen:
        raise UserInputError(
            f"data.batch_size={batch}: with data.m_per_class={m} a batch needs {batch // m} species, but only "
            f"{n_seen} have training images once {len(targets)} are held out; use data.batch_size={n_seen * m}"
        )
    if shots and train is not None:
        fewest = min(targets, key=lambda t: train[t])
        if shots > train[fewest]:
            raise UserInputError(
                f"data.shots={shots}: {fewest} has only {train[fewest]} training images at data.scale="
                f"{data.get('scale')}; use data.shots<={train[fewest]}"
            )
    return targets
