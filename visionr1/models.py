"""Load a vision-language checkpoint and its processor with given pixel limits (training, evaluation, vLLM).

``build_processor`` is the one place a processor is made. A hub checkpoint's ``preprocessor_config.json``
carries ``min_pixels`` / ``max_pixels`` (3136 / 12845056 for Qwen2.5-VL-7B-Instruct) that override a ``size=``
argument of ``from_pretrained`` in transformers, so the run's limits are set on the loaded image processor and
the result is checked against the coordinate adapter's geometry on probe images (docs/spec.md §1).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
from pathlib import Path
from typing import Any

from visionr1.errors import VisionR1Error

# transformers model types of each family (the coordinate space depends on it)
FAMILY_MODEL_TYPES = {"qwen2.5-vl": ("qwen2_5_vl",), "qwen2-vl": ("qwen2_vl",),
                      "qwen3-vl": ("qwen3_vl", "qwen3_vl_moe", "qwen3_5", "qwen3_5_moe")}
FAMILY_MODEL_TYPES["qwen3-vl-thinking"] = FAMILY_MODEL_TYPES["qwen3-vl"]  # the Thinking variants: same models
# probe images (width, height): above max_pixels at the default limits, tall, below min_pixels, odd sizes
PROBES = ((1280, 720), (333, 1000), (40, 30), (517, 389))
ATTENTION = ("eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention")


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


_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")  # org/name: the hub's VLMs all have an org
_TRUE = ("1", "true", "yes", "on")


def hub_offline() -> bool:
    """The Hugging Face hub is switched off (``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``)."""
    return any(os.environ.get(v, "").lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def check_model_path(path: str) -> None:
    """A model that is not a folder here is looked up on the hub only when it can be a hub id (``org/name``,
    whose ``org`` is no folder here: the hub's one-word ids are old text models) and the hub is not offline: a
    mistyped local path (``./runs/sft``, ``/data/model``, ``runs/demo/grpo/``, ``runs/sft`` where ``runs/``
    exists, ``grpo-run``) is one line at once, not a lookup with network retries."""
    if Path(path).expanduser().exists():
        return
    if hub_offline():
        raise VisionR1Error(f"no such model folder: {path} (HF_HUB_OFFLINE is set, so it is not looked up on the hub)")
    first = Path(path).parts[0] if Path(path).parts else path
    if not _HUB_ID.fullmatch(path) or Path(first).is_dir():
        hint = "" if "/" in path else " (a hub id is org/name, e.g. Qwen/Qwen2.5-VL-7B-Instruct)"
        raise VisionR1Error(f"no such model folder: {path}{hint}")


def check_model(path: str, family: str, loader: str | None = None) -> None:
    """Light checks before anything heavy is loaded: the checkpoint is a vision-language model of ``family``."""
    check_model_path(path)
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
    if Path(path).is_dir():
        check_weights(Path(path))


def _readable(path: Path) -> None:
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as exc:
        raise VisionR1Error(f"cannot read the weights {path}: {exc.strerror or exc}") from None


def index_shards(index: Path) -> list[str]:
    """The shard files a ``model.safetensors.index.json`` names (sorted, each once); ``VisionR1Error`` for an
    unreadable index or one naming none."""
    import json

    try:
        shards = sorted(set(json.loads(index.read_bytes())["weight_map"].values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise VisionR1Error(f"{index}: not a readable weight index ({type(exc).__name__}: {exc})") from None
    if not shards or not all(isinstance(s, str) for s in shards):
        raise VisionR1Error(f"{index}: its weight_map names no shard files")
    return shards


def check_weights(folder: Path) -> None:
    """A checkpoint folder holds readable weights: ``model.safetensors``, a ``model.safetensors.index.json`` whose
    shards all exist, or ``pytorch_model.bin``."""
    single = [folder / n for n in ("model.safetensors", "pytorch_model.bin") if (folder / n).is_file()]
    if single:
        _readable(single[0])
        return
    index = folder / "model.safetensors.index.json"
    if not index.is_file():
        raise VisionR1Error(f"model folder {folder} has no weights (model.safetensors, model.safetensors.index.json "
                            "or pytorch_model.bin)")
    shards = index_shards(index)
    missing = [s for s in shards if not (folder / s).is_file()]
    if missing:
        raise VisionR1Error(f"{index} names {len(missing)} missing shard(s): {', '.join(missing[:4])}")
    for shard in shards:
        _readable(folder / shard)


def check_attention(attn_implementation: str | None) -> None:
    """An attention kernel transformers knows, whose package is installed (before any model is loaded)."""
    if attn_implementation is None:
        return
    if attn_implementation not in ATTENTION:
        raise VisionR1Error(f"unknown attn_implementation '{attn_implementation}' (choose from {', '.join(ATTENTION)})")
    package = {"flash_attention_2": "flash_attn", "flash_attention_3": "flash_attn_interface"}.get(attn_implementation)
    if package and importlib.util.find_spec(package) is None:
        raise VisionR1Error(f"attn_implementation {attn_implementation} needs the '{package}' package, which is not "
                            "installed (pip install flash-attn --no-build-isolation, on a CUDA machine); or use sdpa")


def input_size(processor, width: int, height: int) -> tuple[int, int]:
    """``(width, height)`` of the model input the processor makes from a ``width`` x ``height`` image
    (``image_grid_thw`` x patch size)."""
    from PIL import Image

    image_processor = processor.image_processor
    grid = image_processor(images=[Image.new("RGB", (width, height))], return_tensors="np")["image_grid_thw"][0]
    patch = int(image_processor.patch_size)
    return int(grid[2]) * patch, int(grid[1]) * patch


def check_processor(processor, family: str, min_pixels: int, max_pixels: int, where: str) -> None:
    """The processor's input size equals the coordinate adapter's geometry for every probe image; otherwise
    rewards and evaluation would convert boxes with another size than the model sees."""
    from visionr1.formats import get_adapter

    if family == "griffon-g" or getattr(processor, "image_processor", None) is None:
        return  # Griffon-G's coordinates do not depend on its input size
    adapter = get_adapter(family)
    for width, height in PROBES:
        got = input_size(processor, width, height)
        geo = adapter.geometry(width, height, min_pixels=min_pixels, max_pixels=max_pixels)
        if got != (geo.input_width, geo.input_height):
            raise VisionR1Error(
                f"{where}: the processor turns a {width}x{height} image into a {got[0]}x{got[1]} input, but the "
                f"{family} coordinate adapter computes {geo.input_width}x{geo.input_height} for min_pixels "
                f"{min_pixels} / max_pixels {max_pixels}: check the checkpoint's preprocessor_config.json")


def build_processor(path: str, *, family: str, min_pixels: int, max_pixels: int):
    """The processor of checkpoint ``path`` with the run's pixel limits in effect and left padding and truncation
    (what generation needs: GRPO rollouts, evaluation; SFT's collator sets its own sides). Checked against the
    adapter's geometry."""
    from transformers import AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(path, padding_side="left", truncation_side="left")
    except (OSError, ValueError) as exc:
        raise VisionR1Error(f"cannot load the processor of '{path}': {' '.join(str(exc).split())[:300]}") from None
    image_processor = getattr(processor, "image_processor", None)
    if image_processor is not None:
        # set after loading: the config file's min/max_pixels have been folded into `size` by then, and the
        # processor saved with the trained model carries the run's limits
        image_processor.size = {"shortest_edge": min_pixels, "longest_edge": max_pixels}
    check_processor(processor, family, min_pixels, max_pixels, str(path))
    return processor


def check_folder_limits(path: str, family: str, min_pixels: int, max_pixels: int) -> None:
    """A checkpoint folder read as is (as vLLM reads it, no overrides) gives inputs of the run's geometry."""
    from transformers import AutoProcessor

    check_processor(AutoProcessor.from_pretrained(path), family, min_pixels, max_pixels, path)


def _left(processor) -> None:
    tokenizer = getattr(processor, "tokenizer", processor)
    tokenizer.padding_side = tokenizer.truncation_side = "left"


def load_model(path: str, *, family: str, min_pixels: int, max_pixels: int, dtype: str = "float32",
               attn_implementation: str | None = None, init_kwargs: dict | None = None, loader: str | None = None,
               loader_config: Any = None, freeze_vision_tower: bool = False):
    """``(model, processor)``: transformers' Auto classes (or ``loader(path, loader_config)``) with weights in
    ``dtype``, the processor from ``build_processor`` (a loader's processor gets the same checks), the vision
    tower frozen if asked."""
    if loader:
        model, processor = custom_loader(loader)(path, loader_config)
        _left(processor)
        check_processor(processor, family, min_pixels, max_pixels, f"processor of model_loader {loader}")
    else:
        import torch
        from transformers import AutoModelForImageTextToText

        check_attention(attn_implementation)
        processor = build_processor(path, family=family, min_pixels=min_pixels, max_pixels=max_pixels)
        kwargs = dict(init_kwargs or {})
        if attn_implementation:
            kwargs["attn_implementation"] = attn_implementation
        model = AutoModelForImageTextToText.from_pretrained(path, dtype=getattr(torch, dtype), **kwargs)
    if freeze_vision_tower:
        tower = getattr(getattr(model, "model", model), "visual", None)
        if tower is None:
            raise VisionR1Error("freeze_vision_tower: the model has no 'visual' module")
        tower.requires_grad_(False)
    return model, processor
