"""Write a ``World`` to disk in the real file formats and folder layouts of the public datasets."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import pickle
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from visionr1 import __version__
from visionr1.data import layouts
from visionr1.io import write_bytes, write_json
from visionr1.synth.shapes import COLOURS, mask, polygon, polygon_area
from visionr1.synth.world import COCO_CATEGORY_IDS, COCO_SHAPES, Obj, Ref, Scene, World

Advance = Callable[[int], None]
WORLD_MARKER = "world.json"
_DATE = "2017-09-01 00:00:00"  # fixed, so that files are byte-identical across runs


def _hex(key: str, n: int) -> str:
    return hashlib.md5(key.encode()).hexdigest()[:n]


def xywh(box: tuple[float, float, float, float]) -> list[float]:
    """COCO bbox ``[x, y, width, height]`` of an xyxy box, rounded to 2 decimals."""
    return [round(box[0], 2), round(box[1], 2), round(box[2] - box[0], 2), round(box[3] - box[1], 2)]


def uncompressed_rle(m: np.ndarray) -> dict:
    """COCO uncompressed RLE (column-major run lengths, starting with a run of zeros), as COCO crowd masks."""
    flat = m.flatten(order="F").astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    counts = np.diff(np.concatenate([[0], change, [flat.size]])).tolist()
    if flat.size and flat[0] == 1:
        counts = [0, *counts]
    return {"counts": counts, "size": [int(m.shape[0]), int(m.shape[1])]}


def _annotation(obj: Obj, scene: Scene, ann_id: int, image_id: int, category_id: int, style: str) -> dict:
    """One COCO-format annotation. ``style``: ``coco`` (polygons, crowd RLE), ``roboflow`` (ODinW: no
    segmentation, box area) or ``v3det`` (boxes only)."""
    ann = {"id": ann_id, "image_id": image_id, "category_id": category_id, "bbox": xywh(obj.box)}
    if style == "coco":
        if obj.crowd:
            union = np.zeros((scene.height, scene.width), np.uint8)
            for b in obj.members:
                union |= mask(obj.shape, b, scene.width, scene.height)
            ann["segmentation"] = uncompressed_rle(union)
            ann["area"] = float(union.sum())
        else:
            ann["segmentation"] = [np.round(polygon(obj.shape, obj.box), 2).ravel().tolist()]
            ann["area"] = round(polygon_area(polygon(obj.shape, obj.box)), 2)
        ann["iscrowd"] = int(obj.crowd)
    else:
        ann["area"] = round((obj.box[2] - obj.box[0]) * (obj.box[3] - obj.box[1]), 2)
        if style == "roboflow":
            ann["segmentation"] = []
        ann["iscrowd"] = 0
    return ann


def coco_document(scenes: list[Scene], images: list[dict], categories: list[dict], label_to_id: dict[str, int],
                  ann_ids: Iterable[int], style: str, description: str) -> dict:
    """A COCO-format document: ``images[i]`` describes ``scenes[i]``; annotation ids drawn from ``ann_ids``."""
    ids = iter(ann_ids)
    anns = [_annotation(o, s, next(ids), img["id"], label_to_id[o.label], style)
            for s, img in zip(scenes, images, strict=True) for o in s.objects]
    return {
        "info": {"description": description, "version": __version__, "year": 2017,
                 "contributor": "visionr1 synthetic world", "date_created": _DATE},
        "licenses": [{"id": 1, "name": "CC BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"}],
        "images": images,
        "annotations": anns,
        "categories": categories,
    }


def _save(scene: Scene, path: Path, advance: Advance | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scene.render().save(path, "JPEG", quality=90)
    if advance:
        advance(1)


def _unique_ids(rng: np.random.Generator, n: int, hi: int) -> list[int]:
    return sorted(int(v) for v in rng.choice(np.arange(1, hi), size=n, replace=False))


def _gapped_ids(rng: np.random.Generator, start: int, n: int) -> list[int]:
    return (start + np.cumsum(rng.integers(1, 40, size=n))).tolist()


def write_coco(world: World, root: Path, advance: Advance | None = None) -> None:
    """``coco/annotations/instances_{train,val}2017.json`` + ``train2017/``, ``val2017/`` (COCO 2017)."""
    rng = np.random.default_rng([world.seed, 101])
    total = sum(len(v) for v in world.coco.values())
    image_ids = rng.permutation(_unique_ids(rng, total, 581930)).tolist()
    ann_start = 1
    categories = [{"supercategory": "round" if s in ("circle", "heart") else "polygon", "id": cid, "name": s}
                  for s, cid in zip(COCO_SHAPES, COCO_CATEGORY_IDS, strict=True)]
    label_to_id = {c["name"]: c["id"] for c in categories}
    for split, scenes in world.coco.items():
        ids, image_ids = image_ids[: len(scenes)], image_ids[len(scenes):]
        images = []
        for s, iid in zip(scenes, ids, strict=True):
            name = f"{iid:012d}.jpg"
            images.append({"license": 1, "file_name": name, "coco_url": f"http://images.cocodataset.org/{split}/{name}",
                           "height": s.height, "width": s.width, "date_captured": _DATE, "flickr_url": "", "id": iid})
            _save(s, root / split / name, advance)
        n_anns = sum(len(s.objects) for s in scenes)
        ann_ids = _gapped_ids(rng, ann_start, n_anns)
        ann_start = (ann_ids[-1] if ann_ids else ann_start) + 1000
        doc = coco_document(scenes, images, categories, label_to_id, ann_ids, "coco",
                            f"visionr1 synthetic shapes world: COCO {split}")
        write_json(root / layouts.coco_annotation(split), doc)


def write_odinw(world: World, root: Path, advance: Advance | None = None) -> None:
    """Every ODinW set of the world in its real layout (``<root>/<split>/annotations_without_background.json`` or
    ``<root>/<split>_annotations_without_background.json`` for export sets; the roots of ``layouts.ODINW_SETS``,
    ``vector`` in its nested Roboflow export folder), Roboflow-style ids from 0."""
    for name, splits in world.odinw.items():
        spec = layouts.ODINW_SETS[name]
        cats = world.odinw_categories[name]
        categories = [{"id": i + 1, "name": c, "supercategory": name.split("/")[0].lower()} for i, c in enumerate(cats)]
        label_to_id = {c["name"]: c["id"] for c in categories}
        for split, scenes in splits.items():
            images = []
            for i, s in enumerate(scenes):
                fname = f"IMG_{i:04d}_jpg.rf.{_hex(s.key, 32)}.jpg"
                images.append({"id": i, "license": 1, "file_name": fname, "height": s.height, "width": s.width,
                               "date_captured": _DATE})
                _save(s, root / spec.image_dir(split) / fname, advance)
            n_anns = sum(len(s.objects) for s in scenes)
            doc = coco_document(scenes, images, categories, label_to_id, range(n_anns), "roboflow",
                                f"visionr1 synthetic shapes world: ODinW {name} {split}")
            write_json(root / spec.annotation(split), doc)


def v3det_folder(category_id: int, name: str) -> str:
    """The category-node folder of V3Det images: ``n`` + 8 digits for WordNet nodes (lower-case names here),
    ``a`` + 8 digits for nodes V3Det added (the capitalised twins here), as ``images/n07745046/``,
    ``images/a00000066/`` in the release."""
    return f"{'a' if name[:1].isupper() else 'n'}{category_id:08d}"


def write_v3det(world: World, root: Path, advance: Advance | None = None) -> None:
    """``v3det/annotations/v3det_2023_v1_{train,val}.json``; images under ``images/<category node>/`` named like
    the release's Flickr files (``21_371_29405651261_633d076053_c.jpg``)."""
    categories = [{"id": i + 1, "name": c, "novel": False} for i, c in enumerate(world.v3det_categories)]
    label_to_id = {c["name"]: c["id"] for c in categories}
    next_image = 1
    for split, scenes in world.v3det.items():
        images = []
        for s in scenes:
            primary = s.objects[0].label if s.objects else world.v3det_categories[0]
            flickr = int(_hex(s.key + "/flickr", 9), 16) % 10**11
            fname = (f"{layouts.V3DET_IMAGES}/{v3det_folder(label_to_id[primary], primary)}/"
                     f"{next_image}_{label_to_id[primary]}_{flickr:011d}_{_hex(s.key, 10)}_c.jpg")
            images.append({"id": next_image, "file_name": fname, "height": s.height, "width": s.width})
            _save(s, root / fname, advance)
            next_image += 1
        n_anns = sum(len(s.objects) for s in scenes)
        start = 1 + sum(len(s.objects) for sp, sc in world.v3det.items() if sp < split for s in sc)
        doc = coco_document(scenes, images, categories, label_to_id, range(start, start + n_anns), "v3det",
                            f"visionr1 synthetic shapes world: V3Det {split}")
        write_json(root / layouts.V3DET_ANNOTATIONS[split], doc)


