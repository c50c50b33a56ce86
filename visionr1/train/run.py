"""Run GRPO or SFT: check the inputs, load, train with TRL, save model + processor, metrics and curves."""

from __future__ import annotations

import json
from pathlib import Path

from visionr1.errors import VisionR1Error

RUN_CONFIG = "run_config.json"


def _resume_arg(resume: str | None, out: Path):
    if resume is None:
        return None
    if resume == "latest":
        from transformers.trainer_utils import get_last_checkpoint

        last = get_last_checkpoint(str(out)) if out.is_dir() else None
        if last is None:
            raise VisionR1Error(f"--resume latest: no checkpoint-* folder in {out}")
        return last
    if not (Path(resume) / "trainer_state.json").is_file():
        raise VisionR1Error(f"--resume {resume} is not a checkpoint folder (no trainer_state.json)")
    return resume


def train(kind: str, model_path: str, data: Path, out: Path, config, resume: str | None = None) -> Path:
    """Train ``kind`` (grpo / sft) and save the final model and processor to ``out``."""
    from transformers import PrinterCallback, ProgressCallback
    from transformers.utils import logging as hf_logging

    from visionr1.models import check_model, load_model
    from visionr1.train.callbacks import MetricsFile, RichProgress
    from visionr1.train.config import describe
    from visionr1.train.data import grpo_dataset, load_dataset_dir, sft_dataset
    from visionr1.train.model import peft_config, with_pixel_limits

    out = Path(out)
    if getattr(config, "use_vllm", False):
        import importlib.util

        if importlib.util.find_spec("vllm") is None:
            raise VisionR1Error("use_vllm needs vLLM, which is not installed: pip install -e '.[vllm]' (or leave "
                                "use_vllm off to generate with transformers)")
    resume_from = _resume_arg(resume, out)
    check_model(model_path, config.family, config.model_loader)
    mix = load_dataset_dir(data, config.family)
    if out.exists() and any(out.iterdir()) and resume_from is None and not (out / RUN_CONFIG).is_file():
        raise VisionR1Error(f"output folder {out} is not empty and holds no earlier run")
    out.mkdir(parents=True, exist_ok=True)
    if getattr(config, "use_vllm", False) and not config.model_loader:  # vLLM reads the processor from the folder
        model_path = with_pixel_limits(model_path, config.min_pixels, config.max_pixels, out / "vllm-model")
    model, processor = load_model(model_path, min_pixels=config.min_pixels, max_pixels=config.max_pixels,
                                  bf16=config.bf16, loader=config.model_loader, loader_config=config,
                                  freeze_vision_tower=config.freeze_vision_tower)
    callbacks = [MetricsFile(out), RichProgress()]
    config.disable_tqdm = True
    if kind == "grpo":
        from trl import GRPOTrainer

        from visionr1.rewards import reward_funcs

        trainer = GRPOTrainer(model=model, reward_funcs=reward_funcs(config.reward_config()), args=config,
                              train_dataset=grpo_dataset(mix), processing_class=processor,
                              peft_config=peft_config(config), callbacks=callbacks)
    else:
        from trl import SFTTrainer

        trainer = SFTTrainer(model=model, args=config, processing_class=processor, peft_config=peft_config(config),
                             train_dataset=sft_dataset(mix, config.family, config.min_pixels, config.max_pixels),
                             callbacks=callbacks)
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    hf_logging.disable_progress_bar()
    if trainer.accelerator.is_main_process:
        (out / RUN_CONFIG).write_text(json.dumps({
            "kind": kind, "model": str(model_path), "data": str(data), "resume": resume_from,
            "processes": trainer.accelerator.num_processes, "options": describe(config)}, indent=2))
    trainer.train(resume_from_checkpoint=resume_from)
    if config.use_lora:  # a plain checkpoint that evaluation loads like any other
        trainer.model = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
    trainer.save_model(str(out))
    if trainer.accelerator.is_main_process:
        processor.save_pretrained(str(out))
    return out
