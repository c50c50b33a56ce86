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


def _patched(src: Path, min_pixels: int, max_pixels: int) -> dict[str, dict]:
    """The processor configs of ``src`` whose pixel limits differ from the run's, rewritten with them."""
    patched: dict[str, dict] = {}
    for name in PROCESSOR_FILES:
        f = src / name
        if not f.is_file():
            continue
        doc = json.loads(f.read_text())
        target = doc.get("image_processor", doc)  # processor_config.json nests it
        size = target.get("size") or {}
        # transformers: min_pixels / max_pixels keys, where present, override size
        limits = (target.get("min_pixels", size.get("shortest_edge")),
                  target.get("max_pixels", size.get("longest_edge")))
        if limits != (min_pixels, max_pixels):
            target["size"] = {"shortest_edge": min_pixels, "longest_edge": max_pixels}
            for key, value in (("min_pixels", min_pixels), ("max_pixels", max_pixels)):
                if key in target:
                    target[key] = value
            patched[name] = doc
    return patched


def with_pixel_limits(path: str, family: str, min_pixels: int, max_pixels: int, out: Path) -> str:
    """A checkpoint folder whose processor config carries ``min_pixels`` / ``max_pixels``.

    vLLM builds its own processor from the checkpoint folder, so a run whose pixel limits differ from the
    checkpoint's gets ``out`` (links to the model files, patched processor configs); otherwise ``path`` itself.
    Safe when every process of a launch calls it at once: the folder is built under a private name and renamed
    into place, and whoever finds it there already checks it instead. The result is checked like every
    processor (``visionr1.models.check_processor``) as a plain ``from_pretrained`` reads it.
    """
    import os
    import shutil

    from visionr1.models import check_folder_limits

    src = Path(path)
    if not src.is_dir():
        raise VisionR1Error(f"use_vllm needs a local checkpoint folder (to give vLLM the run's pixel limits); "
                            f"'{path}' is not one")
    patched = _patched(src, min_pixels, max_pixels)
    if not patched:
        check_folder_limits(str(src), family, min_pixels, max_pixels)
        return str(src)
    out = Path(out)
    if not out.is_dir():
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for f in src.iterdir():
            if f.name in patched:
                (tmp / f.name).write_text(json.dumps(patched[f.name], indent=2))
            else:
                (tmp / f.name).symlink_to(f.resolve())
        try:
            tmp.rename(out)
        except OSError:  # another process put its copy there first
            shutil.rmtree(tmp, ignore_errors=True)
    if _patched(out, min_pixels, max_pixels):
        raise VisionR1Error(f"{out} exists with other pixel limits than this run's (min_pixels {min_pixels}, "
                            f"max_pixels {max_pixels}): remove it or use another --out")
    check_folder_limits(str(out), family, min_pixels, max_pixels)
    return str(out)
