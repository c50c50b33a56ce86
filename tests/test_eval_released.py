"""``visionr1 eval --mode released``: the released Vision-R1 evaluation's choices (``Vision-R1/eval/
eval_localization.py``, Qwen2.5-VL path), checked against outcomes derived by hand from that code's rules, and
against real pycocotools / qwen_vl_utils where they run."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from visionr1.data import layouts
from visionr1.eval.custom import custom_sets
from visionr1.eval.runner import answer, score
from visionr1.formats import get_adapter, vl_utils_size
from visionr1.formats.released import released_items

RELEASED = {"model": "fixed answers", "family": "qwen2.5-vl", "mode": "released", "decoding": {}, "min_pixels": 784,
            "max_pixels": 12800 * 28 * 28, "limit": None}

# ------------------------------------------------------------------ parsing, rule by rule

ITEM = '{"bbox_2d": [1, 2, 3, 4], "label": "a"}'


@pytest.mark.parametrize("text, n_items", [
    (f"```json\n[{ITEM}]\n```", 1),  # the usual fenced list
    (f"```json \n[{ITEM}]\n```", None),  # a fence line with a trailing space is no fence: nothing is read
    (f"[{ITEM}]", 1),  # no fence
    (ITEM, 2),  # a bare dict: its 2 keys are the items, none has a box
    (f"{ITEM}, {ITEM}", 2),  # two dicts without brackets: a tuple of 2 items
    (f"```json\n[{ITEM}, {{\"bbox_2d\": [5, 6", 1),  # truncated: cut after the last '"}', closed with ']'
    ('```json\n[{"label": "a", "bbox_2d": [1, 2, 3, 4]}, {"label": "b", "bbox_2d": [5', 0),  # no '"}': "[" + "]"
    (f"Here they are: [{ITEM}]", None),  # prose around the list: nothing is read
    ("There is no dog.", None),
    (f"```json\n[{ITEM.replace(chr(34), chr(39))}]\n```", 1),  # Python quotes: literal_eval reads them
    ("5", None),  # not iterable
])
def test_released_items(text, n_items):
    items = released_items(text)
    assert (None if items is None else len(items)) == n_items


# labels as a model writes them (UTF-8, not \\u escapes, which ast.literal_eval reads differently from JSON for
# characters beyond the BMP); no line breaks inside a label (the released parse_json splits lines first)
LABELS = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x0b\x0c\x1c\x1d\x1e\x85"
                                                                                  "\u2028\u2029"), max_size=12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.fixed_dictionaries({"bbox_2d": st.lists(st.integers(0, 2000), min_size=4, max_size=4),
                                       "label": LABELS}), max_size=6))
def test_released_items_read_every_fenced_json_list(items):
    assert released_items("```json\n" + json.dumps(items, indent=2, ensure_ascii=False) + "\n```") == items


# ------------------------------------------------------------------ scoring, against outcomes derived by hand

SIZES = {1: (200, 100), 2: (300, 300), 3: (120, 90), 4: (640, 480)}
# model input sizes by hand: qwen_vl_utils rounds each side to a multiple of 28 (within 3136..12845056 pixels),
# then the processor's 784..10035200 limits change nothing for these sizes
INPUT = {1: (196, 112), 2: (308, 308), 3: (112, 84), 4: (644, 476)}
CATEGORIES = [{"id": 1, "name": "cat"}, {"id": 2, "name": "Dog"}, {"id": 3, "name": "dog"}]
ANNOTATIONS = [  # image, category, xywh; ids as in the file, the first one 0 (Roboflow exports start there)
    (1, 1, [10, 10, 40, 40]), (1, 3, [100, 50, 80, 40]), (2, 2, [30, 30, 100, 100]), (2, 1, [150, 150, 100, 100]),
    (3, 1, [10, 10, 50, 50]), (4, 3, [100, 100, 200, 150])]
ANSWERS = {
    # duplicates, a label in upper case ("dog" finds id 3: the later of Dog / dog), a drifted label
    1: '```json\n[\n\t{"bbox_2d": [10, 11, 49, 56], "label": "cat"},\n\t{"bbox_2d": [10, 11, 49, 56], '
       '"label": "cat"},\n\t{"bbox_2d": [98, 56, 176, 101], "label": "DOG"},\n\t{"bbox_2d": [150, 20, 190, 60], '
       '"label": "cats"}\n]\n```',
    2: '{"bbox_2d": [31, 31, 134, 134], "label": "Dog"}',  # a bare dict: no box
    3: '```json \n[{"bbox_2d": [9, 9, 56, 56], "label": "cat"}]\n```',  # fence with a trailing space: unread
    # truncated; a box reaching out of the image (kept as is) and one with x1 > x2 (kept, negative width)
    4: '```json\n[\n\t{"bbox_2d": [100, 99, 302, 248], "label": "dog"},\n\t{"bbox_2d": [600, 400, 700, 500], '
       '"label": "dog"},\n\t{"bbox_2d": [300, 50, 250, 90], "label": "Dog"},\n\t{"bbox_2d": [10, 10',
}
# what the released code keeps: (image, model-space box, category id)
KEPT = [(1, (10, 11, 49, 56), 1), (1, (10, 11, 49, 56), 1), (1, (98, 56, 176, 101), 3),
        (4, (100, 99, 302, 248), 3), (4, (600, 400, 700, 500), 3), (4, (300, 50, 250, 90), 3)]


def by_hand(image: int, box: tuple) -> list[float]:
    """xyxy2xywh, then x / input_width * width (and y likewise) in float32, as the released code computes."""
    f = np.float32
    (w, h), (w_in, h_in) = SIZES[image], INPUT[image]
    x1, y1, x2, y2 = box
    return [float(f(x1) / f(w_in) * f(w)), float(f(y1) / f(h_in) * f(h)), float(f(x2 - x1) / f(w_in) * f(w)),
            float(f(y2 - y1) / f(h_in) * f(h))]


@pytest.fixture
def hand_set(tmp_path) -> Path:
    images = tmp_path / "images"
    images.mkdir()
    doc = {"images": [], "categories": CATEGORIES, "annotations": []}
    for i, (w, h) in SIZES.items():
        Image.new("RGB", (w, h), (128, 128, 128)).save(images / f"{i}.jpg")
        doc["images"].append({"id": i, "file_name": f"{i}.jpg", "width": w, "height": h})
    for k, (img, cat, box) in enumerate(ANNOTATIONS):
        doc["annotations"].append({"id": k, "image_id": img, "category_id": cat, "bbox": box,
                                   "area": box[2] * box[3], "iscrowd": 0})
    (tmp_path / "instances.json").write_text(json.dumps(doc))
    return tmp_path


class Fixed:
    """Answers each image with ``ANSWERS`` (single-category queries: the box of the asked category's first
    annotation, labelled ``kitty`` for cats)."""

    def generate(self, queries):
        out = []
        for q in queries:
            if q.category_id is None:
                out.append(ANSWERS[q.image_id])
                continue
            x, y, w, h = next(b for img, c, b in ANNOTATIONS if img == q.image_id and c == q.category_id)
            geo = get_adapter("qwen2.5-vl").geometry(q.width, q.height, min_pixels=784, max_pixels=12800 * 28 * 28,
                                                     pre_resize=True)
            label = "kitty" if q.category_id == 1 else q.categories[0]
            out.append(get_adapter("qwen2.5-vl").serialize([{"label": label, "bbox": [x, y, x + w, y + h]}], geo,
                                                           exact=True))
        return out


def _pycocotools(gt_file: Path, detections: list[dict]) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_file))
        e = COCOeval(gt, gt.loadRes(detections), "bbox")
        e.evaluate()
        e.accumulate()
        e.summarize()
    return e.stats


def test_released_scoring_matches_the_outcome_derived_by_hand(hand_set, tmp_path):
    adapter = get_adapter("qwen2.5-vl")
    for i, (w, h) in SIZES.items():
        geo = adapter.geometry(w, h, min_pixels=784, max_pixels=12800 * 28 * 28, pre_resize=True)
        assert (geo.input_width, geo.input_height) == INPUT[i]
    sets = custom_sets(hand_set / "instances.json", hand_set / "images", "qwen2.5-vl", mode="released")
    out = tmp_path / "run"
    answer(sets, Fixed, out, "qwen2.5-vl", 784, 12800 * 28 * 28, 1, pre_resize=True)
    m = score("custom", sets, out, {**RELEASED, "protocol": "all"}, "constant", "pycocotools")["sets"][sets[0].name]

    dets = [{"image_id": i, "category_id": c, "bbox": by_hand(i, b), "score": 0.99} for i, b, c in KEPT]
    stats = _pycocotools(hand_set / "instances.json", dets)  # the file as it is: annotation 0 is never matched
    assert (m["detections"], m["unknown_labels"], m["parse_failures"]) == (6, 1, 1)
    for key, k in (("mAP", 0), ("AP50", 1), ("AP75", 2), ("AR100", 8)):
        assert m[key] == round(100 * stats[k], 2), key
    renumbered = json.loads((hand_set / "instances.json").read_text())
    for k, a in enumerate(renumbered["annotations"]):
        a["id"] = k + 1
    (tmp_path / "renumbered.json").write_text(json.dumps(renumbered))
    assert _pycocotools(tmp_path / "renumbered.json", dets)[8] > stats[8]  # id 0 costs recall


def test_released_single_pos_looks_labels_up(hand_set, tmp_path):
    """Under single+pos the released code still looks the predicted label up: a cat answered as "kitty" is
    dropped (and counted); the default mode gives the box the asked category."""
    reports = {}
    for mode in ("default", "released"):
        sets = custom_sets(hand_set / "instances.json", hand_set / "images", "qwen2.5-vl", protocol="single+pos",
                           mode=mode)
        out = tmp_path / mode
        answer(sets, Fixed, out, "qwen2.5-vl", 784, 12800 * 28 * 28, 1, pre_resize=True)
        reports[mode] = score("custom", sets, out, {**RELEASED, "mode": mode, "protocol": "single+pos"},
                              "constant", "pycocotools")["sets"][sets[0].name]
    cats = sum(c == 1 for _, c, _ in ANNOTATIONS)
    assert reports["released"]["unknown_labels"] == cats and reports["default"]["unknown_labels"] == 0
    assert reports["default"]["AR100"] == 100.0 > reports["released"]["AR100"]


def test_released_prompts_pad_to_80_names(hand_set):
    (q,) = custom_sets(hand_set / "instances.json", hand_set / "images", "qwen2.5-vl", mode="released")[0].queries[:1]
    named = q.prompt.split("The category set includes ")[1].rstrip(".").split(", ")
    assert named[:3] == ["cat", "Dog", "dog"] and len(named) == 80 and named[3:5] == ["person", "bicycle"]
    doc = json.loads((hand_set / "instances.json").read_text())
    doc["categories"] = [{"id": 1, "name": "Cottontail-Rabbit"}]
    doc["annotations"] = [a for a in doc["annotations"] if a["category_id"] == 1]
    (hand_set / "one.json").write_text(json.dumps(doc))
    q = custom_sets(hand_set / "one.json", hand_set / "images", "qwen2.5-vl", mode="released")[0].queries[0]
    assert q.prompt == "Can you point out Rabbit in the image and provide the coordinates of its location?"


# ------------------------------------------------------------------ the synthetic world: the oracle in both modes


def test_oracle_in_released_mode(world_dir, tmp_path):
    """The oracle scores 100 in the default mode; in the released mode an ODinW set loses the annotation whose id
    is 0 (every Roboflow export starts there) and boggleBoards' Q / q collapse onto one category, while COCO (ids
    from 1, distinct names) stays at 100."""
    out = tmp_path / "ood"
    assert run_cli("eval", "ood", "--data-root", world_dir / "odinw", "--sets", "boggleBoards,pothole", "--out", out,
                   "--backend", "oracle", "--mode", "released") == 0
    r = json.loads((out / "report.json").read_text())
    assert r["mode"] == "released" and (r["min_pixels"], r["max_pixels"]) == (784, 10035200)
    assert r["evaluator"] == "pycocotools" and r["differences"] == []
    boggle, pothole = r["sets"]["odinw/boggleBoards"], r["sets"]["odinw/pothole"]
    assert boggle["mAP"] < pothole["mAP"] < 100.0 and boggle["unknown_labels"] == 0
    out = tmp_path / "coco"
    assert run_cli("eval", "coco", "--data-root", world_dir / "coco", "--out", out, "--backend", "oracle",
                   "--mode", "released") == 0
    r = json.loads((out / "report.json").read_text())
    assert r["headline"] == 100.0  # the synthetic COCO has 8 categories: its prompts are padded with COCO names
    assert r["differences"] == ["prompts padded to 80 names with COCO categories in COCO order (released: in the "
                                "order of a Python set, which changes from run to run)"]


def test_released_mode_errors(world_dir, tmp_path, capsys):
    assert run_cli("eval", "odinw", "--data-root", world_dir / "odinw", "--out", tmp_path / "g", "--backend",
                   "oracle", "--mode", "released", "--family", "griffon-g") == 2
    assert "token probabilities" in capsys.readouterr().err
    assert run_cli("eval", "rec", "--data-root", world_dir / "refer", "--out", tmp_path / "r", "--backend",
                   "oracle", "--mode", "released") == 2
    assert "no Qwen2.5-VL path for 'rec'" in capsys.readouterr().err
    assert run_cli("eval", "coco", "--data-root", world_dir / "coco", "--out", tmp_path / "m", "--backend",
                   "oracle", "--mode", "paper") == 2
    assert "unknown mode 'paper'" in capsys.readouterr().err


# ------------------------------------------------------------------ images and decoding as the released code feeds them


def test_images_are_resized_as_qwen_vl_utils_does(tmp_path):
    from qwen_vl_utils import fetch_image  # in the test extra (pyproject.toml): never skipped

    from visionr1.eval.backends import _image
    rng = np.random.default_rng(0)
    for (w, h), mode in (((640, 480), "RGB"), ((45, 30), "RGB"), ((333, 517), "RGBA")):
        path = tmp_path / f"{w}x{h}.png"
        Image.fromarray(rng.integers(0, 256, (h, w, len(mode)), dtype=np.uint8), mode).save(path)
        ours, theirs = _image(str(path), pre_resize=True), fetch_image({"image": str(path)})
        assert ours.size == theirs.size == tuple(reversed(vl_utils_size(h, w)))
        assert np.array_equal(np.asarray(ours), np.asarray(theirs))


def test_released_decoding_keeps_the_checkpoint_generation_config(tiny_model_dir, world_dir, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    gen = json.loads((model / "generation_config.json").read_text()) if (model / "generation_config.json").is_file() \
        else {}
    (model / "generation_config.json").write_text(json.dumps({**gen, "repetition_penalty": 1.05, "do_sample": True,
                                                              "temperature": 0.1, "top_p": 0.001, "top_k": 1}))
    out = tmp_path / "run"
    assert run_cli("eval", "custom", "--data-root", world_dir / "v3det", "--annotations",
                   world_dir / "v3det" / layouts.V3DET_ANNOTATIONS["val"], "--model", model, "--out", out,
                   "--limit", "2", "--max-new-tokens", "8", "--mode", "released") == 0
    r = json.loads((out / "report.json").read_text())
    assert r["decoding"]["repetition_penalty"] == 1.05 and r["decoding"]["greedy"]
    assert r["decoding"]["generation_config"] == "checkpoint" and r["batch_size"] == 1
    assert "max_new_tokens 8 (released: 512)" in r["differences"]
    assert "--limit 2" in " ".join(r["differences"])
