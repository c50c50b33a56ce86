"""GRPO with the Vision-R1 reward and the SFT baseline, on TRL (``visionr1 train``)."""
