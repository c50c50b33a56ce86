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


def test_a_mix_is_built_for_exactly_the_families_with_templates(tmp_path, capsys):
    """data build kept its own family list beside templates/: one place decides now. A family with an adapter
    but no templates (qwen2-vl) is refused at once, naming the ones a mix can be built for; every family with
    templates passes the check."""
    from conftest import coco_recipe, one_error, run_cli

    from visionr1.data.templates import template_families
    from visionr1.formats import FAMILIES
    from visionr1.resources import resource_dir

    assert template_families() == tuple(sorted(p.stem for p in (resource_dir("templates")).glob("*.yaml")))
    assert set(template_families()) < set(FAMILIES) and "qwen2-vl" not in template_families()
    recipe = coco_recipe(tmp_path)
    assert run_cli("data", "build", "--out", tmp_path / "o", "--recipe", recipe, "--family", "qwen2-vl") == 2
    line = one_error(capsys, "unknown family 'qwen2-vl' for data build")
    assert all(f in line for f in template_families())
    for family in template_families():
        assert load_templates(family)
