"""Progressive rule refinement (paper §3.3): the thresholds of the reward tighten during training."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    """ξ0: IoU a matched pair needs to count; ξ1 / ξ2: the lower / upper bound of ``differentiate`` (Eq. 8)."""

    xi0: float
    xi1: float
    xi2: float

    def as_dict(self) -> dict[str, float]:
        return {"xi0": self.xi0, "xi1": self.xi1, "xi2": self.xi2}


PHASE1 = Thresholds(0.5, 0.5, 0.75)
PHASE2 = Thresholds(0.75, 0.75, 0.9)


@dataclass(frozen=True)
class Schedule:
    """Phase-1 thresholds while ``step < STEP * total_steps``, phase-2 thresholds from then on.

    ``switch`` is the paper's STEP as a fraction of the total steps (1.0 = never switch; the paper's best is
    0.5 for Griffon-G and 1.0 for Qwen2.5-VL). ``switch_step`` switches at an absolute step instead.
    ``enabled=False`` keeps phase 1 throughout (the "schedule off" ablation).
    """

    switch: float = 1.0
    switch_step: int | None = None
    phase1: Thresholds = PHASE1
    phase2: Thresholds = PHASE2
    enabled: bool = True

    def phase(self, step: int, total_steps: int | None = None) -> int:
        """1 or 2."""
        if not self.enabled:
            return 1
        if self.switch_step is not None:
            return 2 if step >= self.switch_step else 1
        if self.switch >= 1 or not total_steps:
            return 1
        return 2 if step >= self.switch * total_steps else 1

    def thresholds(self, step: int, total_steps: int | None = None) -> Thresholds:
        return self.phase2 if self.phase(step, total_steps) == 2 else self.phase1
