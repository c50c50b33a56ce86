"""Coordinate adapters, parsers and smart_resize (docs/spec.md §1)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor
from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize as hf_smart_resize

from visionr1.errors import VisionR1Error
from visionr1.formats import FAMILIES, get_adapter, says_nothing, smart_resize, vl_utils_size

QWEN = get_adapter("qwen2.5-vl")
GRIFFON = get_adapter("griffon-g")


# ------------------------------------------------------------------ smart_resize


@settings(max_examples=3000, deadline=None)
@given(h=st.integers(1, 8000), w=st.integers(1, 8000), min_px=st.sampled_from([3136, 56 * 56, 100352]),
       max_px=st.sampled_from([401408, 12845056, 1003520, 200704]))
def test_smart_resize_matches_transformers_function(h, w, min_px, max_px):
    if max(h, w) / min(h, w) > 200:
        with pytest.raises(ValueError):
            smart_resize(h, w, 28, min_px, max_px)
        return
    assert smart_resize(h, w, 28, min_px, max_px) == hf_smart_resize(h, w, 28, min_px, max_px)


SIZES = [(1, 1), (13, 13), (14, 15), (28, 28), (42, 70), (70, 42), (333, 1001), (479, 640), (640, 480),
         (1080, 1920), (3000, 4000), (28, 5000), (5000, 30), (223, 224), (517, 389), (160, 640), (99, 101)]


@pytest.mark.parametrize("max_px", [401408, 12845056, 50176])
def test_smart_resize_matches_image_processor_grid(max_px):
    """The processor's actual output size (image_grid_thw * 14) for the same min/max_pixels."""
    processor = Qwen2VLImageProcessor(min_pixels=3136, max_pixels=max_px)
    for h, w in SIZES:
        grid = processor(images=[Image.new("RGB", (w, h))], return_tensors="np")["image_grid_thw"][0]
        assert (int(grid[1]) * 14, int(grid[2]) * 14) == smart_resize(h, w, 28, 3136, max_px), (h, w)


# ------------------------------------------------------------------ serialize / parse round trip


def _random_gt(rng, w, h, n):
    xy = rng.uniform(0, 0.9, size=(n, 2)) * [w, h]
    wh = rng.uniform(0.002, 0.5, size=(n, 2)) * [w, h]
    boxes = np.concatenate([xy, np.minimum(xy + np.maximum(wh, 1.0), [w, h])], axis=1)
    return [{"label": f"thing {i}", "bbox": b.tolist()} for i, b in enumerate(boxes)]


@pytest.mark.parametrize("family", FAMILIES)
def test_round_trip_within_rounding(family):
    adapter = get_adapter(family)
    rng = np.random.default_rng(0)
    for _ in range(200):
        w, h = int(rng.integers(20, 3000)), int(rng.integers(20, 3000))
        geo = adapter.geometry(w, h)
        gt = _random_gt(rng, w, h, int(rng.integers(0, 12)))
        parsed = adapter.parse(adapter.serialize(gt, geo), geo)
        assert parsed.template_ok and parsed.content_ok, parsed.reason
        assert len(parsed.boxes) == len(gt)
        assert list(parsed.labels) == [g["label"] for g in gt]
        sx, sy = adapter.scale(geo)
        step = 0.001 if family == "griffon-g" else 1.0
        tol = np.array([step / sx, step / sy, step / sx, step / sy])  # one grid step of the model space
        if gt:
            err = np.abs(parsed.boxes - np.array([g["bbox"] for g in gt]))
            assert (err <= tol + 1e-6).all(), (family, w, h, err.max(axis=0), tol)


def test_qwen_serialization_is_the_released_format():
    geo = QWEN.geometry(640, 480, input_size=(640, 480))
    text = QWEN.serialize([{"label": "cat", "bbox": [10.4, 20.6, 100, 200]}], geo)
    assert text == '```json\n[\n\t{"bbox_2d": [10, 21, 100, 200], "label": "cat"}\n]\n```'
    assert QWEN.serialize([], geo) == "```json\n[]\n```"
    assert GRIFFON.serialize([], geo) == "None"
    assert GRIFFON.serialize([{"label": "cat", "bbox": [64, 48, 320, 480]}], geo) == "cat-[0.100,0.100,0.500,1.000]"


def test_qwen2_and_qwen3_use_relative_1000_integers():
    for family in ("qwen2-vl", "qwen3-vl"):
        a = get_adapter(family)
        geo = a.geometry(640, 480)
        assert a.bounds(geo) == (1000.0, 1000.0)
        text = a.serialize([{"label": "x", "bbox": [64, 48, 320, 480]}], geo)
        assert '"bbox_2d": [100, 100, 500, 1000]' in text
    assert get_adapter("qwen3-vl").factor == 32


