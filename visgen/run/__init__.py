"""Owns a run from config to folder: the pipeline (the only place config becomes objects), one module per stage,
trainer assembly, the pretraining cache and the config checks. Nothing below imports this package."""
