"""The synthetic world on disk, read back with the real tools (pycocotools, pickle, json, PIL) and
compared with what the generator intended (``build_world`` in memory)."""

from __future__ import annotations

import json
import pickle
import re
from collections import defaultdict

import numpy as np
import pytest
from conftest import WORLD_IMAGES, run_cli
from PIL import Image
from pycocotools.coco import COCO
from scipy.ndimage import binary_erosion

from visionr1.data import layouts
from visionr1.io import tree_digest
from visionr1.synth.shapes import COLOURS, SHAPES, background, mask
from visionr1.synth.world import COCO_CATEGORY_IDS, COCO_SHAPES, HARD_MIN, ODINW_WORLD, V3DET_TWINS, build_world


def xyxy(b):
    return [b[0], b[1], b[0] + b[2], b[1] + b[3]]


def assert_boxes_match(coco: COCO, image_id: int, scene, label_of=lambda o: o.label):
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
    cats = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    got = sorted((cats[a["category_id"]], *np.round(xyxy(a["bbox"]), 2)) for a in anns)
    want = sorted((label_of(o), *np.round(o.box, 2)) for o in scene.objects)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g[0] == w[0]
        np.testing.assert_allclose(g[1:], w[1:], atol=0.011)


# ------------------------------------------------------------------ COCO


def test_coco_counts_boxes_and_files(world_dir, world):
    for split in layouts.COCO_SPLITS:
        coco = COCO(str(world_dir / "coco" / layouts.coco_annotation(split)))
        scenes = world.coco[split]
        assert len(coco.getImgIds()) == len(scenes)
        assert len(coco.getAnnIds()) == sum(len(s.objects) for s in scenes)
        assert [c["id"] for c in coco.loadCats(coco.getCatIds())] == list(COCO_CATEGORY_IDS)
        assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(COCO_SHAPES)
        for img, scene in zip(coco.dataset["images"], scenes, strict=True):
            assert_boxes_match(coco, img["id"], scene)
            with Image.open(world_dir / "coco" / split / img["file_name"]) as im:
                assert im.size == (img["width"], img["height"]) == (scene.width, scene.height)
                assert im.format == "JPEG"
    assert len(world.coco["train2017"]) == WORLD_IMAGES


def test_coco_has_the_intended_variety(world):
    scenes = world.coco["train2017"] + world.coco["val2017"]
    counts = [len(s.objects) for s in scenes]
    assert min(counts) == 0 and max(counts) <= 40
    assert any(c >= HARD_MIN for c in counts) and any(0 < c < HARD_MIN for c in counts)
    sides = [min(o.box[2] - o.box[0], o.box[3] - o.box[1]) for s in scenes for o in s.objects]
    assert min(sides) < 12  # tiny objects
    sizes = {(s.width, s.height) for s in scenes}
    assert any(w != h for w, h in sizes) and min(min(w, h) for w, h in sizes) >= 160
    assert max(max(w, h) for w, h in sizes) <= 640
    overlapping = sum(1 for s in scenes for i, a in enumerate(s.objects) for b in s.objects[i + 1:]
                      if min(a.box[2], b.box[2]) > max(a.box[0], b.box[0])
                      and min(a.box[3], b.box[3]) > max(a.box[1], b.box[1]))
    assert overlapping > 0


def test_coco_segmentations_and_crowd(world_dir):
    coco = COCO(str(world_dir / "coco" / layouts.coco_annotation("train2017")))
    crowd = [a for a in coco.dataset["annotations"] if a["iscrowd"]]
    assert crowd, "the world should hold at least one crowd region"
    for a in crowd:
        m = coco.annToMask(a)
        assert m.sum() == a["area"]
        assert isinstance(a["segmentation"]["counts"], list)  # uncompressed RLE, as COCO crowd masks
        ys, xs = np.nonzero(m)
        x, y, w, h = a["bbox"]
        assert xs.min() >= x - 1 and xs.max() <= x + w + 1 and ys.min() >= y - 1 and ys.max() <= y + h + 1
    for a in [a for a in coco.dataset["annotations"] if not a["iscrowd"]][:200]:
        if a["bbox"][2] > 20 and a["bbox"][3] > 20:
            assert abs(coco.annToMask(a).sum() - a["area"]) / a["area"] < 0.25


