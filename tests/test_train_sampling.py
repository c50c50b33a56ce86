"""GRPO sampling and loss options against trl 0.14 (the released trainer) and TRL 1.16: the configs' choices,
run_config.json's record of them, and 2 processes with several prompts each and gradient accumulation checked
for groups, advantages and the STEP switch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import torch
import yaml
from test_train import metrics, mix  # noqa: F401 - the mix fixture

from visionr1.train.config import LOSS_OPTIONS, SAMPLING_OPTIONS, describe, load_config

ROOT = Path(__file__).resolve().parent.parent
PAPER, RELEASED = ROOT / "configs/grpo/qwen2.5-vl-7b.yaml", ROOT / "configs/grpo/qwen2.5-vl-7b-released.yaml"
CPU = ["--bf16", "false", "--attn-implementation", "sdpa"]  # the configs' GPU settings, off on a CPU


def _config(path: Path, tmp_path: Path, **over):
    return load_config("grpo", path, {"bf16": "false", "attn_implementation": "sdpa", **over}, tmp_path)


def test_configs_state_their_sampling(tmp_path):
    from trl import GRPOConfig

    trl = {f.name: f.default for f in fields(GRPOConfig)}
    assert trl["top_k"] == 0 and trl["vllm_importance_sampling_correction"] is True  # TRL 1.16
    released, paper = _config(RELEASED, tmp_path), _config(PAPER, tmp_path)
    # trl 0.14 sampled from the top 50 tokens at temperature 1 (transformers 4.x's GenerationConfig default)
    assert (released.top_k, released.top_p, released.temperature, released.min_p) == (50, 1.0, 1.0, None)
    assert released.repetition_penalty == 1.0 and released.vllm_importance_sampling_correction is False
    assert (paper.top_k, paper.top_p, paper.temperature) == (50, 1.0, 1.0)
    for path in (PAPER, RELEASED):  # each choice is written in the file, not left to TRL's default
        assert {"top_k", "top_p", "temperature"} <= set(yaml.safe_load(path.read_text()))


def test_run_config_records_every_sampling_and_loss_option(tmp_path):
    from trl import GRPOConfig

    names = {f.name for f in fields(GRPOConfig)}
    assert set(SAMPLING_OPTIONS) | set(LOSS_OPTIONS) <= names  # the lists name TRL's real options
    for key in ("top_k", "top_p", "min_p", "repetition_penalty", "temperature", "vllm_importance_sampling_correction",
                "vllm_importance_sampling_mode", "vllm_importance_sampling_clip_max", "loss_type", "epsilon"):
        assert key in SAMPLING_OPTIONS + LOSS_OPTIONS
    options = describe(_config(RELEASED, tmp_path))
    assert all(k in options for k in SAMPLING_OPTIONS + LOSS_OPTIONS)
    assert options["top_k"] == 50 and options["vllm_importance_sampling_correction"] is False
    assert options["vllm_importance_sampling_clip_max"] == 3.0 and options["min_p"] is None
    default = describe(load_config("grpo", None, {}, tmp_path))  # TRL's defaults are recorded too
    assert default["top_k"] == 0 and default["vllm_importance_sampling_mode"] == "sequence_mask"


def test_docs_train_table_is_generated_from_the_configs_and_trl(tmp_path):
    from visionr1.train.options_table import render, write

    doc = (ROOT / "docs/train.md").read_text()
    assert render() in doc, "docs/train.md is out of date: python -m visionr1.train.options_table"
    # the TRL column comes from GRPOConfig (the hand-written one said 1 epoch and 256 tokens)
    assert "| `learning_rate`, `num_train_epochs` | 1e-6, 1 | 1e-6, 1 | 1e-6, 3 |" in doc
    assert "| `max_completion_length` | 512 | 512 | 512 |" in doc and "| `top_k` | 50 (" in doc
    assert "not recorded" not in doc
    stale = tmp_path / "train.md"
    stale.write_text(doc.replace("| 1e-6, 3 |", "| 1e-6, 1 |"))
    assert write(stale) and stale.read_text() == doc  # the generator puts the drifted cell back


def _group_advantages(rewards: torch.Tensor, group: int) -> torch.Tensor:
    """The released trainer's (trl 0.14) advantages: (r - group mean) / (group std + 1e-4), unbiased std."""
    r = rewards.view(-1, group)
    return ((r - r.mean(1, keepdim=True)) / (r.std(1, keepdim=True) + 1e-4)).view(-1)


