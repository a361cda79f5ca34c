"""Helpers of ``visgen.pipeline`` that need no config objects: the pretrain cache and the run record."""
