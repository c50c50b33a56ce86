"""Evaluation sets and their queries, shared by every benchmark module."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from visionr1.data.templates import load_templates
from visionr1.errors import VisionR1Error
from visionr1.eval.modes import released_category_prompt

PROTOCOLS = ("single+pos", "all")


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


@dataclass
class EvalSet:
    """A set to evaluate: ``kind`` is ``boxes`` (COCO metrics against ``coco``, a COCO-format document) or
    ``rec`` (Acc@0.5 against each query's single target)."""

    name: str
    kind: str
    queries: list[Query]
    coco: dict | None = None
    categories: dict[int, str] = field(default_factory=dict)


def missing_files_error(missing: list[Path], layout: str) -> VisionR1Error:
    shown = ", ".join(str(p) for p in missing[:8])
    more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
    return VisionR1Error(f"missing {len(missing)} dataset file{'s' if len(missing) > 1 else ''}: {shown}{more} "
                         f"(expected layout: {layout})")


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise VisionR1Error(f"{path}:{exc.lineno}: malformed JSON ({exc.msg})") from None


def box_set(name: str, doc: dict, image_dir: Path, family: str, protocol: str, limit: int | None,
            mode: str = "default") -> EvalSet:
    """Queries of a COCO-format document. ``all``: one query per image naming every category (detection
    template, categories in id order; released mode: the released evaluation's prompt, see
    ``released_category_prompt``); ``single+pos``: one query per (image, category present in its ground truth)
    with the grounding template."""
    if protocol not in PROTOCOLS:
        raise VisionR1Error(f"unknown protocol '{protocol}' (choose from {', '.join(PROTOCOLS)})")
    templates = load_templates(family)
    cats = sorted(doc.get("categories", []), key=lambda c: c["id"])
    names = {c["id"]: c["name"] for c in cats}
    detection = templates["detection"][0].render
    everything = (released_category_prompt([c["name"] for c in doc.get("categories", [])], detection)
                  if mode == "released" else detection([names[c["id"]] for c in cats]))
    boxes: dict[int, list] = {}
    for a in doc.get("annotations", []):
        if a.get("iscrowd", 0):
            continue
        if a["category_id"] not in names:
            raise VisionR1Error(f"{name}: annotation {a.get('id')} has category_id {a['category_id']}, which is not "
                                "among the file's categories")
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
            for cid in sorted({c for c, _ in objs}):
                queries.append(Query(f"{name}:{im['id']}:{cid}", path, im["id"], im["width"], im["height"],
                                     templates["grounding"][0].render([names[cid]]), (names[cid],), cid,
                                     tuple((names[c], b) for c, b in objs if c == cid)))
        if limit is not None and len(queries) >= limit:
            queries = queries[:limit]
            break
    missing = sorted({Path(q.image) for q in queries if not Path(q.image).is_file()})
    if missing:
        raise missing_files_error(missing, f"images of {name} under {image_dir}")
    return EvalSet(name, "boxes", queries, doc, names)
