"""``visionr1 train``: real TRL GRPO / SFT steps on the tiny model and a mix built from the synthetic world."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import run_cli

from visionr1.data.build import build
from visionr1.data.recipe import load_recipe

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def mix(world_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train-mix")
    recipe = tmp / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"name": "train-test", "sources": {
        "coco": {"task": "detection", "count": 8, "split": "train2017"},
        "refcoco": {"task": "rec", "count": 8, "datasets": ["refcoco"]}}}))
    return build(load_recipe(str(recipe)), tmp / "mix", roots={"coco": world_dir / "coco",
                                                               "refcoco": world_dir / "refer"}).out


def metrics(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]


def test_grpo_steps_phase_switch_and_checkpoint(tiny_model_dir, mix, tmp_path, capsys):
    out = tmp_path / "grpo"
    assert run_cli("train", "grpo", "--model", tiny_model_dir, "--data", mix, "--out", out,
                   "--config", ROOT / "configs/grpo/tiny-cpu.yaml", "--max-steps", "4", "--switch", "0.5",
                   "--max-completion-length", "24") == 0
    assert "grpo done" in capsys.readouterr().out
    logs = [r for r in metrics(out) if "reward" in r]
    assert [r["step"] for r in logs] == [1, 2, 3, 4]
    for r in logs:
        for term in ("format", "recall", "precision"):
            assert 0 <= r[f"rewards/{term}/mean"] <= 1
        # the reward of step k is computed after k - 1 optimizer steps; STEP = 0.5 of 4 switches at 2
        phase = 2 if r["step"] - 1 >= 2 else 1
        assert r["reward/phase"] == phase and r["reward/xi0"] == (0.75 if phase == 2 else 0.5)
        assert 0 <= r["reward/parse_failure_rate"] <= 1 and r["reward/pred_boxes_mean"] >= 0
    assert (out / "reward_curves.png").stat().st_size > 1000
    assert {p.name for p in out.glob("checkpoint-*")} == {"checkpoint-2", "checkpoint-4"}
    run = json.loads((out / "run_config.json").read_text())
    assert run["options"]["beta"] == 0.2 and run["options"]["loss_type"] == "grpo" and run["options"]["switch"] == 0.5

    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(out)
    assert processor.image_processor.size["longest_edge"] == 401408  # the run's max_pixels travel with the model
    model = AutoModelForImageTextToText.from_pretrained(out)
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Locate every circle."}]}]
    inputs = processor(text=[processor.apply_chat_template(msgs, add_generation_prompt=True)],
                       images=[Image.new("RGB", (96, 64))], return_tensors="pt")
    with torch.no_grad():
        generated = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert generated.shape[1] > inputs["input_ids"].shape[1]


def test_resume_continues_at_the_right_step(tiny_model_dir, mix, tmp_path):
    out = tmp_path / "grpo"
    common = ["train", "grpo", "--model", tiny_model_dir, "--data", mix, "--out", out, "--config",
              ROOT / "configs/grpo/tiny-cpu.yaml", "--max-completion-length", "16"]
    assert run_cli(*common, "--max-steps", "2") == 0
    assert run_cli(*common, "--max-steps", "4", "--resume", "latest") == 0
    steps = [r["step"] for r in metrics(out) if "reward" in r]
    assert steps == [1, 2, 3, 4]  # 3 and 4 come from the resumed run
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert json.loads((out / "run_config.json").read_text())["resume"].endswith("checkpoint-2")


def test_sft_steps_and_reload(tiny_model_dir, mix, tmp_path):
    out = tmp_path / "sft"
    assert run_cli("train", "sft", "--model", tiny_model_dir, "--data", mix, "--out", out, "--max-steps", "2",
                   "--per-device-train-batch-size", "2", "--gradient-accumulation-steps", "1") == 0
    losses = [r["loss"] for r in metrics(out) if "loss" in r]
    assert len(losses) == 2 and all(v > 0 for v in losses)
    from transformers import AutoModelForImageTextToText

    assert AutoModelForImageTextToText.from_pretrained(out).config.model_type == "qwen2_5_vl"


def test_sft_targets_are_serialized_ground_truth(mix):
    from visionr1.formats import get_adapter
    from visionr1.train.data import load_dataset_dir, sft_dataset

    ds = load_dataset_dir(mix, "qwen2.5-vl")
    row = sft_dataset(ds, "qwen2.5-vl", 3136, 401408)[0]
    adapter = get_adapter("qwen2.5-vl")
    geo = adapter.geometry(row["width"], row["height"])
    assert row["completion"][0]["content"] == adapter.serialize(row["gt"], geo)
    parsed = adapter.parse(row["completion"][0]["content"], geo)
    assert parsed.format_ok and len(parsed.boxes) == len(row["gt"])


def test_two_processes_on_cpu(tiny_model_dir, mix, tmp_path):
    out = tmp_path / "ddp"
    proc = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
         str(ROOT / "configs/accelerate/cpu2.yaml"),
         "-m", "visionr1.train", "grpo", "--model", str(tiny_model_dir), "--data", str(mix), "--out", str(out),
         "--config", str(ROOT / "configs/grpo/tiny-cpu.yaml"), "--max-steps", "2", "--max-completion-length", "16"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((out / "run_config.json").read_text())["processes"] == 2
    assert [r["step"] for r in metrics(out) if "reward" in r] == [1, 2]
    assert (out / "model.safetensors").is_file()


# ------------------------------------------------------------------ bad input: one line, before loading


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: "), err
    return err


def test_bad_inputs(tiny_model_dir, mix, tmp_path, capsys):
    def grpo(*args):
        return run_cli("train", "grpo", "--out", tmp_path / "o", *args)

    assert grpo("--model", tiny_model_dir, "--data", tmp_path / "nope") == 2
    assert "dataset folder not found" in _one_line(capsys)
    assert grpo("--model", tiny_model_dir, "--data", mix, "--learning-rat", "1e-5") == 2
    assert "unknown option 'learning_rat' (did you mean 'learning_rate'?)" in _one_line(capsys)
    bad = tmp_path / "bad.yaml"
    bad.write_text("beta: 0.2\nswich: 0.5\n")
    assert grpo("--model", tiny_model_dir, "--data", mix, "--config", bad) == 2
    assert "unknown option 'swich' (did you mean 'switch'?)" in _one_line(capsys)
    assert grpo("--model", tiny_model_dir, "--data", mix, "--family", "llava") == 2
    assert "unknown family 'llava'" in _one_line(capsys)
    assert grpo("--model", tiny_model_dir, "--data", mix, "--family", "qwen2-vl") == 2
    assert "set --family to match" in _one_line(capsys)
    assert grpo("--model", tiny_model_dir, "--data", mix, "--per-device-train-batch-size", "6") == 2
    assert "multiple of num_generations" in _one_line(capsys)
    text_model = tmp_path / "text-model"
    text_model.mkdir()
    (text_model / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    assert grpo("--model", text_model, "--data", mix) == 2
    assert "not a vision-language" in _one_line(capsys)
    assert grpo("--model", tmp_path, "--data", mix) == 2
    assert "has no config.json" in _one_line(capsys)

    import datasets

    datasets.Dataset.from_dict({"image": ["x.jpg"], "problem": ["p"]}).save_to_disk(str(tmp_path / "no-gt"))
    assert grpo("--model", tiny_model_dir, "--data", tmp_path / "no-gt") == 2
    assert "lacks the columns gt, width, height" in _one_line(capsys)
    assert grpo("--model", tiny_model_dir, "--data", mix, "--resume", tmp_path) == 2
    assert "not a checkpoint folder" in _one_line(capsys)
    assert grpo("--model", tiny_model_dir, "--data", mix, "--family", "griffon-g") == 2
    assert "--model-loader module:function" in _one_line(capsys)
    other = tmp_path / "griffon-mix"
    shutil.copytree(mix, other)
    manifest = json.loads((other / "manifest.json").read_text())
    (other / "manifest.json").write_text(json.dumps({**manifest, "family": "griffon-g"}))
    assert grpo("--model", tiny_model_dir, "--data", other) == 2
    assert "was built for family 'griffon-g'" in _one_line(capsys)
    import importlib.util

    if importlib.util.find_spec("vllm") is None:  # this machine: no vLLM, so a clear message and no leftovers
        assert grpo("--model", tiny_model_dir, "--data", mix, "--use-vllm", "true") == 2
        assert "use_vllm needs vLLM" in _one_line(capsys) and not (tmp_path / "o").exists()


def test_vllm_gets_the_runs_pixel_limits(tiny_model_dir, tmp_path):
    from transformers import AutoProcessor

    from visionr1.train.model import with_pixel_limits

    assert with_pixel_limits(str(tiny_model_dir), 3136, 12845056, tmp_path / "same") == str(tiny_model_dir)
    prepared = with_pixel_limits(str(tiny_model_dir), 3136, 200704, tmp_path / "vllm")
    assert AutoProcessor.from_pretrained(prepared).image_processor.size["longest_edge"] == 200704
    assert (Path(prepared) / "model.safetensors").resolve() == (tiny_model_dir / "model.safetensors").resolve()


def test_custom_model_loader(tiny_model_dir, mix, tmp_path, capsys):
    import custom_loader

    out = tmp_path / "loader"
    assert run_cli("train", "grpo", "--model", tiny_model_dir, "--data", mix, "--out", out, "--config",
                   ROOT / "configs/grpo/tiny-cpu.yaml", "--max-steps", "1", "--max-completion-length", "8",
                   "--model-loader", "custom_loader:load") == 0
    assert custom_loader.calls == [(str(tiny_model_dir), "qwen2.5-vl")]
    assert (out / "model.safetensors").is_file()
    assert run_cli("train", "grpo", "--model", tiny_model_dir, "--data", mix, "--out", tmp_path / "x",
                   "--model-loader", "custom_loader:nope") == 2
    assert "cannot import model_loader 'custom_loader:nope'" in _one_line(capsys)


def test_command_line_values_take_the_option_types(tmp_path):
    from visionr1.train.config import load_config, parse_overrides

    c = load_config("grpo", None, parse_overrides(
        ["--phase1", "[0.5, 0.5, 0.7]", "--switch=0.25", "--save-strategy", "no", "--learning-rate", "1e-5",
         "--gradient-checkpointing", "false", "--max-steps", "7"]), tmp_path)
    assert c.reward_config().schedule.phase1.xi2 == 0.7 and c.switch == 0.25 and c.max_steps == 7
    assert c.save_strategy == "no" and c.learning_rate == 1e-5 and c.gradient_checkpointing is False
    with pytest.raises(Exception, match="--max-steps takes a"):
        load_config("grpo", None, parse_overrides(["--max-steps", "many"]), tmp_path)
