"""RefCOCO / RefCOCO+ / RefCOCOg (``refs(<splitBy>).p`` pickles) and gRefCOCO (``grefs(unc).json``), each with
its ``instances.json``; images in COCO ``train2014/``. One expression per sentence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from visionr1.data import layouts
from visionr1.data.sources.base import Expressions, Issues, offsets_of, require_file
from visionr1.data.sources.coco_format import read_coco_json
from visionr1.errors import VisionR1Error
from visionr1.inputs import is_utf8
from visionr1.io import load_pickle

_REF_KEYS = ("ref_id", "ann_id", "image_id", "split", "sentences")
# The reasons ``read_refer`` leaves sentences of the asked splits out for (evaluation counts them too)
NO_IMAGE = "expression whose image is missing or unusable (skipped)"
ONLY_CROWD = "gRefCOCO expression whose only targets are crowd regions (skipped)"
NO_TARGET = "expression whose target box is unavailable (skipped)"
EMPTY = "empty sentence (skipped)"
NOT_TEXT = "sentence not valid UTF-8 text (skipped)"  # a lone surrogate, "\udcff" in a JSON refs file
SENTENCE_SKIPS = (NO_IMAGE, ONLY_CROWD, NO_TARGET, EMPTY, NOT_TEXT)


def _load_refs(path: Path) -> list[dict]:
    if path.suffix != ".json":  # Python 2 pickles of plain data; a pickle naming any global is refused
        refs = load_pickle(path)
    else:
        try:
            refs = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise VisionR1Error(f"{path}: cannot read referring expressions ({exc})") from None
    if not isinstance(refs, list) or not all(isinstance(r, dict) for r in refs):
        raise VisionR1Error(f"{path}: expected a list of refs (dicts with ref_id, ann_id, image_id, sentences)")
    for i, r in enumerate(refs):
        missing = [k for k in _REF_KEYS if k not in r]
        if missing or not isinstance(r["sentences"], list):
            raise VisionR1Error(f"{path}: ref {i} " + (f"lacks {', '.join(missing)}" if missing else
                                                       "has no list of sentences")
                                + f" (each ref needs {', '.join(_REF_KEYS)})")
    return refs


def read_refer(refer_root: Path, coco_root: Path | None, dataset: str, splits: tuple[str, ...] = ("train",), *,
               check_images: bool = True) -> Expressions:
    """Expressions of ``dataset`` (refcoco, refcoco+, refcocog, grefcoco; ``name:splitBy`` picks another
    partition, e.g. ``refcocog:google`` reads ``refs(google).p``) in ``splits``. Target boxes come from the
    dataset's ``instances.json``; gRefCOCO refs with ``ann_id == [-1]`` have no target, and their crowd targets
    are dropped (the expression keeps its other targets). A missing ``train2014/`` folder is an error."""
    dataset, _, other_split_by = dataset.partition(":")
    if dataset not in layouts.REFER_DATASETS:
        raise VisionR1Error(f"unknown referring dataset '{dataset}' (known: {', '.join(layouts.REFER_DATASETS)})")
    split_by, fname, known_splits = layouts.REFER_DATASETS[dataset]
    if other_split_by and other_split_by != split_by:
        split_by, fname = other_split_by, fname.replace(f"({split_by})", f"({other_split_by})")
    elif bad := [s for s in splits if s not in known_splits]:
        raise VisionR1Error(f"{dataset} ({split_by}) has no split {', '.join(bad)} (known: {', '.join(known_splits)})")
    if coco_root is None:
        raise VisionR1Error(f"{dataset} images are COCO train2014 images: give --coco-root (with "
                            f"{layouts.COCO2014_TRAIN_DIR}/ inside)")
    folder = Path(refer_root) / dataset
    layout = f"<refcoco-root>/{dataset}/{fname} and <refcoco-root>/{dataset}/{layouts.REFER_INSTANCES}"
    refs_path = require_file(folder / fname, f"{dataset} refs file", layout)
    inst_path = require_file(folder / layouts.REFER_INSTANCES, f"{dataset} instances file", layout)
    images = Path(coco_root) / layouts.COCO2014_TRAIN_DIR
    if not images.is_dir():
        raise VisionR1Error(f"{dataset} images not found: {images} is not a folder ({dataset} refers to COCO "
                            f"train2014 images, COCO_train2014_<id>.jpg; a COCO 2017 download does not have them)")
    issues = Issues()
    inst = read_coco_json(inst_path, images, dataset, check_images=check_images, issues=issues, labels=False)
    row_of_ann = {int(a): i for i, a in enumerate(inst.ann_ids.tolist())}
    crowd = set(inst.crowd_ann_ids.tolist())
    image_of_id = {int(i): k for k, i in enumerate(inst.image_ids.tolist())}
    owner = np.repeat(np.arange(len(inst)), inst.counts)

    texts, image, rows, keys = [], [], [], []
    for ref in _load_refs(refs_path):
        if ref.get("split") not in splits:
            continue
        img = image_of_id.get(ref.get("image_id"))
        if img is None:
            issues.add(NO_IMAGE, len(ref.get("sentences") or []))
            continue
        ann = ref.get("ann_id")
        ann_list = ann if isinstance(ann, list) else [ann]
        n_sents = len(ref.get("sentences") or [])
        if isinstance(ann, list) and ann_list != [-1] and crowd.intersection(ann_list):
            # gRefCOCO: a crowd region is no single object; drop it from the targets and keep the others (as
            # ReLA's loader does), unless nothing else is left (the expression is no "no target" one)
            kept = [a for a in ann_list if a not in crowd]
            issues.add("crowd target of a gRefCOCO expression (dropped; its other targets kept)" if kept else
                       ONLY_CROWD, n_sents)
            if not kept:
                continue
            ann_list = kept
        targets = [] if ann_list == [-1] else [row_of_ann.get(a) for a in ann_list]
        if None in targets or any(owner[t] != img for t in targets):
            issues.add(NO_TARGET, n_sents)
            continue
        for sent in ref.get("sentences") or []:
            text = " ".join(str(sent.get("sent") or sent.get("raw") or "").split())
            if not text:
                issues.add(EMPTY)
                continue
            if not is_utf8(text):  # a lone surrogate: no prompt or table can hold it
                issues.add(NOT_TEXT)
                continue
            texts.append(text)
            image.append(img)
            rows.append(targets)
            keys.append(f"{dataset}/{ref.get('ref_id')}/{sent.get('sent_id')}")
    counts = np.array([len(r) for r in rows], dtype=np.int64)
    flat = np.array([t for r in rows for t in r], dtype=np.int64)
    return Expressions(
        source=dataset, texts=texts, image=np.array(image, dtype=np.int64), paths=inst.paths, widths=inst.widths,
        heights=inst.heights, offsets=offsets_of(np.repeat(np.arange(len(rows)), counts), len(rows)),
        boxes=inst.boxes[flat].reshape(-1, 4), keys=keys, files=[refs_path, inst_path], issues=issues)
