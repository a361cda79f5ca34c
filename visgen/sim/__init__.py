"""ForamSim: the synthetic foram image generator (settings, trees, traits, rendering, positive controls)."""
