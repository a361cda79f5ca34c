"""Retrieval accuracy (micro / macro, species / genus, seen / unseen) against hand-worked cases and a plain loop."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from visgen.eval.retrieval import retrieval_accuracy, topk_key_hits

# Three classes on a line: 0 and 1 share genus "A", 2 is alone in "B". One key per class.
GENUS = ["A", "A", "B"]
KEYS = np.array([[0.0], [10.0], [20.0]])
KEY_LABELS = np.array([0, 1, 2])


def _loop_reference(queries, query_labels, keys, key_labels, genus, seen, ks, metric):
    """The definition written out query by query: stable sort of the keys, their first k labels, dict counts."""
    if metric == "cosine":
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        keys = keys / np.linalg.norm(keys, axis=1, keepdims=True)
    out = {}
    for subset in ("seen", "unseen"):
        rows = [i for i in range(len(queries)) if (int(query_labels[i]) in seen) == (subset == "seen")]
        out[f"{subset}/n_queries"] = len(rows)
        for level in ("species", "genus"):
            name = (lambda c: int(c)) if level == "species" else (lambda c: genus[int(c)])
            for k in ks:
                hits, per = [], {}
                for i in rows:
                    if metric == "cosine":
                        d = [-float(queries[i] @ keys[j]) for j in range(len(keys))]
                    else:
                        d = [float(((queries[i] - keys[j]) ** 2).sum()) for j in range(len(keys))]
                    order = sorted(range(len(keys)), key=lambda j, d=d: d[j])
                    hit = float(name(query_labels[i]) in [name(key_labels[j]) for j in order[:k]])
                    hits.append(hit)
                    per.setdefault(name(query_labels[i]), []).append(hit)
                micro = sum(hits) / len(hits) if hits else math.nan
                macro = sum(sum(v) / len(v) for v in per.values()) / len(per) if per else math.nan
                out[f"{subset}/{level}/micro_top{k}"] = micro
                out[f"{subset}/{level}/macro_top{k}"] = macro
    return out


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_random_spaces_match_the_query_by_query_loop(metric: str) -> None:
    rng = np.random.default_rng(3)
    genus = ["G0", "G0", "G1", "G1", "G1", "G2", "G3"]
    keys, key_labels = rng.normal(size=(40, 4)), rng.integers(0, 7, 40)
    queries, query_labels = rng.normal(size=(300, 4)), rng.integers(0, 7, 300)
    seen = {0, 2, 3, 5}
    got = retrieval_accuracy(
        queries, query_labels, keys, key_labels, genus, seen, ks=(1, 3, 5), metric=metric
    )
    want = _loop_reference(queries, query_labels, keys, key_labels, genus, seen, (1, 3, 5), metric)
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


def test_micro_and_macro_differ_when_one_class_has_more_queries() -> None:
    # Class 0: three queries next to its key (right). Class 1: one right, one nearer class 0's key (wrong species,
    # right genus). Class 2: one query nearer class 1's key (wrong species and genus).
    queries = np.array([[0.1], [0.2], [0.3], [9.0], [1.0], [11.0]])
    labels = np.array([0, 0, 0, 1, 1, 2])
    got = retrieval_accuracy(queries, labels, KEYS, KEY_LABELS, GENUS, {0, 1, 2}, ks=(1,), metric="euclidean")
    assert got["seen/n_queries"] == 6
    assert got["seen/species/micro_top1"] == pytest.approx(4 / 6)
    assert got["seen/species/macro_top1"] == pytest.approx((1 + 1 / 2 + 0) / 3)
    # Genus: five of six right; per genus A 5/5, B 0/1 -> macro over the two genera 1/2.
    assert got["seen/genus/micro_top1"] == pytest.approx(5 / 6)
    assert got["seen/genus/macro_top1"] == pytest.approx(1 / 2)
    assert got["unseen/n_queries"] == 0


def test_a_congener_retrieved_is_wrong_at_species_and_right_at_genus_level() -> None:
    got = retrieval_accuracy(np.array([[1.0]]), np.array([1]), KEYS, KEY_LABELS, GENUS, set(), ks=(1,),
                             metric="euclidean")  # fmt: skip
    assert got["unseen/n_queries"] == 1
    assert got["unseen/species/micro_top1"] == 0.0 and got["unseen/species/macro_top1"] == 0.0
    assert got["unseen/genus/micro_top1"] == 1.0 and got["unseen/genus/macro_top1"] == 1.0


def test_top5_counts_the_five_nearest_keys_not_five_distinct_species() -> None:
    # Six keys of only three species; the query (species 2) has its key sixth nearest. Five distinct labels
    # would include species 2 (there are only three), five nearest keys do not.
    keys = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [30.0]])
    key_labels = np.array([0, 0, 0, 1, 1, 2])
    got = retrieval_accuracy(np.array([[0.5]]), np.array([2]), keys, key_labels, GENUS, {2}, ks=(5,),
                             metric="euclidean")  # fmt: skip
    assert got["seen/species/micro_top5"] == 0.0 and got["seen/genus/micro_top5"] == 0.0
    # With fewer keys than k, every key is retrieved.
    few = retrieval_accuracy(np.array([[0.5]]), np.array([2]), keys[[0, 3, 5]], key_labels[[0, 3, 5]], GENUS,
                             {2}, ks=(5,), metric="euclidean")  # fmt: skip
    assert few["seen/species/micro_top5"] == 1.0


def test_an_empty_subset_gives_nan_and_no_queries_at_all_do_not_crash() -> None:
    got = retrieval_accuracy(np.array([[0.1]]), np.array([0]), KEYS, KEY_LABELS, GENUS, {0})
    assert got["unseen/n_queries"] == 0 and got["seen/n_queries"] == 1
    assert all(math.isnan(v) for k, v in got.items() if k.startswith("unseen/") and "top" in k)
    none = retrieval_accuracy(np.zeros((0, 1)), np.zeros(0, int), KEYS, KEY_LABELS, GENUS, {0})
    assert none["seen/n_queries"] == 0 and math.isnan(none["seen/genus/macro_top5"])


def test_tied_keys_count_the_expected_hit_of_a_random_order() -> None:
    # Oracle: every order of the keys, a stable sort by distance, the hit averaged over the orders.
    keys = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    key_labels = np.array([0, 1, 1, 2, 0, 3])
    queries = np.array([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]])
    for label in range(4):
        for k in (1, 2, 3, 5):
            for metric in ("cosine", "euclidean"):
                q_labels = np.full(len(queries), label)
                got = topk_key_hits(queries, q_labels, keys, key_labels, k, metric)
                want = np.zeros(len(queries))
                orders = list(itertools.permutations(range(len(keys))))
                for order in orders:
                    order = np.array(order)
                    for i, q in enumerate(queries):
                        qn, kn = q / np.linalg.norm(q), keys / np.linalg.norm(keys, axis=1, keepdims=True)
                        d = -(kn @ qn) if metric == "cosine" else ((keys - q) ** 2).sum(1)
                        ranked = order[np.argsort(np.round(d[order], 9), kind="stable")]
                        want[i] += label in key_labels[ranked[:k]]
                np.testing.assert_allclose(
                    got, want / len(orders), atol=1e-12, err_msg=f"{label} {k} {metric}"
                )


def test_four_tied_keys_one_of_them_right_give_one_half_at_top2() -> None:
    # 1 - C(3, 2) / C(4, 2) = 1 - 3/6.
    keys = np.zeros((4, 1))
    hit = topk_key_hits(np.zeros((1, 1)), np.array([0]), keys, np.array([0, 1, 1, 1]), 2, "euclidean")
    assert hit[0] == pytest.approx(0.5)


def test_bad_shapes_and_labels_are_refused() -> None:
    with pytest.raises(ValueError, match="label outside"):
        retrieval_accuracy(np.zeros((1, 1)), np.array([3]), KEYS, KEY_LABELS, GENUS, {0})
    with pytest.raises(ValueError, match="-D"):
        retrieval_accuracy(np.zeros((1, 2)), np.array([0]), KEYS, KEY_LABELS, GENUS, {0})
    with pytest.raises(ValueError, match="metric"):
        retrieval_accuracy(np.zeros((1, 1)), np.array([0]), KEYS, KEY_LABELS, GENUS, {0}, metric="dot")