def test_rendered_pixels_match_boxes(world_dir, world):
    """Unoccluded objects are drawn in their colour exactly inside their ground-truth box."""
    coco = COCO(str(world_dir / "coco" / layouts.coco_annotation("val2017")))
    checked = 0
    for img, scene in zip(coco.dataset["images"], world.coco["val2017"], strict=True):
        pixels = np.asarray(Image.open(world_dir / "coco" / "val2017" / img["file_name"]).convert("RGB"), float)
        for i, o in enumerate(scene.objects):
            later = scene.objects[i + 1:]
            if o.crowd or min(o.box[2] - o.box[0], o.box[3] - o.box[1]) < 16 or any(_iou(o.box, b.box) > 0
                                                                                     for b in later):
                continue
            m = mask(o.shape, o.box, scene.width, scene.height).astype(bool)
            ys, xs = np.nonzero(m)
            assert xs.min() >= o.box[0] - 1 and xs.max() <= o.box[2] + 1
            assert ys.min() >= o.box[1] - 1 and ys.max() <= o.box[3] + 1
            assert (xs.max() - xs.min()) >= (o.box[2] - o.box[0]) - 2  # the box is tight
            inner = binary_erosion(m, iterations=3)  # JPEG blurs colours near edges
            if inner.sum() < 10:
                continue
            mean = pixels[inner].mean(axis=0)
            assert np.abs(mean - np.array(COLOURS[o.colour])).max() < 25, (o, mean)
            checked += 1
    assert checked >= 10


# ------------------------------------------------------------------ ODinW


def test_odinw_layouts(world_dir, world):
    root = world_dir / "odinw"
    assert set(world.odinw) == set(ODINW_WORLD) == {*layouts.ODINW_13, *layouts.ODINW_OOD, "EgoHands/specific",
                                                     "AerialMaritimeDrone/tiled"}
    assert any(s.export for s in layouts.ODINW_SETS.values())
    assert (root / "pistols/export/val_annotations_without_background.json").is_file()
    assert (root / "Aquarium/Aquarium Combined.v2-raw-1024.coco/valid/annotations_without_background.json").is_file()
    # the path the released Vision-R1 evaluation reads (eval_localization.py, DATASET_MAP["vector"])
    assert (root / "vector/vectorCompleteDataset.v5-v5-(resize-+-grayscale-+-rotate-+-blur-+-bb-optimizations).coco"
            "/valid/annotations_without_background.json").is_file()
    for name in world.odinw:
        spec = layouts.ODINW_SETS[name]
        for split in layouts.ODINW_SPLITS:
            coco = COCO(str(root / spec.annotation(split)))
            scenes = world.odinw[name][split]
            images = coco.dataset["images"]
            assert [im["id"] for im in images] == list(range(len(scenes)))  # Roboflow ids start at 0
            assert [c["name"] for c in coco.dataset["categories"]] == list(world.odinw_categories[name])
            for img, scene in zip(images, scenes, strict=True):
                with Image.open(root / spec.image_dir(split) / img["file_name"]) as im:
                    assert im.size == (img["width"], img["height"])
                assert_boxes_match(coco, img["id"], scene)


def test_odinw_real_category_names(world_dir, world):
    """boggleBoards keeps GLIP's 36 letters, among them Q / q, o / "o " and t / t\\ (names that differ only in
    case, a trailing space or a backslash); the world draws both halves of each pair."""
    spec = layouts.ODINW_SETS["boggleBoards"]
    doc = json.loads((world_dir / "odinw" / spec.annotation("valid")).read_text())
    names = {c["id"]: c["name"] for c in doc["categories"]}
    assert len(names) == 36 and {"Q", "q", "o", "o ", "t", "t\\"} <= set(names.values())
    drawn = {names[a["category_id"]] for a in doc["annotations"]}
    assert {"Q", "q"} <= drawn
    looks = {(o.label, o.shape, o.colour) for s in world.odinw["boggleBoards"]["valid"] for o in s.objects}
    assert len({(sh, c) for _, sh, c in looks}) == len({lab for lab, _, _ in looks})  # each letter its own look


