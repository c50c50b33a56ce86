"""COCO box metrics (faster-coco-eval or pycocotools) and REC accuracy, on stored predictions."""

from __future__ import annotations

import contextlib
import copy
import io
from collections import Counter
from collections.abc import Callable

import numpy as np

from visionr1.boxes import as_boxes, iou_aligned
from visionr1.errors import VisionR1Error
from visionr1.eval.modes import RELEASED_SCORE
from visionr1.eval.sets import EvalSet, Query, query_geometry
from visionr1.formats import Geometry, get_adapter, normalize_label, says_nothing
from visionr1.formats.released import released_items, released_xywh

EVALUATORS = ("faster-coco-eval", "pycocotools")
SCORE_POLICIES = ("constant", "rank-decay")
STAT_NAMES = {"mAP": 0, "AP50": 1, "AP75": 2, "AR100": 8}
ANY_LABEL = {"mAP_any_label": 0, "AP50_any_label": 1}


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


def _evaluable(gt: dict, renumber: bool) -> dict:
    """A copy COCOeval handles correctly: annotation ids from 1 (COCOeval marks "unmatched" with id 0, so an
    annotation with id 0, common in Roboflow/ODinW exports, could never count as found; without ``renumber``
    the ids stay as in the file, as the released evaluation loads it), ``area`` and ``iscrowd`` filled in where a
    file leaves them out."""
    doc = copy.deepcopy(gt)
    for i, a in enumerate(doc.get("annotations", [])):
        if renumber:
            a["id"] = i + 1
        a.setdefault("iscrowd", 0)
        if "area" not in a:
            a["area"] = float(a["bbox"][2] * a["bbox"][3])
    return doc


def coco_stats(gt: dict, detections: list[dict], image_ids: list[int], evaluator: str = "faster-coco-eval",
               renumber: bool = True, use_cats: bool = True) -> np.ndarray:
    """The 12 COCOeval bbox statistics on ``image_ids`` (all zero without detections); without ``use_cats``,
    class-agnostic (COCOeval ``useCats=0``: a box may match an object of any category)."""
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
        coco.dataset = _evaluable(gt, renumber)
        coco.createIndex()
        dt = coco.loadRes(copy.deepcopy(detections))
        e = COCOeval(coco, dt, "bbox")
        e.params.imgIds = sorted(image_ids)
        e.params.useCats = int(use_cats)
        e.evaluate()
        e.accumulate()
        e.summarize()
    return np.asarray(e.stats, dtype=np.float64)


def box_metrics(es: EvalSet, records: dict[str, dict], score_policy: str = "constant",
                evaluator: str = "faster-coco-eval", mode: str = "default",
                geometry: Callable[[Query], Geometry] | None = None) -> dict:
    """mAP, AP50, AP75, AR100 (percent) of one box set, with parse failures and unknown labels counted.

    Default mode: single-category queries give every box the asked category; detection queries map the predicted
    label to a category with ``LabelLookup``; labels that name no category are dropped and counted; annotation ids
    are renumbered. Released mode: the released evaluation's reading of the raw answers (``geometry`` gives each
    query's model input size), label lookup and annotation ids (``released_detections``).

    ``mAP_any_label`` / ``AP50_any_label`` (default mode, sets of detection queries): the same boxes with their
    labels ignored, unknown labels included (class-agnostic COCOeval): how well a model localizes apart from how
    well it names; None where queries name their category (the category is given, not predicted)."""
    if score_policy not in SCORE_POLICIES:
        raise VisionR1Error(f"unknown score policy '{score_policy}' (choose from {', '.join(SCORE_POLICIES)})")
    answered = _answered(es, records)
    if mode == "released":
        detections, unknown, unread = released_detections(es, answered, geometry, score_policy)
    else:
        every, named = _detections(es, answered, score_policy)
        detections, unknown = [d for d, ok in zip(every, named, strict=True) if ok], named.count(False)
        unread = [not rec["template_ok"] for _, rec in answered]
    images = sorted({q.image_id for q, _ in answered})
    gt = _asked(es.coco, [q for q, _ in answered])
    stats = coco_stats(gt, detections, images, evaluator, renumber=mode != "released")
    out = {k: _percent(stats[i]) for k, i in STAT_NAMES.items()}
    any_label = dict.fromkeys(ANY_LABEL)
    if mode != "released" and answered and all(q.category_id is None for q, _ in answered):
        stats = coco_stats(gt, every, images, evaluator, use_cats=False)
        any_label = {k: _percent(stats[i]) for k, i in ANY_LABEL.items()}
    return {**out, **any_label, **_counts(es, answered, unread), "images": len(images), "unknown_labels": unknown,
            "detections": len(detections)}


def _percent(stat: float) -> float | None:
    return round(100 * float(stat), 2) if stat >= 0 else None


def _detections(es: EvalSet, answered: list[tuple[Query, dict]],
                score_policy: str) -> tuple[list[dict], list[bool]]:
    """COCO detections of every box of the answers, in answer order, and whether its label names a category; a
    box whose label names none is under the first category, for the class-agnostic evaluation only (which does
    not read categories)."""
    lookup, placeholder = LabelLookup(es.categories), next(iter(es.categories), 0)
    detections, named = [], []
    for q, rec in answered:
        for rank, (box, label) in enumerate(zip(rec["boxes"], rec["labels"], strict=True)):
            cid = q.category_id if q.category_id is not None else lookup(label)
            named.append(cid is not None)
            x1, y1, x2, y2 = box
            detections.append({"image_id": q.image_id, "category_id": placeholder if cid is None else cid,
                               "bbox": [x1, y1, x2 - x1, y2 - y1], "score": score_of(rank, score_policy)})
    return detections, named


