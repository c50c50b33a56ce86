"""The ``official`` preset: the reward of the authors' released Qwen2.5-VL training code (docs/spec.md §3.3).

Reproduced behaviour, quirks included: integer truncation of coordinates, a regex fallback with exact
spacing, GIoU instead of IoU, the mean over the min(M, N) assigned pairs (extra boxes cost nothing),
L1 + label + GIoU matching cost, float32 arithmetic, a format reward inverted for samples without ground
truth, and an optional hard threshold switch at step 1500. Where the released code would crash, the reward
stays defined: a sample without ground truth but with predicted boxes gets recall and precision 0; a box with a
coordinate beyond float32 range is dropped; a box so large that its float32 area overflows gets GIoU -1 and
the highest matching cost (the released code fails there with "matrix contains invalid numeric entries").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from visionr1.boxes import giou_matrix, l1_matrix, pack
from visionr1.formats import Geometry
from visionr1.rewards.config import RewardConfig
from visionr1.rewards.terms import RewardTerms

_REGEX = re.compile(r'\{"bbox_2d": \[(\d{1,3}|1000), (\d{1,3}|1000), (\d{1,3}|1000), (\d{1,3}|1000)\], '
                    r'"label": "([^"]+)"\}')
_FENCES = re.compile(r"```json\n|\n```")
_F32_MAX = float(np.finfo(np.float32).max)  # coordinates beyond float32 cannot enter the released float32 code
_F32_MIN = -_F32_MAX


def _parse_json(text: str):
    lines = text.strip().splitlines()
    if not lines:
        return None
    if lines[0].startswith("```json"):
        text = "\n".join(lines[1:])
    if "```" in text:
        text = text.split("```")[0]
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def extract(completion: str) -> list[tuple[list[int], str | None]]:
    """Boxes as the released code extracts them: ``(int-truncated box, label or None)``."""
    completion = completion.strip()
    out = []
    data = _parse_json(completion)
    if isinstance(data, list):
        for item in data:
            if not isinstance(item, dict):
                continue  # item.get raises in the released code; the item is skipped
            bbox = item.get("bbox_2d")
            if isinstance(bbox, list) and len(bbox) == 4:
                try:
                    b = [int(c) for c in bbox]
                except (TypeError, ValueError, OverflowError):
                    continue
                if _F32_MIN <= b[0] < b[2] <= _F32_MAX and _F32_MIN <= b[1] < b[3] <= _F32_MAX:
                    out.append((b, item.get("label")))
    if not out:
        for *coords, label in _REGEX.findall(completion):
            b = [int(c) for c in coords]
            if b[0] < b[2] and b[1] < b[3]:
                out.append((b, label))
    return out


def dual_format_official(completion: str, n_gt: int) -> float:
    """1 if the fence-stripped text is JSON and no object with both keys has a malformed ``bbox_2d``;
    inverted when the sample has no ground truth."""
    text = _FENCES.sub("", completion).strip()
    reward = 1.0
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        data, reward = None, 0.0
    if isinstance(data, list):
        for item in data:
            if isinstance(item, dict) and "bbox_2d" in item and "label" in item:
                bbox = item["bbox_2d"]
                if not (isinstance(bbox, list) and len(bbox) == 4):
                    reward = 0.0
    return reward if n_gt > 0 else 1.0 - reward


def gt_arrays(gt: Sequence[Mapping]) -> tuple[np.ndarray, list[str]]:
    """Ground truth ``[{label, bbox}]`` as an ``(N, 4)`` array and its labels."""
    return pack([g["bbox"] for g in gt]), [g["label"] for g in gt]


def _squash(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``0 if x < lo``, then ``1 if x > hi`` (the released ``modify_tensor``)."""
    x = x.copy()
    x[x < lo] = 0
    x[x > hi] = 1
    return x


def score_official(completion: str, gt_boxes: np.ndarray, gt_labels: Sequence[str], geo: Geometry, step: int,
                   config: RewardConfig, details: bool = False) -> RewardTerms:
    n_gt = len(gt_boxes)
    fmt = dual_format_official(completion, n_gt)
    dt = extract(completion)
    adaptive = config.adaptive
    late = adaptive and step >= config.adaptive_step
    t = np.float32(0.75 if late else 0.5)
    lo, hi = ((0.75, 0.9) if late else (0.5, 0.75)) if adaptive else (0.0, 1.0)
    info = {"preset": "official", "adaptive": adaptive, "late_phase": late,
            "recall_threshold": float(t), "precision_bounds": [lo, hi], "input_size": [geo.input_width,
                                                                                       geo.input_height]}
    if not dt or n_gt == 0:
        rec = prec = 1.0 if (not dt and n_gt == 0) else 0.0
        matches = []
    else:
        pred = np.array([b for b, _ in dt], dtype=np.float32)
        pred[:, ::2] = pred[:, ::2] / np.float32(geo.input_width) * np.float32(geo.width)
        pred[:, 1::2] = pred[:, 1::2] / np.float32(geo.input_height) * np.float32(geo.height)
        gt32 = gt_boxes.astype(np.float32)
        keys = [lab.strip().lower() if isinstance(lab, str) else None for _, lab in dt]
        same = np.array([[k is not None and k == g.lower() for g in gt_labels] for k in keys])
        with np.errstate(over="ignore", invalid="ignore"):
            giou = giou_matrix(pred, gt32)
            cost = (l1_matrix(pred, gt32) + np.where(same, np.float32(-1), np.float32(0))) - giou
        if not np.isfinite(cost).all():  # float32 overflow of huge boxes: they match last, with GIoU -1
            giou = np.nan_to_num(giou, nan=-1.0, posinf=-1.0, neginf=-1.0)
            cost = np.nan_to_num(cost, nan=_F32_MAX, posinf=_F32_MAX, neginf=_F32_MAX)
        rows, cols = linear_sum_assignment(cost)
        g = giou[rows, cols]
        tp = _squash(g, t, t).sum(dtype=np.float32)
        rec = float(np.float32(tp) / np.float32(n_gt))
        if adaptive:
            rec = 0.0 if rec < 0.5 else 1.0 if rec > 0.75 else rec
        prec = float(_squash(g, lo, hi).mean(dtype=np.float32))
        matches = [{"pred": int(r), "gt": int(c), "giou": round(float(v), 6)} for r, c, v in zip(rows, cols, g,
                                                                                                 strict=True)]
    if details:
        info["predictions"] = [{"bbox_model": b, "label": lab} for b, lab in dt]
        info["matches"] = matches
    w = config.weights
    return RewardTerms(fmt, rec, prec, float(w[0] * fmt + w[1] * rec + w[2] * prec), info if details else None,
                       len(dt), isinstance(_parse_json(completion.strip()), list))
