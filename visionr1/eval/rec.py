"""Referring expression comprehension on RefCOCO / RefCOCO+ / RefCOCOg: Acc@0.5 per split."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from visionr1.data.layouts import COCO2014_TRAIN_DIR
from visionr1.data.sources.refer import SENTENCE_SKIPS, read_refer
from visionr1.data.templates import load_templates
from visionr1.errors import VisionR1Error
from visionr1.eval.sets import EvalSet, Query, missing_files_error

REC_SPLITS = ("refcoco:val", "refcoco:testA", "refcoco:testB", "refcoco+:val", "refcoco+:testA", "refcoco+:testB",
              "refcocog:val", "refcocog:test")
NOT_ONE_TARGET = "expression with no or several targets (skipped: REC asks for one object)"


def rec_sets(refer_root: Path, coco_root: Path | None, names: Sequence[str], family: str, *,
             limit: int | None = None) -> list[EvalSet]:
    """One set per ``dataset:split``; one query per sentence, its target the referred box. What the split's files
    hold and no query asks (an empty sentence or one no prompt can hold, an unavailable target, an expression of
    no or several targets) is counted by reason in the set's ``skipped``, over the whole split. Missing images are
    listed in one error (a missing ``train2014/`` folder too), before any model is loaded."""
    template = load_templates(family)["rec"][0]
    out = []
    for name in names:
        dataset, _, split = name.rpartition(":")
        if not dataset or not split:
            raise VisionR1Error(f"REC sets are named dataset:split (e.g. refcoco:testA), got '{name}'")
        exprs = read_refer(refer_root, coco_root, dataset, (split,), check_images=False)
        skipped = {why: n for why, n in exprs.issues.items() if why in SENTENCE_SKIPS}
        queries = []
        for k in range(len(exprs)):
            a, b = exprs.offsets[k], exprs.offsets[k + 1]
            if b - a != 1:
                skipped[NOT_ONE_TARGET] = skipped.get(NOT_ONE_TARGET, 0) + 1
                continue
            if limit is not None and len(queries) >= limit:
                continue
            img = exprs.image[k]
            text = exprs.texts[k]
            queries.append(Query(f"{name}:{exprs.keys[k]}", exprs.paths[img], int(img), int(exprs.widths[img]),
                                 int(exprs.heights[img]), template.render([text]), (text,), None,
                                 ((text, tuple(exprs.boxes[a].tolist())),)))
        missing = sorted({Path(q.image) for q in queries if not Path(q.image).is_file()})
        if missing:
            raise missing_files_error(missing, f"images of {name} under {Path(coco_root) / COCO2014_TRAIN_DIR}")
        out.append(EvalSet(name, "rec", queries, skipped=skipped))
    return out
