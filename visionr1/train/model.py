"""Training-specific model setup: LoRA and a checkpoint folder that gives vLLM the run's pixel limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from visionr1.errors import VisionR1Error


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
