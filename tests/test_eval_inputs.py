"""Bad inputs of ``visionr1 eval`` and ``eval compare`` (issue 15): each is one ``error:`` line naming the file
(exit 2, nothing written to ``--out``) or a skip counted in the report. Every input is generated here."""

from __future__ import annotations

import json
import math
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import one_error, run_cli, small_mix
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from visionr1.data.sources.refer import EMPTY, NO_TARGET, NOT_TEXT
from visionr1.eval.rec import NOT_ONE_TARGET
from visionr1.io import lock_dir

SIZES = ((64, 48), (48, 64), (80, 40))


def make_set(root: Path) -> tuple[Path, Path, dict]:
    """Three images, two categories, a box per image: the annotations file, the image folder and the document."""
    images = root / "images"
    images.mkdir(parents=True)
    doc = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "circle"}, {"id": 2, "name": "square"}]}
    for i, (w, h) in enumerate(SIZES):
        Image.new("RGB", (w, h), (40 * i, 90, 200)).save(images / f"{i}.png")
        doc["images"].append({"id": i + 1, "file_name": f"{i}.png", "width": w, "height": h})
        doc["annotations"].append({"id": i + 1, "image_id": i + 1, "category_id": 1 + i % 2,
                                   "bbox": [4.0, 5.0, w / 2, h / 2]})
    ann = root / "instances.json"
    ann.write_text(json.dumps(doc))
    return ann, images, doc


def run_eval(ann: Path, images: Path, out: Path, *extra: object) -> int:
    return run_cli("eval", "custom", "--data-root", images, "--annotations", ann, "--out", out, "--backend", "oracle",
                   *extra)


def nothing_written(out: Path) -> bool:
    return not out.exists() or not any(out.rglob("*"))


def report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


@pytest.fixture
def custom(tmp_path):
    return make_set(tmp_path / "set")


# ------------------------------------------------------------------ annotation files


def _edit(doc: dict, path: str, value: object) -> dict:
    """``doc`` with ``path`` (``images.0.width``) set to ``value`` (``...`` removes the key)."""
    doc = json.loads(json.dumps(doc))
    *parents, last = path.split(".")
    node = doc
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if value is ...:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return doc


@pytest.mark.parametrize("path,value,key", [
    ("annotations.0.bbox", ..., "annotations[0].bbox"),
    ("annotations.1.bbox", [1, 2, 3], "annotations[1].bbox"),
    ("annotations.1.bbox", ["1", "2", "3", "4"], "annotations[1].bbox"),
    ("annotations.2.bbox", [1, 2, float("nan"), 4], "annotations[2].bbox"),
    ("annotations.0.category_id", 7, "annotations[0].category_id"),
    ("annotations.0.image_id", 99, "annotations[0].image_id"),
    ("images.1.width", ..., "images[1].width"),
    ("images.1.width", 0, "images[1].width"),
    ("images.1.width", 1e300, "images[1].width"),
    ("images.2.height", float("nan"), "images[2].height"),
    ("images.2.id", 1, "images[2]: duplicate image id 1"),
    ("images.0.file_name", None, "images[0].file_name"),
    ("categories.1.id", 1, "categories[1]: duplicate category id"),
    ("images", [], "no images"),
])
def test_malformed_annotations_are_one_line(custom, tmp_path, capsys, path, value, key):
    ann, images, doc = custom
    ann.write_text(json.dumps(_edit(doc, path, value)))
    out = tmp_path / "out"
    assert run_eval(ann, images, out) == 2
    one_error(capsys, ann, key)
    assert nothing_written(out)


@pytest.mark.parametrize("content,what", [(b"[]", "expected an object (mapping), got a list"), (b"{}", "no images"),
                                          (b'{"images": 5}', "'images' is a int"), (b"\xff\xfe{}", "not UTF-8"),
                                          (b"", "not valid JSON (line 1"),
                                          (b'{"images": [', "not valid JSON (line 1")])
def test_annotation_documents_of_the_wrong_shape(custom, tmp_path, capsys, content, what):
    ann, images, _ = custom
    ann.write_bytes(content)
    out = tmp_path / "out"
    assert run_eval(ann, images, out) == 2
    one_error(capsys, ann, what)
    assert nothing_written(out)


def test_annotations_path_is_a_folder(custom, tmp_path, capsys):
    _, images, _ = custom
    assert run_eval(images, images, tmp_path / "out") == 2
    one_error(capsys, f"{images}: a folder, not a file")
    assert nothing_written(tmp_path / "out")


