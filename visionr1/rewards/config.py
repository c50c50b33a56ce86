"""Options of the Vision-R1 reward, each with the paper's default."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields

from visionr1.errors import VisionR1Error
from visionr1.formats import FAMILIES, MAX_PIXELS, MIN_PIXELS, check_pixel_limits
from visionr1.rewards.matching import MATCHERS
from visionr1.rewards.schedule import PHASE1, PHASE2, Schedule, Thresholds

PRESETS = ("paper", "official")
FAMILY_SWITCH = {"griffon-g": 0.5}  # paper's best STEP per family; 1.0 (never switch) otherwise


@dataclass
class RewardConfig:
    """Configuration of the criteria-driven reward (docs/spec.md §3)."""

    preset: str = field(default="paper", metadata={
        "help": "'paper': the equations of the paper (§3.2-3.3); 'official': the authors' released Qwen2.5-VL "
                "reward code, quirks included (docs/spec.md §3.3)."})
    family: str = field(default="qwen2.5-vl", metadata={
        "help": "Model family: output format and coordinate space of the completions."})
    matcher: str = field(default="box", metadata={
        "help": "'box': match on IoU only (default); 'box+label': cost -IoU + 1[label differs], and a matched "
                "pair counts only when the labels agree (Table 3)."})
    differentiation: bool = field(default=True, metadata={
        "help": "Apply Eq. 8 to recall and to each matched IoU; off = f(x) = x (ablation)."})
    refinement: bool = field(default=True, metadata={
        "help": "Progressive rule refinement (the threshold schedule); off = phase-1 thresholds throughout "
                "(ablation)."})
    switch: float | None = field(default=None, metadata={
        "help": "STEP: switch to phase 2 at this fraction of the total steps (1.0 = never). Default per family: "
                "0.5 for griffon-g, 1.0 otherwise (the paper's best)."})
    switch_step: int | None = field(default=None, metadata={
        "help": "Switch to phase 2 at this absolute step instead of a fraction."})
    phase1: tuple[float, float, float] = field(default=(PHASE1.xi0, PHASE1.xi1, PHASE1.xi2), metadata={
        "help": "ξ0, ξ1, ξ2 before the switch."})
    phase2: tuple[float, float, float] = field(default=(PHASE2.xi0, PHASE2.xi1, PHASE2.xi2), metadata={
        "help": "ξ0, ξ1, ξ2 after the switch."})
    count_reward: bool = field(default=False, metadata={
        "help": "Replace the recall reward by the binary count reward 1[M = N] (ablation, §4.3)."})
    weights: tuple[float, float, float] = field(default=(1.0, 1.0, 1.0), metadata={
        "help": "Weights of the dual format, recall and precision rewards in the total (Eq. 7)."})
    min_pixels: int = field(default=MIN_PIXELS, metadata={
        "help": "min_pixels of the image processor; must equal training / evaluation / vLLM."})
    max_pixels: int = field(default=MAX_PIXELS, metadata={
        "help": "max_pixels of the image processor (training default 401408 = 512*28*28)."})
    adaptive: bool = field(default=False, metadata={
        "help": "official preset only: the released code's adaptive thresholds with a hard switch at "
                "adaptive_step (its default is non-adaptive)."})
    adaptive_step: int = field(default=1500, metadata={"help": "official preset: step of the adaptive switch."})

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise VisionR1Error(f"unknown reward preset '{self.preset}' (choose from {', '.join(PRESETS)})")
        if self.family not in FAMILIES:
            raise VisionR1Error(f"unknown model family '{self.family}' (known: {', '.join(FAMILIES)})")
        if self.preset == "official" and self.family != "qwen2.5-vl":
            raise VisionR1Error(f"the official preset reproduces the released qwen2.5-vl code; family '{self.family}' "
                                "needs the paper preset")
        if self.matcher not in MATCHERS:
            raise VisionR1Error(f"unknown matcher '{self.matcher}' (choose from {', '.join(MATCHERS)})")
        self.phase1, self.phase2 = tuple(self.phase1), tuple(self.phase2)
        self.weights = tuple(self.weights)
        for name in ("phase1", "phase2"):
            xi = getattr(self, name)
            if len(xi) != 3 or not all(0 <= v <= 1 for v in xi) or xi[1] > xi[2]:
                raise VisionR1Error(f"{name} thresholds must be ξ0, ξ1, ξ2 in [0, 1] with ξ1 <= ξ2, got {xi}")
        if len(self.weights) != 3 or any(w < 0 for w in self.weights):
            raise VisionR1Error(f"weights must be 3 non-negative numbers, got {self.weights}")
        if self.switch is not None and not 0 <= self.switch <= 1:
            raise VisionR1Error(f"switch (STEP) must be a fraction of the training in [0, 1], got {self.switch}")
        if self.switch_step is not None and self.switch_step < 0:
            raise VisionR1Error(f"switch_step must be a step >= 0, got {self.switch_step}")
        check_pixel_limits(self.min_pixels, self.max_pixels)
        unused = [f.name for f in fields(self) if f.name in _PRESET_ONLY and getattr(self, f.name) != _default(f)
                   and _PRESET_ONLY[f.name] != self.preset]
        if unused:
            raise VisionR1Error(f"the {self.preset} preset does not use {', '.join(unused)} (an option of the "
                                f"{_PRESET_ONLY[unused[0]]} preset): remove it or choose that preset")

    @property
    def schedule(self) -> Schedule:
        """The threshold schedule these options describe."""
        switch = FAMILY_SWITCH.get(self.family, 1.0) if self.switch is None else self.switch
        return Schedule(switch=switch, switch_step=self.switch_step, phase1=Thresholds(*self.phase1),
                        phase2=Thresholds(*self.phase2), enabled=self.refinement)

    @classmethod
    def help(cls) -> dict[str, str]:
        """Option name -> help string."""
        return {f.name: f.metadata.get("help", "") for f in fields(cls)}


def _default(f):
    return f.default_factory() if f.default_factory is not MISSING else f.default


# options that only one preset reads: setting them with the other preset is refused rather than ignored
_PRESET_ONLY = {**dict.fromkeys(("matcher", "differentiation", "refinement", "switch", "switch_step", "phase1",
                                 "phase2", "count_reward"), "paper"),
                **dict.fromkeys(("adaptive", "adaptive_step"), "official")}
