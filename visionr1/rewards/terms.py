"""The result of scoring one completion."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class RewardTerms:
    """Dual format, recall and precision rewards, their weighted total, and (optionally) the matching."""

    format: float
    recall: float
    precision: float
    total: float
    details: dict | None = None
    n_pred: int = 0  # boxes recovered from the completion
    template_ok: bool = True  # the completion parsed in the family's template

    def as_dict(self) -> dict[str, float]:
        return {"format": self.format, "recall": self.recall, "precision": self.precision, "total": self.total}