def test_two_processes_several_prompts_accumulation_groups_advantages_and_step(tiny_model_dir, mix,  # noqa: F811
                                                                               tmp_path):
    """configs/grpo/qwen2.5-vl-7b.yaml (8 completions per micro-step, G = 4, accumulation 2: 4 prompts per process
    per optimizer step) on 2 CPU processes, STEP 0.5 of 2 steps. Every process's generation batch holds whole
    groups of one prompt each, the processes hold different prompts, the advantages are the group-normalised
    rewards of all processes, the reward switches phase at step 1 on both, and the rollouts sample with the
    config's top_k."""
    out, probe = tmp_path / "ddp", tmp_path / "probe"
    probe.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
         str(ROOT / "configs/accelerate/cpu2.yaml"), str(ROOT / "tests/grpo_probe.py"), "grpo", "--model",
         str(tiny_model_dir), "--data", str(mix), "--out",
         str(out), "--config", str(PAPER), "--max-steps", "2", "--switch", "0.5", "--max-completion-length", "12",
         "--gradient-checkpointing", "false", "--save-strategy", "no", *CPU],
        capture_output=True, text=True, timeout=900, env={**os.environ, "PROBE_OUT": str(probe),
                                                          "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = json.loads((out / "run_config.json").read_text())
    assert run["processes"] == 2
    records = {rank: json.loads((probe / f"probe-{rank}.json").read_text()) for rank in (0, 1)}
    group = 4
    keys_at = {}
    for rank, recs in records.items():
        rewards = [r for r in recs if r["what"] == "rewards"]
        batches = [r for r in recs if r["what"] == "batch"]
        assert [r["step"] for r in rewards] == [0, 1] == [b["step"] for b in batches]  # one generation per step
        for r, b in zip(rewards, batches, strict=True):
            local = len(r["keys"])
            assert local == 8 * 2 and r["process"] == rank and r["processes"] == 2  # 4 prompts per process
            groups = [r["keys"][i: i + group] for i in range(0, local, group)]
            assert all(len(set(g)) == 1 for g in groups)  # a group is G completions of one prompt
            assert len({g[0] for g in groups}) == local // group  # of different prompts
            keys_at.setdefault(r["step"], []).append({g[0] for g in groups})
            gathered = torch.tensor(r["gathered"])
            assert gathered.shape == (2 * local, 3)
            total = (gathered * torch.tensor(r["weights"])).sum(1)
            expected = _group_advantages(total, group)[rank * local: (rank + 1) * local]
            assert torch.allclose(torch.tensor(b["advantages"]), expected, atol=1e-5)
        schedule = [r for r in recs if r["what"] == "schedule"]
        assert [(r["steps"], r["phase"]) for r in schedule] == [([0], 1), ([1], 2)]  # STEP 0.5 of 2 steps
        generation = [r for r in recs if r["what"] == "generation"]
        assert generation and all(g["do_sample"] and g["top_k"] == run["options"]["top_k"] == 50 and
                                  g["top_p"] == run["options"]["top_p"] and
                                  g["temperature"] == run["options"]["temperature"] for g in generation)
    assert all(not (a & b) for a, b in keys_at.values())  # the processes hold different prompts
    assert [r["reward/phase"] for r in metrics(out) if "reward/phase" in r] == [1.0, 2.0]

