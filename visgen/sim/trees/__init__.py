"""Tree sources for ForamSim: one module per source of the species tree the traits evolve along."""
