"""Damaged inputs of the commands added since the last pass (issue 29): every one is refused with one ``error:``
line naming the file (and key), before any work; a refused run touches nothing; and the readers of
``visionr1.inputs`` raise nothing but ``VisionR1Error`` whatever the damage (property test)."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
import yaml
from conftest import coco_recipe, one_error, run_cli
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from visionr1.data.recipe import load_recipe
from visionr1.errors import VisionR1Error
from visionr1.eval.report import load_report
from visionr1.inputs import check_torch_file, load_torch, read_json, read_yaml, unnamed_categories
from visionr1.io import tree_digest
from visionr1.synth import pretrain as pt
from visionr1.synth.pretrain_config import PretrainConfig
from visionr1.synth.tiny_model import CARD, CARD_TAG, read_card
from visionr1.train.config import load_config


@pytest.fixture(scope="module")
def simple_world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("simple") / "world"
    assert run_cli("synth", "world", "--out", out, "--profile", "simple", "--images", 8) == 0
    return out


@pytest.fixture
def model_in_out(tiny_model_dir, tmp_path) -> tuple[Path, dict[str, str]]:
    """An --out folder that holds a synthetic model already (replaceable with --force), and its digest."""
    out = tmp_path / "out"
    shutil.copytree(tiny_model_dir, out)
    return out, tree_digest(out)


def _fake_init(tiny_model_dir: Path, dest: Path, seed: int = 0) -> Path:
    """A copy of the tiny model whose card carries a pretraining record (as `synth pretrain` writes it)."""
    shutil.copytree(tiny_model_dir, dest)
    card = (dest / CARD).read_text()
    _, front, body = card.split("---\n", 2)
    doc = yaml.safe_load(front)
    doc["visionr1_synth"]["pretrain"] = {"world": {"seed": seed, "profile": "simple"},
                                         "config": {"steps": 1, "batch_size": 1}}
    (dest / CARD).write_text("---\n" + yaml.safe_dump(doc) + "---\n" + body)
    return dest


def test_refused_pretrain_never_clears_the_model_in_out(world_dir, simple_world, tiny_model_dir, model_in_out,
                                                        tmp_path, capsys):
    """Issue 29's destroyed-file case: `synth pretrain --force` over an earlier model, refused for its world (a
    standard-profile one) or a damaged --init (a weight shard missing, a card that does not parse, a config.json
    that is a list): the earlier model stays byte for byte."""
    out, before = model_in_out
    assert run_cli("synth", "pretrain", "--world", world_dir, "--out", out, "--force", "--size", "tiny") == 2
    one_error(capsys, world_dir, "standard")
    assert tree_digest(out) == before
    init = _fake_init(tiny_model_dir, tmp_path / "init")
    index = json.loads((init / "model.safetensors.index.json").read_text())
    shard = sorted(set(index["weight_map"].values()))[0]
    (init / shard).unlink()
    assert run_cli("synth", "pretrain", "--world", simple_world, "--out", out, "--force", "--size", "tiny",
                   "--init", init) == 2
    one_error(capsys, "missing shard", shard)
    assert tree_digest(out) == before
    for name, text, names in ((CARD, "---\nvisionr1_synth: [\n---\n<!-- visionr1-synth -->\n", [CARD, "YAML"]),
                              ("config.json", "[1, 2]", ["config.json", "object"])):
        bad = _fake_init(tiny_model_dir, tmp_path / f"init-{name}")
        tag = (tiny_model_dir / CARD).read_text()
        (bad / name).write_text(text if name != CARD else text.replace("<!-- visionr1-synth -->", _tag(tag)))
        assert run_cli("synth", "pretrain", "--world", simple_world, "--out", out, "--force", "--size", "tiny",
                       "--init", bad) == 2
        one_error(capsys, *names)
        assert tree_digest(out) == before


def _tag(card: str) -> str:
    from visionr1.synth.tiny_model import CARD_TAG

    assert CARD_TAG in card
    return CARD_TAG


def _interrupted(out: Path, cfg: PretrainConfig) -> Path:
    state = out / pt.STATE
    state.mkdir(parents=True)
    (state / "config.json").write_text(json.dumps(asdict(cfg)))
    torch.save({"model": {}, "optimizer": {}, "step": 1}, state / "state.pt")
    return state


@pytest.mark.parametrize(("damage", "names"), [
    ("config-not-json", ["config.json", "not valid JSON"]),
    ("config-not-utf8", ["config.json", "not UTF-8"]),
    ("state-truncated", ["state.pt", "truncated"]),
    ("state-a-list", ["state.pt", "object"]),
])
def test_damaged_resume_state_refused(simple_world, tmp_path, capsys, damage, names):
    out = tmp_path / "out"
    cfg = PretrainConfig(size="tiny", steps=2, batch_size=1)
    state = _interrupted(out, cfg)
    if damage == "config-not-json":
        (state / "config.json").write_text('{"size": "tiny",')
    elif damage == "config-not-utf8":
        (state / "config.json").write_bytes(b'{"size": "\xff\xfe"}')
    elif damage == "state-truncated":
        data = (state / "state.pt").read_bytes()
        (state / "state.pt").write_bytes(data[: len(data) // 2])
    else:
        torch.save([1, 2], state / "state.pt")
    before = tree_digest(out)
    argv = ["--world", simple_world, "--out", out, "--resume", "--size", "tiny", "--steps", 2, "--batch-size", 1]
    assert run_cli("synth", "pretrain", *argv) == 2
    one_error(capsys, *names)
    assert tree_digest(out) == before


@pytest.mark.parametrize(("doc", "names"), [
    ("[1, 2]", ["world.json", "object"]),
    ('{"profile": "simple"}', ["world.json", "seed"]),
    ('{"seed": "zero"}', ["world.json", "seed", "integer"]),
    ('{"seed": 0', ["world.json", "not valid JSON"]),
])
def test_damaged_world_summary_refused(simple_world, tmp_path, capsys, doc, names):
    world = tmp_path / "world"
    shutil.copytree(simple_world, world)
    (world / "world.json").write_text(doc)
    assert run_cli("synth", "pretrain", "--world", world, "--out", tmp_path / "o", "--size", "tiny") == 2
    one_error(capsys, *names)
    assert not (tmp_path / "o").exists()


# --- property test: random damage into every reader -------------------------------------------------------------

def _damage(data: bytes, how: str, cut: float, junk: bytes) -> bytes:
    if how == "truncate":
        return data[: int(len(data) * cut)]
    if how == "encoding":
        at = int(len(data) * cut)
        return data[:at] + b"\xff\xfe\xc3" + data[at:]
    if how == "splice":
        at = int(len(data) * cut)
        return data[:at] + junk + data[at + len(junk):]
    return junk


SAMPLE = {"seed": 3, "profile": "simple", "sources": {"coco": [1, 2.5, None, True]}, "name": "o "}
SWAPS = [[], [SAMPLE], "seed", 3, None, {"seed": "3"}, {"seed": [3]}, {"seed": True}, {"profile": "simple"}]
VALUES = [[], {}, "x", 2.5, None, True, -1, 10**30, float("inf"), [1, "a"], {"a": 1}]  # swapped into each key
CONFIG = {"learning_rate": 1e-5, "max_steps": 3, "num_generations": 2, "per_device_train_batch_size": 2,
          "seed": 7, "report_to": "none", "save_strategy": "no", "dataloader_num_workers": 0, "beta": 0.04}
REPORT = {"kind": "boxes", "benchmark": "custom", "sets": {"a": {"mAP": 30.0}}, "average": {"mAP": 30.0}}
INSTANCES = {"images": [{"id": 1, "file_name": "a.png", "width": 12, "height": 10}],
             "categories": [{"id": 1, "name": "cat"}], "annotations": [{"image_id": 1, "category_id": 1,
                                                                       "bbox": [1, 1, 4, 3]}]}


def _readers(tmp: Path):
    """Every reader of visionr1.inputs and the file readers built on it, with a valid file for each."""
    from visionr1.synth.writers import load_summary

    def eval_annotations(path: Path):  # `visionr1 eval custom --annotations path --data-root <its folder>`
        from PIL import Image

        from visionr1.eval.custom import custom_sets

        Image.new("RGB", (12, 10)).save(path.parent / "a.png")
        return custom_sets(path, path.parent, "qwen2.5-vl")

    def world_summary(path: Path):
        world = path.parent / "w"
        world.mkdir(exist_ok=True)
        shutil.copyfile(path, world / "world.json")
        return load_summary(world)

    return {
        "json": (json.dumps(SAMPLE).encode(), lambda p: read_json(p, dict, {"seed": int, "sources": dict})),
        "yaml": (yaml.safe_dump(SAMPLE).encode(), lambda p: read_yaml(p, dict, {"seed": int})),
        "world": (json.dumps(SAMPLE).encode(), world_summary),
        "torch": (None, lambda p: load_torch(p, {"model": dict, "step": int})),
        "torch-end": (None, check_torch_file),
        "recipe": (yaml.safe_dump(_coco()).encode(), lambda p: load_recipe(str(p))),
        "train-config": (yaml.safe_dump(CONFIG).encode(), lambda p: load_config("grpo", p, {}, p.parent / "o")),
        "report": (json.dumps(REPORT).encode(), load_report),
        "eval-annotations": (json.dumps(INSTANCES).encode(), eval_annotations),
        "card": (None, lambda p: read_card(p.parent)),
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reader=st.sampled_from(["json", "yaml", "world", "torch", "torch-end", "recipe", "card", "train-config",
                               "report", "eval-annotations"]),
       how=st.sampled_from(["truncate", "encoding", "splice", "replace", "swap"]),
       cut=st.floats(0, 1), junk=st.binary(max_size=64), swap=st.sampled_from(range(len(SWAPS))))
@example(reader="train-config", how="swap", cut=0.37, junk=b"", swap=4)  # num_generations: null (found once)
def test_readers_raise_only_one_line_errors(tmp_path, tiny_model_dir, reader, how, cut, junk, swap):
    """Whatever the damage (truncated, bytes that are not UTF-8, spliced junk, another file, a value of another
    type), a reader returns or raises VisionR1Error naming the file: never another exception."""
    folder = tmp_path / f"{reader}-{how}"
    folder.mkdir(exist_ok=True)
    path = folder / ("input" if reader != "card" else CARD)
    data, read = _readers(folder)[reader]
    if reader == "card":
        data = (Path(tiny_model_dir) / CARD).read_bytes() if how != "swap" else (
            "---\n" + yaml.safe_dump({"visionr1_synth": SWAPS[swap]}) + "---\n" + _tag(CARD_TAG)).encode()
    elif data is None:
        torch.save({"model": {"w": torch.ones(4)}, "step": 2} if how != "swap" else SWAPS[swap], path)
        data = path.read_bytes()
    elif how == "swap" and reader in ("train-config", "report"):
        doc = dict(CONFIG if reader == "train-config" else REPORT)
        key = sorted(doc)[swap % len(doc)]
        doc[key] = VALUES[int(cut * len(VALUES)) % len(VALUES)]
        data = (yaml.safe_dump(doc) if reader == "train-config" else json.dumps(doc)).encode()
    elif how == "swap" and reader != "card":
        data = (json.dumps(SWAPS[swap]) if reader != "yaml" else yaml.safe_dump(SWAPS[swap])).encode()
    path.write_bytes(_damage(data, how, cut, junk) if how != "swap" else data)
    try:
        read(path)
    except VisionR1Error as exc:
        assert folder.name in str(exc) and "\n" not in str(exc), exc


# --- class 2: damaged checkpoint files on --resume, YAML config values -------------------------------------------

def _checkpoint(out: Path, step: int = 2) -> Path:
    """A checkpoint folder in the layout transformers writes (weights, trainer state, optimizer, rng state)."""
    from safetensors.torch import save_file

    folder = out / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    save_file({"w": torch.ones(3)}, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    torch.save({"state": {0: {"exp_avg": torch.zeros(3)}}, "param_groups": []}, folder / "optimizer.pt")
    torch.save({"python": [1, 2], "cpu": torch.zeros(4, dtype=torch.uint8)}, folder / "rng_state.pth")
    return folder


@pytest.mark.parametrize(("damage", "names"), [
    ("trainer_state.json", ["trainer_state.json", "JSON object"]),
    ("optimizer.pt", ["optimizer.pt", "truncated"]),
    ("rng_state.pth", ["rng_state.pth", "truncated"]),
])
def test_damaged_checkpoint_refused_before_the_model_loads(tmp_path, capsys, damage, names):
    out = tmp_path / "run"
    folder = _checkpoint(out)
    if damage == "trainer_state.json":
        (folder / damage).write_text("[2]")
    else:
        data = (folder / damage).read_bytes()
        (folder / damage).write_bytes(data[: len(data) - 30])
    before = tree_digest(out)
    args = ["train", "sft", "--model", tmp_path / "no-such-model", "--data", tmp_path / "no-mix", "--out", out]
    assert run_cli(*args, "--resume", folder) == 2
    one_error(capsys, folder, "incomplete", *names)
    assert run_cli(*args, "--resume", "latest") == 2  # the damaged one is skipped with its reason, none is left
    err = capsys.readouterr().err
    assert f"skipping {folder}" in err and names[0] in err and "no complete checkpoint" in err
    assert tree_digest(out) == before


@pytest.mark.parametrize(("doc", "message"), [
    ({"per_device_train_batch_size": 8.5}, "--per-device-train-batch-size takes a whole number, got 8.5"),
    ({"gradient_accumulation_steps": 2.0}, "--gradient-accumulation-steps takes a whole number, got 2.0"),
    ({"learning_rate": "fast"}, "--learning-rate takes a number, got 'fast'"),
    ({"dataloader_num_workers": -1}, "--dataloader-num-workers must be >= 0"),
    ({"seed": 2**40}, "--seed must be in [0, 4294967295]"),
    ({"seed": -1}, "--seed must be in [0, 4294967295]"),
    ({"eval_strategy": "steps"}, "visionr1 train takes no eval data set"),
    ({"report_to": "no-such-tracker"}, "unknown tracker 'no-such-tracker'"),
    ({"save_strategy": "sometimes"}, "--save-strategy must be one of no, steps, epoch, best, got 'sometimes'"),
    ({"report_to": ["none", 3]}, "--report-to takes text"),
    ({"max_length": 300}, "--max-length (300) is not longer than an image's tokens at --max-pixels"),
])
def test_config_values_checked_before_anything_loads(tmp_path, capsys, doc, message):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(doc))
    assert run_cli("train", "sft", "--model", tmp_path / "no-such-model", "--data", tmp_path / "no-mix", "--out",
                   tmp_path / "o", "--config", config) == 2
    one_error(capsys, config, message)  # the file that gives the value, and the option
    assert not (tmp_path / "o").exists()


def test_report_to_a_tracker_that_is_not_installed(tmp_path, capsys):
    from transformers.integrations.integration_utils import get_available_reporting_integrations

    if "wandb" in get_available_reporting_integrations():
        pytest.skip("wandb is installed here")
    assert run_cli("train", "grpo", "--model", tmp_path / "m", "--data", tmp_path / "d", "--out", tmp_path / "o",
                   "--report-to", "wandb") == 2
    one_error(capsys, "--report-to wandb", "not installed")


# --- class 4: recipes ---------------------------------------------------------------------------------------------

def _coco(**over):
    return {"name": "x", "sources": {"coco": {"task": "detection", "count": 4, "split": "train2017", **over}}}


@pytest.mark.parametrize(("doc", "names"), [
    ({"name": "x", "sources": {"coco": {"task": "detection"}}}, ["sources.coco", "missing key 'count'"]),
    ({"name": "x", "sources": {"coco": {"count": 3}}}, ["sources.coco", "missing key 'task'"]),
    (_coco(count="many"), ["sources.coco", "'count' must be an integer", "'many'"]),
    (_coco(count=True), ["'count' must be an integer"]),
    (_coco(count=10**12), ["sources.coco.count must be in [0, 1,000,000]"]),
    (_coco(absent_categories=3), ["sources.coco.absent_categories must be [min, max]", "3"]),
    (_coco(absent_categories=[1, 2, 3]), ["sources.coco.absent_categories must be [min, max]"]),
    ({**_coco(), "instance_range": 5}, ["instance_range must be [min, max]"]),
    ({**_coco(), "world": {"profile": "huge"}}, ["world.profile", "unknown profile 'huge'"]),
    ({**_coco(), "world": {"images": 10**9}}, ["world.images must be in [1, 20000]"]),
    ({**_coco(), "world": [1]}, ["world", "expected an object"]),
    ({**_coco(), "seed": "zero"}, ["seed must be an integer"]),
    ({**_coco(), "seed": -1}, ["seed must be in [0, 4294967295]"]),
])
def test_recipe_damage_refused_before_work(tmp_path, capsys, doc, names):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(yaml.safe_dump(doc))
    assert run_cli("data", "build", "--out", tmp_path / "o", "--recipe", recipe) == 2
    one_error(capsys, recipe, *names)
    assert not (tmp_path / "o").exists()


def test_recipe_not_utf8_refused(tmp_path, capsys):
    recipe = tmp_path / "bad.yaml"
    recipe.write_bytes(b"name: \xff\xfe\nsources: {}\n")
    assert run_cli("data", "build", "--out", tmp_path / "o", "--recipe", recipe) == 2
    one_error(capsys, recipe, "not UTF-8")


# --- class 3: images truncated past a valid header; class 5: damaged mixes, data show / stats ---------------------

@pytest.fixture(scope="module")
def small_mix(world_dir, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("mix")
    assert run_cli("data", "build", "--out", tmp / "mix", "--recipe", coco_recipe(tmp),
                   "--coco-root", world_dir / "coco") == 0
    return tmp / "mix"


def test_image_truncated_past_its_header_is_a_counted_skip(coco_copy, tmp_path, capsys):
    """A JPEG cut after a valid header: a header check accepts it, training would fail hours in on it. `data build`
    decodes every image in full, so it is skipped, counted and reported."""
    from PIL import Image

    from visionr1.data.build import load_manifest

    images = sorted((coco_copy / "train2017").iterdir())
    victim = images[0]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    with Image.open(victim) as im:  # the header still reads
        assert im.size[0] > 0
    out = tmp_path / "mix"
    assert run_cli("data", "build", "--out", out, "--recipe", coco_recipe(tmp_path, count=2),
                   "--coco-root", coco_copy) == 0
    assert "truncated or damaged image data" in capsys.readouterr().out
    issues = load_manifest(out)["sources"]["coco"]["issues"]
    assert issues.get("truncated or damaged image data (skipped)") == 1, issues


def _copy_mix(small_mix: Path, tmp_path: Path) -> Path:
    mix = tmp_path / "mix"
    shutil.copytree(small_mix, mix)
    return mix


@pytest.mark.parametrize(("damage", "names"), [
    ("no-dataset", ["dataset/ folder"]),
    ("arrow-truncated", ["dataset", "not a readable dataset"]),
    ("arrow-not-arrow", ["dataset", "not a readable dataset"]),
    ("manifest-list", ["manifest.json", "expected an object"]),
    ("manifest-cut", ["manifest.json", "not valid JSON"]),
    ("manifest-not-utf8", ["manifest.json", "not UTF-8"]),
])
def test_damaged_mix_refused_by_stats_and_show(small_mix, tmp_path, capsys, damage, names):
    mix = _copy_mix(small_mix, tmp_path)
    arrow = sorted((mix / "dataset").glob("*.arrow"))
    if damage == "no-dataset":
        shutil.rmtree(mix / "dataset")
    elif damage == "arrow-truncated":
        data = arrow[0].read_bytes()
        arrow[0].write_bytes(data[: len(data) // 2])
    elif damage == "arrow-not-arrow":
        arrow[0].write_bytes(b"PAR1 not a table at all")
    elif damage == "manifest-list":
        (mix / "manifest.json").write_text("[]")
    elif damage == "manifest-cut":
        (mix / "manifest.json").write_text((mix / "manifest.json").read_text()[:40])
    else:
        (mix / "manifest.json").write_bytes(b'{"a": "\xff"}')
    for argv in (["data", "stats", mix, "--out", tmp_path / "s"], ["data", "show", mix, "--out", tmp_path / "p"]):
        assert run_cli(*argv) == 2, argv
        one_error(capsys, *names)
    assert not (tmp_path / "s").exists() and not (tmp_path / "p").exists()


def test_show_onto_a_file_and_into_an_unwritable_folder(small_mix, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("mine")
    assert run_cli("data", "show", small_mix, "--out", taken) == 2
    one_error(capsys, taken, "not a directory")
    assert taken.read_text() == "mine"
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    import os

    if os.access(locked, os.W_OK):  # root writes anywhere
        pytest.skip("running as a user who may write into a read-only folder")
    for argv in (["data", "show", small_mix, "--out", locked / "p"], ["data", "stats", small_mix, "--out", locked]):
        assert run_cli(*argv) == 2, argv
        one_error(capsys, locked)
    locked.chmod(0o700)


# --- class 7: valid real data (boggleBoards' `o` and `o `) ---------------------------------------------------------

def test_categories_differing_only_in_spaces_are_merged_with_a_note(world_dir, tmp_path, capsys):
    """The real boggleBoards export (and the world's copy) has `o` and `o ` (trailing space): a prompt shows both
    as `o`, so the mix merges them, boxes included, with a counted note instead of stopping the build."""
    from visionr1.data.build import load_manifest
    from visionr1.data.stats import load_mix

    recipe = tmp_path / "bog.yaml"
    recipe.write_text(yaml.safe_dump({"name": "bog", "sources": {"odinw": {
        "task": "grounding", "count": 12, "split": "train", "sets": ["boggleBoards"], "exclude_sets": []}}}))
    out = tmp_path / "mix"
    assert run_cli("data", "build", "--out", out, "--recipe", recipe, "--odinw-root", world_dir / "odinw") == 0
    issues = load_manifest(out)["sources"]["odinw"]["issues"]
    assert issues["category name differing from another only in spaces (merged into it, boxes included)"] == 1
    labels = {g["label"] for row in load_mix(out) for g in row["gt"]}
    assert "o " not in labels and labels
    capsys.readouterr()


def test_training_skips_a_sample_whose_image_went_bad_and_reports_it(coco_copy, tiny_model_dir, tmp_path, capsys):
    """An image truncated after the mix was built: training leaves its sample out, says so and records the count
    in run_config.json, instead of failing mid-run with `OSError: image file is truncated`."""
    from visionr1.data.stats import load_mix

    mix = tmp_path / "mix"
    assert run_cli("data", "build", "--out", mix, "--recipe", coco_recipe(tmp_path, count=4),
                   "--coco-root", coco_copy) == 0
    victim = Path(load_mix(mix)[0]["image"])  # the mix names its images' files
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    capsys.readouterr()
    out = tmp_path / "run"
    assert run_cli("train", "sft", "--model", tiny_model_dir, "--data", mix, "--out", out, "--max-steps", 1,
                   "--per-device-train-batch-size", 1, "--gradient-accumulation-steps", 1, "--save-strategy",
                   "no") == 0
    assert "skipped 1 of the mix's samples: truncated or damaged image data" in capsys.readouterr().err
    run = json.loads((out / "run_config.json").read_text())
    assert run["skipped_samples"] == {"truncated or damaged image data (sample skipped)": 1}


# --- class 8: silent cases ----------------------------------------------------------------------------------------

def test_compare_of_reports_with_no_set_in_common_is_refused(tmp_path, capsys):
    reports = []
    for name, sets in (("a", {"coco_val": {"mAP": 30.0}}), ("b", {"odinw_x": {"mAP": 10.0}})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(json.dumps(
            {"kind": "boxes", "benchmark": "custom", "sets": sets, "average": None}))
        reports.append(tmp_path / name)
    assert run_cli("eval", "compare", *reports) == 2
    one_error(capsys, "share no evaluated set", "a: 1 sets", "b: 1 sets")


def test_reward_score_line_without_completion_names_the_line(tmp_path, capsys):
    lines = tmp_path / "c.jsonl"
    gt = [{"bbox": [1, 2, 30, 40], "label": "a"}]
    lines.write_text(json.dumps({"gt": gt, "width": 100, "height": 100}) + "\n")
    assert run_cli("reward", "score", lines) == 2
    one_error(capsys, f"{lines}:1", "completion")


# --- class 6: file-system edges -----------------------------------------------------------------------------------

def test_set_folder_named_in_bytes_that_are_not_utf8_is_a_counted_skip(world_dir, tmp_path, capsys):
    """A valid ODinW copy under a folder whose name is not UTF-8 (a crash on valid input before: Arrow cannot take
    the name): that set is left out with a note naming it in escapes, the others build."""
    import os

    root = tmp_path / "odinw"
    root.mkdir()
    shutil.copytree(world_dir / "odinw" / "Aquarium", root / "Aquarium")
    shutil.copytree(world_dir / "odinw" / "Aquarium", os.path.join(os.fsencode(root), b"Aqua\xffrium").decode(
        "utf-8", "surrogateescape"))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "o", "sources": {"odinw": {"task": "grounding", "count": 4,
                                                                          "split": "train"}}}))
    assert run_cli("data", "build", "--out", tmp_path / "mix", "--recipe", recipe, "--odinw-root", root) == 0
    from visionr1.data.build import load_manifest

    issues = load_manifest(tmp_path / "mix")["sources"]["odinw"]["issues"]
    assert any(k.startswith("ODinW set Aqua\\xffrium/") and "not valid UTF-8" in k for k in issues), issues
    capsys.readouterr()


def test_dataset_root_that_is_a_symlink_loop_is_one_line(tmp_path, capsys):
    loop = tmp_path / "coco"
    loop.symlink_to(tmp_path / "coco")
    assert run_cli("data", "build", "--out", tmp_path / "o", "--recipe", coco_recipe(tmp_path),
                   "--coco-root", loop) == 2
    one_error(capsys, loop, "symlink loop")
    assert not (tmp_path / "o").exists()


def test_predictions_folder_of_a_set_with_a_very_long_name(tmp_path):
    """A set named after a long category name: its predictions folder name stays within a file name's limit and
    apart from another long name sharing the first part."""
    from visionr1.eval.runner import MAX_NAME, prediction_store

    a, b = "odinw_" + "x" * 400 + "a", "odinw_" + "x" * 400 + "b"
    fa, fb = prediction_store(tmp_path, a).folder, prediction_store(tmp_path, b).folder
    assert fa != fb and len(fa.name) == len(fb.name) == MAX_NAME
    fa.mkdir(parents=True)  # a name the file system takes
    assert prediction_store(tmp_path, "coco_val").folder.name == "coco_val"  # short names unchanged


@given(st.lists(st.tuples(st.booleans(), st.text(max_size=6)), min_size=1, max_size=6))
@example([(True, "a"), (False, "b")])
def test_unnamed_categories_are_exactly_the_names_no_utf8_can_hold(spec):
    """The one rule data build and evaluation share: a category whose name holds a lone surrogate is skipped (its
    id returned and shown in escapes), the others kept; a file in which none is left is one line naming it."""
    cats = [(i + 1, ("\udcff" + text) if bad else text.encode("utf-8", "ignore").decode("utf-8"))
            for i, (bad, text) in enumerate(spec)]
    wanted = {cid for cid, (bad, _) in zip((c for c, _ in cats), spec, strict=True) if bad}
    if len(wanted) == len(cats):
        with pytest.raises(VisionR1Error, match=r"^ann\.json: no category has a name in valid UTF-8 text \(1 '\\xff"):
            unnamed_categories("ann.json", cats)
        return
    ids, shown = unnamed_categories("ann.json", cats)
    assert ids == wanted
    assert all(f"{cid} '\\xff" in shown for cid in wanted)  # the byte a surrogate escape stands for