def _sentence(raw: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", raw.lower()).split())


def write_refer(world: World, refer_root: Path, coco_root: Path, advance: Advance | None = None) -> None:
    """RefCOCO/RefCOCO+/RefCOCOg ``refs(...).p`` pickles and gRefCOCO ``grefs(unc).json``, each beside
    an ``instances.json``; images in COCO ``train2014/`` under ``coco_root``."""
    rng = np.random.default_rng([world.seed, 102])
    image_ids = _unique_ids(rng, len(world.refer_scenes), 581930)
    n_anns = sum(len(s.objects) for s in world.refer_scenes)
    ann_ids = _gapped_ids(rng, 1_000_000, n_anns)
    images, ann_of = [], []
    k = 0
    for s, iid in zip(world.refer_scenes, image_ids, strict=True):
        name = f"COCO_train2014_{iid:012d}.jpg"
        images.append({"license": 1, "file_name": name, "coco_url": f"http://images.cocodataset.org/train2014/{name}",
                       "height": s.height, "width": s.width, "date_captured": _DATE, "flickr_url": "", "id": iid})
        ann_of.append(ann_ids[k: k + len(s.objects)])
        k += len(s.objects)
        _save(s, coco_root / layouts.COCO2014_TRAIN_DIR / name, advance)
    categories = [{"supercategory": "shape", "id": cid, "name": s} for s, cid in zip(COCO_SHAPES, COCO_CATEGORY_IDS,
                                                                                     strict=True)]
    label_to_id = {c["name"]: c["id"] for c in categories}
    instances = coco_document(world.refer_scenes, images, categories, label_to_id, ann_ids, "coco",
                              "visionr1 synthetic shapes world: COCO train2014 subset for referring expressions")

    def entries(refs: list[Ref], multi: bool) -> list[dict]:
        out, sent_id = [], 0
        for ref_id, r in enumerate(refs):
            scene, iid = world.refer_scenes[r.scene], image_ids[r.scene]
            sents = []
            for raw in r.sentences:
                sent = _sentence(raw)
                sents.append({"tokens": sent.split(), "raw": raw, "sent_id": sent_id, "sent": sent})
                sent_id += 1
            anns = [ann_of[r.scene][t] for t in r.targets]
            cats = [label_to_id[scene.objects[t].label] for t in r.targets]
            e = {"sent_ids": [x["sent_id"] for x in sents], "file_name": f"COCO_train2014_{iid:012d}_{ref_id}.jpg",
                 "ann_id": (anns or [-1]) if multi else anns[0], "ref_id": ref_id, "image_id": iid,
                 "split": r.split, "sentences": sents, "category_id": (cats or [-1]) if multi else cats[0]}
            if multi:
                e["no_target"] = not r.targets
            out.append(e)
        return out

    for dataset, (_, fname, _) in layouts.REFER_DATASETS.items():
        d = refer_root / dataset
        write_json(d / layouts.REFER_INSTANCES, instances)
        refs = entries(world.refs[dataset], multi=dataset == "grefcoco")
        if fname.endswith(".json"):
            write_json(d / fname, refs)
        else:
            write_bytes(d / fname, pickle.dumps(refs, protocol=2))


def write_vg(world: World, root: Path, advance: Advance | None = None) -> None:
    """Visual Genome ``region_descriptions.json`` + ``image_data.json``; images in ``VG_100K{,_2}/``."""
    regions_doc, image_data = [], []
    region_id = 1
    half = (len(world.vg_scenes) + 1) // 2
    for i, (s, regions) in enumerate(zip(world.vg_scenes, world.vg_regions, strict=True)):
        image_id = i + 1
        folder = layouts.VG_IMAGE_DIRS[0 if i < half else 1]
        _save(s, root / folder / f"{image_id}.jpg", advance)
        image_data.append({"width": s.width, "url": f"https://cs.stanford.edu/people/rak248/{folder}/{image_id}.jpg",
                           "height": s.height, "image_id": image_id, "coco_id": None, "flickr_id": None})
        entries = []
        for r in regions:
            x, y, w, h = r.box
            entries.append({"region_id": region_id, "width": w, "height": h, "image_id": image_id,
                            "phrase": r.phrase, "y": y, "x": x})
            region_id += 1
        regions_doc.append({"regions": entries, "id": image_id})
    write_json(root / layouts.VG_REGIONS, regions_doc)
    write_json(root / layouts.VG_IMAGE_DATA, image_data)


LMU_SHAPES = "VisionR1_Shapes_MCQ"


def _mcq(rng: np.random.Generator, scene: Scene) -> list[tuple[str, str, list[str], str]]:
    """Multiple-choice questions about one scene: (category, question, 4 options, correct option)."""
    objs = [o for o in scene.objects if not o.crowd]
    if not objs:
        return []
    counts = {s: sum(o.shape == s for o in objs) for s in COCO_SHAPES}
    present = sorted(s for s, n in counts.items() if n)
    absent = [s for s in COCO_SHAPES if not counts[s]]
    out = []
    shape = present[int(rng.integers(len(present)))]
    n = counts[shape]
    wrong = [int(v) for v in rng.permutation([v for v in range(max(1, n - 4), n + 5) if v != n])[:3]]
    out.append(("counting", f"How many {shape}s are there in the image?", [str(n), *map(str, wrong)], str(n)))
    if len(absent) >= 3:
        decoys = [absent[int(j)] for j in rng.permutation(len(absent))[:3]]
        out.append(("recognition", "Which of these shapes appears in the image?", [shape, *decoys], shape))
    single = [o for o in objs if counts[o.shape] == 1]
    if single:
        o = single[int(rng.integers(len(single)))]
        others = [c for c in COLOURS if c != o.colour]
        decoys = [others[int(j)] for j in rng.permutation(len(others))[:3]]
        out.append(("attribute", f"What colour is the {o.shape}?", [o.colour, *decoys], o.colour))
    return out


def write_lmudata(world: World, root: Path) -> None:
    """``lmudata/VisionR1_Shapes_MCQ.tsv``: multiple-choice questions on the COCO val images in VLMEvalKit's TSV
    format (index, base64 image, question, A-D, answer letter, category), for ``visionr1 eval qa``."""
    rng = np.random.default_rng([world.seed, 107])
    rows = []
    for scene in world.coco["val2017"]:
        questions = _mcq(rng, scene)
        if not questions:
            continue
        buf = io.BytesIO()
        scene.render().save(buf, "JPEG", quality=90)
        image = base64.b64encode(buf.getvalue()).decode()
        first = len(rows)
        for category, question, options, answer in questions:
            shuffled = [options[int(j)] for j in rng.permutation(4)]
            # later questions on an image point at the first one's index instead of repeating the image
            rows.append([len(rows), image if len(rows) == first else str(first), question, *shuffled,
                         "ABCD"[shuffled.index(answer)], category])
    text = io.StringIO()
    w = csv.writer(text, delimiter="\t", lineterminator="\n")
    w.writerow(["index", "image", "question", "A", "B", "C", "D", "answer", "category"])
    w.writerows(rows)
    write_bytes(root / f"{LMU_SHAPES}.tsv", text.getvalue().encode())


def write_world(world: World, out: Path, advance: Advance | None = None) -> dict:
    """Write every source under ``out`` and a ``world.json`` summary; returns the summary."""
    write_coco(world, out / "coco", advance)
    write_odinw(world, out / "odinw", advance)
    write_v3det(world, out / "v3det", advance)
    write_refer(world, out / "refer", out / "coco", advance)
    write_vg(world, out / "vg", advance)
    write_lmudata(world, out / "lmudata")
    summary = {
        "generator": "visionr1 synth world",
        "version": __version__,
        "seed": world.seed,
        "images": world.images,
        "profile": world.profile,
        "roots": {"coco": "coco", "odinw": "odinw", "v3det": "v3det", "refcoco": "refer", "vg": "vg",
                  "lmudata": "lmudata"},
        "sources": {
            "coco": {split: _counts(sc) for split, sc in world.coco.items()},
            "odinw": {name: {split: _counts(sc) for split, sc in sp.items()} for name, sp in world.odinw.items()},
            "v3det": {split: _counts(sc) for split, sc in world.v3det.items()},
            "refer": {"images": len(world.refer_scenes), **{k: len(v) for k, v in world.refs.items()}},
            "vg": {"images": len(world.vg_scenes), "regions": sum(len(r) for r in world.vg_regions)},
        },
    }
    write_json(out / WORLD_MARKER, summary, indent=2)
    return summary


def _counts(scenes: list[Scene]) -> dict[str, int]:
    return {"images": len(scenes), "objects": sum(len(s.objects) for s in scenes)}


def load_summary(out: Path) -> dict:
    """The ``world.json`` of a written world (an object with its integer ``seed``)."""
    from visionr1.inputs import read_json

    return read_json(out / WORLD_MARKER, dict, {"seed": int})
