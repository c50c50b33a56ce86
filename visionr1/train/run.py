"""Run GRPO or SFT: check the inputs, load, train with TRL, save model + processor, metrics and curves."""

from __future__ import annotations

import json
import os
from pathlib import Path

from visionr1.errors import VisionR1Error

RUN_CONFIG = "run_config.json"


def _resume_arg(resume: str | None, out: Path) -> str | None:
    from visionr1.cli import console
    from visionr1.train.checkpoints import incomplete, latest_checkpoint

    if resume is None:
        return None
    if resume == "latest":
        last, skipped = latest_checkpoint(out)
        for folder, reason in skipped:
            console.err.print(f"skipping {folder}: {reason} (a run stopped while writing it)")
        if last is None:
            raise VisionR1Error(f"--resume latest: no complete checkpoint-* folder in {out}")
        return str(last)
    folder = Path(resume)
    if not (folder / "trainer_state.json").is_file():
        raise VisionR1Error(f"--resume {resume} is not a checkpoint folder (no trainer_state.json)")
    reason = incomplete(folder) if folder.name.startswith("checkpoint-") else None
    if reason:
        raise VisionR1Error(f"--resume {resume}: the checkpoint is incomplete ({reason})")
    return resume


def _trainer_class(base, record: dict):
    """``base`` (GRPOTrainer / SFTTrainer) restoring every weight of a checkpoint on resume (transformers' own
    loading matches the checkpoint's hub-layout names against the model's renamed modules, warns about all of
    them as missing and trains on from the base weights), and writing the run ``record`` into every checkpoint
    before its weights and trainer state (so a complete checkpoint always says which run wrote it)."""

    class Trainer(base):
        def save_model(self, output_dir=None, _internal_call=False):
            if _internal_call and output_dir and self.args.should_save:
                from visionr1.io import write_json
                from visionr1.train.record import RUN_RECORD

                write_json(Path(output_dir) / RUN_RECORD, record, indent=2)
            return super().save_model(output_dir, _internal_call)

        def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
            from transformers.trainer import _is_peft_model

            from visionr1.train.checkpoints import restore_weights

            target = self.model if model is None else model
            if self.is_deepspeed_enabled or self.is_fsdp_enabled or _is_peft_model(target):
                return super()._load_from_checkpoint(resume_from_checkpoint, model)
            restore_weights(target, Path(resume_from_checkpoint))
            return None

    Trainer.__name__ = Trainer.__qualname__ = f"VisionR1{base.__name__}"
    return Trainer


def train(kind: str, model_path: str, data: Path, out: Path, config, resume: str | None = None,
          force: bool = False) -> Path:
    """Train ``kind`` (grpo / sft) and save the final model and processor to ``out``.

    ``out`` is protected by its run record (``visionr1.train.record``): the main process holds the folder's lock
    for the whole run, a run that starts from step 0 needs an empty folder (or ``force``, which clears a training
    folder and nothing else), and ``resume`` continues only a checkpoint of this same run."""
    from contextlib import ExitStack

    from visionr1.io import lock_dir

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise VisionR1Error(f"output path {out} exists and is not a directory")
    if force and resume is not None:
        raise VisionR1Error("--force starts the run over and --resume continues it: give one of them")
    main = os.environ.get("RANK", "0") == "0"
    created = not out.exists()
    try:
        with ExitStack() as stack:
            if main:  # a second run into the same folder stops here, before reading it
                stack.enter_context(lock_dir(out))
            return _train(kind, model_path, data, out, config, resume, force, main)
    except VisionR1Error:
        if created and main and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # a refused run leaves no folder behind
        raise