def test_degenerate_boxes_and_extreme_images_are_counted_skips(custom, tmp_path, capsys):
    ann, images, doc = custom
    doc = _edit(_edit(doc, "annotations.0.bbox", [4, 5, 0, 10]), "annotations.1.bbox", [4, 5, 10, -3])
    Image.new("RGB", (201 * 2, 2)).save(images / "thin.png")
    doc["images"].append({"id": 9, "file_name": "thin.png", "width": 402, "height": 2})
    ann.write_text(json.dumps(doc))
    out = tmp_path / "out"
    assert run_eval(ann, images, out) == 0
    m = report(out)["sets"]["custom/instances"]
    assert m["skipped"] == {"boxes without area (width or height <= 0)": 2,
                            "images with an aspect ratio over 200 (the model cannot take them)": 1}
    assert m["mAP"] == 100.0  # the one box left is found; the skipped ones are not scored as misses
    assert "skipped 2 boxes without area" in capsys.readouterr().out


# ------------------------------------------------------------------ images


def _bomb(path: Path) -> None:
    """A PNG whose header claims 30000 x 30000 pixels (over twice PIL's decompression-bomb limit)."""
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
                     + struct.pack(">I", zlib.crc32(chunk)))


def test_unreadable_images_are_counted_skips(custom, tmp_path, capsys):
    ann, images, doc = custom
    (images / "0.png").write_bytes(b"")
    (images / "1.png").write_text("not an image\n")
    _bomb(images / "2.png")
    Image.new("RGB", (64, 48)).save(images / "3.png")
    Image.new("RGB", (50, 50)).save(images / "4.png")  # annotated as 64 x 48
    doc["images"] += [{"id": 4, "file_name": "3.png", "width": 64, "height": 48},
                      {"id": 5, "file_name": "4.png", "width": 64, "height": 48}]
    doc["annotations"] += [{"id": 4, "image_id": 4, "category_id": 1, "bbox": [1, 1, 20, 20]},
                           {"id": 5, "image_id": 5, "category_id": 1, "bbox": [1, 1, 20, 20]}]
    ann.write_text(json.dumps(doc))
    out = tmp_path / "out"
    assert run_eval(ann, images, out) == 0
    m = report(out)["sets"]["custom/instances"]
    assert list(m["skipped"].values()) == [4] and m["images"] == 1 and m["mAP"] == 100.0
    assert "skipped 4 unreadable images" in capsys.readouterr().out


