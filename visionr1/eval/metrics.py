"""COCO box metrics (faster-coco-eval or pycocotools) and REC accuracy, on stored predictions."""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np

from visionr1.boxes import as_boxes, iou_aligned
from visionr1.errors import VisionR1Error
from visionr1.eval.sets import EvalSet, Query
from visionr1.formats import normalize_label

EVALUATORS = ("faster-coco-eval", "pycocotools")
SCORE_POLICIES = ("constant", "rank-decay")
STAT_NAMES = {"mAP": 0, "AP50": 1, "AP75": 2, "AR100": 8}


def score_of(rank: int, policy: str) -> float:
    """Confidence given to the ``rank``-th box of an answer: LVLMs give none. ``constant``: 0.99 for every box
    (the released evaluation); ``rank-decay``: 1 / (1 + rank), trusting the order of the answer."""
    return 0.99 if policy == "constant" else 1.0 / (1 + rank)


class LabelLookup:
    """The category a predicted label names: the category of exactly that name, else the one whose name is the
    same up to case and spacing, unless several are (boggleBoards: Q / q; V3Det: guitar / Guitar): such a label
    names none of them, and categories the data keeps apart stay apart."""

    def __init__(self, categories: dict[int, str]) -> None:
        self.exact: dict[str, int] = {}
        loose: dict[str, list[int]] = {}
        for cid, name in categories.items():
            self.exact.setdefault(name, cid)
            loose.setdefault(normalize_label(name), []).append(cid)
        self.loose = {key: ids[0] for key, ids in loose.items() if len(ids) == 1}

    def __call__(self, label: str) -> int | None:
        cid = self.exact.get(label)
        return cid if cid is not None else self.loose.get(normalize_label(label))


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
    category with ``LabelLookup``, and labels that name no category are dropped and counted."""
    if score_policy not in SCORE_POLICIES:
        raise VisionR1Error(f"unknown score policy '{score_policy}' (choose from {', '.join(SCORE_POLICIES)})")
    lookup = LabelLookup(es.categories)
    answered = _answered(es, records)
    detections, unknown = [], 0
    images = {q.image_id for q, _ in answered}
    for q, rec in answered:
        for rank, (box, label) in enumerate(zip(rec["boxes"], rec["labels"], strict=True)):
            cid = q.category_id if q.category_id is not None else lookup(label)
            if cid is None:
                unknown += 1
                continue
            x1, y1, x2, y2 = box
            detections.append({"image_id": q.image_id, "category_id": cid, "bbox": [x1, y1, x2 - x1, y2 - y1],
                               "score": score_of(rank, score_policy)})
    stats = coco_stats(_asked(es.coco, [q for q, _ in answered]), detections, sorted(images), evaluator)
    out = {k: (round(100 * float(stats[i]), 2) if stats[i] >= 0 else None) for k, i in STAT_NAMES.items()}
    return {**out, **_counts(es, answered), "images": len(images), "unknown_labels": unknown,
            "detections": len(detections)}


def _asked(gt: dict, queries: list[Query]) -> dict:
    """``gt`` without the objects of (image, category) pairs no query asked for: with single-category queries
    and ``--limit``, an image may be asked for some of its categories only, and the others must not count as
    missed."""
    asked = {(q.image_id, q.category_id) for q in queries if q.category_id is not None}
    whole = {q.image_id for q in queries if q.category_id is None}
    if not asked:
        return gt
    keep = [a for a in gt["annotations"] if a["image_id"] in whole or (a["image_id"], a["category_id"]) in asked]
    return gt if len(keep) == len(gt["annotations"]) else {**gt, "annotations": keep}


def reward_terms(queries: list[Query], answers: list[str], family: str, min_pixels: int, max_pixels: int) -> list:
    """Vision-R1 reward terms (``paper`` preset, phase-1 thresholds) of each answer against its query's gt."""
    from visionr1.rewards import RewardConfig, score_batch

    return score_batch(answers, [[{"label": lab, "bbox": list(b)} for lab, b in q.gt] for q in queries],
                       [q.width for q in queries], [q.height for q in queries],
                       config=RewardConfig(family=family, min_pixels=min_pixels, max_pixels=max_pixels))


def mean_reward(es: EvalSet, records: dict[str, dict], family: str, min_pixels: int, max_pixels: int) -> dict:
    """Mean reward terms of the answered queries: format (Eq. 3), recall (Eq. 5), precision (Eq. 6) and their
    sum (0-3)."""
    answered = _answered(es, records)
    if not answered:
        return {"reward": None}
    terms = reward_terms([q for q, _ in answered], [rec["raw"] for _, rec in answered], family, min_pixels,
                         max_pixels)
    means = {k: round(float(np.mean([getattr(t, k) for t in terms])), 4) for k in ("format", "recall",
                                                                                   "precision", "total")}
    return {"reward": means.pop("total"), "reward_terms": means}


def _answered(es: EvalSet, records: dict[str, dict]) -> list[tuple[Query, dict]]:
    return [(q, records[q.qid]) for q in es.queries if q.qid in records]


def _counts(es: EvalSet, answered: list[tuple[Query, dict]]) -> dict:
    return {"queries": len(es.queries), "answered": len(answered),
            "parse_failures": sum(not rec["template_ok"] for _, rec in answered)}


def rec_metrics(es: EvalSet, records: dict[str, dict]) -> dict:
    """Acc@0.5 (percent): the first predicted box must overlap the referred box with IoU >= 0.5."""
    answered = _answered(es, records)
    first = [rec["boxes"][0] if rec["boxes"] else [0.0, 0.0, 0.0, 0.0] for _, rec in answered]
    target = [q.gt[0][1] for q, _ in answered]
    correct = int((iou_aligned(as_boxes(first), as_boxes(target)) >= 0.5).sum()) if answered else 0
    return {"Acc@0.5": round(100 * correct / len(answered), 2) if answered else None, **_counts(es, answered)}