def test_unknown_family():
    with pytest.raises(VisionR1Error, match="unknown model family 'llava'"):
        get_adapter("llava")


# ------------------------------------------------------------------ template and content checks

GEO = QWEN.geometry(100, 100, input_size=(100, 100))
ITEM = '{"bbox_2d": [10, 20, 30, 40], "label": "cat"}'


@pytest.mark.parametrize("text, template, content, n", [
    (f"```json\n[{ITEM}]\n```", True, True, 1),
    (f"[{ITEM}]", True, True, 1),
    (f"  \n```json\n[{ITEM}, {ITEM}]\n```\n ", True, True, 2),
    ("", True, True, 0),
    ("[]", True, True, 0),
    ("```json\n[]\n```", True, True, 0),
    ('[{"label": "cat", "bbox_2d": [10.5, 20, 30, 40], "score": 0.9}]', True, True, 1),  # key order, extra keys
    (f"Sure! Here you go: [{ITEM}]", False, True, 1),  # prose around the list
    (f"```json\n[{ITEM}, {{\"bbox_2d\": [5, 6", False, True, 1),  # truncated: the complete item is recovered
    (ITEM, False, True, 1),  # a single object instead of a list
    (f"[{ITEM}]\n```", False, True, 1),  # stray closing fence
    ("```python\n[]\n```", False, True, 0),
    ('[{"bbox_2d": [10, 20, 30, 40]}]', False, True, 1),  # no label
    ('[{"bbox_2d": [10, 20, 30, 40], "label": 3}]', False, True, 1),  # label not a string
    ('[{"bbox_2d": ["10", 20, 30, 40], "label": "cat"}]', True, False, 1),  # number written as a string
    ('[{"bbox_2d": [30, 20, 10, 40], "label": "cat"}]', True, False, 0),  # x1 > x2: nothing to recover
    ('[{"bbox_2d": [10, 20, 30], "label": "cat"}]', True, False, 0),
    ('[{"bbox_2d": [10, 20, 130, 40], "label": "cat"}]', True, False, 1),  # outside the input (W_in = 100)
    ('[{"bbox_2d": [-1, 20, 30, 40], "label": "cat"}]', True, False, 1),
    ('[{"bbox_2d": [10, 20, NaN, 40], "label": "cat"}]', True, False, 0),
    ('[{"bbox_2d": [true, 20, 30, 40], "label": "cat"}]', True, False, 0),
    ('[{"bbox_2d": [10, 20, 30, 40], "label": "cat"}, 7]', False, False, 1),
    ("[[10, 20, 30, 40]]", False, False, 0),
    ("{'bbox_2d': [10, 20, 30, 40], 'label': 'cat'}", False, True, 1),  # Python quotes
    ('{"bbox_2d": [10, 20, 30, 40], "label": "a"},\n{"bbox_2d": [1, 2, 3, 4], "label": "b"}', False, True, 2),
    ("I could not find any objects.", False, True, 0),
])
def test_qwen_template_and_content(text, template, content, n):
    p = QWEN.parse(text, GEO)
    assert (p.template_ok, p.content_ok, len(p.boxes)) == (template, content, n), p.reason
    assert (p.reason is None) == (template and content)


def test_recovered_boxes_are_converted_and_clipped():
    geo = QWEN.geometry(50, 100, input_size=(100, 200))  # model space is 2x the original image
    p = QWEN.parse('[{"bbox_2d": [20, 40, 140, 100], "label": " Red  Cat "}]', geo)
    assert not p.content_ok  # 140 > W_in = 100
    np.testing.assert_allclose(p.boxes, [[10, 20, 50, 50]])  # 140 / 2 = 70 -> clipped to 50
    np.testing.assert_allclose(p.model_boxes, [[20, 40, 140, 100]])
    assert p.labels == (" Red  Cat ",)


def test_unicode_labels_and_floats():
    p = QWEN.parse('[{"bbox_2d": [1.5, 2.25, 30, 40.75], "label": "Zebra 🦓 straße"}]', GEO)
    assert p.format_ok and p.labels == ("Zebra 🦓 straße",)
    np.testing.assert_allclose(p.boxes, [[1.5, 2.25, 30, 40.75]])