def test_truncated_images_and_warning_size_bombs_are_counted_skips(custom, tmp_path, capsys):
    """Issue 29: an image cut off past a valid header (decoded in full before answering) and one between PIL's
    warning and error sizes (10000 x 10000: a warning only, decoded before) are counted skips, not a stop halfway
    through the answers or a silent 300 MB decode."""
    ann, images, doc = custom
    data = (images / "0.png").read_bytes()
    (images / "0.png").write_bytes(data[: len(data) // 2])
    ihdr = struct.pack(">IIBBBBB", 10000, 10000, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    (images / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
                                   + struct.pack(">I", zlib.crc32(chunk)))
    doc["images"][1].update(width=10000, height=10000)
    ann.write_text(json.dumps(doc))
    out = tmp_path / "out"
    assert run_eval(ann, images, out) == 0
    m = report(out)["sets"]["custom/instances"]
    assert list(m["skipped"].values()) == [2], m["skipped"]
    assert "skipped 2 unreadable images" in capsys.readouterr().out


def test_an_image_corrupt_past_its_header_is_one_line(custom, tmp_path):
    from visionr1.errors import VisionR1Error
    from visionr1.eval.backends import _image

    _, images, _ = custom
    data = (images / "0.png").read_bytes()
    (images / "0.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(VisionR1Error, match=f"cannot decode image {images / '0.png'}"):
        _image(str(images / "0.png"))


# ------------------------------------------------------------------ resume files


@pytest.mark.parametrize("bad", [b'{"boxes": [], "labels": []}\n', b"[1, 2]\n", b"\xff\xfe oops\n",
                                 b'{"qid": "custom/instances:1", "raw": "", "boxes": [["a", 1, 2, 3]], '
                                 b'"labels": ["circle"], "template_ok": true}\n'])
def test_corrupt_resume_lines_are_answered_again(custom, tmp_path, capsys, bad):
    """A line of a predictions file that is not a record is skipped and counted; its query is answered again."""
    ann, images, _ = custom
    out = tmp_path / "out"
    assert run_eval(ann, images, out) == 0
    part = out / "predictions" / "custom_instances" / "part-0.jsonl"
    lines = part.read_bytes().splitlines(keepends=True)
    part.write_bytes(bad + b"".join(lines[1:]))
    capsys.readouterr()
    assert run_eval(ann, images, out) == 0
    m = report(out)["sets"]["custom/instances"]
    assert m["skipped"] == {"unreadable prediction lines (their queries were answered again)": 1}
    assert m["queries"] == 3 and m["mAP"] == 100.0
    assert len(part.read_bytes().splitlines()) == 4


# ------------------------------------------------------------------ options and output folders


@pytest.mark.parametrize("extra,what", [(["--min-pixels", "0"], "--min-pixels must be positive"),
                                        (["--min-pixels", "5000", "--max-pixels", "4000"], "larger than"),
                                        (["--max-pixels", "-1"], "--max-pixels must be positive")])
def test_pixel_limits_are_refused_before_answering(custom, tmp_path, capsys, extra, what):
    ann, images, _ = custom
    out = tmp_path / "out"
    assert run_eval(ann, images, out, *extra) == 2
    one_error(capsys, what)
    assert nothing_written(out)


def test_a_second_eval_into_the_same_out_is_refused(custom, tmp_path, capsys):
    ann, images, _ = custom
    out = tmp_path / "out"
    with lock_dir(out):  # what a running evaluation holds
        assert run_eval(ann, images, out) == 2
        one_error(capsys, out, "in use by another visionr1 run")
    assert nothing_written(out)
    assert run_eval(ann, images, out) == 0


def _files(out: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".lock"}


@pytest.mark.parametrize("change", ["categories", "boxes", "images"])
def test_answers_to_other_data_are_not_reused(custom, tmp_path, capsys, change):
    """Another annotations file or image folder under the same set name (renamed categories: other prompts; moved
    boxes: another ground truth, which the oracle answers; other images) is not answered from the answers in
    --out: one line naming the set, and the folder is left as it was. Another --limit reuses the same answers."""
    ann, images, doc = custom
    out = tmp_path / "out"
    assert run_eval(ann, images, out, "--limit", "2") == 0
    assert run_eval(ann, images, out) == 0 and report(out)["sets"]["custom/instances"]["mAP"] == 100.0
    assert run_eval(ann, images, out, "--limit", "1") == 0 and report(out)["sets"]["custom/instances"]["queries"] == 1
    other = tmp_path / "other"
    other.mkdir()
    other_images = images
    if change == "categories":
        doc["categories"] = [{"id": 1, "name": "ball"}, {"id": 2, "name": "box"}]
    elif change == "boxes":
        doc["annotations"][0]["bbox"] = [10.0, 12.0, 8.0, 8.0]
    else:
        other_images = other / "images"
        other_images.mkdir()
        for im in doc["images"]:
            Image.new("RGB", (im["height"], im["width"]), (0, 0, 0)).save(other_images / im["file_name"])
            im["width"], im["height"] = im["height"], im["width"]
        for a in doc["annotations"]:
            a["bbox"] = [1.0, 1.0, 10.0, 10.0]
    (other / "instances.json").write_text(json.dumps(doc))
    before = _files(out)
    capsys.readouterr()
    assert run_eval(other / "instances.json", other_images, out) == 2
    one_error(capsys, f"--out {out} holds answers of another run", "custom/instances", "other queries")
    assert _files(out) == before


@pytest.mark.parametrize(("first", "then", "what"), [
    (["--batch-size", "1"], [], "batch_size 1 (this run: 8)"),
    (["--model-loader", "custom_loader:load"], [], "model_loader 'custom_loader:load' (this run: None)"),
])
def test_answering_options_are_recorded(custom, tmp_path, capsys, first, then, what):
    """Batch size (left padding changes greedy answers) and the model loader decide the answers as much as the
    model does: a run that differs is refused with one line, the folder left as it was."""
    ann, images, _ = custom
    out = tmp_path / "out"
    assert run_eval(ann, images, out, *first) == 0
    before = _files(out)
    capsys.readouterr()
    assert run_eval(ann, images, out, *then) == 2
    one_error(capsys, f"--out {out} holds answers of another run", what)
    assert _files(out) == before
    assert run_eval(ann, images, out, *first) == 0  # the same run resumes


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_is_one_line(custom, tmp_path, capsys):
    ann, images, _ = custom
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o500)
    try:
        assert run_eval(ann, images, out) == 2
        one_error(capsys, out)
    finally:
        out.chmod(0o700)


# ------------------------------------------------------------------ model folders


def _model(tiny_model_dir: Path, dest: Path) -> Path:
    dest.mkdir()
    for p in tiny_model_dir.iterdir():
        if p.is_file():
            (dest / p.name).write_bytes(p.read_bytes())
    return dest


def test_model_folder_without_weights(custom, tiny_model_dir, tmp_path, capsys):
    ann, images, _ = custom
    model = _model(tiny_model_dir, tmp_path / "model")
    shards = sorted(model.glob("model-*.safetensors"))
    assert shards and (model / "model.safetensors.index.json").is_file()
    shards[0].unlink()
    out = tmp_path / "out"
    assert run_eval(ann, images, out, "--backend", "hf", "--model", model) == 2
    one_error(capsys, "model.safetensors.index.json", shards[0].name)
    (model / "model.safetensors.index.json").unlink()
    assert run_eval(ann, images, out, "--backend", "hf", "--model", model) == 2
    one_error(capsys, model, "has no weights")
    assert nothing_written(out)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_weights(custom, tiny_model_dir, tmp_path, capsys):
    ann, images, _ = custom
    model = _model(tiny_model_dir, tmp_path / "model")
    shard = sorted(model.glob("model-*.safetensors"))[0]
    shard.chmod(0)
    assert run_eval(ann, images, tmp_path / "out", "--backend", "hf", "--model", model) == 2
    one_error(capsys, shard, "cannot read the weights")


# ------------------------------------------------------------------ eval compare


@pytest.mark.parametrize("content,what", [(b"[1]", "a JSON list"), (b"{}", "key 'kind'"),
                                          (b"\xff\xfe", "not UTF-8"),
                                          (b'{"kind": "boxes", "benchmark": "x", "sets": {"a": 1}}', "'sets'"),
                                          (b'{"kind": "boxes", "benchmark": "x", "sets": {"a": {"mAP": "1"}}}',
                                           "mAP of 'a'")])
def test_compare_refuses_what_is_not_a_report(custom, tmp_path, capsys, content, what):
    ann, images, _ = custom
    good = tmp_path / "good"
    assert run_eval(ann, images, good) == 0
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    capsys.readouterr()
    assert run_cli("eval", "compare", good, bad) == 2
    one_error(capsys, bad, what)


# ------------------------------------------------------------------ fuzzing: any document is a report or one line

_value = st.one_of(st.none(), st.booleans(), st.integers(-3, 200), st.floats(allow_nan=True, allow_infinity=True),
                   st.text(max_size=4))
_box = st.one_of(st.lists(st.one_of(st.floats(-10, 100), _value), min_size=0, max_size=5), _value)


def _image_entry(i: int):
    w, h = SIZES[i]
    return st.fixed_dictionaries({}, optional={"id": st.one_of(st.just(i + 1), _value),
                                               "file_name": st.one_of(st.just(f"{i}.png"), _value),
                                               "width": st.one_of(st.just(w), _value),
                                               "height": st.one_of(st.just(h), _value)})


_doc = st.one_of(
    _value, st.lists(_value, max_size=2),
    st.fixed_dictionaries({}, optional={
        "images": st.one_of(st.tuples(*[_image_entry(i) for i in range(3)]).map(list), _value),
        "categories": st.one_of(st.lists(st.fixed_dictionaries({}, optional={
            "id": st.one_of(st.integers(0, 3), _value), "name": st.one_of(st.sampled_from(["circle", "square"]),
                                                                           _value)}), max_size=3), _value),
        "annotations": st.one_of(st.lists(st.fixed_dictionaries({}, optional={
            "image_id": st.one_of(st.integers(0, 4), _value), "category_id": st.one_of(st.integers(0, 3), _value),
            "bbox": _box, "iscrowd": st.sampled_from([0, 1])}), max_size=4), _value)}))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=_doc)
def test_fuzzed_annotation_documents(tmp_path_factory, capsys, doc):
    """Any COCO-format document gives a report or one error line naming the file, never a traceback."""
    root = tmp_path_factory.mktemp("fuzz")
    ann, images, _ = make_set(root)
    ann.write_text(json.dumps(doc, allow_nan=True))
    out = root / "out"
    code = run_eval(ann, images, out)
    captured = capsys.readouterr()
    assert code in (0, 2), captured.err
    if code == 2:
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {ann}"), lines
        assert nothing_written(out)
    else:
        for m in report(out)["sets"].values():
            assert m["mAP"] is None or (math.isfinite(m["mAP"]) and 0 <= m["mAP"] <= 100)


# ------------------------------------------------------------------ names that are not UTF-8 (issue 29, class 6)


def not_utf8(name: bytes) -> str:
    """A file name in bytes that are not UTF-8 as Python reads it from disk (``\\xff`` becomes ``\\udcff``)."""
    return name.decode("utf-8", "surrogateescape")


def rename_image_not_utf8(ann: Path, images: Path, index: int, name: bytes) -> str:
    """Rename image ``index`` of the set to ``name`` (bytes that are not UTF-8) and name it so in the annotations,
    as JSON written by Python from a listing of the folder does (a ``"\\udcff"`` escape); the path as read."""
    doc = json.loads(ann.read_text())
    image = doc["images"][index]
    new = not_utf8(name)
    os.rename(images / image["file_name"], images / new)
    image["file_name"] = new
    ann.write_text(json.dumps(doc))
    assert b"\\udcff" in ann.read_bytes()  # valid JSON, ASCII on disk
    return str(images / new)


def rename_category_not_utf8(ann: Path, index: int) -> dict:
    """Category ``index`` renamed with a lone surrogate (a ``"\\udcff"`` escape, valid JSON); it."""
    doc = json.loads(ann.read_text())
    doc["categories"][index]["name"] = "squ\udcffare"
    ann.write_text(json.dumps(doc))
    return doc["categories"][index]


CATEGORY_SKIP = "categories whose name is not valid UTF-8 text"


def test_image_file_named_in_bytes_that_are_not_utf8_is_evaluated(custom, tmp_path):
    """Valid input: the image is opened by the name the annotations give, every query is answered and scored."""
    ann, images, _ = custom
    rename_image_not_utf8(ann, images, 0, b"0\xff.png")
    assert run_eval(ann, images, tmp_path / "out") == 0
    m = report(tmp_path / "out")["sets"]["custom/instances"]
    assert (m["queries"], m["answered"], m["mAP"]) == (3, 3, 100.0) and "skipped" not in m


def test_annotations_file_named_in_bytes_that_are_not_utf8(custom, tmp_path, capsys):
    """The set is named after the annotations file: a name in bytes that are not UTF-8 crashed writing report.md
    (UnicodeEncodeError); the set's name shows them as ``\\xff``, in the report and on the console."""
    ann, images, _ = custom
    renamed = ann.with_name(not_utf8(b"inst\xff.json"))
    os.rename(ann, renamed)
    capsys.readouterr()
    assert run_eval(renamed, images, tmp_path / "out") == 0
    assert list(report(tmp_path / "out")["sets"]) == ["custom/inst\\xff"]
    assert "| custom/inst\\xff |" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "custom/inst\\xff" in capsys.readouterr().out


def test_category_named_not_in_utf8_is_a_counted_skip(custom, tiny_model_dir, tmp_path, capsys):
    """A category name holding a lone surrogate crashed the tokenizer (TypeError) on a real model: it is left out
    with its box, counted in the report and named in escapes; the other category is evaluated."""
    ann, images, _ = custom
    rename_category_not_utf8(ann, 1)
    capsys.readouterr()
    assert run_cli("eval", "custom", "--data-root", images, "--annotations", ann, "--out", tmp_path / "out",
                   "--model", tiny_model_dir, "--max-new-tokens", "8") == 0
    r = report(tmp_path / "out")
    m = r["sets"]["custom/instances"]
    skipped = {k.split(" (")[0]: (k, n) for k, n in m["skipped"].items()}
    key, n = skipped[CATEGORY_SKIP + ", with their boxes"]
    assert n == 1 and "2 'squ\\xffare'" in key
    assert skipped["boxes of " + CATEGORY_SKIP] == ("boxes of " + CATEGORY_SKIP, 1)
    assert m["queries"] == m["answered"] == 3  # protocol all: every image is asked for the other category
    records = [json.loads(x) for p in (tmp_path / "out" / "predictions").rglob("part-*.jsonl")
               for x in p.read_text().splitlines()]
    assert len(records) == 3
    assert "squ\\xffare" in capsys.readouterr().out


def test_every_category_named_not_in_utf8_is_one_line(custom, tmp_path, capsys):
    ann, images, _ = custom
    rename_category_not_utf8(ann, 0)
    rename_category_not_utf8(ann, 1)
    assert run_eval(ann, images, tmp_path / "out") == 2
    one_error(capsys, ann, "no category", "valid UTF-8")
    assert nothing_written(tmp_path / "out")


def test_odinw_set_with_names_not_in_utf8(world_dir, tmp_path, capsys):
    """An ODinW set whose image file and one category are named in bytes that are not UTF-8: the image is
    evaluated, the category left out and counted."""
    import shutil

    from visionr1.data import layouts

    spec = layouts.ODINW_SETS["Aquarium"]
    root = tmp_path / "odinw"
    shutil.copytree(world_dir / "odinw" / "Aquarium", root / "Aquarium")
    ann, images = root / spec.annotation("valid"), root / spec.image_dir("valid")
    rename_image_not_utf8(ann, images, 0, b"IMG_\xff\xfe.jpg")
    doc = json.loads(ann.read_text())
    boxes = sum(a["category_id"] == doc["categories"][1]["id"] for a in doc["annotations"])
    rename_category_not_utf8(ann, 1)
    assert run_cli("eval", "odinw", "--data-root", root, "--sets", "Aquarium", "--out", tmp_path / "out",
                   "--backend", "oracle") == 0
    m = report(tmp_path / "out")["sets"]["odinw/Aquarium"]
    assert sum(n for k, n in m["skipped"].items() if k.startswith(CATEGORY_SKIP)) == 1
    assert m["skipped"].get("boxes of " + CATEGORY_SKIP, 0) == boxes > 0
    assert m["images"] == len(doc["images"]) and m["mAP"] == 100.0
    capsys.readouterr()


def refcoco_copy(world_dir: Path, tmp_path: Path, edit: Callable[[list[dict]], object]) -> Path:
    """A copy of the world's RefCOCO (refs pickle and instances.json) with ``edit`` applied to its refs; the
    copy's REFER root."""
    import pickle
    import shutil

    refer = tmp_path / "refer"
    shutil.copytree(world_dir / "refer" / "refcoco", refer / "refcoco")
    refs_path = refer / "refcoco" / "refs(unc).p"
    refs = pickle.loads(refs_path.read_bytes())
    edit(refs)
    refs_path.write_bytes(pickle.dumps(refs, protocol=2))
    return refer


def rec_before_after(world_dir: Path, refer: Path, tmp_path: Path) -> dict[str, dict]:
    """``eval rec`` of refcoco:val (oracle) on the world's RefCOCO ("before") and on ``refer`` ("after")."""
    sets = {}
    for name, root in (("before", world_dir / "refer"), ("after", refer)):
        assert run_cli("eval", "rec", "--data-root", root, "--coco-root", world_dir / "coco", "--sets",
                       "refcoco:val", "--out", tmp_path / name, "--backend", "oracle") == 0
        sets[name] = report(tmp_path / name)["sets"]["refcoco:val"]
    return sets


def test_rec_texts_not_in_utf8(world_dir, tmp_path, capsys):
    """REC of a RefCOCO copy with one sentence and one category (of instances.json) named with a lone surrogate:
    the sentence's query is left out and counted (no prompt can hold it; it crashed the tokenizer), the category
    costs nothing (REC reads only the boxes): every other expression is asked and answered."""
    def edit(refs: list[dict]) -> None:
        next(r for r in refs if r["split"] == "val")["sentences"][0]["sent"] = "the squ\udcffare"

    refer = refcoco_copy(world_dir, tmp_path, edit)
    rename_category_not_utf8(refer / "refcoco" / "instances.json", 0)
    queries = rec_before_after(world_dir, refer, tmp_path)
    after = queries["after"]
    assert after["skipped"] == {NOT_TEXT: 1}
    assert after["queries"] == queries["before"]["queries"] - 1 and after["Acc@0.5"] == 100.0
    capsys.readouterr()


def test_rec_counts_every_sentence_it_does_not_ask(world_dir, tmp_path, capsys):
    """A RefCOCO copy whose val split has an empty sentence, an expression whose target annotation is gone and
    one referring to two objects: none is asked, each is counted by its reason in the report (they were
    dropped silently), and the remaining expressions are scored as before."""
    val: list[dict] = []

    def edit(refs: list[dict]) -> None:
        val.extend(r for r in refs if r["split"] == "val")
        assert len(val) >= 3
        val[0]["sentences"][0]["sent"] = "  "
        val[2]["ann_id"] = [val[2]["ann_id"], next(r["ann_id"] for r in refs if r["image_id"] == val[2]["image_id"]
                                                   and r["ann_id"] not in (val[1]["ann_id"], val[2]["ann_id"]))]

    refer = refcoco_copy(world_dir, tmp_path, edit)
    inst = json.loads((refer / "refcoco" / "instances.json").read_text())
    inst["annotations"] = [a for a in inst["annotations"] if a["id"] != val[1]["ann_id"]]
    (refer / "refcoco" / "instances.json").write_text(json.dumps(inst))
    sets = rec_before_after(world_dir, refer, tmp_path)
    after = sets["after"]
    n1, n2 = len(val[1]["sentences"]), len(val[2]["sentences"])
    assert after["skipped"] == {EMPTY: 1, NO_TARGET: n1, NOT_ONE_TARGET: n2}
    assert after["queries"] == sets["before"]["queries"] - 1 - n1 - n2 and after["Acc@0.5"] == 100.0
    assert "skipped" not in sets["before"] or not sets["before"]["skipped"]
    capsys.readouterr()


def test_review_eval_of_names_not_in_utf8(fo, custom, tmp_path, capsys):
    """``review eval`` of a run whose folder, image file, category and answers hold names that are not UTF-8
    (FiftyOne's database takes UTF-8 only: a UnicodeEncodeError before, or the run refused): the image's query
    is skipped and counted, the category's skip shown, an answer's lone surrogate stored as an escape."""
    ann, images, _ = custom
    path = rename_image_not_utf8(ann, images, 0, b"0\xff.png")
    rename_category_not_utf8(ann, 1)
    out = tmp_path / not_utf8(b"run\xff")
    assert run_eval(ann, images, out) == 0
    part = next((out / "predictions").rglob("part-*.jsonl"))
    recs = [json.loads(x) for x in part.read_text().splitlines()]
    for rec in recs:  # what a model may write (kept as an escape by eval)
        rec["raw"] += "\ud800"
        rec["labels"] = [lab + "\ud800" for lab in rec["labels"]]
    part.write_text("".join(json.dumps(rec) + "\n" for rec in recs))
    summary_file = tmp_path / "summary.json"
    capsys.readouterr()
    assert run_cli("review", "eval", out, "--name", "vr1-not-utf8", "--json", summary_file) == 0
    printed = " ".join(capsys.readouterr().out.split())
    summary = json.loads(summary_file.read_text())
    image_skip = [k for k in summary["skipped"] if k.startswith("queries whose image path is not valid UTF-8")]
    assert len(image_skip) == 1 and summary["skipped"][image_skip[0]] == 1
    assert path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") in image_skip[0]
    assert any(k.startswith(CATEGORY_SKIP) for k in summary["skipped"])
    assert f"skipped 1 {image_skip[0]}" in printed
    ds = fo.load_dataset("vr1-not-utf8")
    assert len(ds) == summary["samples"] == 2
    field = next(f for f in summary["runs"])
    assert all(s[f"{field}_answer"].endswith("\\ud800") for s in ds)
    assert "\\xff" in ds.info["runs"][field]


def test_a_mix_folder_not_named_in_utf8_is_one_line(world_dir, tmp_path, capsys):
    """A mix moved to a folder named in bytes that are not UTF-8: the datasets library cannot open it (it said
    "not a readable dataset ... build again" before, though the mix is whole): one line saying why, for
    ``review data``, ``data stats`` and ``train``."""
    built = small_mix(world_dir, tmp_path / "small")
    mix = tmp_path / not_utf8(b"mix\xff")
    os.rename(built, mix)
    capsys.readouterr()
    for command in (("review", "data"), ("data", "stats")):
        assert run_cli(*command, mix) == 2
        line = one_error(capsys, "mix\\xff/dataset", "not valid UTF-8", "rename")
        assert "build" not in line
    from visionr1.errors import VisionR1Error
    from visionr1.train.data import load_dataset_dir

    with pytest.raises(VisionR1Error, match=r"mix\\xff/dataset: the path is not valid UTF-8"):
        load_dataset_dir(mix, "qwen2.5-vl")  # what `visionr1 train` reads the mix with
