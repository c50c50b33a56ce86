"""Failure modes of one answer (paper supplement §5: missed objects, redundant boxes, imprecise boxes)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from visionr1.boxes import as_boxes, iou_matrix
from visionr1.formats import normalize_label

FAILURE_MODES = ("format_error", "missed", "duplicate", "low_iou", "wrong_label")


def failure_modes(pred_boxes, pred_labels: Sequence[str], gt_boxes, gt_labels: Sequence[str], *,
                  template_ok: bool = True, hit: float = 0.5, low: float = 0.1) -> list[str]:
    """The failure modes present in one answer, in ``FAILURE_MODES`` order:

    - ``format_error``: the answer did not parse in the family's template;
    - ``missed``: an object no box of its label covers with IoU >= ``hit``;
    - ``duplicate``: an object covered (IoU >= ``hit``) by two or more boxes of its label;
    - ``low_iou``: a box whose best IoU with an object of its label is in [``low``, ``hit``);
    - ``wrong_label``: a box covering an object (IoU >= ``hit``) of another label but none of its own.
    """
    p, g = as_boxes(pred_boxes), as_boxes(gt_boxes)
    iou = iou_matrix(p, g)
    same = (np.array([normalize_label(x) for x in pred_labels], dtype=object)[:, None]
            == np.array([normalize_label(x) for x in gt_labels], dtype=object)[None, :]).reshape(iou.shape)
    hits_same = (iou >= hit) & same
    best_same = np.where(same, iou, 0.0).max(axis=1, initial=0.0)
    found = {
        "format_error": not template_ok,
        "missed": bool((~hits_same.any(axis=0)).any()),
        "duplicate": bool((hits_same.sum(axis=0) >= 2).any()),
        "low_iou": bool(((best_same >= low) & (best_same < hit)).any()),
        "wrong_label": bool((((iou >= hit) & ~same).any(axis=1) & ~hits_same.any(axis=1)).any()),
    }
    return [m for m in FAILURE_MODES if found[m]]
