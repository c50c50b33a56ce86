"""The options of ``visionr1 synth pretrain`` and their defaults, the first run of the shipped base's recipe (its
card lists every run). Kept apart from ``visionr1.synth.pretrain`` so that the CLI takes its defaults from here
without importing the world."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PretrainConfig:
    """Options of ``visionr1 synth pretrain``; the CLI's defaults are these."""

    size: str = "small"  # synth tiny-model size preset of the initial random weights
    steps: int = 6000
    seed: int = 0  # weights, tokenizer and the pretraining stream
    batch_size: int = 16  # conversations (images) per step
    turns: int = 3  # questions per image
    learning_rate: float = 1e-3
    warmup_steps: int = 200
    weight_decay: float = 0.01
    save_every: int = 250  # steps between resumable training states
    probe_every: int = 250  # steps between held-out probes (real vs shuffled images)
    log_every: int = 25  # steps between log lines
    family: str = "qwen2.5-vl"
    init: str | None = None  # a checkpoint of this command to continue from, instead of random weights
    partial_detection: bool = False  # detection answers name part of the scene (PARTIAL_DETECTION)
    grow_scenes: bool = False  # scenes grow from a few objects to the profile's most over the run (GROW_SCENES)
    first_image: int = 0  # first image of the pretraining stream (a continued run starts after its init's)
    # a step's conversations in this many length-sorted parts, each padded to its own longest (gradients equal to
    # one padded batch's; benchmarks/pretrain_step.py). Runs before this option had 1.
    length_groups: int = 4
