"""``visionr1 synth pretrain``: the curriculum's samples, resumable training, the CLI, and the shipped base."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import one_error, run_cli
from safetensors.torch import load_file

from visionr1.errors import VisionR1Error
from visionr1.formats import get_adapter
from visionr1.formats.resize import MAX_PIXELS, MIN_PIXELS
from visionr1.synth import pretrain as pt
from visionr1.synth.tiny_model import read_card
from visionr1.synth.world import build_world

FAMILY = "qwen2.5-vl"


@pytest.fixture(scope="module")
def simple_world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("simple") / "world"
    assert run_cli("synth", "world", "--out", out, "--profile", "simple", "--images", 128) == 0
    return out


def _samples(n: int, progress: float, seed: int = 0, profile: str = "simple", partial: bool = False
             ) -> list[pt.Sample]:
    vocab = pt.domains(0)
    return [pt.make_sample(seed, i, progress, vocab, profile, FAMILY, MIN_PIXELS, MAX_PIXELS, partial=partial)
            for i in range(n)]


@pytest.mark.parametrize("profile", ["simple", "dense", "dense-224"])
def test_answers_are_read_from_the_scene(profile):
    """Every answer is what the image shows: colour and shape of the drawn objects left to right, their grid
    cells, their boxes back through the adapter within a pixel (detection names every object unless
    --partial-detection); phase 1 asks only name / where, the last phase grounds and detects."""
    adapter = get_adapter(FAMILY)
    assert {t for s in _samples(40, 0.0, profile=profile) for t, _, _ in s.turns} <= {"name", "where"}
    late = _samples(60, 0.9, profile=profile)
    assert {t for s in late for t, _, _ in s.turns} == set(pt.TASKS)
    for s in late:
        for task, _, answer in s.turns:
            if task == "name":
                left_to_right = sorted(s.scene.objects, key=lambda o: (o.box[0] + o.box[2], o.box[1]))
                assert answer.split(", ") == [f"{o.colour} {o.shape}" for o in left_to_right]
            elif task in ("ground", "detect"):
                geo = adapter.geometry(s.scene.width, s.scene.height)
                parsed = adapter.parse(answer, geo)
                asked = set(parsed.labels)
                assert task == "detect" or len(asked) == 1
                want = [o for o in s.scene.objects if task == "detect" or o.label in asked]
                got = parsed.boxes.tolist()
                assert len(got) == len(want)
                for o in want:  # each drawn box is in the answer, within a pixel
                    assert min(max(abs(a - b) for a, b in zip(g, o.box, strict=True)) for g in got) <= 1.0


@pytest.mark.parametrize("profile", ["simple", "dense", "dense-224"])
def test_partial_detection_answers_name_part_of_the_scene(profile):
    """With --partial-detection a detection answer lists the first k objects in reading order, k drawn from
    PARTIAL_DETECTION[profile] (a scene with fewer lists them all), while grounding answers list every instance:
    the base that localizes what it names but names few of the objects, as real base models do."""
    adapter, shares = get_adapter(FAMILY), pt.PARTIAL_DETECTION[profile]
    listed, short = [], 0
    for s in _samples(300, 0.9, profile=profile, partial=True):
        order = pt.left_to_right(s.scene.objects)
        geo = adapter.geometry(s.scene.width, s.scene.height)
        for task, _, answer in s.turns:
            boxes = adapter.parse(answer, geo).boxes.tolist() if task in ("ground", "detect") else None
            if task == "detect":
                k = len(boxes)
                listed.append(k)
                short += k < len(order)
                assert 1 <= k <= min(len(order), len(shares))
                for got, o in zip(boxes, order[:k], strict=True):  # the first k, in reading order
                    assert max(abs(a - b) for a, b in zip(got, o.box, strict=True)) <= 1.0
            elif task == "ground":
                asked = adapter.parse(answer, geo).labels[0]
                assert len(boxes) == sum(o.label == asked for o in order)
    assert len(listed) > 50 and short > 0.3 * len(listed)  # a real share of answers leaves objects out
    assert sum(k == 1 for k in listed) >= shares[0] * 0.6 * len(listed)


def test_grow_scenes_starts_with_few_objects_and_reaches_the_profiles_most():
    """--grow-scenes: at most 3 objects a scene at the start, the most rising to the profile's own (14 on the
    dense profiles) by 60% of the run; without it the stream is the one the shipped base was trained on."""
    def counts(progress, grow, profile="dense-224", n=120):
        vocab = pt.domains(0)
        return [len(pt.make_sample(0, i, progress, vocab, profile, FAMILY, MIN_PIXELS, MAX_PIXELS, grow=grow)
                    .scene.objects) for i in range(n)]

    assert max(counts(0.0, True)) == 3 and min(counts(0.0, True)) == 1
    assert max(counts(0.3, True)) == pt.most_objects(0.3, 14, True) == 8
    assert max(counts(0.6, True)) == max(counts(0.95, True)) == 14
    assert counts(0.0, False) == counts(0.0, False) and max(counts(0.0, False)) == 14
    assert counts(0.0, True, "simple") == counts(0.0, False, "simple")  # 3 objects at most there anyway
    assert [pt.most_objects(x / 10, 14, True) for x in range(11)] == [3, 5, 7, 8, 10, 12, 14, 14, 14, 14, 14]


def test_images_kept_apart_from_the_world():
    """Pretraining scenes come from their own stream: none equals an image of any source of the world."""
    world = build_world(0, 200, "simple")
    seen = {hashlib.sha1(s.render().tobytes()).hexdigest()
            for scenes in (*world.coco.values(), *(sp for sets in world.odinw.values() for sp in sets.values()))
            for s in scenes}
    mine = {hashlib.sha1(s.scene.render().tobytes()).hexdigest() for s in _samples(300, 0.5)}
    assert len(mine) == 300 and not mine & seen


def test_labels_cover_the_answers_only(tiny_model_dir):
    """Through the checkpoint's own processor: the labelled tokens decode to the answers of every turn, each
    ending with <|im_end|>; prompts, images and padding are not trained on."""
    from visionr1.models import build_processor

    proc = build_processor(str(tiny_model_dir), family=FAMILY, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    samples = _samples(6, 0.9)
    batch = pt.collate(samples, proc, [s.scene.render() for s in samples])
    for row, s in zip(batch["labels"], samples, strict=True):
        text = proc.tokenizer.decode([t for t in row.tolist() if t != -100])
        assert text == "".join(a + "<|im_end|>" for _, _, a in s.turns)
    image = batch["input_ids"] == proc.image_token_id
    assert torch.equal(batch["mm_token_type_ids"].bool(), image) and not (batch["labels"][image] != -100).any()


def test_length_parts_hold_every_conversation_once_with_less_padding(tiny_model_dir):
    """Dense scenes at full density through the checkpoint's own processor: the parts hold every conversation of
    the step once (the same tokens and labels as its row of the one batch), shortest first, in fewer padded
    positions than the one batch."""
    from visionr1.models import build_processor

    proc = build_processor(str(tiny_model_dir), family=FAMILY, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    samples = _samples(12, 1.0, profile="dense-224", partial=True)
    images = [s.scene.render() for s in samples]
    (whole,) = pt.length_parts(samples, proc, images, 1)
    parts = pt.length_parts(samples, proc, images, 4)

    def rows(batch):
        return [(tuple(i[m.bool()].tolist()), tuple(lab[m.bool()].tolist()))
                for i, lab, m in zip(batch["input_ids"], batch["labels"], batch["attention_mask"], strict=True)]

    assert [len(p["input_ids"]) for p in parts] == [3, 3, 3, 3]
    assert sorted(r for p in parts for r in rows(p)) == sorted(rows(whole))
    lengths = [int(n) for p in parts for n in p["attention_mask"].sum(1)]
    assert lengths == sorted(lengths) and lengths[0] < lengths[-1]
    assert sum(p["input_ids"].numel() for p in parts) < 0.8 * whole["input_ids"].numel()
    assert sum(map(pt.answer_tokens, parts)) == pt.answer_tokens(whole)


def test_length_groups_train_as_one_batch(simple_world, tmp_path):
    """A step in length-sorted parts gives the weights of the step as one padded batch (to float rounding: the
    sums run in another order), and logs the same loss."""
    cfg = pt.PretrainConfig(size="tiny", steps=3, batch_size=6, log_every=1, probe_every=3, warmup_steps=1,
                            length_groups=1)
    one, four = tmp_path / "one", tmp_path / "four"
    logs: dict[str, list] = {"one": [], "four": []}
    pt.pretrain(simple_world, one, cfg, log=logs["one"].append)
    pt.pretrain(simple_world, four, replace(cfg, length_groups=4), log=logs["four"].append)
    a, b = _weights(one), _weights(four)  # saved in bfloat16: a rounding apart at most, and almost all equal
    assert a.keys() == b.keys() and all(torch.allclose(a[k].float(), b[k].float(), rtol=2**-7, atol=1e-6) for k in a)
    assert sum(int((a[k] == b[k]).sum()) for k in a) > 0.99 * sum(a[k].numel() for k in a)
    assert [r["loss"] for r in logs["one"]] == pytest.approx([r["loss"] for r in logs["four"]], abs=1e-3)


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    out = {}
    for f in sorted(folder.glob("model-*.safetensors")):
        out.update(load_file(f))
    return out


def test_resume_equals_an_uninterrupted_run(simple_world, tmp_path):
    """Interrupted after its state at step 2 was saved, resumed: the weights equal an uninterrupted run's and
    each step is logged once."""
    cfg = pt.PretrainConfig(size="tiny", steps=5, batch_size=2, save_every=2, log_every=1, probe_every=5,
                            warmup_steps=2)
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    pt.pretrain(simple_world, whole, cfg, log=lambda row: None)

    def stop(row):
        if row["step"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pt.pretrain(simple_world, cut, cfg, log=stop)
    with pytest.raises(VisionR1Error, match="other options"):
        pt.pretrain(simple_world, cut, replace(cfg, learning_rate=1e-4), resume=True)
    assert pt.pretrain(simple_world, cut, cfg, resume=True, log=lambda row: None) > 0
    a, b = _weights(whole), _weights(cut)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    steps = [json.loads(line)["step"] for line in (cut / pt.LOG).read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5] and not (cut / pt.STATE).exists()


def test_resume_on_another_world_is_refused(simple_world, tmp_path, capsys):
    """The world's seed (the category vocabulary) and profile decide every sample: resuming on another world is
    refused naming it, as are other options (each by name); how often to log, probe or save, and how a step is
    split (length_groups: the same gradients) may change."""
    cfg = pt.PretrainConfig(size="tiny", steps=4, batch_size=2, save_every=2, log_every=1, probe_every=4)
    cut = tmp_path / "cut"

    def stop(row):
        if row["step"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pt.pretrain(simple_world, cut, cfg, log=stop)
    other = tmp_path / "other"
    assert run_cli("synth", "world", "--out", other, "--profile", "simple", "--images", 8, "--seed", 1) == 0
    before = {p: p.read_bytes() for p in cut.rglob("*") if p.is_file() and p.name != ".lock"}
    capsys.readouterr()
    argv = ["synth", "pretrain", "--out", cut, "--size", "tiny", "--steps", 4, "--batch-size", 2, "--resume"]
    assert run_cli(*argv, "--world", other) == 2
    one_error(capsys, "--resume", cut, "world {'seed': 0, 'profile': 'simple'} (this run: {'seed': 1, ")
    assert run_cli(*argv, "--world", simple_world, "--learning-rate", 0.002) == 2
    one_error(capsys, "--resume", "learning_rate 0.001 (this run: 0.002)")
    assert {p: p.read_bytes() for p in cut.rglob("*") if p.is_file() and p.name != ".lock"} == before
    with pytest.raises(VisionR1Error, match="world"):
        pt.pretrain(other, cut, cfg, resume=True)
    pt.check_resume(cut, replace(cfg, save_every=3, log_every=2, probe_every=1, length_groups=1),
                    pt.world_info(simple_world))
    # a run started on a GPU (bfloat16 autocast) is not continued on the CPU, nor the other way round
    config = cut / pt.STATE / "config.json"
    started = json.loads(config.read_text())
    assert started["device"] == pt.train_device()
    other_device = "cpu" if pt.train_device() == "cuda" else "cuda"
    config.write_text(json.dumps({**started, "device": other_device}))
    with pytest.raises(VisionR1Error, match=f"device '{other_device}' \\(this run: '{pt.train_device()}'\\)"):
        pt.check_resume(cut, cfg, pt.world_info(simple_world))
    # a run started before an option existed did what its default does: it resumes unless asked otherwise
    config.write_text(json.dumps({k: v for k, v in started.items() if k != "grow_scenes"}))
    pt.check_resume(cut, cfg, pt.world_info(simple_world))
    with pytest.raises(VisionR1Error, match="grow_scenes False \\(this run: True\\)"):
        pt.check_resume(cut, replace(cfg, grow_scenes=True), pt.world_info(simple_world))


def test_cli_writes_a_checkpoint_with_its_card(simple_world, tmp_path, capsys):
    out = tmp_path / "base"
    assert run_cli("synth", "pretrain", "--world", simple_world, "--out", out, "--size", "tiny", "--steps", 3,
                   "--batch-size", 2, "--eval-limit", 2) == 0
    # stderr is not a terminal here (a log file under nohup): a plain progress line as the steps go
    assert "pretraining: 3/3" in capsys.readouterr().err
    info = read_card(out)
    assert info["generator"] == "visionr1 synth pretrain" and info["pretrain"]["config"]["steps"] == 3
    held = info["pretrain"]["heldout"]
    assert set(held["all"]) == {"grounding", "detection"} and held["all"]["detection"]["queries"] == 2
    text = (out / "README.md").read_text()
    assert "visionr1 synth pretrain --world world --out base" in text
    assert "<!-- written by visionr1 synth pretrain -->" in text  # the command that wrote it, not tiny-model
    from visionr1.models import check_model

    check_model(str(out), FAMILY)
    # an earlier pretrained model is replaced only with --force; a foreign folder never
    capsys.readouterr()
    assert run_cli("synth", "pretrain", "--world", simple_world, "--out", out, "--size", "tiny", "--steps", 1) == 2
    one_error(capsys, out, "not empty")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert run_cli("synth", "pretrain", "--world", simple_world, "--out", foreign, "--steps", 1, "--force") == 2
    one_error(capsys, foreign, "refusing to clear")
    assert (foreign / "notes.txt").read_text() == "mine"


def test_init_continues_a_pretrained_checkpoint(simple_world, tmp_path, capsys):
    """--init starts from the given checkpoint's weights (a step at a vanishing learning rate leaves them), on the
    stream's next images, keeps its log as pretrain-run1.jsonl, and the card's Reproduce lists both commands in
    order; a folder that is not a pretrained checkpoint, another size, or --out itself are refused before work."""
    first, second = tmp_path / "first", tmp_path / "second"
    common = ["--world", simple_world, "--size", "tiny", "--batch-size", 2, "--eval-limit", 2]
    assert run_cli("synth", "pretrain", *common, "--out", first, "--steps", 3) == 0
    assert run_cli("synth", "pretrain", *common, "--out", second, "--steps", 1, "--learning-rate", 1e-8,
                   "--init", first, "--grow-scenes") == 0
    a, b = _weights(first), _weights(second)
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert (second / "pretrain-run1.jsonl").read_text() == (first / pt.LOG).read_text()  # run 1's log kept
    assert [json.loads(line)["step"] for line in (second / pt.LOG).read_text().splitlines()] == [1]
    made = read_card(second)["pretrain"]
    assert made["config"]["first_image"] == 3 * 2 and made["init"]["config"]["steps"] == 3
    assert made["config"]["grow_scenes"] is True
    assert made["command"].endswith(" --init <init> --grow-scenes --length-groups 4")
    text = (second / "README.md").read_text()
    one = text.index("--out stage1 --size tiny --steps 3")
    assert one < text.index("--out base --size tiny --steps 1 ") < text.index("--init stage1")
    assert str(tmp_path) not in text
    capsys.readouterr()
    for init, extra, names in ((simple_world, [], ["not a checkpoint"]), (first, ["--size", "small"], ["size"]),
                               (first, ["--size", "tiny", "--out", first], ["is --out"])):
        argv = ["--world", simple_world, "--out", tmp_path / "third", "--init", init, *extra]
        assert run_cli("synth", "pretrain", *argv) == 2
        one_error(capsys, "--init", *names)
    assert not (tmp_path / "third").exists()


@pytest.mark.parametrize(("args", "names"), [
    (["--steps", "0"], ["--steps"]),
    (["--batch-size", "5000"], ["--batch-size"]),
    (["--length-groups", "0"], ["--length-groups"]),
    (["--learning-rate", "nan"], ["--learning-rate"]),
    (["--seed", "-1"], ["--seed"]),
    (["--size", "huge"], ["huge"]),
    (["--resume"], ["--resume", "no interrupted"]),
])
def test_bad_options_refused_before_work(simple_world, tmp_path, capsys, args, names):
    out = tmp_path / "out"
    assert run_cli("synth", "pretrain", "--world", simple_world, "--out", out, *args) == 2
    one_error(capsys, *names)
    assert not out.exists()  # a refused run leaves no folder behind (--resume: lock_dir had made one)


def test_cli_defaults_are_the_shipped_recipe():
    """The command's defaults are PretrainConfig's, and they are the first run on the shipped base's card, so the
    bare command starts its recipe."""
    import typer

    from visionr1.cli.synth import app

    params = {p.name: p.default for p in typer.main.get_command(app).commands["pretrain"].params}
    cfg = pt.PretrainConfig()
    first = pt.stages(read_card(pt.shipped_base())["pretrain"])[0]["config"]
    for name in ("size", "steps", "seed", "batch_size", "learning_rate"):
        assert params[name] == getattr(cfg, name) == first[name], name


def test_not_a_world_refused(tmp_path, capsys):
    assert run_cli("synth", "pretrain", "--world", tmp_path, "--out", tmp_path / "o") == 2
    one_error(capsys, tmp_path, "not a synthetic world")


@pytest.fixture(scope="module")
def card_world(tmp_path_factory) -> Path:
    """The world the card was measured on (1,000 images, seed 0): image ids, and so query order and batches,
    depend on the world's size."""
    out = tmp_path_factory.mktemp("card") / "world"
    assert run_cli("synth", "world", "--out", out, "--profile", "simple", "--images", 1000) == 0
    return out


def test_shipped_base_reproduces_its_card(card_world):
    """The committed base localizes (its card's held-out numbers are above zero), and the whole eval chain
    reproduces the card's numbers on the fixed subset (greedy decoding; a CPU of another make may differ in the
    last bits of a logit)."""
    from visionr1.cli.synth import SUBSET, heldout_metrics

    base = pt.shipped_base()
    held = read_card(base)["pretrain"]["heldout"]
    assert all(m["mAP"] > 0 and m["AP50"] > 0 for m in held["all"].values())
    got = heldout_metrics(base, card_world, SUBSET)
    for task, card in held[f"first_{SUBSET}"].items():
        assert got[task]["queries"] == card["queries"] == SUBSET
        for k in ("mAP", "AP50", "AR100"):
            assert abs(got[task][k] - card[k]) <= 2.0, (task, k, got[task][k], card[k])
        assert abs(got[task]["reward"] - card["reward"]) <= 0.05
