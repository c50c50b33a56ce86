"""COCO 2017 instances (``annotations/instances_<split>.json`` + ``<split>/`` images)."""

from __future__ import annotations

from pathlib import Path

from visionr1.data import layouts
from visionr1.data.sources.base import AnnotatedImages, require_file
from visionr1.data.sources.coco_format import read_coco_json


def read_coco(root: Path, split: str = "train2017", *, check_images: bool = True) -> AnnotatedImages:
    ann = require_file(Path(root) / layouts.coco_annotation(split), "COCO annotation file",
                       f"<coco-root>/{layouts.coco_annotation(split)} and <coco-root>/{split}/*.jpg")
    return read_coco_json(ann, Path(root) / split, "coco", check_images=check_images)
