"""V3Det (``annotations/v3det_2023_v1_<split>.json``; ``file_name`` relative to the root)."""

from __future__ import annotations

from pathlib import Path

from visionr1.data import layouts
from visionr1.data.sources.base import AnnotatedImages, require_file
from visionr1.data.sources.coco_format import read_coco_json
from visionr1.errors import VisionR1Error


def read_v3det(root: Path, split: str = "train", *, check_images: bool = True) -> AnnotatedImages:
    rel = layouts.V3DET_ANNOTATIONS.get(split)
    if rel is None:
        raise VisionR1Error(f"unknown V3Det split '{split}' (known: {', '.join(layouts.V3DET_ANNOTATIONS)})")
    ann = require_file(Path(root) / rel, "V3Det annotation file",
                       f"<v3det-root>/{rel} with images under <v3det-root>/{layouts.V3DET_IMAGES}/<category>/")
    return read_coco_json(ann, Path(root), "v3det", check_images=check_images)
