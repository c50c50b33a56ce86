"""``visionr1 train``: real TRL GRPO / SFT steps on the tiny model and a mix built from the synthetic world."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import run_cli, small_mix

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def mix(world_dir, tmp_path_factory):
    return small_mix(world_dir, tmp_path_factory.mktemp("train-mix"))


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
    from visionr1.train.callbacks import phase_switch, read_metrics

    assert phase_switch(read_metrics(out / "metrics.jsonl")) == 3  # the dashed line of the curves
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
    assert "unknown option '--learning-rat' (did you mean '--learning-rate'?)" in _one_line(capsys)
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

    fam = "qwen2.5-vl"
    assert with_pixel_limits(str(tiny_model_dir), fam, 3136, 12845056, tmp_path / "same") == str(tiny_model_dir)
    prepared = with_pixel_limits(str(tiny_model_dir), fam, 3136, 200704, tmp_path / "vllm")
    # what vLLM reads: a plain from_pretrained of the folder, hub-style min/max_pixels keys included
    from visionr1.models import input_size

    assert input_size(AutoProcessor.from_pretrained(prepared), 1280, 720) == (588, 336)
    shard = next(tiny_model_dir.glob("model-*.safetensors")).name
    assert (Path(prepared) / shard).resolve() == (tiny_model_dir / shard).resolve()


def test_vllm_folder_built_by_every_rank_at_once(tiny_model_dir, tmp_path):
    """``accelerate launch`` with use_vllm: every process builds <out>/vllm-model at the same moment."""
    import functools
    import multiprocessing

    from visionr1.train.model import with_pixel_limits

    build = functools.partial(with_pixel_limits, str(tiny_model_dir), "qwen2.5-vl", 3136, 401408)
    # forkserver: forking this test process (threads of torch, tqdm, FiftyOne) could deadlock the children
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["visionr1.train.model", "visionr1.models", "transformers.models.qwen2_5_vl",
                                "transformers.models.qwen2_vl.image_processing_qwen2_vl", "torchvision"])
    with ctx.Pool(8) as pool:
        for round_ in range(4):
            out = tmp_path / f"round{round_}" / "vllm-model"
            out.parent.mkdir()
            paths = pool.map(build, [out] * 8, chunksize=1)
            assert paths == [str(out)] * 8
            assert sorted(p.name for p in out.parent.iterdir()) == ["vllm-model"]  # no private copies left


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


# ------------------------------------------------------------------ the paper's batch settings, real checkpoint files


def test_grpo_several_prompts_per_process_trains_with_each_prompts_positions(tiny_model_dir, mix, tmp_path,
                                                                             monkeypatch):
    """configs/grpo/qwen2.5-vl-7b.yaml as released (8 completions = 2 prompts per micro-step, G = 4) on images
    of different sizes: the 3D RoPE positions of every row equal those of its sequence processed alone, and
    the rollouts sample (the checkpoint's near-greedy generation config stays out of them)."""
    import torch
    import trl.trainer.grpo_trainer as grpo
    from transformers.models.qwen2_5_vl import modeling_qwen2_5_vl as qwen

    calls, rollouts = [], []
    rope_index = qwen.Qwen2_5_VLModel.get_rope_index
    generate = grpo.GRPOTrainer._generate_single_turn

    def recording_rope_index(self, input_ids, mm_token_type_ids, image_grid_thw=None, *args, **kwargs):
        positions, deltas = rope_index(self, input_ids, mm_token_type_ids, image_grid_thw, *args, **kwargs)
        calls.append((self, input_ids, kwargs.get("attention_mask"), image_grid_thw, positions))
        return positions, deltas

    def recording_generate(self, *args, **kwargs):
        completion_ids, logprobs = generate(self, *args, **kwargs)
        rollouts.append([tuple(c) for c in completion_ids])
        return completion_ids, logprobs

    monkeypatch.setattr(qwen.Qwen2_5_VLModel, "get_rope_index", recording_rope_index)
    monkeypatch.setattr(grpo.GRPOTrainer, "_generate_single_turn", recording_generate)
    out = tmp_path / "grpo-7b-config"
    assert run_cli("train", "grpo", "--model", tiny_model_dir, "--data", mix, "--out", out, "--config",
                   ROOT / "configs/grpo/qwen2.5-vl-7b.yaml", "--max-steps", "1", "--max-completion-length", "12",
                   "--bf16", "false", "--gradient-checkpointing", "false", "--save-strategy", "no") == 0
    image_token = json.loads((tiny_model_dir / "config.json").read_text())["image_token_id"]
    rows = lengths = 0
    seen_lengths = set()
    for model, ids, mask, grids, positions in calls:
        mask = torch.ones_like(ids) if mask is None else mask
        assert grids.shape[0] == ids.shape[0]  # one image per row
        for b in range(ids.shape[0]):
            keep = mask[b].bool()
            alone = ids[b][keep][None]
            expected, _ = rope_index(model, alone, (alone == image_token).int(), grids[b: b + 1])
            assert torch.equal(positions[:, b, keep], expected[:, 0]), f"row {b} of a batch of {ids.shape[0]}"
            rows += 1
        lengths = max(lengths, ids.shape[0])
        seen_lengths |= set(mask.sum(1).tolist())
    assert rows >= 16 and lengths >= 8 and len(seen_lengths) > 2  # padded batches of different lengths
    for batch in rollouts:
        groups = [batch[i: i + 4] for i in range(0, len(batch), 4)]
        assert all(len(set(g)) > 1 for g in groups), "a group of identical rollouts: greedy sampling"


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    files = sorted(folder.glob("model*.safetensors"))
    return {k: v for f in files for k, v in load_file(str(f)).items()}


def test_kill_and_resume_gives_the_uninterrupted_weights(tiny_model_dir, mix, tmp_path):
    """SFT is deterministic on a CPU: a run killed with SIGKILL after a checkpoint and resumed with --resume latest
    (past a partial metrics line and a half-written newer checkpoint) ends with the weights of a run that was not
    interrupted (max abs difference <= 1e-6)."""
    import signal
    import time

    args = ["--model", str(tiny_model_dir), "--data", str(mix), "--max-steps", "6", "--save-steps", "2",
            "--per-device-train-batch-size", "2", "--gradient-accumulation-steps", "2", "--learning-rate", "1e-4"]
    whole = tmp_path / "whole"
    assert run_cli("train", "sft", "--out", whole, *args) == 0

    cut = tmp_path / "cut"
    proc = subprocess.Popen([sys.executable, "-m", "visionr1.train", "sft", "--out", str(cut), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (cut / "checkpoint-2" / "trainer_state.json").is_file():
        assert proc.poll() is None and time.time() < deadline, "the run ended before its first checkpoint"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (cut / "checkpoint-6").exists() and not (cut / "config.json").exists()  # killed mid-run
    with open(cut / "metrics.jsonl", "a") as f:
        f.write('{"step": 3, "loss": 6.')  # killed while logging
    half = cut / "checkpoint-5"  # killed while saving: no trainer state, a truncated shard
    half.mkdir()
    data = (cut / "checkpoint-2" / "model.safetensors").read_bytes()
    (half / "model.safetensors").write_bytes(data[: len(data) // 2])

    assert run_cli("train", "sft", "--out", cut, *args, "--resume", "latest") == 0
    assert json.loads((cut / "run_config.json").read_text())["resume"].endswith(("checkpoint-2", "checkpoint-4"))
    a, b = _weights(whole), _weights(cut)
    assert a.keys() == b.keys() and len(a) > 50
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= 1e-6
    base = _weights(tiny_model_dir)
    assert any(not (base[k].float() == a[k]).all() for k in a)  # training moved the weights at all
    steps = [r["step"] for r in metrics(cut) if "loss" in r]
    assert steps == [1, 2, 3, 4, 5, 6]  # each step logged once, the partial line gone


def test_resume_refuses_a_checkpoint_of_another_model(tiny_model_dir, mix, tmp_path, capsys):
    out = tmp_path / "other"
    args = ["--model", str(tiny_model_dir), "--data", str(mix), "--max-steps", "2", "--save-steps", "1",
            "--per-device-train-batch-size", "2", "--gradient-accumulation-steps", "1"]
    assert run_cli("train", "sft", "--out", out, *args) == 0
    from safetensors.torch import load_file, save_file

    ckpt = out / "checkpoint-2" / "model.safetensors"
    weights = load_file(str(ckpt))
    weights.pop(next(k for k in weights if k.startswith("visual.")))
    save_file(weights, str(ckpt), metadata={"format": "pt"})
    assert run_cli("train", "sft", "--out", out, *args, "--max-steps", "3", "--resume", "latest") == 2
    assert "1 weights missing" in _one_line(capsys)


def test_bf16_keeps_fp32_master_weights(tiny_model_dir, mix, tmp_path):
    """bf16 without DeepSpeed at the paper's SFT learning rate: the updates land (bf16 weights would round most
    of them away: 3.4% of elements changed after 3 steps, against 82% here)."""
    out = tmp_path / "bf16"
    assert run_cli("train", "sft", "--model", tiny_model_dir, "--data", mix, "--out", out, "--bf16", "true",
                   "--learning-rate", "2e-6", "--max-steps", "3", "--per-device-train-batch-size", "2",
                   "--gradient-accumulation-steps", "1", "--save-strategy", "no") == 0
    assert json.loads((out / "run_config.json").read_text())["weights_dtype"] == "float32"
    base, trained = _weights(tiny_model_dir), _weights(out)
    changed = sum(int((base[k].float() != trained[k]).sum()) for k in base)
    assert changed / sum(v.numel() for v in base.values()) > 0.5


def test_bad_options_fail_before_the_model_loads(tmp_path, capsys):
    """Each bad option: one ``error:`` line, exit 2, with a model path that does not even exist (so nothing was
    loaded) and no output folder created."""
    missing = tmp_path / "no-such-model"
    ds = tmp_path / "ds.json"
    ds.write_text(json.dumps({"zero_optimization": {"stage": 3}}))
    cases = [
        (["--scale-rewards", "maybe"], "--scale-rewards must be one of group, batch, none"),
        (["--reward-weights", "[1,1]"], "--reward-weights takes 3 numbers"),
        (["--vllm-mode", "serve"], "--vllm-mode must be one of colocate, server"),
        (["--deepspeed", "x.json"], "deepspeed config not found: x.json"),
        (["--deepspeed", ds, "--use-lora", "true"], "use_lora with DeepSpeed ZeRO-3 is not supported"),
        (["--beta", "nan"], "--beta must be a finite number"),
        (["--max-steps", "-5"], "--max-steps must be positive"),
        (["--num-generations", "0"], "--num-generations must be positive"),
        (["--learning-rate", "-1"], "--learning-rate must be positive"),
        (["--max-completion-length", "0"], "--max-completion-length must be positive"),
        (["--min-pixels", "500000"], "--min-pixels (500000) is larger than --max-pixels (401408)"),
        (["--attn-implementation", "flash"], "unknown attn_implementation 'flash'"),
        (["--model-init-kwargs", '{"dtype": "bfloat16"}'], "'dtype' is set by the bf16 option"),
        (["--switch", "2"], "switch"),
    ]
    import importlib.util

    if importlib.util.find_spec("deepspeed") is None:
        cases.append((["--deepspeed", ds], "DeepSpeed is requested"))
    if importlib.util.find_spec("flash_attn") is None:
        cases.append((["--attn-implementation", "flash_attention_2"], "needs the 'flash_attn' package"))
    for args, message in cases:
        code = run_cli("train", "grpo", "--model", missing, "--data", tmp_path / "no-mix", "--out",
                       tmp_path / "o", *args)
        assert code == 2, args
        assert message in _one_line(capsys), args
        assert not (tmp_path / "o").exists()
    from visionr1.train.config import load_config, parse_overrides

    assert load_config("grpo", None, parse_overrides(["--scale-rewards", "false"]), tmp_path).scale_rewards == "none"
    assert load_config("grpo", None, {}, tmp_path).use_bias_correction_kl is False  # paper / released k3


def test_a_loader_whose_processor_ignores_the_limits_is_refused(tiny_model_dir, mix, tmp_path, capsys):
    assert run_cli("train", "grpo", "--model", tiny_model_dir, "--data", mix, "--out", tmp_path / "o",
                   "--model-loader", "custom_loader:load_ignoring_limits") == 2
    assert "the processor turns a 1280x720 image into a 1288x728 input" in _one_line(capsys)


def test_curve_smoothing():
    from visionr1.train.callbacks import smooth

    assert smooth([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
    assert smooth([2.0] * 5, 10) == [2.0] * 5 and smooth([], 3) == []


def test_heldout_evaluation_during_training_is_the_evaluation_of_the_saved_model(mix, tmp_path):
    """``heldout_every``: rows before the first step and every N steps; the last equals `visionr1 eval custom` of the
    saved model on the same queries (the same greedy answers through the same chain), and the curves show it."""
    from visionr1.synth.pretrain import shipped_base

    out, ev, simple = tmp_path / "grpo", tmp_path / "eval", tmp_path / "simple"
    assert run_cli("synth", "world", "--out", simple, "--profile", "simple", "--images", "4") == 0
    annotations, images = simple / "coco/annotations/instances_val2017.json", simple / "coco/val2017"
    assert run_cli("train", "grpo", "--model", shipped_base(), "--data", mix, "--out", out,
                   "--config", ROOT / "configs/grpo/tiny-cpu.yaml", "--max-steps", "3", "--max-completion-length",
                   "32", "--heldout-every", "2", "--heldout-annotations", annotations, "--heldout-images", images,
                   "--heldout-limit", "6", "--heldout-max-new-tokens", "200") == 0
    rows = [r for r in metrics(out) if "heldout/mAP" in r]
    assert [r["step"] for r in rows] == [0, 2, 3]
    assert run_cli("eval", "custom", "--model", out, "--annotations", annotations, "--data-root", images,
                   "--limit", "6", "--max-new-tokens", "200", "--out", ev) == 0
    report = json.loads((ev / "report.json").read_text())["sets"]
    measured = next(iter(report.values()))
    assert measured["reward"] > 1 and measured["AR100"] > 0 and measured["queries"] == 6
    assert {k: rows[-1][f"heldout/{k}"] for k in ("mAP", "AP50", "AR100", "reward")} == \
        {k: measured[k] for k in ("mAP", "AP50", "AR100", "reward")}
    from visionr1.train.callbacks import PANEL_WIDTH, panels, read_metrics

    shown = panels(read_metrics(out / "metrics.jsonl"))
    assert shown[-3:] == ["heldout/mAP", "heldout/AR100", "heldout/reward"] and "reward" in shown
    png = (out / "reward_curves.png").read_bytes()  # IHDR: the width, 100 dpi per inch of PANEL_WIDTH per panel
    assert int.from_bytes(png[16:20], "big") == round(100 * PANEL_WIDTH * len(shown))


def test_heldout_evaluation_needs_its_set(tiny_model_dir, mix, tmp_path, capsys):
    assert run_cli("train", "grpo", "--model", tiny_model_dir, "--data", mix, "--out", tmp_path / "o",
                   "--heldout-every", "5") == 2
    assert "heldout_every needs the held-out set" in _one_line(capsys)
    assert run_cli("train", "sft", "--model", tiny_model_dir, "--data", mix, "--out", tmp_path / "o",
                   "--heldout-every", "5", "--heldout-annotations", tmp_path / "none.json", "--heldout-images",
                   tmp_path) == 2
    assert "none.json" in _one_line(capsys) and not (tmp_path / "o").exists()


# ------------------------------------------------------------------ --out protects itself: the run record


def _sft(out: Path, tiny_model_dir, mix, *extra) -> int:
    return run_cli("train", "sft", "--model", tiny_model_dir, "--data", mix, "--out", out,
                   "--per-device-train-batch-size", "2", "--gradient-accumulation-steps", "1", *extra)


def test_a_run_into_a_used_folder_is_refused_and_force_starts_over(tiny_model_dir, mix, tmp_path, capsys):
    """Re-running into --out without --resume used to start over silently (metrics.jsonl appended: steps 1, 2 then
    1, 2 again; old checkpoints kept). Now it is refused with one line and nothing in the folder changes;
    --force clears a training folder (and only one)."""
    from conftest import one_error

    from visionr1.io import tree_digest

    out = tmp_path / "run"
    assert _sft(out, tiny_model_dir, mix, "--max-steps", "2", "--save-steps", "2") == 0
    record = json.loads((out / "run.json").read_text())
    assert record["kind"] == "sft" and record["data_fingerprint"] and record["config_hash"]
    assert json.loads((out / "checkpoint-2" / "run.json").read_text()) == record  # every checkpoint says whose
    before = tree_digest(out)
    capsys.readouterr()
    assert _sft(out, tiny_model_dir, mix, "--max-steps", "2", "--save-steps", "2") == 2
    assert "holds this run already" in one_error(capsys, out, "--resume latest", "--force")
    assert _sft(out, tiny_model_dir, mix, "--max-steps", "2", "--learning-rate", "1e-3") == 2
    assert "holds another run (options" in one_error(capsys, out)
    assert run_cli("train", "grpo", "--model", tiny_model_dir, "--data", mix, "--out", out, "--max-steps", "1") == 2
    assert "kind sft (this run: grpo)" in one_error(capsys, out)
    assert tree_digest(out) == before  # refused: nothing touched
    assert _sft(out, tiny_model_dir, mix, "--max-steps", "1", "--learning-rate", "1e-3", "--force") == 0
    assert [r["step"] for r in metrics(out) if "loss" in r] == [1]  # started over, not appended
    assert not (out / "checkpoint-2").exists()
    assert json.loads((out / "run.json").read_text())["config_hash"] != record["config_hash"]

    other = tmp_path / "notes"  # not a training folder: --force never clears it
    other.mkdir()
    (other / "mine.txt").write_text("keep")
    capsys.readouterr()
    assert _sft(other, tiny_model_dir, mix, "--max-steps", "1", "--force") == 2
    one_error(capsys, other, "holds no training run record")
    assert (other / "mine.txt").read_text() == "keep"
    assert _sft(out, tiny_model_dir, mix, "--max-steps", "1", "--force", "--resume", "latest") == 2
    one_error(capsys, "--force", "--resume")
    missing = tmp_path / "never"  # a refused run leaves no folder behind
    assert _sft(missing, tiny_model_dir, tmp_path / "no-mix", "--max-steps", "1") == 2
    assert not missing.exists()


@pytest.mark.parametrize(("content", "what"), [(b'{"kind": "sft"', "not valid JSON (line 1"),
                                               (b"[]", "expected an object"), (b'{"kind": "\xff"}', "not UTF-8")])
def test_a_damaged_run_record_is_one_line_and_changes_nothing(tmp_path, content, what):
    """A run record cut off, of the wrong shape or not UTF-8: one line naming the file and the damage, for a new run
    and a resume alike; the folder is left as it was."""
    from visionr1.errors import VisionR1Error
    from visionr1.io import tree_digest
    from visionr1.train.record import RUN_RECORD, check_fresh, check_resume

    out = tmp_path / "run"
    (out / "checkpoint-1").mkdir(parents=True)
    (out / RUN_RECORD).write_bytes(content)
    before = tree_digest(out)
    record = {"kind": "sft", "model": "m", "model_fingerprint": None, "data_fingerprint": "d", "config_hash": "c"}
    for check in (lambda: check_fresh(out, record, force=False), lambda: check_fresh(out, record, force=True),
                  lambda: check_resume(out, out / "checkpoint-1", record, 4)):
        with pytest.raises(VisionR1Error) as exc:
            check()
        message = str(exc.value)
        assert "\n" not in message and message.startswith(f"{out / RUN_RECORD}: ") and what in message
        assert message.endswith("the run record is damaged; give a new --out")
    assert tree_digest(out) == before


def test_resume_continues_only_its_own_run_and_never_past_max_steps(tiny_model_dir, mix, tmp_path, capsys):
    """The "9/4" case: a resume continued a checkpoint-4 past --max-steps 2; a leftover checkpoint of another run
    was continued as if it were this run's."""
    from conftest import one_error

    a = tmp_path / "a"
    assert _sft(a, tiny_model_dir, mix, "--max-steps", "4", "--save-steps", "2") == 0
    capsys.readouterr()
    assert _sft(a, tiny_model_dir, mix, "--max-steps", "2", "--save-steps", "2", "--resume", "latest") == 2
    one_error(capsys, "checkpoint-4", "at step 4, past this run's max_steps 2")
    assert [r["step"] for r in metrics(a) if "loss" in r] == [1, 2, 3, 4]

    b = tmp_path / "b"  # another run (another learning rate) with a checkpoint-1
    assert _sft(b, tiny_model_dir, mix, "--max-steps", "1", "--save-steps", "1", "--learning-rate", "1e-3") == 0
    shutil.copytree(a / "checkpoint-2", b / "checkpoint-2")  # a leftover of run a, newer than b's own
    capsys.readouterr()
    assert _sft(b, tiny_model_dir, mix, "--max-steps", "3", "--save-steps", "1", "--learning-rate", "1e-3",
                "--resume", "latest") == 2
    one_error(capsys, "checkpoint-2", "the checkpoint is of another run (options")
    (b / "checkpoint-2" / "run.json").unlink()  # a checkpoint that does not say whose it is
    assert _sft(b, tiny_model_dir, mix, "--max-steps", "3", "--save-steps", "1", "--learning-rate", "1e-3",
                "--resume", "latest") == 2
    one_error(capsys, "checkpoint-2", "has no run record")
    assert _sft(b, tiny_model_dir, mix, "--max-steps", "3", "--resume", "latest") == 2  # run a's options, b's folder
    one_error(capsys, "holds another run")
    assert [r["step"] for r in metrics(b) if "loss" in r] == [1]


def test_a_second_run_into_the_same_folder_at_the_same_time_is_refused(tiny_model_dir, mix, tmp_path, capsys):
    import time

    from conftest import one_error

    out = tmp_path / "busy"
    first = subprocess.Popen([sys.executable, "-m", "visionr1.train", "sft", "--model", str(tiny_model_dir),
                              "--data", str(mix), "--out", str(out), "--max-steps", "1000", "--save-strategy", "no",
                              "--per-device-train-batch-size", "2", "--gradient-accumulation-steps", "1"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 300
        while not (out / "run.json").is_file():
            assert first.poll() is None and time.time() < deadline, first.stderr.read().decode()[-2000:]
            time.sleep(0.05)
        record = (out / "run.json").read_bytes()
        for extra in ((), ("--force",), ("--resume", "latest")):
            assert _sft(out, tiny_model_dir, mix, "--max-steps", "2", *extra) == 2
            one_error(capsys, out, "in use by another visionr1 run")
        assert first.poll() is None and (out / "run.json").read_bytes() == record
    finally:
        first.kill()
        first.wait()


def test_progress_lines_when_the_output_is_not_a_terminal(tiny_model_dir, mix, tmp_path):
    """Under SLURM, nohup or a pipe training printed one line at the end; now a line every N steps on the main
    process: step, reward and its terms, loss, KL, seconds per step and the time left."""
    import re

    out = tmp_path / "logged"
    env = {k: v for k, v in os.environ.items() if k != "VISIONR1_THREADS"} | {"OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "visionr1.train", "grpo", "--model", str(tiny_model_dir), "--data", str(mix),
         "--out", str(out), "--config", str(ROOT / "configs/grpo/tiny-cpu.yaml"), "--max-steps", "4",
         "--max-completion-length", "16", "--save-strategy", "no", "--progress-every", "2"],
        capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [x for x in proc.stderr.splitlines() if x.startswith("step ")]
    assert [x.split(",")[0].split(" (")[0].split(": ")[0][:8] for x in lines] == ["step 2/4", "step 4/4"], lines
    pattern = (r"step \d/4, reward [\d.]+ \(format [\d.]+ recall [\d.]+ precision [\d.]+\), loss [-\d.e]+, "
               r"kl [-\d.e]+, [\d.]+ s/step, ETA \d+s")
    assert all(re.fullmatch(pattern, x) for x in lines), lines
    assert lines[-1].endswith("ETA 0s")
    assert "grpo done" in proc.stdout
    assert "threads: 1 per process (set by OMP_NUM_THREADS)" in proc.stderr  # this test's own setting, said


def test_threads_are_chosen_said_and_overridable(monkeypatch):
    """CPU threads per process: --threads, else VISIONR1_THREADS, else OMP_NUM_THREADS, else the CPUs not busy
    at start shared by this machine's processes of the run; torch computes with them."""
    from visionr1 import threads
    from visionr1.errors import VisionR1Error

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("VISIONR1_THREADS", raising=False)
    n, why = threads.choose()
    assert 1 <= n <= threads.cpus() and "load" in why and "--threads" in why
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(4 * threads.cpus()))
    assert threads.choose()[0] == 1  # more processes than CPUs: one thread each
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert threads.choose() == (5, "set by OMP_NUM_THREADS")
    monkeypatch.setenv("VISIONR1_THREADS", "3")
    assert threads.choose() == (3, "set by VISIONR1_THREADS")
    assert threads.choose(2) == (2, "set by --threads")
    monkeypatch.setenv("VISIONR1_THREADS", "0")
    with pytest.raises(VisionR1Error, match="VISIONR1_THREADS must be a positive number"):
        threads.choose()
    code = ("import torch; from visionr1.cli import main; main(['--threads', '3', 'synth', 'world', '--help']); "
            "print(torch.get_num_threads())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"})
    assert proc.stdout.split()[-1] == "3", proc.stderr[-2000:]


def test_a_mistyped_model_path_is_one_line_without_a_hub_lookup(tiny_model_dir, mix, tmp_path, capsys,
                                                                 monkeypatch):
    """A model path that looks local (or any, with HF_HUB_OFFLINE=1; a one-word name, which no hub VLM has) used
    to become a hub lookup: "Repo id must be in the form ..." or ~25 s of network retries."""
    import time

    from conftest import one_error

    (tmp_path / "runs").mkdir()
    monkeypatch.chdir(tmp_path)
    for typo in (str(tmp_path / "runs" / "sft-typo"), "./runs/sft", "runs/demo/model", "runs/sft/", "~/no-model",
                 "grpo-run"):
        start = time.monotonic()
        assert run_cli("train", "sft", "--model", typo, "--data", mix, "--out", tmp_path / "o") == 2
        one_error(capsys, f"no such model folder: {typo}")
        assert time.monotonic() - start < 10 and not (tmp_path / "o").exists()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert run_cli("eval", "custom", "--model", "Qwen/Qwen2.5-VL-7B-Instruct", "--annotations",
                   tmp_path / "a.json", "--data-root", tmp_path, "--out", tmp_path / "e") == 2
    one_error(capsys, "no such model folder: Qwen/Qwen2.5-VL-7B-Instruct")
    assert run_cli("train", "grpo", "--model", "Qwen/Qwen2.5-VL-7B-Instruct", "--data", mix, "--out",
                   tmp_path / "o") == 2
    one_error(capsys, "no such model folder: Qwen/Qwen2.5-VL-7B-Instruct", "HF_HUB_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert run_cli("train", "sft", "--model", "grpo-run", "--data", mix, "--out", tmp_path / "o") == 2
    one_error(capsys, "no such model folder: grpo-run", "a hub id is org/name")
    from visionr1.models import check_model_path

    check_model_path("Qwen/Qwen2.5-VL-7B-Instruct")  # a hub id stays one
    check_model_path(str(tiny_model_dir))


@pytest.mark.parametrize("config", sorted(p.relative_to(ROOT).as_posix() for d in ("configs/grpo", "configs/sft")
                                          for p in (ROOT / d).glob("*.yaml")))
def test_every_shipped_training_config_loads_and_bounds_its_checkpoints(config, tmp_path):
    """Every training config loads; every one but the CPU trials' (tiny-*) keeps a bounded number of checkpoints
    (a 7B checkpoint with optimizer state is about 115 GB): configs added later are covered too."""
    from visionr1.train.config import load_config

    doc = yaml.safe_load((ROOT / config).read_text())
    if not Path(config).name.startswith("tiny-"):
        assert isinstance(doc.get("save_total_limit"), int) and 1 <= doc["save_total_limit"] <= 4, config
    kind = config.split("/")[1]
    options = load_config(kind, ROOT / config, {"attn_implementation": "sdpa", "bf16": "false"}, tmp_path)
    assert options.save_total_limit == doc.get("save_total_limit")


def test_train_options_lists_every_option_and_help_keeps_its_text(capsys):
    from dataclasses import fields

    from visionr1.train.config import VisionR1GRPOConfig

    assert run_cli("train", "options", "grpo") == 0
    listed = capsys.readouterr().out
    assert "--beta (default 0.2): KL coefficient" in listed and "--progress-every (default 0)" in listed
    assert all(f"--{f.name.replace('_', '-')} (" in listed for f in fields(VisionR1GRPOConfig) if f.init)
    assert run_cli("train", "options", "dpo") == 2
    for argv, text in ((("train", "grpo", "--help"), "configs/grpo/*.yaml"),
                       (("train", "grpo", "--help"), "visionr1 train options grpo"),
                       (("data", "stats", "--help"), "<path>/stats"),
                       (("data", "build", "--help"), "shapes-simple")):
        capsys.readouterr()
        run_cli(*argv)
        assert text in " ".join(capsys.readouterr().out.replace("│", " ").split()), (argv, text)


def test_run_identity_sees_weights_not_paths(tiny_model_dir, mix, tmp_path):
    """The run record names a local model by its weights: the same checkpoint in another folder (moved, copied) is
    the same run; other weights, another mix or other options are another run."""
    from visionr1.train.record import config_hash, differences, run_record

    link = tmp_path / "moved"
    shutil.copytree(tiny_model_dir, link)
    options = {"learning_rate": 1e-6, "beta": 0.2, "max_steps": 4}
    a = run_record("grpo", str(tiny_model_dir), mix, options)
    assert differences(a, run_record("grpo", str(link), mix, options)) == []
    assert differences(a, run_record("grpo", str(tiny_model_dir), mix, {**options, "max_steps": 8})) == []
    other = run_record("grpo", str(tiny_model_dir), mix, {**options, "beta": 0.04, "lr_scheduler_type": "cosine"})
    assert differences(a, other) == [  # the options that differ are named
        "options: beta 0.2 (this run: 0.04), lr_scheduler_type TRL's default (this run: cosine)"]
    legacy = {k: v for k, v in a.items() if k != "options"}  # a record written before the options were kept
    assert differences(legacy, other)[0].startswith("options (config hash")
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})


def test_run_config_and_hash_hold_every_option_that_differs_from_trl(tmp_path):
    """run_config.json and the config hash held only visionr1's options and a fixed list of TRL's: a run with
    another --lr-scheduler-type or --warmup-steps was "this run already", and --resume continued it with the new
    schedule. Every TRL option that differs from TRL's default is now recorded and hashed (gradient checkpointing,
    memory for time, may change on resume); a hub token is never written."""
    from visionr1.train.config import describe, load_config
    from visionr1.train.record import config_hash

    config = ROOT / "configs/grpo/tiny-cpu.yaml"

    def options(**overrides):
        return describe(load_config("grpo", config, {k: str(v) for k, v in overrides.items()}, tmp_path))

    base = options()
    assert base["save_steps"] == 2 and base["gradient_checkpointing"] is False  # from the YAML, TRL: 500, true
    assert "lr_scheduler_type" not in base and "weight_decay" not in base  # at TRL's default
    for key, value in (("lr_scheduler_type", "cosine"), ("warmup_steps", 5), ("weight_decay", 0.1),
                       ("max_grad_norm", 0.5)):
        other = options(**{key: value})
        assert key in other and config_hash(other) != config_hash(base), key
    assert config_hash(options(gradient_checkpointing="true")) == config_hash(base)
    assert config_hash(options(max_steps=8, save_steps=4)) == config_hash(base)
    recorded = options(hub_token="hf_secret")
    assert "hub_token" not in recorded and "hf_secret" not in json.dumps(recorded, default=str)
    sft = describe(load_config("sft", ROOT / "configs/sft/tiny-cpu.yaml", {}, tmp_path))
    assert sft["learning_rate"] == 1e-4 and sft["max_length"] is None  # visionr1's default (TRL: 1024)
    eos = describe(load_config("sft", ROOT / "configs/sft/tiny-cpu.yaml", {"eos_token": "<|endoftext|>"}, tmp_path))
    assert eos["eos_token"] == "<|endoftext|>" and config_hash(eos) != config_hash(sft)  # a token, no credential


def test_data_fingerprint_of_a_damaged_manifest_is_the_datasets_own(tmp_path):
    """A manifest that is not a JSON object (a list, cut-off JSON) gives the dataset's own identity, no traceback."""
    from visionr1.train.record import data_fingerprint

    (tmp_path / "state.json").write_text('{"_fingerprint": "abc"}')
    own = data_fingerprint(tmp_path)
    for damaged in ("[1, 2]", '{"fingerprint": ', '"text"'):
        (tmp_path / "manifest.json").write_text(damaged)
        assert data_fingerprint(tmp_path) == own
    (tmp_path / "manifest.json").write_text('{"fingerprint": "f00d"}')
    assert data_fingerprint(tmp_path) == "f00d"


def test_a_hub_id_downloaded_since_is_the_same_run():
    """A hub id not in the cache had no fingerprint when its run started; the same id, cached since, is that run's
    model, and a newer snapshot of it is not."""
    from visionr1.train.record import differences

    record = {"kind": "grpo", "model": "org/m", "model_fingerprint": None, "data_fingerprint": "d", "config_hash": "c"}
    assert differences(record, {**record, "model_fingerprint": "abc"}) == []
    cached = {**record, "model_fingerprint": "abc"}
    assert differences(cached, {**record, "model_fingerprint": "def"}) == ["the weights of org/m changed"]
