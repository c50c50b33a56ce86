"""Scoring entry points: one completion (``score``) and TRL reward functions (``reward_funcs``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from visionr1.errors import VisionR1Error
from visionr1.formats import get_adapter
from visionr1.rewards.config import RewardConfig
from visionr1.rewards.official import gt_arrays, score_official
from visionr1.rewards.paper import score_paper_batch
from visionr1.rewards.terms import RewardTerms

DEFAULT = RewardConfig()


def score_batch(completions: Sequence[str], gts: Sequence[Sequence[Mapping]], widths: Sequence[int],
                heights: Sequence[int], *, steps: Sequence[int] | None = None, total_steps: int | None = None,
                input_sizes: Sequence[tuple[int, int] | None] | None = None, config: RewardConfig | None = None,
                details: bool = False) -> list[RewardTerms]:
    """Reward terms of many completions; ``gts[k]`` is ground truth ``[{label, bbox}]`` (original pixels, xyxy).

    ``input_sizes[k]`` = (W_in, H_in) of the model input; computed with ``smart_resize`` and the config's
    min/max_pixels when absent. ``steps`` / ``total_steps`` place each completion in the threshold schedule.
    """
    config = config or DEFAULT
    n = len(completions)
    adapter = get_adapter(config.family)
    sizes = input_sizes if input_sizes is not None else [None] * n
    geos = [adapter.geometry(w, h, min_pixels=config.min_pixels, max_pixels=config.max_pixels, input_size=s)
            for w, h, s in zip(widths, heights, sizes, strict=True)]
    steps = steps if steps is not None else [0] * n
    if config.preset == "official":
        return [score_official(c, *gt_arrays(gt), geo, step, config, details)
                for c, gt, geo, step in zip(completions, gts, geos, steps, strict=True)]
    return score_paper_batch(completions, gts, geos, steps, total_steps, config, details)


def score(completion: str, gt: Sequence[Mapping], width: int, height: int, *, step: int = 0,
          total_steps: int | None = None, input_size: tuple[int, int] | None = None,
          config: RewardConfig | None = None, details: bool = False) -> RewardTerms:
    """Reward terms of one completion (``score_batch`` of one)."""
    return score_batch([completion], [gt], [width], [height], steps=[step], total_steps=total_steps,
                       input_sizes=[input_size], config=config, details=details)[0]


def completion_text(completion) -> str:
    """The text of a completion as TRL passes it: a string, or conversational messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        content = completion[-1].get("content", "") if isinstance(completion[-1], dict) else completion[-1]
        if isinstance(content, list):  # content parts
            return "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return content if isinstance(content, str) else str(content)
    return "" if completion is None else str(completion)


REQUIRED_COLUMNS = ("gt", "width", "height")


class BatchScorer:
    """Scores a TRL batch once and serves the three reward functions from that result."""

    def __init__(self, config: RewardConfig) -> None:
        self.config = config
        self._key: tuple = ()
        self._alive: tuple = ()
        self._terms: list[RewardTerms] = []

    def __call__(self, completions: list, columns: Mapping) -> list[RewardTerms]:
        state = columns.get("trainer_state")
        step = int(state.global_step) if state is not None else None
        # TRL passes the same list objects to all three functions of one batch
        key = (id(completions), id(columns.get("gt")), step)
        if key == self._key:
            return self._terms
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise VisionR1Error(f"the Vision-R1 reward needs dataset columns {', '.join(REQUIRED_COLUMNS)}; "
                                f"missing: {', '.join(missing)}")
        total_steps = int(state.max_steps) if state is not None and state.max_steps else None
        steps = [step] * len(completions) if step is not None else columns.get("step") or [0] * len(completions)
        in_w, in_h = columns.get("input_width"), columns.get("input_height")
        sizes = list(zip(in_w, in_h, strict=True)) if in_w is not None and in_h is not None else None
        start = time.perf_counter()
        self._terms = score_batch([completion_text(c) for c in completions], columns["gt"], columns["width"],
                                  columns["height"], steps=[int(s or 0) for s in steps], total_steps=total_steps,
                                  input_sizes=sizes, config=self.config)
        elapsed = time.perf_counter() - start
        self._key, self._alive = key, (completions, columns.get("gt"))  # keep the ids from being reused
        log = columns.get("log_metric")
        if log is not None and self._terms:
            n = len(self._terms)
            schedule = self.config.schedule
            s0 = steps[0] or 0
            log("reward/phase", float(schedule.phase(s0, total_steps)))
            log("reward/xi0", schedule.thresholds(s0, total_steps).xi0)
            log("reward/parse_failure_rate", sum(not t.template_ok for t in self._terms) / n)
            log("reward/pred_boxes_mean", sum(t.n_pred for t in self._terms) / n)
            log("reward/seconds", elapsed)
        return self._terms


def reward_funcs(config: RewardConfig | None = None) -> list[Callable[..., list[float]]]:
    """The dual format, recall and precision rewards as three TRL reward functions (logged by TRL as
    ``rewards/format/mean``, ``rewards/recall/mean``, ``rewards/precision/mean``). They share one scoring pass per
    batch; weights of the config apply through TRL's ``reward_weights`` (each function returns its raw term)."""
    scorer = BatchScorer(config or RewardConfig())

    def make(name: str, attr: str) -> Callable[..., list[float]]:
        def reward(completions: list, **columns) -> list[float]:
            return [getattr(t, attr) for t in scorer(completions, columns)]

        reward.__name__ = reward.__qualname__ = name
        reward.__doc__ = f"Vision-R1 {name} reward of each completion ({scorer.config.preset} preset)."
        return reward

    return [make("format", "format"), make("recall", "recall"), make("precision", "precision")]
