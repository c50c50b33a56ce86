"""Qualitative review in FiftyOne: evaluation runs and training mixes (paper Fig. 3, supplement §5)."""