def test_odinw_variants_reuse_their_sources_images(world_dir, world):
    """EgoHands/specific re-labels EgoHands/generic's images; AerialMaritimeDrone/tiled cuts
    AerialMaritimeDrone/large's images into 2 x 2 tiles (GLIP configs/odinw_35)."""
    root = world_dir / "odinw"
    for split in layouts.ODINW_SPLITS:
        generic, specific = world.odinw["EgoHands/generic"][split], world.odinw["EgoHands/specific"][split]
        assert [(s.seed, [o.box for o in s.objects]) for s in generic] == \
            [(s.seed, [o.box for o in s.objects]) for s in specific]
        assert {o.label for s in specific for o in s.objects} <= {"myleft", "myright", "yourleft", "yourright"}
        large, tiled = world.odinw["AerialMaritimeDrone/large"][split], world.odinw["AerialMaritimeDrone/tiled"][split]
        assert len(tiled) == 4 * len(large)
        spec, src = layouts.ODINW_SETS["AerialMaritimeDrone/tiled"], layouts.ODINW_SETS["AerialMaritimeDrone/large"]
        doc = json.loads((root / spec.annotation(split)).read_text())
        src_doc = json.loads((root / src.annotation(split)).read_text())
        whole = np.asarray(Image.open(root / src.image_dir(split) / src_doc["images"][0]["file_name"]), dtype=int)
        tile = np.asarray(Image.open(root / spec.image_dir(split) / doc["images"][0]["file_name"]), dtype=int)
        h, w = tile.shape[:2]
        assert (w, h) == (large[0].width // 2, large[0].height // 2)
        assert np.abs(whole[:h, :w] - tile).mean() < 3  # the top-left quarter (up to JPEG noise)


# ------------------------------------------------------------------ V3Det


def test_v3det(world_dir, world):
    root = world_dir / "v3det"
    for split, rel in layouts.V3DET_ANNOTATIONS.items():
        coco = COCO(str(root / rel))
        cats = coco.dataset["categories"]
        assert len(cats) == len(SHAPES) * len(COLOURS) + V3DET_TWINS == len(world.v3det_categories)
        by_name = {c["name"]: c["id"] for c in cats}
        for img, scene in zip(coco.dataset["images"], world.v3det[split], strict=True):
            parts = img["file_name"].split("/")
            assert parts[0] == "images" and len(parts) == 3
            assert re.fullmatch(r"\d+_\d+_\d{11}_[0-9a-f]{10}_c\.jpg", parts[2])  # like the release's files
            if scene.objects:
                label = scene.objects[0].label
                assert parts[1] == f"{'a' if label[0].isupper() else 'n'}{by_name[label]:08d}"
            assert (root / img["file_name"]).is_file()
            assert_boxes_match(coco, img["id"], scene)


def test_v3det_names_that_differ_only_in_case(world_dir):
    """Like V3Det's 45 pairs (guitar / Guitar): distinct categories whose names differ only in case, both halves
    in one image."""
    doc = json.loads((world_dir / "v3det" / layouts.V3DET_ANNOTATIONS["val"]).read_text())
    names = {c["id"]: c["name"] for c in doc["categories"]}
    lower = defaultdict(set)
    for n in names.values():
        lower[n.lower()].add(n)
    pairs = [v for v in lower.values() if len(v) == 2]
    assert len(pairs) == V3DET_TWINS
    per_image = defaultdict(set)
    for a in doc["annotations"]:
        per_image[a["image_id"]].add(names[a["category_id"]])
    assert any(p <= labels for p in pairs for labels in per_image.values())


# ------------------------------------------------------------------ RefCOCO family

LOCATION_WORDS = {"left", "right", "top", "bottom"}


def _load_refs(world_dir, dataset):
    _, fname, splits = layouts.REFER_DATASETS[dataset]
    path = world_dir / "refer" / dataset / fname
    if fname.endswith(".p"):
        with open(path, "rb") as f:
            refs = pickle.load(f)
    else:
        refs = json.loads(path.read_text())
    return refs, splits


@pytest.mark.parametrize("dataset", ["refcoco", "refcoco+", "refcocog"])
def test_refer_pickles(world_dir, world, dataset):
    refs, splits = _load_refs(world_dir, dataset)
    instances = COCO(str(world_dir / "refer" / dataset / layouts.REFER_INSTANCES))
    assert len(refs) == len(world.refs[dataset]) > 0
    assert {r["split"] for r in refs} <= set(splits)
    image_index = {im["id"]: i for i, im in enumerate(instances.dataset["images"])}
    for ref, truth in zip(refs, world.refs[dataset], strict=True):
        assert set(ref) >= {"ref_id", "ann_id", "image_id", "split", "sentences", "category_id", "sent_ids"}
        scene = world.refer_scenes[image_index[ref["image_id"]]]
        target = scene.objects[truth.targets[0]]
        ann = instances.loadAnns([ref["ann_id"]])[0]
        assert ann["image_id"] == ref["image_id"]
        np.testing.assert_allclose(xyxy(ann["bbox"]), target.box, atol=0.011)
        for s in ref["sentences"]:
            words = s["sent"].split()
            assert s["sent"] == s["raw"].lower() and s["tokens"] == words
            assert target.shape in words or SHAPES[target.shape][1] in words
            assert not set(words) & (set(COLOURS) - {target.colour})  # no wrong colour
            if dataset == "refcoco+":
                assert not set(words) & LOCATION_WORDS
            same_kind = sum((o.shape, o.colour) == (target.shape, target.colour) for o in scene.objects)
            if same_kind > 1:  # ambiguity must be resolved by a relation word
                assert set(words) & (LOCATION_WORDS | {"biggest", "largest", "smallest", "tiniest"})
        # the image file the annotations point to exists
        img = instances.loadImgs([ref["image_id"]])[0]
        assert (world_dir / "coco" / layouts.COCO2014_TRAIN_DIR / img["file_name"]).is_file()


def test_grefcoco(world_dir, world):
    refs, splits = _load_refs(world_dir, "grefcoco")
    instances = COCO(str(world_dir / "refer" / "grefcoco" / layouts.REFER_INSTANCES))
    assert len(refs) == len(world.refs["grefcoco"])
    kinds = defaultdict(int)
    image_index = {im["id"]: i for i, im in enumerate(instances.dataset["images"])}
    for ref, truth in zip(refs, world.refs["grefcoco"], strict=True):
        assert isinstance(ref["ann_id"], list) and ref["split"] in splits
        if ref["ann_id"] == [-1]:
            kinds["none"] += 1
            assert ref["no_target"] and not truth.targets and ref["category_id"] == [-1]
            continue
        kinds["multi" if len(ref["ann_id"]) > 1 else "single"] += 1
        scene = world.refer_scenes[image_index[ref["image_id"]]]
        anns = instances.loadAnns(ref["ann_id"])
        got = sorted(tuple(xyxy(a["bbox"])) for a in anns)
        want = sorted(scene.objects[t].box for t in truth.targets)
        np.testing.assert_allclose(got, want, atol=0.011)
        kinds["with a crowd target"] += any(a["iscrowd"] for a in anns)
    assert kinds["none"] and kinds["multi"] and kinds["single"] and kinds["with a crowd target"]


# ------------------------------------------------------------------ Visual Genome


def _iou(a, b):
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(iw, 0) * max(ih, 0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_visual_genome(world_dir, world):
    root = world_dir / "vg"
    regions = json.loads((root / layouts.VG_REGIONS).read_text())
    image_data = json.loads((root / layouts.VG_IMAGE_DATA).read_text())
    assert len(regions) == len(image_data) == len(world.vg_scenes)
    multi = duplicates = 0
    for entry, meta, scene in zip(regions, image_data, world.vg_scenes, strict=True):
        assert entry["id"] == meta["image_id"]
        folder = meta["url"].split("/")[-2]
        assert folder in layouts.VG_IMAGE_DIRS
        with Image.open(root / folder / f"{meta['image_id']}.jpg") as im:
            assert im.size == (meta["width"], meta["height"]) == (scene.width, scene.height)
        # group identical phrases, merge near-duplicate regions: each group is one (colour, shape) kind
        groups = defaultdict(list)
        for r in entry["regions"]:
            box = (r["x"], r["y"], r["x"] + r["width"], r["y"] + r["height"])
            if box == (0, 0, scene.width, scene.height):
                continue  # whole-image region
            if all(_iou(box, b) < 0.7 for b in groups[r["phrase"]]):
                groups[r["phrase"]].append(box)
            else:
                duplicates += 1
        want = defaultdict(list)
        for o in scene.objects:
            want[(o.shape, o.colour)].append(o.box)
        assert sorted(len(v) for v in groups.values()) == sorted(len(v) for v in want.values())
        for phrase, boxes in groups.items():
            kind = next(k for k in want if k[0] in phrase.split() and k[1] in phrase.split())
            for b in boxes:
                assert max(_iou(b, w) for w in want[kind]) > 0.6
            multi += len(boxes) > 1
    assert multi > 0, "some phrases should describe several objects"
    assert duplicates > 0, "VG-like near-duplicate regions should be present"


# ------------------------------------------------------------------ determinism


def test_same_seed_byte_identical_files(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((a, 3), (b, 3), (c, 4)):
        assert run_cli("synth", "world", "--out", out, "--seed", seed, "--images", 4) == 0
    da, db, dc = tree_digest(a), tree_digest(b), tree_digest(c)
    assert da == db
    assert len(da) > 100
    assert (da != dc and set(da) != set(dc)) or any(da[k] != dc.get(k) for k in da)


def test_scenes_do_not_depend_on_world_size():
    small, big = build_world(5, 6), build_world(5, 12)
    assert small.coco["train2017"] == big.coco["train2017"][:6]


def test_simple_profile(tmp_path, capsys):
    w = build_world(3, 40, "simple")
    scenes = w.coco["train2017"] + w.coco["val2017"] + [s for name, sp in w.odinw.items() for sc in sp.values()
                                                         for s in sc if name != "AerialMaritimeDrone/tiled"]
    assert all((s.width, s.height) == (112, 112) for s in scenes)
    assert all(1 <= len(s.objects) <= 3 and not any(o.crowd for o in s.objects) for s in scenes)
    sides = [((o.box[2] - o.box[0]) * (o.box[3] - o.box[1])) ** 0.5 for s in scenes for o in s.objects]
    assert min(sides) >= 28 - 0.1 and max(sides) <= 64 + 0.1
    assert len({len(s.objects) for s in w.coco["train2017"]}) == 3  # 1, 2 and 3 objects all occur
    with pytest.raises(ValueError, match="unknown world profile"):
        build_world(3, 4, "crowded")
    assert run_cli("synth", "world", "--out", tmp_path / "bad", "--profile", "crowded") == 2
    assert "unknown --profile 'crowded'" in capsys.readouterr().err
    assert run_cli("synth", "world", "--out", tmp_path / "w", "--images", 4, "--profile", "simple") == 0
    assert json.loads((tmp_path / "w" / "world.json").read_text())["profile"] == "simple"


@pytest.mark.parametrize(("profile", "size", "sides"), [("dense", 112, (14, 32)), ("dense-224", 224, (28, 56))])
def test_dense_profiles_have_the_papers_easy_hard_split(profile, size, sides):
    """The dense profiles: COCO scenes of 1-14 objects, about half of them hard (more than 10 instances, the
    paper's split), the rest 1-10; ODinW scenes easy; square images of the profile's size; objects of its sizes."""
    w = build_world(0, 200, profile)
    coco = w.coco["train2017"] + w.coco["val2017"]
    counts = [len(s.objects) for s in coco]
    assert min(counts) >= 1 and max(counts) == 14
    assert 0.35 <= sum(c >= HARD_MIN for c in counts) / len(counts) <= 0.6
    odinw = [s for name, sp in w.odinw.items() for sc in sp.values() for s in sc if name != "AerialMaritimeDrone/tiled"]
    assert all(len(s.objects) <= 10 for s in odinw)
    assert all((s.width, s.height) == (size, size) for s in coco + odinw)
    got = [((o.box[2] - o.box[0]) * (o.box[3] - o.box[1])) ** 0.5 for s in coco for o in s.objects]
    assert sides[0] - 0.1 <= min(got) and max(got) <= sides[1] + 0.1


def test_pixels_backdrop_gives_the_same_coordinate_on_every_image_size():
    """Backdrop "pixels" (dense-224): the background colour at pixel (x, y) is the one a 112 px "coordinates"
    image has there, so what a base learnt on 112 px images reads the same on 224 px ones; beyond it the ramp goes
    on (250 at pixel 223) instead of being stretched over the image."""
    rng = np.random.default_rng
    small = np.asarray(background(rng(0), 112, 112, "coordinates"), dtype=float)
    big = np.asarray(background(rng(0), 224, 224, "pixels"), dtype=float)
    stretched = np.asarray(background(rng(0), 224, 224, "coordinates"), dtype=float)
    noise = 8  # the backdrop's noise (sd 2) at four sd
    assert np.abs(big[:112, :112] - small).max() <= 2 * noise
    assert np.abs(big[:112, :112] - small).mean() < 3
    assert np.abs(stretched[:112, :112] - small).mean() > 10  # a stretched ramp means other coordinates
    assert abs(big[:, 223, 0].mean() - 250) < 2 and abs(big[223, :, 2].mean() - 250) < 2
    assert abs(big[:, :, 1].mean() - 110) < 1
