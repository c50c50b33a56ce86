"""COCO-format instances files (COCO, ODinW/GLIP, V3Det, the REFER ``instances.json``).

The file is decoded with typed msgspec structs (unknown keys such as segmentations are skipped without
building objects); a file whose annotations do not fit the strict types is read again leniently, item by
item, so that one odd annotation costs a counted skip instead of the whole build.
"""

from __future__ import annotations

import json
import re
from operator import attrgetter
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from visionr1.data.sources.base import AnnotatedImages, Issues, clean_boxes, offsets_of
from visionr1.errors import VisionR1Error
from visionr1.images import usable_images
from visionr1.inputs import unnamed_categories


class _Image(msgspec.Struct, gc=False):
    id: int
    file_name: str
    width: float
    height: float


class _Ann(msgspec.Struct, gc=False):
    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float]
    iscrowd: int = 0
    id: int = -1


class _Category(msgspec.Struct, gc=False):
    id: int
    name: str


class _Doc(msgspec.Struct):
    images: list[_Image]
    categories: list[_Category]
    annotations: list[_Ann] = msgspec.field(default_factory=list)


class _LooseDoc(msgspec.Struct):
    images: list[_Image]
    categories: list[_Category]
    annotations: list[dict[str, Any]] = msgspec.field(default_factory=list)


