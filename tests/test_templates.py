import pytest

from visionr1.data.templates import load_templates
from visionr1.errors import VisionR1Error


def test_qwen_templates_are_the_papers():
    t = load_templates("qwen2.5-vl")
    assert t["detection"][0].render(["circle", "star"]) == (
        "Locate every item from the category list in the image and output the coordinates in JSON format. "
        "The category set includes circle, star.")
    assert t["grounding"][0].render(["red circle"]) == (
        "Locate every red circle in the image and output the coordinates in JSON format.")
    assert t["rec"][0].render(["the left star"]) == (
        "Locate every the left star in the image and output the coordinates in JSON format.")


def test_griffon_templates_are_the_papers():
    t = load_templates("griffon-g")
    assert t["detection"][0].render(["a", "b"]) == (
        "Examine the image for any objects from the category set. Report the coordinates of each detected object. "
        "The category set includes a, b.")
    assert t["grounding"][0].render(["dog"]) == "Locate the exact position of dog in the picture, if you can."
    assert t["rec"][0].render(["the red ball"]) == (
        "Can you point out the red ball in the image and provide the coordinates of its location?")


def test_unknown_family_and_bad_use():
    with pytest.raises(VisionR1Error, match="no templates for family 'llava'"):
        load_templates("llava")
    with pytest.raises(ValueError, match="exactly one category"):
        load_templates("qwen2.5-vl")["grounding"][0].render(["a", "b"])
