"""One function builds every processor: with a hub checkpoint's preprocessor_config.json the run's pixel limits
take effect, generation pads on the left, and a model that answers perfectly in the input space the processor
really gives it scores 100 through evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from visionr1.errors import VisionR1Error
from visionr1.eval.runner import answer, score
from visionr1.eval.sets import box_set
from visionr1.formats import get_adapter
from visionr1.models import build_processor, check_processor

LIMITS = [(3136, 401408), (784, 12800 * 28 * 28), (3136, 200704)]


@pytest.fixture(scope="module")
def processors(tiny_model_dir):
    return {lim: build_processor(str(tiny_model_dir), family="qwen2.5-vl", min_pixels=lim[0], max_pixels=lim[1])
            for lim in LIMITS}


@settings(max_examples=60, deadline=None)
@given(width=st.integers(28, 2600), height=st.integers(28, 2600), limits=st.sampled_from(LIMITS))
def test_processor_input_equals_the_adapters_geometry(processors, width, height, limits):
    """``image_grid_thw`` x 14 of the real processor (hub preprocessor_config.json: min/max_pixels 3136 /
    12845056) equals smart_resize with the run's limits, for any image size."""
    if max(width, height) / min(width, height) > 200:
        return  # Qwen2-VL refuses aspect ratios above 200
    processor = processors[limits]
    grid = processor.image_processor(images=[Image.new("RGB", (width, height))], return_tensors="np")
    _, h, w = grid["image_grid_thw"][0]
    geo = get_adapter("qwen2.5-vl").geometry(width, height, min_pixels=limits[0], max_pixels=limits[1])
    assert (w * 14, h * 14) == (geo.input_width, geo.input_height)


def test_generation_pads_on_the_left(processors):
    processor = processors[LIMITS[0]]
    assert processor.tokenizer.padding_side == "left" and processor.tokenizer.truncation_side == "left"
    batch = processor.tokenizer(["a", "a much longer text"], padding=True)
    assert batch["attention_mask"][0][0] == 0 and batch["attention_mask"][0][-1] == 1


def test_check_names_both_sizes(tiny_model_dir):
    from transformers import AutoProcessor

    plain = AutoProcessor.from_pretrained(tiny_model_dir, size={"shortest_edge": 3136, "longest_edge": 401408})
    with pytest.raises(VisionR1Error, match=r"turns a 1280x720 image into a 1288x728 input, but the qwen2\.5-vl "
                                            "coordinate adapter computes 840x448"):
        check_processor(plain, "qwen2.5-vl", 3136, 401408, "x")


class PerfectInInputSpace:
    """Answers every query with its ground truth in the pixel space of the model input that the HF backend's
    processor really produces for the image (not the one visionr1 computes)."""

    def __init__(self, processor) -> None:
        self.processor = processor

    def generate(self, queries):
        out = []
        for q in queries:
            with Image.open(q.image) as im:
                _, h, w = self.processor.image_processor(images=[im.convert("RGB")],
                                                         return_tensors="np")["image_grid_thw"][0]
            sx, sy = w * 14 / q.width, h * 14 / q.height
            items = [{"bbox_2d": [round(b[0] * sx, 2), round(b[1] * sy, 2), round(b[2] * sx, 2), round(b[3] * sy, 2)],
                      "label": label} for label, b in q.gt]
            out.append("```json\n" + json.dumps(items) + "\n```")
        return out


def test_a_perfect_model_scores_100_through_the_real_processor(tiny_model_dir, tmp_path):
    """Large images (above max_pixels 401408) with the hub's preprocessor_config.json: mAP 100, not the 15 that
    a processor still on the hub's 12845056 gives."""
    from visionr1.eval.backends import make_backend

    rng = np.random.default_rng(0)
    images, annotations = [], []
    for i, (w, h) in enumerate([(1280, 720), (720, 1280), (1000, 800), (1920, 1080), (640, 480)]):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(tmp_path / f"{i}.jpg")
        images.append({"id": i + 1, "file_name": f"{i}.jpg", "width": w, "height": h})
        for k in range(3):
            x, y = float(rng.uniform(0, w * 0.7)), float(rng.uniform(0, h * 0.7))
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": 1 + k % 2,
                                "bbox": [x, y, w * 0.2, h * 0.2], "area": w * h * 0.04, "iscrowd": 0})
    doc = {"images": images, "annotations": annotations,
           "categories": [{"id": 1, "name": "circle"}, {"id": 2, "name": "square"}]}
    es = box_set("big", doc, tmp_path, "qwen2.5-vl", "all", None)
    hf = make_backend("hf", str(tiny_model_dir), "qwen2.5-vl", 3136, 401408, 8)
    answer([es], lambda: PerfectInInputSpace(hf.processor), tmp_path / "out", "qwen2.5-vl", 3136, 401408, 2)
    meta = {"model": str(tiny_model_dir), "family": "qwen2.5-vl", "protocol": "all", "decoding": {},
            "min_pixels": 3136, "max_pixels": 401408, "limit": None}
    report = score("custom", [es], tmp_path / "out", meta, "constant", "faster-coco-eval")
    assert report["sets"]["big"]["mAP"] == 100.0 and report["max_pixels"] == 401408
