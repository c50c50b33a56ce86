"""Evaluation sets and their queries, shared by every benchmark module."""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from visionr1.data.templates import load_templates
from visionr1.errors import VisionR1Error
from visionr1.eval.modes import released_category_prompt
from visionr1.formats import Geometry
from visionr1.formats.resize import MAX_RATIO, vl_utils_size
from visionr1.inputs import printable, unnamed_categories

PROTOCOLS = ("single+pos", "all")
MAX_SIDE = 1 << 20  # the largest image side an annotation may give (the reward lines' limit too)


@dataclass(frozen=True)
class Query:
    """One model call: an image and an instruction. ``category_id`` is set for single-category queries (every
    predicted box gets it); ``gt`` is what a perfect answer holds (used by REC scoring and the oracle backend)."""

    qid: str
    image: str
    image_id: int
    width: int
    height: int
    prompt: str
    categories: tuple[str, ...]
    category_id: int | None
    gt: tuple[tuple[str, tuple[float, float, float, float]], ...]
    file_size: tuple[int, int] | None = None  # released mode: the image file's (width, height) where it differs


def query_geometry(adapter, q: Query, min_pixels: int, max_pixels: int, pre_resize: bool = False) -> Geometry:
    """The geometry a query's answer is read in. An image whose file has another size than its annotation (kept in
    released mode only) is read as the released evaluation reads it: the model input from the file, boxes scaled
    back by the annotated size."""
    w, h = q.file_size or (q.width, q.height)
    geo = adapter.geometry(w, h, min_pixels=min_pixels, max_pixels=max_pixels, pre_resize=pre_resize)
    return geo._replace(width=q.width, height=q.height)


@dataclass
class EvalSet:
    """A set to evaluate: ``kind`` is ``boxes`` (COCO metrics against ``coco``, a COCO-format document) or
    ``rec`` (Acc@0.5 against each query's single target). ``skipped``: what was left out, by reason (counted in
    the report)."""

    name: str
    kind: str
    queries: list[Query]
    coco: dict | None = None
    categories: dict[int, str] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)


def missing_files_error(missing: list[Path], layout: str) -> VisionR1Error:
    shown = ", ".join(printable(str(p)) for p in missing[:8])
    more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
    return VisionR1Error(f"missing {len(missing)} dataset file{'s' if len(missing) > 1 else ''}: {shown}{more} "
                         f"(expected layout: {layout})")