def _number(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _loose_annotations(anns: list[dict], issues: Issues) -> list[_Ann]:
    out = []
    for a in anns:
        box = a.get("bbox")
        vals = [_number(v) for v in box] if isinstance(box, list) and len(box) == 4 else None
        img, cat = a.get("image_id"), a.get("category_id")
        if vals is None or None in vals or not isinstance(img, int) or not isinstance(cat, int):
            issues.add("annotation without a 4-number bbox, image_id or category_id (skipped)")
            continue
        ann_id = a.get("id")
        out.append(_Ann(img, cat, tuple(vals), int(a.get("iscrowd") or 0), ann_id if isinstance(ann_id, int) else -1))
    return out


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _with_lone_surrogates(data: bytes) -> Any:
    """``data`` decoded by Python's ``json``, which takes a lone surrogate escape (``"\\udcff"``: valid JSON, as
    Python writes a name taken from a file name in bytes that are not UTF-8) that msgspec refuses; ``None``
    where it fails too. Slower and larger in memory than msgspec: only for a file msgspec refuses so."""
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None


def decode_json(path: Path, type_: Any) -> Any:
    """Decode ``path`` as ``type_``; malformed JSON is a one-line error naming the file and line. Strings holding
    a lone surrogate are decoded as Python does (the readers skip and count what holds them: ``inputs.is_utf8``)."""
    data = path.read_bytes()
    try:
        return msgspec.json.decode(data, type=type_)
    except msgspec.ValidationError:
        raise
    except msgspec.DecodeError as exc:
        if "surrogate" in str(exc) and (doc := _with_lone_surrogates(data)) is not None:
            return msgspec.convert(doc, type=type_)
        m = re.search(r"\(byte (\d+)\)", str(exc))
        line = data.count(b"\n", 0, int(m.group(1))) + 1 if m else None
        where = f"{path}:{line}" if line else str(path)
        raise VisionR1Error(f"{where}: malformed JSON: {str(exc).split(' (byte')[0]}") from None


def _ids(path: Path, what: str, values: list[int]) -> np.ndarray:
    """Integer ids as int64; one beyond 64 bits is a one-line error naming the file."""
    try:
        return np.fromiter(values, dtype=np.int64, count=len(values))
    except OverflowError:
        bad = next(v for v in values if not -2**63 <= v < 2**63)
        raise VisionR1Error(f"{path}: {what} id {bad} does not fit in 64 bits") from None


def _check_categories(path: Path, categories: list[_Category], issues: Issues,
                      labels: bool = True) -> tuple[list[str], np.ndarray]:
    """Category names become prompt text: each must be non-empty and unique; ids must be unique. A comma in a
    name is counted, not refused (real category lists may hold one; only prompts listing several categories,
    comma-separated, become ambiguous). A name that is not valid UTF-8 text (a lone surrogate, ``"\\udcff"`` in
    the JSON) is skipped with its boxes and counted, as evaluation does: no prompt or table can hold it (unless
    not ``labels``: a reader that uses only the boxes keeps them).

    Two names that differ only in spaces (the real boggleBoards export: ``o`` and ``o `` with a trailing space)
    are merged, with a counted note: a prompt shows them as the same text, so kept apart, a sample asking for
    one would count the other's objects, the same letter, as absent. Returns the category names (merged ones
    dropped) and, per category of ``categories``, the index of its name in them (-1: skipped)."""
    unnamed, shown = unnamed_categories(path, ((c.id, c.name) for c in categories)) if labels else (set(), "")
    names: dict[str, int] = {}
    ids, raw, out, index = set(), set(), [], []
    for c in categories:
        if c.id in unnamed:
            if c.id in ids:
                raise VisionR1Error(f"{path}: duplicate category id {c.id}")
            ids.add(c.id)
            index.append(-1)
            continue
        name = " ".join(c.name.split())
        if not name:
            raise VisionR1Error(f"{path}: category id {c.id} has an empty name")
        if "," in name:
            issues.add("category name holding a comma (kept; a prompt listing it with others is ambiguous)")
        if c.name in raw:
            raise VisionR1Error(f"{path}: duplicate category name '{name}'")
        if c.id in ids:
            raise VisionR1Error(f"{path}: duplicate category id {c.id}")
        raw.add(c.name)
        ids.add(c.id)
        if name in names:
            issues.add("category name differing from another only in spaces (merged into it, boxes included)")
        else:
            names[name] = len(out)
            out.append(c.name)
        index.append(names[name])
    if unnamed:
        issues.add(f"category whose name is not valid UTF-8 text: {shown} (skipped with its boxes; rename it to use "
                   "it)", len(unnamed))
    return out, np.array(index, dtype=np.int64)


def read_coco_json(path: Path, image_dir: Path, source: str, *, check_images: bool = True,
                   issues: Issues | None = None, labels: bool = True) -> AnnotatedImages:
    """Images and boxes of one COCO-format file; ``file_name`` entries are relative to ``image_dir``. ``labels``:
    the category names become prompt text (see ``_check_categories``; the REFER readers use only the boxes).

    Skipped and counted: annotations of unknown images or categories, zero-area boxes, boxes entirely outside
    the image, images whose file is missing. Boxes reaching outside the image are clipped. Crowd regions
    (``iscrowd=1``) are not boxes of single objects: they are left out and their image is marked ``crowd``.
    """
    issues = issues if issues is not None else Issues()
    try:
        doc = decode_json(path, _Doc)
    except msgspec.ValidationError as exc:
        try:
            loose = decode_json(path, _LooseDoc)
        except msgspec.ValidationError as exc2:
            raise VisionR1Error(f"{path}: not a COCO instances file ({exc2})") from None
        issues.add(f"annotation file read item by item (first problem: {str(exc).split(' - ')[-1]})")
        doc = _Doc(loose.images, loose.categories, _loose_annotations(loose.annotations, issues))

    categories, merged = _check_categories(path, doc.categories, issues, labels)
    cat_ids = _ids(path, "category", [c.id for c in doc.categories])
    image_ids = _ids(path, "image", [im.id for im in doc.images])
    widths = np.array([im.width for im in doc.images], dtype=np.float64)
    heights = np.array([im.height for im in doc.images], dtype=np.float64)
    paths = [str(image_dir / im.file_name) for im in doc.images]
    if len(np.unique(image_ids)) != len(image_ids):
        raise VisionR1Error(f"{path}: duplicate image ids")
    good_size = (widths > 0) & (heights > 0)
    issues.add("image with a non-positive width or height (skipped)", int((~good_size).sum()))
    if check_images:
        idx = np.flatnonzero(good_size)
        good_size[idx] = usable_images([paths[i] for i in idx], widths[idx], heights[idx], image_dir, issues)

    anns = doc.annotations
    a_img, a_cat, ann_ids, crowd = (_ids(path, f"annotation {name}", list(map(attrgetter(name), anns)))
                                    for name in ("image_id", "category_id", "id", "iscrowd"))
    crowd = crowd != 0
    xywh = np.array(list(map(attrgetter("bbox"), anns)), dtype=np.float64).reshape(-1, 4)
    del doc, anns

    order = np.argsort(image_ids)
    pos = np.searchsorted(image_ids, a_img, sorter=order)
    img = order[np.minimum(pos, len(order) - 1)] if len(order) else np.zeros(len(a_img), dtype=np.int64)
    known_img = (pos < len(order)) & (image_ids[img] == a_img) if len(order) else np.zeros(len(a_img), bool)
    issues.add("annotation of an unknown image id (skipped)", int((~known_img).sum()))
    corder = np.argsort(cat_ids)
    cpos = np.searchsorted(cat_ids, a_cat, sorter=corder)
    cat = corder[np.minimum(cpos, len(corder) - 1)] if len(corder) else np.zeros(len(a_cat), dtype=np.int64)
    known_cat = (cpos < len(corder)) & (cat_ids[cat] == a_cat) if len(corder) else np.zeros(len(a_cat), bool)
    issues.add("annotation with an unknown category id (skipped)", int((known_img & ~known_cat).sum()))
    unnamed = known_img & known_cat
    unnamed[unnamed] = merged[cat[unnamed]] < 0
    issues.add("box of a category whose name is not valid UTF-8 text (skipped)", int(unnamed.sum()))
    keep = known_img & known_cat & ~unnamed & good_size[img]

    crowd_images = np.zeros(len(image_ids), dtype=bool)
    crowd_images[img[keep & crowd]] = True
    issues.add("crowd region (left out; its image is marked crowd)", int((keep & crowd).sum()))
    crowd_ann_ids = ann_ids[keep & crowd]
    keep &= ~crowd
    xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
    inside, xyxy = clean_boxes(xyxy[keep], widths[img[keep]], heights[img[keep]], issues)
    img, cat, xyxy, ann_ids = img[keep][inside], merged[cat[keep][inside]], xyxy[inside], ann_ids[keep][inside]

    # drop unusable images, renumber, group boxes by image
    kept_images = np.flatnonzero(good_size)
    new_index = np.full(len(image_ids), -1, dtype=np.int64)
    new_index[kept_images] = np.arange(len(kept_images))
    img = new_index[img]
    by_image = np.argsort(img, kind="stable")
    return AnnotatedImages(
        source=source, categories=categories, paths=[paths[i] for i in kept_images],
        image_ids=image_ids[kept_images], widths=widths[kept_images], heights=heights[kept_images],
        offsets=offsets_of(img, len(kept_images)), boxes=xyxy[by_image], labels=cat[by_image],
        crowd=crowd_images[kept_images], files=[path], issues=issues, ann_ids=ann_ids[by_image],
        crowd_ann_ids=crowd_ann_ids)
