"""The shipped Endless Forams class table: the real long tail and the species with DNA."""

from __future__ import annotations

from visgen.genetics.species import known_species, species_scales, species_table


def test_species_table_is_the_real_long_tail() -> None:
    table = species_table()
    assert len(table) == 35
    assert sum(n for _, n in table) == 27729
    assert table[0] == ("Globigerinoides_ruber", 5914)
    assert table[-1] == ("Globigerinella_adamsi", 4)


def test_species_scales_divide_generated_by_real_counts() -> None:
    # G. ruber has 5,914 real images, G. adamsi 4; a species the table lacks keeps the dataset scale.
    scales = species_scales(
        ["Globigerinoides_ruber", "Globigerinella_adamsi", "Unknown_x"],
        0.1,
        {"Globigerinoides_ruber": 591, "Globigerinella_adamsi": 4},
    )
    assert scales.tolist() == [591 / 5914, 1.0, 0.1]
    assert len(known_species()[1]) == 32
