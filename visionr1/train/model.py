"""Load the policy: a vision-language checkpoint and its processor with the run's pixel limits."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from visionr1.errors import VisionR1Error

# transformers model types of each family (the coordinate space depends on it)
FAMILY_MODEL_TYPES = {"qwen2.5-vl": ("qwen2_5_vl",), "qwen2-vl": ("qwen2_vl",),
                      "qwen3-vl": ("qwen3_vl", "qwen3_vl_moe")}


def custom_loader(spec: str):
    """The ``module:function`` given by ``model_loader``."""
    module, _, name = spec.partition(":")
    if not module or not name:
        raise VisionR1Error(f"model_loader must be 'module:function', got '{spec}'")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise VisionR1Error(f"cannot import model_loader '{spec}': {exc}") from None
    if not callable(fn):
        raise VisionR1Error(f"model_loader '{spec}' is not callable")
    return fn


def check_model(path: str, family: str, loader: str | None) -> None:
    """Light checks before anything heavy is loaded: the checkpoint is a vision-language model of ``family``."""
    if loader:
        custom_loader(loader)
        return
    if family == "griffon-g":
        raise VisionR1Error("Griffon-G is not in transformers: give a loader with --model-loader module:function "
                            "returning (model, processor)")
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    if Path(path).exists() and not (Path(path) / "config.json").is_file():
        raise VisionR1Error(f"model path {path} has no config.json (not a Hugging Face checkpoint folder)")
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise VisionR1Error(f"cannot read the model config of '{path}': {' '.join(str(exc).split())[:300]}") from None
    if config.model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        raise VisionR1Error(f"'{path}' is a '{config.model_type}' model, not a vision-language (image-text-to-text) "
                            "model")
    if config.model_type not in FAMILY_MODEL_TYPES.get(family, ()):
        raise VisionR1Error(f"'{path}' is a '{config.model_type}' model but the family is '{family}' (expects "
                            f"{' or '.join(FAMILY_MODEL_TYPES.get(family, ('?',)))}); set --family to match")


def load_model(path: str, config: Any):
    """``(model, processor)``: transformers' Auto classes (or ``config.model_loader``), the processor set to
    ``config.min_pixels`` / ``config.max_pixels``, the vision tower frozen if asked."""
    if config.model_loader:
        model, processor = custom_loader(config.model_loader)(path, config)
    else:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        processor = AutoProcessor.from_pretrained(
            path, size={"shortest_edge": config.min_pixels, "longest_edge": config.max_pixels})
        dtype = torch.bfloat16 if config.bf16 else torch.float32
        model = AutoModelForImageTextToText.from_pretrained(path, dtype=dtype)
    if config.freeze_vision_tower:
        tower = getattr(getattr(model, "model", model), "visual", None)
        if tower is None:
            raise VisionR1Error("freeze_vision_tower: the model has no 'visual' module")
        tower.requires_grad_(False)
    return model, processor


def peft_config(config: Any):
    """The LoRA configuration, when ``use_lora``."""
    if not config.use_lora:
        return None
    from peft import LoraConfig

    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=config.lora_target_modules, task_type="CAUSAL_LM")


PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")


def with_pixel_limits(path: str, min_pixels: int, max_pixels: int, out: Path) -> str:
    """A checkpoint folder whose processor config carries ``min_pixels`` / ``max_pixels``.

    vLLM builds its own processor from the checkpoint folder, so a run whose pixel limits differ from the
    checkpoint's gets ``out`` (links to the model files, patched processor configs); otherwise ``path`` itself.
    """
    src = Path(path)
    if not src.is_dir():
        raise VisionR1Error(f"use_vllm needs a local checkpoint folder (to give vLLM the run's pixel limits); "
                            f"'{path}' is not one")
    patched: dict[str, dict] = {}
    for name in PROCESSOR_FILES:
        f = src / name
        if not f.is_file():
            continue
        doc = json.loads(f.read_text())
        target = doc.get("image_processor", doc)  # processor_config.json nests it
        size = {"shortest_edge": min_pixels, "longest_edge": max_pixels}
        limits_now = (target.get("min_pixels"), target.get("max_pixels"), target.get("size"))
        target["size"] = size
        for key, value in (("min_pixels", min_pixels), ("max_pixels", max_pixels)):
            if key in target:
                target[key] = value
        if (target.get("min_pixels"), target.get("max_pixels"), target.get("size")) != limits_now:
            patched[name] = doc
    if not patched:
        return str(src)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        dst = out / f.name
        if f.name in patched:
            dst.write_text(json.dumps(patched[f.name], indent=2))
        elif not dst.exists():
            dst.symlink_to(f.resolve())
    return str(out)
