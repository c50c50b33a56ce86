"""``visionr1 data build`` on the synthetic world: every reader, checked against what the generator intended."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import datasets
import numpy as np
import pytest
import yaml
from conftest import build_coco, coco_issues, coco_recipe, edit_coco, one_error, run_cli

from visionr1.data import layouts
from visionr1.data.build import build, load_manifest
from visionr1.data.recipe import load_recipe
from visionr1.data.stats import load_mix
from visionr1.data.templates import load_templates
from visionr1.errors import VisionR1Error
from visionr1.synth.shapes import SHAPES
from visionr1.synth.world import COCO_SHAPES

RECIPE = {
    "name": "test-mix", "seed": 3, "hard_min_instances": 11, "instance_range": [1, 30],
    "sources": {
        "coco": {"task": "detection", "count": 10, "split": "train2017", "hard_share": 0.5, "negative_share": 0.2,
                 "absent_categories": [1, 2]},
        "odinw": {"task": "grounding", "count": 20, "split": "train", "negative_share": 0.1,
                  "exclude_sets": list(layouts.ODINW_OOD)},
        "v3det": {"task": "grounding", "count": 12, "split": "train", "negative_share": 0.2,
                  "multi_category_share": 0.2},
        "refcoco": {"task": "rec", "count": 16, "datasets": ["refcoco", "refcoco+", "refcocog", "grefcoco"],
                    "splits": ["train"], "negative_share": 0.125},
        "vg": {"task": "rec", "count": 6, "min_targets": 2},
    },
}


def write_recipe(path: Path, recipe: dict) -> Path:
    path.write_text(yaml.safe_dump(recipe))
    return path


def roots_of(world_dir: Path) -> dict[str, Path]:
    return {"coco": world_dir / "coco", "odinw": world_dir / "odinw", "v3det": world_dir / "v3det",
            "refcoco": world_dir / "refer", "vg": world_dir / "vg"}


@pytest.fixture(scope="module")
def mix(world_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mix")
    recipe = load_recipe(str(write_recipe(tmp / "recipe.yaml", RECIPE)))
    result = build(recipe, tmp / "out", roots=roots_of(world_dir), export="official")
    return result, load_mix(result.out).to_list()


def _truth_by_path(world_dir, world) -> dict[str, tuple]:
    """Absolute image path -> (scene, label of each object as written in that source)."""
    truth = {}
    for split, scenes in world.coco.items():
        doc = json.loads((world_dir / "coco" / layouts.coco_annotation(split)).read_text())
        for img, scene in zip(doc["images"], scenes, strict=True):
            truth[str((world_dir / "coco" / split / img["file_name"]).resolve())] = scene
    for name, splits in world.odinw.items():
        spec = layouts.ODINW_SETS[name]
        for split, scenes in splits.items():
            doc = json.loads((world_dir / "odinw" / spec.annotation(split)).read_text())
            for img, scene in zip(doc["images"], scenes, strict=True):
                truth[str((world_dir / "odinw" / spec.image_dir(split) / img["file_name"]).resolve())] = scene
    for split, rel in layouts.V3DET_ANNOTATIONS.items():
        doc = json.loads((world_dir / "v3det" / rel).read_text())
        for img, scene in zip(doc["images"], world.v3det[split], strict=True):
            truth[str((world_dir / "v3det" / img["file_name"]).resolve())] = scene
    doc = json.loads((world_dir / "refer" / "refcoco" / layouts.REFER_INSTANCES).read_text())
    for img, scene in zip(doc["images"], world.refer_scenes, strict=True):
        truth[str((world_dir / "coco" / layouts.COCO2014_TRAIN_DIR / img["file_name"]).resolve())] = scene
    for i, scene in enumerate(world.vg_scenes):
        for folder in layouts.VG_IMAGE_DIRS:
            truth[str((world_dir / "vg" / folder / f"{i + 1}.jpg").resolve())] = scene
    return truth


def _boxes(objs) -> list[tuple]:
    return sorted(tuple(round(v, 2) for v in o.box) for o in objs)


def _gt_boxes(row) -> list[tuple]:
    return sorted(tuple(round(v, 2) for v in g["bbox"]) for g in row["gt"])


def test_counts_ratios_and_manifest(mix):
    result, rows = mix
    assert len(rows) == result.rows == sum(s["count"] for s in RECIPE["sources"].values())
    by_source = Counter(r["id"].split("/")[0] for r in rows)
    assert by_source == {k: v["count"] for k, v in RECIPE["sources"].items()}
    coco = result.manifest["sources"]["coco"]
    assert coco["produced"] == {"total": 10, "hard": 4, "easy": 4, "negative": 2}  # 8 positives at 50% hard
    assert coco["hard_ratio"] == 0.5
    assert result.manifest["sources"]["refcoco"]["produced"]["negative"] == 2
    assert result.manifest["sources"]["v3det"]["produced"]["negative"] == 2
    m = load_manifest(result.out)
    assert m["fingerprint"] == result.fingerprint and m["rows"] == len(rows)
    assert all(len(h) == 64 for h in m["inputs"].values()) and len(m["inputs"]) >= 5
    assert m["versions"]["datasets"] and m["recipe"]["name"] == "test-mix"
    assert (result.out / "data.parquet").is_file() and (result.out / "dataset").is_dir()
    for r in rows:
        assert r["num_instances"] == len(r["gt"]) and r["negative"] == (r["num_instances"] == 0)
        assert r["negative"] or 1 <= r["num_instances"] <= 30
        assert r["difficulty"] == ("hard" if r["num_instances"] >= 11 else "easy")
        assert Path(r["image"]).is_file()


def test_boxes_labels_and_negatives_match_the_generator(mix, world_dir, world):
    _, rows = mix
    truth = _truth_by_path(world_dir, world)
    kinds = Counter()
    for r in rows:
        scene = truth[r["image"]]
        assert (r["width"], r["height"]) == (scene.width, scene.height)
        objs = [o for o in scene.objects if not o.crowd]
        if r["task"] == "detection":
            assert not any(o.crowd for o in scene.objects)  # crowd images are not used
            if r["negative"]:
                assert not {o.label.lower() for o in objs} & {c.lower() for c in r["categories"]}
            else:
                assert _gt_boxes(r) == _boxes(objs)
                present = {g["label"] for g in r["gt"]}  # plus 1-2 absent categories, when any is left
                assert present < set(r["categories"]) or present == set(r["categories"]) == set(COCO_SHAPES)
            kinds["detection"] += 1
        elif r["task"] == "grounding":
            asked = {c.lower() for c in r["categories"]}  # names that differ only in case are asked together
            wanted = [o for o in objs if o.label.lower() in asked]
            assert _gt_boxes(r) == _boxes(wanted)
            assert all(g["label"].lower() in asked for g in r["gt"])
            kinds["multi" if len(r["categories"]) > 1 else "negative" if r["negative"] else "grounding"] += 1
        else:
            text = r["categories"][0]
            assert all(g["label"] == text for g in r["gt"])
            if r["source"] == "vg":
                kind = next(k for k in {(o.shape, o.colour) for o in objs} if k[0] in text and k[1] in text)
                targets = [o for o in objs if (o.shape, o.colour) == kind]
                np.testing.assert_allclose(sorted(_gt_boxes(r)), _boxes(targets), atol=1.01)  # VG boxes are integers
                assert len(r["gt"]) >= 2
            else:
                for g in r["gt"]:
                    assert any(np.allclose(g["bbox"], o.box, atol=0.011) for o in objs)
                words = text.split()
                shapes = [s for s in SHAPES if s in words or SHAPES[s][1] in words]
                assert r["negative"] or all(any(o.shape == s for o in objs) for s in shapes)
            kinds[f"rec/{r['source']}"] += 1
    assert kinds["multi"] == 2 and kinds["negative"] >= 2 and kinds["rec/grefcoco"] >= 1


def test_templates_are_rendered(mix):
    _, rows = mix
    t = load_templates("qwen2.5-vl")
    for r in rows:
        if r["task"] == "detection":
            assert r["problem"] == t["detection"][0].render(r["categories"])
        else:
            assert r["problem"] == t[r["task"]][0].render([" and ".join(r["categories"])])
        assert r["template_id"] == t[r["task"]][0].id


def test_official_export(mix):
    import pyarrow.parquet as pq

    result, rows = mix
    table = pq.read_table(result.out / "official.parquet").to_pylist()
    assert len(table) == len(rows)
    by_problem = {(r["image"], r["problem"]): r for r in rows}
    for o in table:
        r = by_problem[(o["image"], o["problem"])]
        sol = json.loads(o["solution"])
        assert [s[0] for s in sol] == [g["label"] for g in r["gt"]] and o["num_instances"] == len(sol)
        ids = json.loads(o["target_id_maps"])
        assert sorted(ids.values()) == list(range(1, len(ids) + 1)) and all(s[0] in ids for s in sol)


def test_same_inputs_same_fingerprint(world_dir, tmp_path):
    recipe = load_recipe(str(write_recipe(tmp_path / "r.yaml", RECIPE)))
    a = build(recipe, tmp_path / "a", roots=roots_of(world_dir))
    b = build(recipe, tmp_path / "b", roots=roots_of(world_dir))
    assert a.fingerprint == b.fingerprint
    other = load_recipe(str(write_recipe(tmp_path / "r2.yaml", {**RECIPE, "seed": 4})))
    assert build(other, tmp_path / "c", roots=roots_of(world_dir)).fingerprint != a.fingerprint


def test_griffon_family_and_embedded_images(world_dir, tmp_path):
    recipe = {**RECIPE, "sources": {"coco": RECIPE["sources"]["coco"]}}
    result = build(load_recipe(str(write_recipe(tmp_path / "r.yaml", recipe))), tmp_path / "out",
                   family="griffon-g", roots={"coco": world_dir / "coco"}, embed_images=True, export="official")
    row = load_mix(result.out)[0]
    assert row["problem"].startswith("Examine the image for any objects from the category set.")
    assert row["image"].size == (row["width"], row["height"])  # a decoded PIL image
    # the released code's columns carry the same embedded images, not the paths they were read from
    official = datasets.load_dataset("parquet", data_files=str(result.out / "official.parquet"), split="train")
    assert official.features["image"] == datasets.Image()
    for o, r in zip(official, load_mix(result.out), strict=True):
        assert o["problem"] == r["problem"] and o["image"].tobytes() == r["image"].tobytes()


# ------------------------------------------------------------------ the CLI and the embedded default


def test_default_build_stats_and_show(tmp_path, capsys):
    out = tmp_path / "mix"
    assert run_cli("data", "build", "--out", out) == 0
    text = capsys.readouterr().out
    assert "synthetic" in text and "fingerprint" in text
    m = load_manifest(out)
    assert m["synthetic_world"] and m["rows"] == sum(s["count"] for s in m["recipe"]["sources"].values())
    assert run_cli("data", "stats", out) == 0
    stats = json.loads((out / "stats" / "stats.json").read_text())
    assert stats["rows"] == m["rows"] and (out / "stats" / "instances.png").stat().st_size > 1000
    assert abs(m["sources"]["coco"]["hard_ratio"] - 0.5) < 0.02
    assert run_cli("data", "show", out, "--out", tmp_path / "png", "--n", 3) == 0
    assert len(list((tmp_path / "png").glob("*.png"))) == 3
    assert run_cli("data", "build", "--out", out) == 2  # not empty
    assert "not empty" in capsys.readouterr().err
    assert run_cli("data", "build", "--out", out, "--force") == 0


# ------------------------------------------------------------------ bad input


def test_missing_root_and_missing_root_option(tmp_path, capsys, world_dir):
    assert run_cli("data", "build", "--out", tmp_path / "o", "--coco-root", tmp_path / "nope") == 2
    assert "nope" in one_error(capsys)
    assert run_cli("data", "build", "--out", tmp_path / "o2", "--recipe", "paper-49k", "--coco-root",
                   world_dir / "coco") == 2
    err = one_error(capsys)
    assert "--odinw-root" in err and "--v3det-root" in err and "--vg-root" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_cli("data", "build", "--out", tmp_path / "o3", "--recipe", coco_recipe(tmp_path),
                   "--coco-root", empty) == 2
    assert "instances_train2017.json" in one_error(capsys)


def test_malformed_json_names_file_and_line(coco_copy, tmp_path, capsys):
    ann = coco_copy / "annotations" / "instances_train2017.json"
    text = ann.read_text()
    ann.write_text(text.replace('"annotations": [', '"annotations": [\n\n,,', 1))
    assert build_coco(coco_copy, tmp_path)[0] == 2
    assert f"{ann}:3: malformed JSON" in one_error(capsys)


def test_bad_boxes_categories_and_images_are_counted(coco_copy, tmp_path, capsys):
    def damage(doc: dict) -> None:
        a = [x for x in doc["annotations"] if not x["iscrowd"] and x["image_id"] != doc["images"][0]["id"]]
        a[0]["bbox"] = [10, 10, 0, 5]  # zero area
        a[1]["bbox"] = [100000, 10, 5, 5]  # entirely outside
        a[2]["bbox"] = [-5, -5, 20, 20]  # reaches outside: clipped
        a[3]["category_id"] = 999  # unknown category
        a[4]["bbox"] = [1, 2, 3]  # malformed bbox: lenient reading skips it
        (coco_copy / "train2017" / doc["images"][0]["file_name"]).unlink()  # missing image file

    edit_coco(coco_copy, damage)
    code, out = build_coco(coco_copy, tmp_path)
    assert code == 0
    issues = coco_issues(out)
    assert issues["zero-area or non-finite box (skipped)"] == 1
    assert issues["box outside the image (skipped)"] == 1
    assert issues["box reaching outside the image (clipped)"] >= 1
    assert issues["annotation with an unknown category id (skipped)"] == 1
    assert issues["annotation without a 4-number bbox, image_id or category_id (skipped)"] == 1
    assert issues["image file missing (skipped)"] == 1
    printed = capsys.readouterr().out
    assert "image file missing (skipped)" in printed and "box outside the image" in printed
    for r in load_mix(out):
        for g in r["gt"]:
            x1, y1, x2, y2 = g["bbox"]
            assert 0 <= x1 < x2 <= r["width"] and 0 <= y1 < y2 <= r["height"]


def test_short_quota_fails_or_is_recorded(world_dir, tmp_path, capsys):
    recipe = coco_recipe(tmp_path, count=5000, hard_share=0.5)
    assert run_cli("data", "build", "--out", tmp_path / "o", "--recipe", recipe, "--coco-root",
                   world_dir / "coco") == 2
    assert "--allow-short" in one_error(capsys)
    assert run_cli("data", "build", "--out", tmp_path / "o", "--recipe", recipe, "--coco-root", world_dir / "coco",
                   "--allow-short") == 0
    m = load_manifest(tmp_path / "o")
    assert m["allow_short"] and "asks for 5000 samples" in m["sources"]["coco"]["short"]
    assert 0 < m["rows"] < 5000
    assert "short:" in capsys.readouterr().err


@pytest.mark.parametrize("over", [{"hard_share": 0.5, "negative_share": 0.25}, {"negative_share": 0.02}])
def test_allow_short_keeps_the_recipes_shares(world_dir, tmp_path, capsys, over):
    """--allow-short used to draw every part up to its pool, so a short source changed its shares (COCO: 50%
    negatives where the recipe asks 2%); now every part shrinks by the same factor and the summary and the manifest
    say what was asked, what there was and what was drawn."""
    recipe = coco_recipe(tmp_path, count=400, **over)
    assert run_cli("data", "build", "--out", tmp_path / "o", "--recipe", recipe, "--coco-root", world_dir / "coco",
                   "--allow-short") == 0
    src = load_manifest(tmp_path / "o")["sources"]["coco"]
    made = src["produced"]
    assert 0 < made["total"] < 400
    positives = made["hard"] + made["easy"]
    # the shares of the recipe, up to the rounding of one sample per part
    assert abs(made["negative"] - made["total"] * over["negative_share"]) <= 1, made
    if "hard_share" in over:
        assert abs(made["hard"] - positives * over["hard_share"]) <= 1, made
    assert "kept the recipe's shares" in src["short"] and f"drew {made['total']} (" in src["short"]
    assert "nothing substituted" in capsys.readouterr().err


@pytest.mark.parametrize("doc, message", [
    ({"name": "x", "sources": {"coco": {"task": "detection", "count": 1, "hardshare": 0.5}}}, "unknown key hardshare"),
    ({"name": "x", "sources": {"cocoa": {"task": "detection", "count": 1}}}, "unknown source"),
    ({"name": "x", "sources": {"vg": {"task": "detection", "count": 1}}}, "not available for vg"),
    ({"name": "x", "sources": {"coco": {"task": "detection", "count": 1, "hard_share": 2}}}, "in [0, 1]"),
    ({"name": "x", "sources": {}}, "'sources' must map"),
])
def test_recipe_errors(tmp_path, capsys, doc, message):
    path = write_recipe(tmp_path / "bad.yaml", doc)
    assert run_cli("data", "build", "--out", tmp_path / "o", "--recipe", path) == 2
    assert message in one_error(capsys)


def test_unknown_recipe_name():
    with pytest.raises(VisionR1Error, match=r"unknown recipe 'nope'.*paper-49k"):
        load_recipe("nope")


def test_refer_errors_and_other_partitions(world_dir, tmp_path, capsys):
    from visionr1.data.sources.refer import read_refer

    refer = tmp_path / "refer"
    shutil.copytree(world_dir / "refer", refer)
    (refer / "refcoco" / "refs(unc).p").write_bytes(b"not a pickle")
    with pytest.raises(VisionR1Error, match=r"refs\(unc\)\.p is not a readable pickle of plain data"):
        read_refer(refer, world_dir / "coco", "refcoco")
    with pytest.raises(VisionR1Error, match="give --coco-root"):
        read_refer(refer, None, "refcoco+")
    with pytest.raises(VisionR1Error, match=r"refcocog \(umd\) has no split testA"):
        read_refer(refer, world_dir / "coco", "refcocog", ("testA",))
    shutil.copy(refer / "refcocog" / "refs(umd).p", refer / "refcocog" / "refs(google).p")
    google = read_refer(refer, world_dir / "coco", "refcocog:google", ("train",))
    assert len(google) == len(read_refer(refer, world_dir / "coco", "refcocog", ("train",))) > 0
    with pytest.raises(VisionR1Error, match=r"refs file not found: .*refcocog/refs\(unc\)\.p"):
        read_refer(refer, world_dir / "coco", "refcocog:unc")


# ------------------------------------------------------------------ real layouts: sets, case, crowds, images


def test_odinw_leaves_out_the_ood_sets_their_other_exports_and_the_variants(world_dir, tmp_path):
    """vector lives in a nested Roboflow folder (the released evaluation's path); excluding "vector" must exclude
    it, and any other export of it; EgoHands/specific and AerialMaritimeDrone/tiled (variants of ODinW-13 sets)
    stay out of training unless named. Every set left out is reported."""
    from visionr1.data.sources.odinw import read_odinw

    root = tmp_path / "odinw"
    shutil.copytree(world_dir / "odinw", root)
    shutil.copytree(root / layouts.ODINW_SETS["vector"].root, root / "vector" / "vectorCompleteDataset.v6-v6.coco")
    datas = read_odinw(root, "train", exclude=layouts.ODINW_OOD)
    assert [d.source for d in datas] == sorted(f"odinw/{n}" for n in layouts.ODINW_13)  # in folder order
    assert dict(datas[0].issues).items() >= {
        "ODinW set vector left out: excluded by the recipe": 1,
        "ODinW set vector/vectorCompleteDataset.v6-v6.coco left out: another export of the excluded dataset vector": 1,
        "ODinW set EgoHands/specific left out: a variant of the evaluation set EgoHands/generic (name it in 'sets' "
        "to use it)": 1}.items()
    named = read_odinw(root, "train", sets=["EgoHands/specific", "vector"])
    assert [d.source for d in named] == ["odinw/EgoHands/specific", "odinw/vector"]

    recipe = {"name": "o", "sources": {"odinw": {**RECIPE["sources"]["odinw"], "count": 30}}}
    result = build(load_recipe(str(write_recipe(tmp_path / "r.yaml", recipe))), tmp_path / "mix",
                   roots={"odinw": root})
    sources = {r["source"] for r in load_mix(result.out).to_list()}
    assert sources <= {f"odinw/{n}" for n in layouts.ODINW_13} and len(sources) > 3
    assert "ODinW set AerialMaritimeDrone/tiled left out" in " ".join(result.manifest["sources"]["odinw"]["issues"])


def test_v3det_grounding_asks_for_names_that_differ_only_in_case_together(world_dir, world, tmp_path):
    """V3Det has distinct categories guitar / Guitar: a row asking for one finds the other's objects too (a prompt
    cannot tell them apart), and no row asks for one of them as absent while the other is in the image."""
    spec = {"task": "grounding", "count": 40, "split": "train", "negative_share": 0.25}
    recipe = load_recipe(str(write_recipe(tmp_path / "r.yaml", {"name": "v", "sources": {"v3det": spec}})))
    rows = load_mix(build(recipe, tmp_path / "mix", roots={"v3det": world_dir / "v3det"},
                          allow_short=True).out).to_list()
    truth = _truth_by_path(world_dir, world)
    both = 0
    for r in rows:
        labels = {o.label for o in truth[r["image"]].objects}
        asked = {c.lower() for c in r["categories"]}
        assert _gt_boxes(r) == _boxes([o for o in truth[r["image"]].objects if o.label.lower() in asked])
        assert not r["negative"] or not {lab.lower() for lab in labels} & asked
        both += len({g["label"] for g in r["gt"]}) > len({g["label"].lower() for g in r["gt"]})
    assert both > 0


def test_grefcoco_drops_only_the_crowd_target(world_dir, world):
    """gRefCOCO expressions about a group may include a crowd region; like ReLA's grefer loader, the crowd target
    is dropped and the other targets kept (the expression is not lost, nor turned into a no-target one)."""
    from visionr1.data.sources.refer import read_refer

    exprs = read_refer(world_dir / "refer", world_dir / "coco", "grefcoco", ("train", "val", "testA", "testB"))
    got = {k: sorted(tuple(round(v, 2) for v in b) for b in exprs.boxes[exprs.offsets[i]:exprs.offsets[i + 1]])
           for i, k in enumerate(exprs.keys)}
    with_crowd = 0
    for ref_id, ref in enumerate(world.refs["grefcoco"]):
        scene = world.refer_scenes[ref.scene]
        kept = [scene.objects[t] for t in ref.targets if not scene.objects[t].crowd]
        key = next(k for k in got if k.startswith(f"grefcoco/{ref_id}/"))
        assert got[key] == _boxes(kept)
        with_crowd += len(kept) < len(ref.targets)
    assert with_crowd > 0
    assert exprs.issues["crowd target of a gRefCOCO expression (dropped; its other targets kept)"] == with_crowd


def test_missing_train2014_is_an_error_naming_the_folder(world_dir, tmp_path, capsys):
    """A COCO-2017-only download has no train2014/: RefCOCO images are missing, which must not read as 0
    expressions (data build) or an accuracy of 0 (eval rec)."""
    coco = tmp_path / "coco"
    shutil.copytree(world_dir / "coco" / "annotations", coco / "annotations")
    recipe = {"name": "r", "sources": {"refcoco": {**RECIPE["sources"]["refcoco"], "datasets": ["refcoco"]}}}
    assert run_cli("data", "build", "--out", tmp_path / "mix", "--recipe",
                   write_recipe(tmp_path / "r.yaml", recipe), "--refcoco-root", world_dir / "refer",
                   "--coco-root", coco) == 2
    assert f"{coco / 'train2014'} is not a folder" in one_error(capsys)
    assert run_cli("eval", "rec", "--data-root", world_dir / "refer", "--coco-root", coco, "--out", tmp_path / "e",
                   "--backend", "oracle") == 2
    assert f"{coco / 'train2014'} is not a folder" in one_error(capsys)
    assert not (tmp_path / "e" / "report.json").exists()


@pytest.mark.parametrize(("pool", "share"), [(1, "0.08%"), (122, "9.8%"), (1000, "80%")])
def test_allow_short_says_the_share_it_drew(pool, share):
    """The shrink factor was printed to one decimal of a percent: a source a thousand times short said it drew
    "0.0% of each part"."""
    from visionr1.data.sampling import plan

    hard, easy, _, short = plan("coco", 2500, 0, 0.5, pool, 10_000, 0, allow_short=True)  # 1250 hard asked
    assert f", {share} of each part, nothing substituted" in short and hard == easy == pool