def released_detections(es: EvalSet, answered: list[tuple[Query, dict]], geometry: Callable[[Query], Geometry],
                        score_policy: str) -> tuple[list[dict], int, list[bool]]:
    """Detections as the released evaluation makes them from the raw answers: ``released_items`` and
    ``released_xywh`` read each item; its label, lower-cased, is looked up in ``{name.lower(): id}`` built over
    the file's categories in order (a later name wins), for every query, single-category ones included; an item
    whose box or label fails is skipped (a failed label counted as unknown). Returns the detections, the unknown
    labels and, per answer, whether its parsing failed."""
    catname2id = {c["name"].lower(): c["id"] for c in es.coco.get("categories", [])}
    detections, unknown, unread = [], 0, []
    for q, rec in answered:
        items = released_items(rec["raw"])
        unread.append(items is None)
        geo = geometry(q)
        for rank, item in enumerate(items or ()):
            try:
                bbox = released_xywh(item["bbox_2d"], geo)
            except Exception:  # the released code skips the item on any failure
                continue
            try:
                cid = catname2id[item["label"].lower()]
            except Exception:
                unknown += 1
                continue
            detections.append({"image_id": q.image_id, "category_id": cid, "bbox": bbox,
                               "score": RELEASED_SCORE if score_policy == "constant" else score_of(rank, score_policy)})
    return detections, unknown, unread


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


def reward_terms(queries: list[Query], answers: list[str], family: str, min_pixels: int, max_pixels: int,
                 pre_resize: bool = False) -> list:
    """Vision-R1 reward terms (``paper`` preset, phase-1 thresholds) of each answer against its query's gt, in the
    model input size the answers were given for (``pre_resize``: released mode, see ``Adapter.geometry``)."""
    from visionr1.rewards import RewardConfig, score_batch

    adapter = get_adapter(family)
    sizes = [query_geometry(adapter, q, min_pixels, max_pixels, pre_resize)[2:] for q in queries]
    return score_batch(answers, [[{"label": lab, "bbox": list(b)} for lab, b in q.gt] for q in queries],
                       [q.width for q in queries], [q.height for q in queries], input_sizes=sizes,
                       config=RewardConfig(family=family, min_pixels=min_pixels, max_pixels=max_pixels))


def mean_reward(es: EvalSet, records: dict[str, dict], family: str, min_pixels: int, max_pixels: int,
                pre_resize: bool = False) -> dict:
    """Mean reward terms of the answered queries: format (Eq. 4), recall (Eq. 5), precision (Eq. 6) and their
    sum (0-3)."""
    answered = _answered(es, records)
    if not answered:
        return {"reward": None}
    terms = reward_terms([q for q, _ in answered], [rec["raw"] for _, rec in answered], family, min_pixels,
                         max_pixels, pre_resize)
    means = {k: round(float(np.mean([getattr(t, k) for t in terms])), 4) for k in ("format", "recall",
                                                                                   "precision", "total")}
    return {"reward": means.pop("total"), "reward_terms": means}


def _answered(es: EvalSet, records: dict[str, dict]) -> list[tuple[Query, dict]]:
    return [(q, records[q.qid]) for q in es.queries if q.qid in records]


def _counts(es: EvalSet, answered: list[tuple[Query, dict]], unread: list[bool]) -> dict:
    """Queries, answers, and answers whose format could not be read (``unread``), not counting answers in plain
    words ("There is no dog."): those say "no object". ``distinct_answers`` and ``most_common_answer`` (how
    often the commonest answer was given) tell a model that ignores its image: it answers different images
    alike."""
    raws = Counter(rec["raw"] for _, rec in answered)
    counts = {"queries": len(es.queries), "answered": len(answered),
              "parse_failures": sum(bad and not says_nothing(rec["raw"])
                                    for (_, rec), bad in zip(answered, unread, strict=True)),
              "distinct_answers": len(raws), "most_common_answer": max(raws.values(), default=0)}
    thinks = [rec["think_chars"] for _, rec in answered if "think_chars" in rec]
    if thinks:  # a Thinking family: how long its think blocks were, and how many were never closed
        closed = [n for n in thinks if n is not None]
        counts["think_unclosed"] = len(thinks) - len(closed)
        counts["think_chars_mean"] = round(sum(closed) / len(closed), 1) if closed else None
    return counts


def rec_metrics(es: EvalSet, records: dict[str, dict]) -> dict:
    """Acc@0.5 (percent): the first predicted box must overlap the referred box with IoU >= 0.5."""
    answered = _answered(es, records)
    first = [rec["boxes"][0] if rec["boxes"] else [0.0, 0.0, 0.0, 0.0] for _, rec in answered]
    target = [q.gt[0][1] for q, _ in answered]
    correct = int((iou_aligned(as_boxes(first), as_boxes(target)) >= 0.5).sum()) if answered else 0
    return {"Acc@0.5": round(100 * correct / len(answered), 2) if answered else None,
            **_counts(es, answered, [not rec["template_ok"] for _, rec in answered])}
