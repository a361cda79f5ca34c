"""visgen: visual-genetic biometrics for rare-species recognition.

Implements Karaderi, Burghardt, Morard & Schmidt, "Deep Visual-Genetic Biometrics for Taxonomic
Classification of Rare Species" (arXiv 2305.06695) as PyTorch Lightning modules driven by Hydra.
"""

__version__ = "0.1.0"
