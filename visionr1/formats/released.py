"""How the released Vision-R1 evaluation reads a Qwen2.5-VL answer (``Vision-R1/eval/eval_localization.py``, the
``--model-type qwen`` path), reproduced rule for rule for ``visionr1 eval --mode released``.

- ``released_items``: its ``parse_json`` (only a line that is exactly "```json" opens a fence; the text after it
  is cut at the next "```"), then ``ast.literal_eval``; when that fails, the text up to the last ``"}`` plus
  ``]`` is tried once more. Anything that still fails gives no box at all. A bare dict yields its keys (no box);
  two dicts without brackets yield a tuple (two boxes).
- ``released_xywh``: its ``xyxy2xywh`` (no check of x1 < x2 or of the image bounds) and the rescale to original
  pixels in float32 (``/ input_width * width``), keeping the first 4 numbers' row.
"""

from __future__ import annotations

import ast

import numpy as np

from visionr1.formats.adapters import Geometry


def _parse_json(text: str) -> str:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line == "```json":
            return "\n".join(lines[i + 1:]).split("```")[0]
    return text


def released_items(text: str) -> list | None:
    """The items the released code iterates over, or None when its parsing raises (the whole answer is
    skipped)."""
    body = _parse_json(text)
    try:
        try:
            data = ast.literal_eval(body)
        except Exception:  # the released code retries after any failure
            data = ast.literal_eval(body[:body.rfind('"}') + len('"}')] + "]")
        return list(data)
    except Exception:  # and gives up after any failure (not iterable included)
        return None


def released_xywh(bbox, geo: Geometry) -> list[float]:
    """``[x, y, w, h]`` in original pixels of one item's ``bbox_2d`` as the released code computes it; raises
    where it raises (the item is then skipped)."""
    x = np.asarray(bbox)
    y = np.zeros_like(x)
    if x.ndim == 1:
        x, y = x[None], y[None]
    y[:, 0] = x[:, 0]
    y[:, 1] = x[:, 1]
    y[:, 2] = x[:, 2] - x[:, 0]
    y[:, 3] = x[:, 3] - x[:, 1]
    box = np.asarray(y.tolist(), dtype=np.float32).reshape(-1, 4)
    box[:, ::2] = box[:, ::2] / np.float32(geo.input_width) * np.float32(geo.width)
    box[:, 1::2] = box[:, 1::2] / np.float32(geo.input_height) * np.float32(geo.height)
    return box.tolist()[0]
