"""Visual Genome region descriptions as multi-object referring expressions.

Regions of one image that carry the same phrase (compared case-insensitively, whitespace collapsed, trailing
period dropped) form one expression whose targets are their boxes; near-duplicate regions of a group
(IoU >= 0.7, common in VG) are merged into one target.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np

from visionr1.data import layouts
from visionr1.data.sources.base import Expressions, Issues, clean_boxes, offsets_of, require_file
from visionr1.data.sources.coco_format import decode_json
from visionr1.errors import VisionR1Error
from visionr1.images import usable_images
from visionr1.inputs import is_utf8

DUPLICATE_IOU = 0.7


class _Region(msgspec.Struct, gc=False):
    x: float
    y: float
    width: float
    height: float
    phrase: str = ""


class _Image(msgspec.Struct, gc=False):
    regions: list[_Region]
    id: int | None = None
    image_id: int | None = None


class _Meta(msgspec.Struct, gc=False):
    width: float
    height: float
    image_id: int | None = None
    id: int | None = None
    url: str = ""


def phrase_key(phrase: str) -> str:
    """A region phrase as prompt text and grouping key: spaces collapsed, case folded, a closing full stop (with
    any space before it) dropped ("A dog ." and "a dog" are one phrase)."""
    return " ".join(phrase.split()).casefold().rstrip(". ")


def _dedupe(boxes: np.ndarray) -> np.ndarray:
    """Indices of boxes kept when each is dropped if it overlaps an earlier kept one with IoU >= 0.7."""
    keep: list[int] = []
    for i, b in enumerate(boxes):
        if keep:
            k = boxes[keep]
            iw = np.clip(np.minimum(k[:, 2], b[2]) - np.maximum(k[:, 0], b[0]), 0, None)
            ih = np.clip(np.minimum(k[:, 3], b[3]) - np.maximum(k[:, 1], b[1]), 0, None)
            inter = iw * ih
            union = (k[:, 2] - k[:, 0]) * (k[:, 3] - k[:, 1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
            if (inter / union >= DUPLICATE_IOU).any():
                continue
        keep.append(i)
    return np.array(keep, dtype=np.int64)


def read_vg(root: Path, *, min_targets: int = 1, check_images: bool = True) -> Expressions:
    """Phrase groups with at least ``min_targets`` distinct boxes, one expression each. A phrase that is not valid
    UTF-8 text (a lone surrogate, ``"\\udcff"`` in the JSON) is skipped with its regions and counted."""
    root = Path(root)
    layout = (f"<vg-root>/{layouts.VG_REGIONS}, <vg-root>/{layouts.VG_IMAGE_DATA} and images in "
              f"<vg-root>/{layouts.VG_IMAGE_DIRS[0]}/ or {layouts.VG_IMAGE_DIRS[1]}/")
    regions_path = require_file(root / layouts.VG_REGIONS, "Visual Genome region descriptions", layout)
    meta_path = require_file(root / layouts.VG_IMAGE_DATA, "Visual Genome image data", layout)
    try:
        images = decode_json(regions_path, list[_Image])
        metas = decode_json(meta_path, list[_Meta])
    except msgspec.ValidationError as exc:
        raise VisionR1Error(f"{regions_path.parent}: unexpected Visual Genome structure ({exc})") from None
    issues = Issues()
    meta_of = {}
    for m in metas:
        key = m.image_id if m.image_id is not None else m.id
        folder = m.url.rsplit("/", 2)[-2] if m.url.count("/") >= 2 else layouts.VG_IMAGE_DIRS[0]
        meta_of[key] = (m.width, m.height, folder)

    paths, widths, heights = [], [], []
    texts, image, boxes_all, keys = [], [], [], []
    for entry in images:
        image_id = entry.image_id if entry.image_id is not None else entry.id
        meta = meta_of.get(image_id)
        if meta is None:
            issues.add("image without size in image_data.json (skipped)")
            continue
        width, height, folder = meta
        groups: dict[str, list[_Region]] = {}
        for r in entry.regions:
            k = phrase_key(r.phrase)
            if k:
                groups.setdefault(k, []).append(r)
        img = len(paths)
        used = False
        for phrase, regs in groups.items():
            if not is_utf8(phrase):  # a lone surrogate: no prompt or table can hold it
                issues.add("region whose phrase is not valid UTF-8 text (skipped)", len(regs))
                continue
            xywh = np.array([(r.x, r.y, r.width, r.height) for r in regs], dtype=np.float64)
            xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
            n = len(xyxy)
            inside, xyxy = clean_boxes(xyxy, np.full(n, width), np.full(n, height), issues)
            xyxy = xyxy[inside]
            if not len(xyxy):
                continue
            kept = xyxy[_dedupe(xyxy)]
            issues.add("near-duplicate region merged", len(xyxy) - len(kept))
            if len(kept) < min_targets:
                continue
            texts.append(phrase)
            image.append(img)
            boxes_all.append(kept)
            keys.append(f"vg/{image_id}/{phrase}")
            used = True
        if used:
            paths.append(str(root / folder / f"{image_id}.jpg"))
            widths.append(width)
            heights.append(height)
    image_arr = np.array(image, dtype=np.int64)
    if check_images and paths:
        present = usable_images(paths, np.array(widths), np.array(heights), root, issues)
        if not present.all():
            keep_expr = present[image_arr]
            issues.add("expression whose image is unusable (skipped)", int((~keep_expr).sum()))
            new = np.cumsum(present) - 1
            texts = [t for t, k in zip(texts, keep_expr, strict=True) if k]
            keys = [t for t, k in zip(keys, keep_expr, strict=True) if k]
            boxes_all = [b for b, k in zip(boxes_all, keep_expr, strict=True) if k]
            image_arr = new[image_arr[keep_expr]]
            paths = [p for p, k in zip(paths, present, strict=True) if k]
            widths = [w for w, k in zip(widths, present, strict=True) if k]
            heights = [h for h, k in zip(heights, present, strict=True) if k]
    counts = np.array([len(b) for b in boxes_all], dtype=np.int64)
    return Expressions(
        source="vg", texts=texts, image=image_arr, paths=paths, widths=np.array(widths, dtype=np.float64),
        heights=np.array(heights, dtype=np.float64),
        offsets=offsets_of(np.repeat(np.arange(len(texts)), counts), len(texts)),
        boxes=np.concatenate(boxes_all) if boxes_all else np.zeros((0, 4)), keys=keys,
        files=[regions_path, meta_path], issues=issues)
