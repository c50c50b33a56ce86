"""The criteria-driven reward of Vision-R1 (paper §3.2-3.3, docs/spec.md §3).

``dual_format_reward``, ``recall_reward`` and ``precision_reward`` are TRL reward functions with the
default configuration (paper preset, qwen2.5-vl); ``reward_funcs(config)`` makes configured ones.
``score`` scores a single completion; ``differentiate`` (Eq. 8) and ``Schedule`` (progressive rule
refinement) are the building blocks.
"""

from visionr1.rewards.config import PRESETS, RewardConfig
from visionr1.rewards.equations import differentiate
from visionr1.rewards.reward import reward_funcs, score, score_batch
from visionr1.rewards.schedule import Schedule, Thresholds
from visionr1.rewards.terms import RewardTerms

dual_format_reward, recall_reward, precision_reward = reward_funcs()

__all__ = ["PRESETS", "RewardConfig", "RewardTerms", "Schedule", "Thresholds", "differentiate",
           "dual_format_reward", "precision_reward", "recall_reward", "reward_funcs", "score", "score_batch"]
