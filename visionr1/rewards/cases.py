"""Reward cases in JSONL (SPEC §3.4): validation with errors that name the line."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from visionr1.errors import VisionR1Error

BOX_SLACK = 1.0  # pixels a ground-truth box may exceed the image (rounding in public annotations)


@dataclass(frozen=True)
class Case:
    line: int
    record: dict  # the input object, returned with "rewards" added
    completion: str
    gt: list[dict]
    width: int
    height: int
    input_size: tuple[int, int] | None
    step: int | None


def _positive_int(v, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0 or v != int(v):
        raise ValueError(f"'{what}' must be a positive integer, got {v!r}")
    return int(v)


def validate_gt(gt, width: int, height: int) -> list[dict]:
    """``[{label, bbox}]`` with a string label and a finite, positive-area box inside the image (1 px slack)."""
    if not isinstance(gt, list):
        raise ValueError(f"'gt' must be a list of {{label, bbox}}, got {type(gt).__name__}")
    out = []
    for i, g in enumerate(gt):
        if not isinstance(g, dict) or not isinstance(g.get("label"), str) or "bbox" not in g:
            raise ValueError(f"gt[{i}] must be an object with a string 'label' and a 'bbox'")
        b = g["bbox"]
        if (not isinstance(b, list) or len(b) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in b)):
            raise ValueError(f"gt[{i}].bbox must be 4 finite numbers [x1, y1, x2, y2], got {b!r}")
        x1, y1, x2, y2 = b
        if not (x1 < x2 and y1 < y2):
            raise ValueError(f"gt[{i}].bbox {b} has zero or negative area")
        if x1 < -BOX_SLACK or y1 < -BOX_SLACK or x2 > width + BOX_SLACK or y2 > height + BOX_SLACK:
            raise ValueError(f"gt[{i}].bbox {b} lies outside the {width}x{height} image")
        out.append({"label": g["label"], "bbox": [float(v) for v in b]})
    return out


def parse_case(text: str, line: int) -> Case:
    """One JSONL line as a ``Case``; ``ValueError`` with a short reason when malformed."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in ("completion", "gt", "width", "height") if k not in obj]
    if missing:
        raise ValueError(f"missing {', '.join(repr(k) for k in missing)}")
    if not isinstance(obj["completion"], str):
        raise ValueError("'completion' must be a string")
    width, height = _positive_int(obj["width"], "width"), _positive_int(obj["height"], "height")
    gt = validate_gt(obj["gt"], width, height)
    input_size = None
    if "input_width" in obj or "input_height" in obj:
        input_size = (_positive_int(obj.get("input_width"), "input_width"),
                      _positive_int(obj.get("input_height"), "input_height"))
    step = obj.get("step")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
        raise ValueError(f"'step' must be an integer >= 0, got {step!r}")
    return Case(line, obj, obj["completion"], gt, width, height, input_size, step)


def read_cases(stream: IO[str], name: str) -> Iterator[Case]:
    """Cases of a JSONL stream in order; blank lines are skipped; a malformed line raises
    ``VisionR1Error("<name>:<line>: <reason>")``."""
    for n, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        try:
            yield parse_case(text, n)
        except ValueError as exc:
            raise VisionR1Error(f"{name}:{n}: {exc}") from None