def _train(kind: str, model_path: str, data: Path, out: Path, config, resume: str | None, force: bool,
           main: bool) -> Path:
    from transformers import PrinterCallback, ProgressCallback
    from transformers.utils import logging as hf_logging

    from visionr1.cli import console
    from visionr1.io import write_json
    from visionr1.models import check_model, load_model
    from visionr1.train.callbacks import METRICS, HeldoutEval, MetricsFile, RichProgress
    from visionr1.train.checkpoints import cut_metrics
    from visionr1.train.config import deepspeed_stage, describe
    from visionr1.train.data import grpo_dataset, load_dataset_dir, readable_samples, sft_dataset
    from visionr1.train.model import peft_config, with_pixel_limits
    from visionr1.train.record import RUN_RECORD, check_fresh, check_resume, run_record

    resume_from = _resume_arg(resume, out)
    check_model(model_path, config.family, config.model_loader)
    mix, unreadable = readable_samples(load_dataset_dir(data, config.family))
    for reason, n in unreadable.items():
        console.err.print(f"[yellow]skipped[/] {n} of the mix's samples: {reason}", highlight=False)
    heldout = None
    if config.heldout_every:  # read and checked before the model loads
        from visionr1.eval.custom import custom_sets

        heldout = custom_sets(Path(config.heldout_annotations), Path(config.heldout_images), config.family,
                              protocol=config.heldout_protocol, limit=config.heldout_limit, name="heldout")[0]
    record = run_record(kind, model_path, data, describe(config))
    if resume_from is not None:
        check_resume(out, Path(resume_from), record, config.max_steps)
    elif main and check_fresh(out, record, force):
        from visionr1.io import clear_dir

        clear_dir(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VisionR1Error(f"cannot create output directory {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise VisionR1Error(f"output directory {out} is not writable")
    if main:
        write_json(out / RUN_RECORD, record, indent=2)
    from visionr1.threads import announce

    announce()
    if getattr(config, "use_vllm", False) and not config.model_loader:  # vLLM reads the processor from the folder
        model_path = with_pixel_limits(model_path, config.family, config.min_pixels, config.max_pixels,
                                       out / "vllm-model")
    # bf16 compute with fp32 master weights: DeepSpeed keeps its own fp32 copy of bf16 weights; without it the
    # weights stay fp32 and bf16 is autocast only (bf16 weights would round away most updates at lr 1e-6)
    dtype = "bfloat16" if config.bf16 and deepspeed_stage(config.deepspeed) is not None else "float32"
    model, processor = load_model(model_path, family=config.family, min_pixels=config.min_pixels,
                                  max_pixels=config.max_pixels, dtype=dtype,
                                  attn_implementation=config.attn_implementation,
                                  init_kwargs=config.model_init_kwargs, loader=config.model_loader,
                                  loader_config=config, freeze_vision_tower=config.freeze_vision_tower)
    callbacks = [MetricsFile(out), RichProgress(config.progress_every)]
    if heldout is not None:
        callbacks.append(HeldoutEval(out, heldout, config.family, config.min_pixels, config.max_pixels,
                                     config.heldout_every, config.heldout_max_new_tokens))
    config.disable_tqdm = True
    if kind == "grpo":
        from trl import GRPOTrainer

        from visionr1.rewards import reward_funcs

        trainer = _trainer_class(GRPOTrainer, record)(
            model=model, reward_funcs=reward_funcs(config.reward_config()), args=config,
            train_dataset=grpo_dataset(mix), processing_class=processor, peft_config=peft_config(config),
            callbacks=callbacks)
    else:
        from trl import SFTTrainer

        trainer = _trainer_class(SFTTrainer, record)(
            model=model, args=config, processing_class=processor, peft_config=peft_config(config),
            train_dataset=sft_dataset(mix, config.family, config.min_pixels, config.max_pixels), callbacks=callbacks)
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    hf_logging.disable_progress_bar()
    if trainer.accelerator.is_main_process:
        if resume_from is not None:
            step = json.loads((Path(resume_from) / "trainer_state.json").read_text())["global_step"]
            cut_metrics(out / METRICS, step)
        (out / RUN_CONFIG).write_text(json.dumps({
            "kind": kind, "model": str(model_path), "data": str(data), "resume": resume_from,
            "processes": trainer.accelerator.num_processes, "weights_dtype": dtype, "skipped_samples": unreadable,
            "options": describe(config)}, indent=2))
    trainer.train(resume_from_checkpoint=resume_from)
    if config.use_lora:  # a plain checkpoint that evaluation loads like any other (ZeRO-3 is refused up front)
        trainer.model = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
    text_config = trainer.accelerator.unwrap_model(trainer.model).config.get_text_config()
    if getattr(text_config, "output_router_logits", False):  # TRL's SFT turns it on; generate() fails with it
        text_config.output_router_logits = False
    trainer.save_model(str(out))
    if trainer.accelerator.is_main_process:
        processor.save_pretrained(str(out))
    return out
