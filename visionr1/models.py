"""Load a vision-language checkpoint and its processor with given pixel limits (training and evaluation)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from visionr1.errors import VisionR1Error

# transformers model types of each family (the coordinate space depends on it)
FAMILY_MODEL_TYPES = {"qwen2.5-vl": ("qwen2_5_vl",), "qwen2-vl": ("qwen2_vl",),
                      "qwen3-vl": ("qwen3_vl", "qwen3_vl_moe")}


def custom_loader(spec: str):
    """The ``module:function`` of a model loader."""
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


def check_model(path: str, family: str, loader: str | None = None) -> None:
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


def load_model(path: str, *, min_pixels: int, max_pixels: int, bf16: bool = False, loader: str | None = None,
               loader_config: Any = None, freeze_vision_tower: bool = False):
    """``(model, processor)``: transformers' Auto classes (or ``loader(path, loader_config)``), the processor set
    to ``min_pixels`` / ``max_pixels``, the vision tower frozen if asked."""
    if loader:
        model, processor = custom_loader(loader)(path, loader_config)
    else:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        processor = AutoProcessor.from_pretrained(path, size={"shortest_edge": min_pixels, "longest_edge": max_pixels})
        model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.bfloat16 if bf16 else torch.float32)
    if freeze_vision_tower:
        tower = getattr(getattr(model, "model", model), "visual", None)
        if tower is None:
            raise VisionR1Error("freeze_vision_tower: the model has no 'visual' module")
        tower.requires_grad_(False)
    return model, processor
