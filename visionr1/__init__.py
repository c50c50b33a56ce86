"""visionr1: vision-guided, rule-rewarded GRPO post-training for VLM object localization (Vision-R1)."""

__version__ = "0.1.0"