def test_long_garbage_and_deep_nesting_do_not_raise():
    rng = np.random.default_rng(1)
    garbage = "".join(chr(int(c)) for c in rng.integers(32, 127, size=10_000))
    for text in (garbage, "[" * 100_000, "{" * 50_000 + "}" * 50_000, "```json\n" + "[" * 5000, "\x00\ud800"):
        p = QWEN.parse(text, GEO)
        assert not p.format_ok or text == ""
    assert QWEN.parse(None, GEO).format_ok  # non-string input reads as an empty answer


@pytest.mark.parametrize("text, template, content, n", [
    ("cat-[0.100,0.200,0.300,0.400]", True, True, 1),
    ("cat-[0.100,0.200,0.300,0.400]&red dog-[0.500,0.500,1.000,1.000]", True, True, 2),
    ("t-shirt-[0.100,0.200,0.300,0.400]", True, True, 1),
    ("None", True, True, 0),
    ("", True, True, 0),
    ("cat-[0.1,0.2,0.3,0.4]", True, False, 1),  # not 3 decimals
    ("cat-[0.100,0.200,1.300,0.400]", True, False, 1),  # outside [0, 1]
    ("cat-[0.300,0.200,0.100,0.400]", True, False, 0),
    ("I see cat-[0.100,0.200,0.300,0.400] and", False, False, 1),
    ("cat [0.100,0.200,0.300,0.400]", False, False, 0),
    ("cat-[0.100,0.200,0.300,0.400]&dog-[0.5", False, False, 1),  # truncated
])
def test_griffon_template_and_content(text, template, content, n):
    geo = GRIFFON.geometry(200, 100)
    p = GRIFFON.parse(text, geo)
    assert (p.template_ok, p.content_ok, len(p.boxes)) == (template, content, n), p.reason
    if n and template:
        assert p.boxes[0][0] == pytest.approx(20.0)  # 0.1 x width 200


def test_parse_batch_equals_single_parses():
    rng = np.random.default_rng(3)
    texts, geos = [], []
    for i in range(60):
        w, h = int(rng.integers(50, 900)), int(rng.integers(50, 900))
        geo = QWEN.geometry(w, h)
        text = QWEN.serialize(_random_gt(rng, w, h, int(rng.integers(0, 6))), geo)
        texts.append(text[: len(text) * (i % 3 + 1) // 3])  # some truncated
        geos.append(geo)
    batch = QWEN.parse_batch(texts, geos)
    for k, (t, g) in enumerate(zip(texts, geos, strict=True)):
        single, b = QWEN.parse(t, g), batch[k]
        assert (single.template_ok, single.content_ok, single.reason, single.labels) == (
            b.template_ok, b.content_ok, b.reason, b.labels)
        np.testing.assert_array_equal(single.boxes, b.boxes)


# ------------------------------------------------------------------ the parser never raises

json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(
        st.sampled_from(["bbox_2d", "label", "x"]) | st.text(max_size=5), children, max_size=4),
    max_leaves=30)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=3000), family=st.sampled_from(FAMILIES))
def test_parse_never_raises_on_text(text, family):
    a = get_adapter(family)
    p = a.parse(text, a.geometry(320, 240))
    assert len(p.boxes) == len(p.labels) == len(p.model_boxes)
    assert np.isfinite(p.boxes).all() and (p.boxes >= 0).all()
    assert (p.boxes[:, 2] <= 320).all() and (p.boxes[:, 3] <= 240).all()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values, fence=st.booleans(), cut=st.integers(0, 50))
def test_parse_never_raises_on_json_like(value, fence, cut):
    text = json.dumps(value)
    text = f"```json\n{text}\n```" if fence else text
    for t in (text, text[: max(0, len(text) - cut)]):
        p = QWEN.parse(t, GEO)
        assert len(p.boxes) == len(p.labels)
        assert np.isfinite(p.boxes).all()


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(blacklist_characters="[]{}`", blacklist_categories=("Cs",))))
def test_plain_words_say_nothing(text):
    """Text without brackets, braces or code fences has no box in any family: evaluation counts it as an empty
    answer (says_nothing), not as a failed attempt at the format."""
    assert says_nothing(text)
    for family in FAMILIES:
        a = get_adapter(family)
        assert len(a.parse(text, a.geometry(640, 480)).boxes) == 0
    assert not says_nothing(text + "[") and not says_nothing("```json\n" + text)


@pytest.mark.parametrize("h, w", [(480, 640), (30, 45), (10, 1500), (5000, 3000), (28, 28)])
def test_vl_utils_size_matches_qwen_vl_utils(h, w):
    """The released evaluation resizes every image with qwen_vl_utils first (its own pixel limits)."""
    import qwen_vl_utils  # in the test extra (pyproject.toml): never skipped

    assert vl_utils_size(h, w) == qwen_vl_utils.smart_resize(h, w, factor=28)
