"""Bad inputs of data build, review and train: each is one ``error:`` line naming the file (exit 2, nothing
written) or a counted skip (issue 15). All inputs are generated here."""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import pytest
import yaml
from conftest import build_coco, coco_issues, coco_recipe, edit_coco, one_error, run_cli
from hypothesis import example, given
from hypothesis import strategies as st
from PIL import Image

from visionr1.data.build import BUILD_MARKER, load_manifest
from visionr1.data.stats import load_mix


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` (no pixel data: what a bomb or a wrong-size file
    looks like to a header check, without allocating it)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", b"") + chunk(b"IEND", b""))


# ------------------------------------------------------------------ data build


def test_unusable_images_are_counted_skips(coco_copy, tmp_path, capsys):
    folder, outside, ims = coco_copy / "train2017", tmp_path / "outside.png", []

    def damage(doc: dict) -> None:
        ims.extend(doc["images"])
        (folder / ims[0]["file_name"]).write_bytes(b"")  # zero bytes
        (folder / ims[1]["file_name"]).write_bytes(bytes(range(256)) * 8)  # corrupt
        (folder / ims[2]["file_name"]).write_text("not an image\n")  # text
        Image.new("RGB", (int(ims[3]["width"]), int(ims[3]["height"]))).save(outside)
        ims[3]["file_name"] = str(outside)  # absolute, outside the image folder
        (folder / ims[4]["file_name"]).write_bytes(_png_header(int(ims[4]["width"]) + 7, 50))  # real size differs
        ims[5]["width"], ims[5]["height"] = 20000, 20000  # annotated as what it is: a decompression bomb
        (folder / ims[5]["file_name"]).write_bytes(_png_header(20000, 20000))

    edit_coco(coco_copy, damage)
    code, out = build_coco(coco_copy, tmp_path)
    assert code == 0
    issues = coco_issues(out)
    assert issues["empty image file (skipped)"] == 1
    assert issues["not a readable image (skipped)"] == 2
    assert issues["image path outside the image folder (skipped)"] == 1
    assert issues["image size differs from the annotation (skipped)"] == 1
    assert issues["image over the decompression-bomb limit (skipped)"] == 1
    assert "empty image file (skipped)" in capsys.readouterr().out
    bad = {str(folder / ims[i]["file_name"]) for i in (0, 1, 2, 4, 5)} | {str(outside)}
    assert not bad & {r["image"] for r in load_mix(out)}


def test_one_image_check_for_paths_and_bytes(tmp_path):
    """``inspect_image`` decides for data build, training (a path or the file's bytes) and evaluation alike: the
    same reason and file size for a file and its bytes; a bomb whatever its annotation says; a file of another
    size than annotated is not decoded; a cut file fails only when decoded in full."""
    from io import BytesIO

    from visionr1 import images

    buf = BytesIO()
    Image.effect_noise((40, 30), 60).convert("RGB").save(buf, "JPEG")  # noise: the data outweighs the header
    good = buf.getvalue()
    cases = {"good": (good, None, (40, 30)), "empty": (b"", images.EMPTY, None),
             "text": (b"not an image\n", images.UNREADABLE, None),
             "corrupt": (bytes(range(256)) * 8, images.UNREADABLE, None),
             "cut": (good[: len(good) // 2], images.TRUNCATED, (40, 30)),
             "bomb": (_png_header(10000, 10000), images.BOMB, (10000, 10000)),
             "huge": (_png_header(30000, 30000), images.BOMB, None)}
    for name, (data, reason, size) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert images.inspect_image(path) == images.inspect_image(data) == (reason, size), name
    cut = cases["cut"][0]
    assert images.inspect_image(cut, full=False) == (None, (40, 30))
    assert images.inspect_image(cut, size=(41, 30)) == (images.OTHER_SIZE, (40, 30))
    assert images.inspect_image(good, size=(40.0, 30.0)) == (None, (40, 30))
    assert images.inspect_image(_png_header(10000, 10000), size=(640, 480)).reason == images.BOMB
    assert images.inspect_image(tmp_path / "absent").reason == images.MISSING
    inner = tmp_path / "inner"
    inner.mkdir()
    assert images.inspect_image(str(inner / ".." / "good"), root=inner).reason == images.OUTSIDE
    assert images.inspect_image(str(tmp_path / "good"), root=tmp_path).reason is None
    odd = str(tmp_path / b"g\xff.jpg".decode("utf-8", "surrogateescape"))
    shutil.copy(tmp_path / "good", odd)
    assert images.inspect_image(odd) == (None, (40, 30))  # evaluation reads it
    assert images.inspect_image(odd, text_name=True).reason == images.NOT_TEXT  # a mix cannot hold the name


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["categories"][0].update(name=" "), "has an empty name"),
    (lambda d: d["categories"][1].update(name=d["categories"][0]["name"]), "duplicate category name"),
    (lambda d: d["categories"][1].update(id=d["categories"][0]["id"]), "duplicate category id"),
    (lambda d: d["images"][0].update(id=2**70), "image id 1180591620717411303424 does not fit in 64 bits"),
], ids=["empty-name", "duplicate-name", "duplicate-id", "huge-id"])
def test_bad_categories_and_ids_are_one_line(coco_copy, tmp_path, capsys, change, message):
    ann = edit_coco(coco_copy, change)
    code, out = build_coco(coco_copy, tmp_path)
    assert code == 2
    err = one_error(capsys)
    assert str(ann) in err and message in err
    assert not out.exists() or not any(out.iterdir())


def test_a_comma_in_a_category_name_is_counted(coco_copy, tmp_path):
    edit_coco(coco_copy, lambda d: d["categories"][0].update(name="red, blue"))
    code, out = build_coco(coco_copy, tmp_path)
    assert code == 0
    assert coco_issues(out)["category name holding a comma (kept; a prompt listing it with others is ambiguous)"] == 1


def test_a_category_named_not_in_utf8_is_a_counted_skip(coco_copy, tmp_path, capsys):
    """A category name holding a lone surrogate (``"\\udcff"`` in the JSON: valid JSON, as Python writes a name
    taken from a file name in bytes that are not UTF-8) stopped data build with one error line (msgspec refuses
    the escape) where eval skips it: now data build skips it with its boxes, counted and shown, and builds the
    rest of the mix."""
    seen = {}

    def rename(doc: dict) -> None:
        cat = doc["categories"][0]
        seen.update(name=cat["name"], id=cat["id"], boxes=sum(a["category_id"] == cat["id"]
                                                                for a in doc["annotations"]))
        cat["name"] = "squ\udcffare"

    ann = edit_coco(coco_copy, rename)
    assert b'"squ\\udcffare"' in ann.read_bytes()  # an escape in ASCII JSON
    code, out = build_coco(coco_copy, tmp_path)
    assert code == 0
    issues = coco_issues(out)
    assert issues[f"category whose name is not valid UTF-8 text: {seen['id']} 'squ\\xffare' (skipped with its "
                  "boxes; rename it to use it)"] == 1
    assert issues["box of a category whose name is not valid UTF-8 text (skipped)"] == seen["boxes"] > 0
    assert "box of a category whose name is not valid UTF-8 text" in " ".join(capsys.readouterr().out.split())
    rows = load_mix(out)
    assert len(rows) == 4
    names = {g["label"] for r in rows for g in r["gt"]} | {c for r in rows for c in r["categories"]}
    assert names and seen["name"] not in names and all("\udcff" not in n for n in names)


def test_every_category_named_not_in_utf8_is_one_line(coco_copy, tmp_path, capsys):
    ann = edit_coco(coco_copy, lambda d: [c.update(name=f"c{c['id']}\udcff") for c in d["categories"]])
    code, out = build_coco(coco_copy, tmp_path)
    assert code == 2
    one_error(capsys, ann, "no category has a name in valid UTF-8 text", "\\xff")
    assert not out.exists() or not any(out.iterdir())


def _odinw_category(root: Path) -> str:
    ann = next((root / "Aquarium").rglob("train/annotations_without_background.json"))
    doc = json.loads(ann.read_text())
    doc["categories"][1]["name"] = "squ\udcffare"
    ann.write_text(json.dumps(doc))
    return f"category whose name is not valid UTF-8 text: {doc['categories'][1]['id']} 'squ\\xffare' (skipped"


def _vg_phrase(root: Path) -> str:
    regions = root / "region_descriptions.json"
    doc = json.loads(regions.read_text())
    doc[0]["regions"][0]["phrase"] = "squ\udcffare"
    regions.write_text(json.dumps(doc))
    return "region whose phrase is not valid UTF-8 text (skipped)"


def _grefcoco_sentence(root: Path) -> str:
    grefs = next(root.glob("grefcoco/grefs*.json"))
    doc = json.loads(grefs.read_text())
    doc[0]["sentences"][0].update(sent="the squ\udcffare", raw="the squ\udcffare")
    grefs.write_text(json.dumps(doc))
    return "sentence not valid UTF-8 text (skipped)"


@pytest.mark.parametrize(("source", "folder", "spec", "damage"), [
    ("odinw", "odinw", {"task": "grounding", "split": "train", "sets": ["Aquarium"]}, _odinw_category),
    ("vg", "vg", {"task": "rec", "min_targets": 1}, _vg_phrase),
    ("refcoco", "refer", {"task": "rec", "datasets": ["grefcoco"], "splits": ["train"]}, _grefcoco_sentence),
], ids=["odinw-category", "vg-phrase", "grefcoco-sentence"])
def test_text_not_in_utf8_is_a_counted_skip_in_every_source(world_dir, tmp_path, capsys, source, folder, spec,
                                                            damage):
    """The siblings of the category name above: an ODinW category, a Visual Genome phrase (msgspec refused the
    file: one error line) and a gRefCOCO sentence (read by Python's json: a crash writing the mix's table once
    sampled) holding a lone surrogate are skipped and counted; the rest of the source is built."""
    root = tmp_path / folder
    shutil.copytree(world_dir / folder, root)
    reason = damage(root)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "u", "sources": {source: {**spec, "count": 4}}}))
    extra = ["--coco-root", world_dir / "coco"] if source == "refcoco" else []
    out = tmp_path / "mix"
    assert run_cli("data", "build", "--out", out, "--recipe", recipe, f"--{source}-root", root, *extra) == 0
    issues = load_manifest(out)["sources"][source]["issues"]
    assert sum(n for k, n in issues.items() if k.startswith(reason)) >= 1, issues
    assert len(load_mix(out)) == 4
    capsys.readouterr()


def test_grefcoco_of_the_wrong_shape_is_one_line(world_dir, tmp_path, capsys):
    refer = tmp_path / "refer"
    shutil.copytree(world_dir / "refer", refer)
    grefs = next(refer.glob("grefcoco/grefs*.json"))
    grefs.write_text(json.dumps([{"expression": "the cat", "image": 1}]))
    recipe = tmp_path / "g.yaml"
    recipe.write_text(yaml.safe_dump({"name": "g", "sources": {"refcoco": {
        "task": "rec", "count": 2, "datasets": ["grefcoco"], "splits": ["train"]}}}))
    out = tmp_path / "o"
    assert run_cli("data", "build", "--out", out, "--recipe", recipe, "--refcoco-root", refer, "--coco-root",
                   world_dir / "coco") == 2
    err = one_error(capsys)
    assert str(grefs) in err and "ref 0 lacks" in err
    assert not out.exists() or not any(out.iterdir())


def test_a_killed_force_rebuild_can_be_forced_again(world_dir, tmp_path):
    out = tmp_path / "o"
    args = ("data", "build", "--out", out, "--recipe", coco_recipe(tmp_path), "--coco-root", world_dir / "coco")
    assert run_cli(*args) == 0
    # what a rebuild killed after clearing the folder leaves: the build marker and part of the dataset
    for p in out.iterdir():
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    (out / BUILD_MARKER).write_text("visionr1 data build\n")
    (out / "dataset").mkdir()
    assert run_cli(*args, "--force") == 0
    assert load_manifest(out)["rows"] == 4


# ------------------------------------------------------------------ train


def test_train_refuses_an_empty_mix_and_a_bad_out_before_loading(world_dir, tiny_model_dir, tmp_path, capsys):
    mix = tmp_path / "mix"
    assert run_cli("data", "build", "--out", mix, "--recipe", coco_recipe(tmp_path), "--coco-root",
                   world_dir / "coco") == 0

    def grpo(data: Path, out: Path) -> int:
        return run_cli("train", "grpo", "--model", tiny_model_dir, "--data", data, "--out", out, "--max-steps", "1")

    empty = tmp_path / "empty-mix"
    shutil.copytree(mix, empty)
    shutil.rmtree(empty / "dataset")
    load_mix(mix).select([]).save_to_disk(str(empty / "dataset"))
    assert grpo(empty, tmp_path / "o") == 2
    assert f"{empty} holds no samples" in one_error(capsys) and not (tmp_path / "o").exists()
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me\n")
    assert grpo(mix, a_file) == 2
    assert f"output path {a_file} exists and is not a directory" in one_error(capsys)
    assert a_file.read_text() == "keep me\n"
    assert grpo(mix, a_file / "o") == 2  # cannot be created: its parent is a file
    assert f"cannot create output directory {a_file / 'o'}" in one_error(capsys)


# ------------------------------------------------------------------ review


def test_review_refuses_a_text_image_and_leaves_no_dataset(fo, coco_copy, tmp_path, capsys):
    code, mix = build_coco(coco_copy, tmp_path)
    assert code == 0
    image = Path(load_mix(mix)[0]["image"])
    image.write_text("not an image\n")
    capsys.readouterr()
    assert run_cli("review", "data", mix, "--name", "vr1-text-image") == 2
    err = capsys.readouterr().err  # the progress display shares stderr
    assert "Traceback" not in err and [x for x in err.splitlines() if x.startswith("error:")] == [
        f"error: {image}: not a readable image"]
    assert "vr1-text-image" not in fo.list_datasets()


def test_review_app_refuses_a_port_out_of_range(capsys):
    assert run_cli("review", "app", "any", "--port", "70000") == 2
    assert "--port 70000 is not a TCP port (1-65535)" in one_error(capsys)


def test_unchecked_build_refuses_an_image_name_not_in_utf8(coco_copy, tmp_path):
    """``build(check_images=False)`` (Python API) opens no image, so nothing skipped an image whose file name is
    not UTF-8 and Arrow raised a traceback writing the mix: now one line names the file and the way out, and the
    output folder is left empty; the checked build skips and counts the image."""
    import os

    from visionr1 import images
    from visionr1.data.build import build
    from visionr1.data.recipe import load_recipe
    from visionr1.errors import VisionR1Error

    doc = json.loads((coco_copy / "annotations" / "instances_train2017.json").read_text())
    first = doc["images"][0]["file_name"]
    odd = b"odd\xff.png".decode("utf-8", "surrogateescape")
    os.rename(coco_copy / "train2017" / first, coco_copy / "train2017" / odd)
    edit_coco(coco_copy, lambda d: d["images"][0].update(file_name=odd))
    recipe = load_recipe(coco_recipe(tmp_path, count=len(doc["images"])))  # every image sampled
    out = tmp_path / "unchecked"
    with pytest.raises(VisionR1Error, match=r"odd\\xff\.png: image file name not valid UTF-8.*check_images=True"):
        build(recipe, out, roots={"coco": coco_copy}, check_images=False, allow_short=True)
    assert not out.exists() or not any(out.iterdir())
    result = build(recipe, tmp_path / "checked", roots={"coco": coco_copy}, allow_short=True)
    assert result.manifest["sources"]["coco"]["issues"][f"{images.NOT_TEXT} (skipped)"] == 1


@given(st.text(alphabet=" .aB\t", max_size=12))
@example("a dog .")
def test_vg_phrase_key_has_no_edge_space_or_closing_stop(phrase):
    """"a dog ." became the prompt text "a dog " (a trailing space) and a group apart from "a dog"."""
    from visionr1.data.sources.vg import phrase_key

    key = phrase_key(phrase)
    assert key == key.strip() and not key.endswith(".") and "  " not in key
    assert phrase_key(key) == key and phrase_key(phrase.upper() + " .") == key
