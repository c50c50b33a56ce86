"""COCO box metrics (faster-coco-eval or pycocotools) and REC accuracy, on stored predictions."""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np

from visionr1.errors import VisionR1Error
from visionr1.eval.sets import EvalSet
from visionr1.formats import normalize_label

EVALUATORS = ("faster-coco-eval", "pycocotools")
SCORE_POLICIES = ("constant", "rank-decay")
STAT_NAMES = {"mAP": 0, "AP50": 1, "AP75": 2, "AR100": 8}


def score_of(rank: int, policy: str) -> float:
    """Confidence given to the ``rank``-th box of an answer: LVLMs give none. ``constant``: 0.99 for every box
    (the released evaluation); ``rank-decay``: 1 / (1 + rank), trusting the order of the answer."""
    return 0.99 if policy == "constant" else 1.0 / (1 + rank)


def _evaluable(gt: dict) -> dict:
    """A copy COCOeval handles correctly: annotation ids from 1 (COCOeval marks "unmatched" with id 0, so an
    annotation with id 0, common in Roboflow/ODinW exports, could never count as found), ``area`` and
    ``iscrowd`` filled in where a file leaves them out."""
    doc = copy.deepcopy(gt)
    for i, a in enumerate(doc.get("annotations", [])):
        a["id"] = i + 1
        a.setdefault("iscrowd", 0)
        if "area" not in a:
            a["area"] = float(a["bbox"][2] * a["bbox"][3])
    return doc


def coco_stats(gt: dict, detections: list[dict], image_ids: list[int], evaluator: str = "faster-coco-eval"
               ) -> np.ndarray:
    """The 12 COCOeval bbox statistics on ``image_ids`` (all zero without detections)."""
    if evaluator not in EVALUATORS:
        raise VisionR1Error(f"unknown evaluator '{evaluator}' (choose from {', '.join(EVALUATORS)})")
    if not detections or not image_ids:
        return np.zeros(12)
    quiet = contextlib.redirect_stdout(io.StringIO())
    if evaluator == "faster-coco-eval":
        from faster_coco_eval import COCO
        from faster_coco_eval import COCOeval_faster as COCOeval
    else:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    with quiet:
        coco = COCO()
        coco.dataset = _evaluable(gt)
        coco.createIndex()
        dt = coco.loadRes(copy.deepcopy(detections))
        e = COCOeval(coco, dt, "bbox")
        e.params.imgIds = sorted(image_ids)
        e.evaluate()
        e.accumulate()
        e.summarize()
    return np.asarray(e.stats, dtype=np.float64)


def box_metrics(es: EvalSet, records: dict[str, dict], score_policy: str = "constant",
                evaluator: str = "faster-coco-eval") -> dict:
    """mAP, AP50, AP75, AR100 (percent) of one box set, with parse failures and unknown labels counted.

    Single-category queries give every box the asked category; detection queries map the predicted label to a
    category case-insensitively, and labels that name no category are dropped and counted."""
    if score_policy not in SCORE_POLICIES:
        raise VisionR1Error(f"unknown score policy '{score_policy}' (choose from {', '.join(SCORE_POLICIES)})")
    by_name = {normalize_label(n): cid for cid, n in es.categories.items()}
    detections, images = [], set()
    unknown = failures = answered = 0
    for q in es.queries:
        rec = records.get(q.qid)
        if rec is None:
            continue
        answered += 1
        images.add(q.image_id)
        failures += not rec["template_ok"]
        for rank, (box, label) in enumerate(zip(rec["boxes"], rec["labels"], strict=True)):
            cid = q.category_id if q.category_id is not None else by_name.get(normalize_label(label))
            if cid is None:
                unknown += 1
                continue
            x1, y1, x2, y2 = box
            detections.append({"image_id": q.image_id, "category_id": cid, "bbox": [x1, y1, x2 - x1, y2 - y1],
                               "score": score_of(rank, score_policy)})
    stats = coco_stats(es.coco, detections, sorted(images), evaluator)
    out = {k: (round(100 * float(stats[i]), 2) if stats[i] >= 0 else None) for k, i in STAT_NAMES.items()}
    return {**out, "queries": len(es.queries), "answered": answered, "images": len(images),
            "parse_failures": failures, "unknown_labels": unknown, "detections": len(detections)}


def _iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def rec_metrics(es: EvalSet, records: dict[str, dict]) -> dict:
    """Acc@0.5 (percent): the first predicted box must overlap the referred box with IoU >= 0.5."""
    correct = answered = failures = 0
    for q in es.queries:
        rec = records.get(q.qid)
        if rec is None:
            continue
        answered += 1
        failures += not rec["template_ok"]
        correct += bool(rec["boxes"]) and _iou(rec["boxes"][0], q.gt[0][1]) >= 0.5
    return {"Acc@0.5": round(100 * correct / answered, 2) if answered else None, "queries": len(es.queries),
            "answered": answered, "parse_failures": failures}