def _int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _finite(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _list(doc: dict, key: str, where: str) -> list[dict]:
    items = doc.get(key, [])
    if not isinstance(items, list):
        raise VisionR1Error(f"{where}: '{key}' is a {type(items).__name__}, not a list")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise VisionR1Error(f"{where}: {key}[{i}] is a {type(item).__name__}, not an object")
    return items


def check_coco(doc: object, where: str, keep_empty: bool = False) -> tuple[dict, dict[str, int]]:
    """A COCO-format document ready to score, and what was skipped (by reason). Malformed entries are one-line
    errors naming ``where`` and the key (``images[3].width``): a document that is not an object or has no images,
    categories without an integer id and a name, duplicate category or image ids, images without an integer id,
    a file name or positive finite sizes, annotations without a 4-number finite bbox or with an unknown image or
    category id. Images whose aspect ratio the model cannot take and boxes without area are counted skips (the
    latter kept with ``keep_empty``: the released evaluation keeps them, objects no box can match). A category
    whose name is not valid UTF-8 text (a lone surrogate such as ``"\\udcff"``, valid JSON: a name taken from a
    file name in bytes that are not UTF-8) is left out with its boxes, counted and named in escapes: no prompt
    can hold it (the tokenizer refuses it) and no database can store it."""
    if not isinstance(doc, dict):
        raise VisionR1Error(f"{where}: a JSON {type(doc).__name__}, not a COCO document (an object with images, "
                            "annotations and categories)")
    cats, images, anns = (_list(doc, k, where) for k in ("categories", "images", "annotations"))
    if not images:
        raise VisionR1Error(f"{where}: no images (nothing to evaluate)")
    if not cats:
        raise VisionR1Error(f"{where}: no categories")
    names: dict[int, str] = {}
    for i, c in enumerate(cats):
        if not _int(c.get("id")) or not isinstance(c.get("name"), str) or not c["name"].strip():
            raise VisionR1Error(f"{where}: categories[{i}] needs an integer 'id' and a non-empty 'name'")
        if c["id"] in names:
            raise VisionR1Error(f"{where}: categories[{i}]: duplicate category id {c['id']}")
        names[c["id"]] = c["name"]
    skipped: Counter[str] = Counter()
    unnamed, shown = unnamed_categories(where, names.items())
    if unnamed:
        skipped[f"categories whose name is not valid UTF-8 text, with their boxes ({shown}; rename them to "
                "evaluate them)"] = len(unnamed)
        cats = [c for c in cats if c["id"] not in unnamed]
    seen: dict[int, int] = {}
    kept_images = []
    for i, im in enumerate(images):
        if not _int(im.get("id")):
            raise VisionR1Error(f"{where}: images[{i}].id must be an integer, got {im.get('id')!r}")
        if not isinstance(im.get("file_name"), str) or not im["file_name"]:
            raise VisionR1Error(f"{where}: images[{i}].file_name must be a non-empty string")
        for key in ("width", "height"):
            v = im.get(key)
            if not _finite(v) or not 0 < v <= MAX_SIDE or v != int(v):
                raise VisionR1Error(f"{where}: images[{i}].{key} must be a whole number of pixels in [1, {MAX_SIDE}], "
                                    f"got {v!r}")
        if im["id"] in seen:
            raise VisionR1Error(f"{where}: images[{i}]: duplicate image id {im['id']} (also images[{seen[im['id']]}])")
        seen[im["id"]] = i
        if max(im["width"], im["height"]) / min(im["width"], im["height"]) > MAX_RATIO:
            skipped[f"images with an aspect ratio over {MAX_RATIO} (the model cannot take them)"] += 1
            continue
        kept_images.append({**im, "width": int(im["width"]), "height": int(im["height"])})
    kept_ids = {im["id"] for im in kept_images}
    kept_anns = []
    for i, a in enumerate(anns):
        box = a.get("bbox")
        if not isinstance(box, list) or len(box) != 4 or not all(_finite(v) for v in box):
            raise VisionR1Error(f"{where}: annotations[{i}].bbox must be 4 finite numbers [x, y, w, h], got "
                                f"{json.dumps(box)[:80]}")
        for key, known in (("image_id", seen), ("category_id", names)):
            if a.get(key) not in known or not _int(a.get(key)):
                raise VisionR1Error(f"{where}: annotations[{i}].{key} {a.get(key)!r} is not among the file's "
                                    f"{key.split('_')[0]} ids")
        if a["image_id"] not in kept_ids:
            continue
        if a["category_id"] in unnamed:
            skipped["boxes of categories whose name is not valid UTF-8 text"] += 1
            continue
        if (box[2] <= 0 or box[3] <= 0) and not keep_empty:
            skipped["boxes without area (width or height <= 0)"] += 1
            continue
        kept_anns.append(a)
    return {**doc, "images": kept_images, "annotations": kept_anns, "categories": cats}, dict(skipped)


def box_set(name: str, doc: object, image_dir: Path, family: str, protocol: str, limit: int | None,
            mode: str = "default", source: Path | None = None) -> EvalSet:
    """Queries of a COCO-format document. ``all``: one query per image naming every category (detection
    template, categories in id order; released mode: the released evaluation's prompt, see
    ``released_category_prompt``); ``single+pos``: one query per (image, category present in its ground truth)
    with the grounding template. ``doc`` (read from ``source``) is checked by ``check_coco``; images are checked
    by ``check_images``.

    Released mode, as the released evaluation builds its queries: boxes without area stay in the ground truth;
    single+pos asks an image's categories in the order of the file's category list (default: id order) and also
    the categories present only as crowd regions; an image whose file has another size than its annotation is
    kept (``Query.file_size``)."""
    if protocol not in PROTOCOLS:
        raise VisionR1Error(f"unknown protocol '{protocol}' (choose from {', '.join(PROTOCOLS)})")
    released = mode == "released"
    where = str(source or name)
    doc, skipped = check_coco(doc, where, keep_empty=released)
    templates = load_templates(family)
    cats = sorted(doc.get("categories", []), key=lambda c: c["id"])
    names = {c["id"]: c["name"] for c in cats}
    # the order an image's categories are asked in under single+pos
    order = {c["id"]: i for i, c in enumerate(doc["categories"] if released else cats)}
    detection = templates["detection"][0].render
    everything = (released_category_prompt([c["name"] for c in doc.get("categories", [])], detection)
                  if released else detection([names[c["id"]] for c in cats]))
    boxes: dict[int, list] = {}
    present: dict[int, set[int]] = {}  # the categories single+pos asks per image
    for a in doc.get("annotations", []):
        if released or not a.get("iscrowd", 0):
            present.setdefault(a["image_id"], set()).add(a["category_id"])
        if a.get("iscrowd", 0):
            continue
        x, y, w, h = a["bbox"]
        boxes.setdefault(a["image_id"], []).append((a["category_id"], (x, y, x + w, y + h)))
    queries = []
    for im in doc.get("images", []):
        path = str(image_dir / im["file_name"])
        objs = boxes.get(im["id"], [])
        if protocol == "all":
            queries.append(Query(f"{name}:{im['id']}", path, im["id"], im["width"], im["height"], everything,
                                 tuple(names.values()), None, tuple((names[c], b) for c, b in objs)))
        else:
            for cid in sorted(present.get(im["id"], ()), key=order.__getitem__):
                queries.append(Query(f"{name}:{im['id']}:{cid}", path, im["id"], im["width"], im["height"],
                                     templates["grounding"][0].render([names[cid]]), (names[cid],), cid,
                                     tuple((names[c], b) for c, b in objs if c == cid)))
        if limit is not None and len(queries) >= limit:
            queries = queries[:limit]
            break
    missing = sorted({Path(q.image) for q in queries if not Path(q.image).is_file()})
    if missing:
        raise missing_files_error(missing, f"images of {name} under {image_dir}")
    unreadable, sizes = check_images(queries)
    if released:  # scored as the released evaluation scores them: the model sees the file
        queries = [q if q.image not in sizes else dataclasses.replace(q, file_size=sizes[q.image]) for q in queries]
        _check_released_sizes(queries, where)
    else:
        unreadable |= set(sizes)
    if unreadable:
        skipped["unreadable images (empty, corrupt, not an image, over the decompression-bomb limit" + (
            ")" if released else ", or another size than the annotation)")] = len(unreadable)
        queries = [q for q in queries if q.image not in unreadable]
    return EvalSet(name, "boxes", queries, doc, names, skipped)


def _check_released_sizes(queries: list[Query], where: str) -> None:
    """A one-line error for an image the released pipeline cannot take: qwen_vl_utils resizes it to an aspect
    ratio over the processor's limit (a 40000x201 image becomes 40012x196), where the released evaluation stops."""
    for q in queries:
        w, h = q.file_size or (q.width, q.height)
        try:
            rh, rw = vl_utils_size(h, w)
        except ValueError:  # a file of another size than annotated may be beyond the limit itself
            rh, rw = h, w
        if max(rh, rw) / min(rh, rw) > MAX_RATIO:
            raise VisionR1Error(f"{where}: image {q.image_id} ({q.image}, {w}x{h}): qwen_vl_utils resizes it to "
                                f"{rw}x{rh}, an aspect ratio over the processor's limit of {MAX_RATIO}, where the "
                                "released evaluation stops; leave the image out, or use --mode default")


def check_images(queries: list[Query]) -> tuple[set[str], dict[str, tuple[int, int]]]:
    """The images of ``queries`` that cannot be answered (``visionr1.images.inspect_image``: empty, not an image,
    corrupt, over PIL's decompression-bomb limit), and {image: (width, height)} of those whose file is another
    size than the annotated one. Every other image is decoded in full (``visionr1.images.FULL_DECODE``: about
    2 ms a 640 x 480 JPEG), so a file truncated past a valid header is a counted skip too, not an error halfway
    through the answers."""
    from visionr1.images import OTHER_SIZE, inspect_image

    bad: set[str] = set()
    other: dict[str, tuple[int, int]] = {}
    for path, size in {q.image: (q.width, q.height) for q in queries}.items():
        found = inspect_image(path, size=size)
        if found.reason == OTHER_SIZE:
            other[path] = found.size
        elif found.reason is not None:
            bad.add(path)
    return bad, other
