"""Genus accuracy and the tree distance of the errors, on label vectors worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from visgen.eval.mistakes import (
    MISTAKE_KEYS,
    SpeciesDistances,
    error_tree_distance,
    genus_accuracy,
    genus_of,
    mistake_metrics,
    taxonomy_distance,
    tree_distances,
)

# Genera: 0 and 1 are congeners (Globigerina); 2 and 3 each alone in their genus.
NAMES = ["Globigerina_bulloides", "Globigerina_falconensis", "Orbulina_universa", "Globorotalia_menardii"]
TRUE = np.array([0, 0, 1, 1, 2, 3])
PRED = np.array([0, 1, 0, 2, 2, 0])
# By hand, image by image: genus right? yes, yes (congener), yes (congener), no, yes, no.
# Errors (pred, true): (1, 0) congeners, (0, 1) congeners, (2, 1) other genus, (0, 3) other genus.
TREE = np.array(
    [
        [0.0, 0.5, 1.5, 2.0],
        [0.5, 0.0, 1.2, 2.0],
        [1.5, 1.2, 0.0, 2.0],
        [2.0, 2.0, 2.0, 0.0],
    ]
)


def test_genus_is_the_part_before_the_first_underscore() -> None:
    assert genus_of("Globigerinoides_ruber") == "Globigerinoides"
    assert genus_of("Globorotalia_menardii_cultrata") == "Globorotalia"
    assert genus_of("7") == "7"  # a bare label is its own genus
    with pytest.raises(ValueError):
        genus_of("_ruber")


def test_taxonomy_distance_is_zero_one_two() -> None:
    expected = [[0, 1, 2, 2], [1, 0, 2, 2], [2, 2, 0, 2], [2, 2, 2, 0]]
    np.testing.assert_array_equal(taxonomy_distance(NAMES), expected)


def test_genus_accuracy_by_hand() -> None:
    micro, macro = genus_accuracy(PRED, TRUE, NAMES)
    assert micro == pytest.approx(4 / 6)
    # Per class: c0 2/2, c1 1/2, c2 1/1, c3 0/1.
    assert macro == pytest.approx((1 + 0.5 + 1 + 0) / 4)


def test_macro_genus_accuracy_averages_only_the_classes_with_images() -> None:
    micro, macro = genus_accuracy(np.array([1, 3]), np.array([0, 0]), NAMES)
    assert (micro, macro) == (pytest.approx(0.5), pytest.approx(0.5))  # classes 1-3 have no image


def test_error_distance_averages_over_the_errors_only() -> None:
    mean, n = error_tree_distance(PRED, TRUE, TREE)
    assert n == 4
    assert mean == pytest.approx((0.5 + 0.5 + 1.2 + 2.0) / 4)
    mean, n = error_tree_distance(PRED, TRUE, taxonomy_distance(NAMES))
    assert (mean, n) == (pytest.approx((1 + 1 + 2 + 2) / 4), 4)


def test_no_error_gives_nan_and_zero_errors() -> None:
    mean, n = error_tree_distance(TRUE, TRUE, TREE)
    assert math.isnan(mean) and n == 0


def test_weights_split_a_tied_prediction() -> None:
    # One image of class 0, its top score tied between classes 0 and 1: half right, half a congener error.
    pred, true, w = np.array([0, 1]), np.array([0, 0]), np.array([0.5, 0.5])
    assert genus_accuracy(pred, true, NAMES, weight=w) == (pytest.approx(1.0), pytest.approx(1.0))
    mean, n = error_tree_distance(pred, true, TREE, weight=w)
    assert (mean, n) == (pytest.approx(0.5), pytest.approx(0.5))
    # Tied between 0 and 3 instead: genus right with probability 1/2.
    assert genus_accuracy(np.array([0, 3]), true, NAMES, weight=w)[0] == pytest.approx(0.5)


def test_labels_outside_the_classes_are_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        genus_accuracy(np.array([4]), np.array([0]), NAMES)
    with pytest.raises(ValueError, match=r"\[C, C\]"):
        error_tree_distance(PRED, TRUE, TREE[:3])


def test_mistake_metrics_count_the_masked_images_in_micro_numbers_only() -> None:
    distances = SpeciesDistances(tuple(NAMES), TREE, "hand")
    every = mistake_metrics(PRED, TRUE, distances)
    assert set(every) == set(MISTAKE_KEYS)
    assert every["error_tree_dist"] == pytest.approx(4.2 / 4)
    mask = np.array([True, True, True, True, True, False])  # leave out the (0, 3) error
    m = mistake_metrics(PRED, TRUE, distances, overall_mask=mask)
    assert m["genus_acc"] == pytest.approx(4 / 5)
    assert m["genus_per_class_acc"] == pytest.approx(0.625)  # all images, as per_class_acc
    assert m["error_tree_dist"] == pytest.approx((0.5 + 0.5 + 1.2) / 3)
    assert m["error_taxonomy_dist"] == pytest.approx((1 + 1 + 2) / 3)
    assert m["n_errors"] == 3


def test_without_a_tree_only_the_tree_distance_is_nan() -> None:
    m = mistake_metrics(PRED, TRUE, SpeciesDistances.names_only(NAMES))
    assert math.isnan(m["error_tree_dist"])
    assert m["error_taxonomy_dist"] == pytest.approx(1.5)
    by_taxonomy = mistake_metrics(PRED, TRUE, SpeciesDistances.by_taxonomy(NAMES))
    assert by_taxonomy["error_tree_dist"] == by_taxonomy["error_taxonomy_dist"]


def test_tree_distances_come_from_the_covariance_of_the_whole_species_list() -> None:
    # ((A:0.4, B:0.4):0.6, C:1.0): A and B share 0.6 of their unit root-to-tip paths.
    species = ["Aa_x", "Bb_y", "Cc_z"]
    asked: list[list[str]] = []

    def covariance(names: list[str]) -> np.ndarray:
        asked.append(names)
        return np.array([[1.0, 0.6, 0.0], [0.6, 1.0, 0.0], [0.0, 0.0, 1.0]])

    d = tree_distances(["Cc_z", "Aa_x", "Bb_y"], covariance, species, source="hand")
    assert asked == [species]  # built over every species, then restricted
    np.testing.assert_allclose(d.tree, [[0, 2, 2], [2, 0, 0.8], [2, 0.8, 0]])
    assert d.source == "hand" and d.class_names == ("Cc_z", "Aa_x", "Bb_y")
    with pytest.raises(ValueError, match="not among"):
        tree_distances(["Dd_w"], covariance, species, source="hand")


def test_a_tree_that_is_not_a_distance_is_refused() -> None:
    with pytest.raises(ValueError, match="zero diagonal"):
        SpeciesDistances(tuple(NAMES), np.ones((4, 4)), "bad")
