"""COCO val2017: one query per image naming all 80 categories in COCO order (paper Table 1)."""

from __future__ import annotations

from pathlib import Path

from visionr1.data import layouts
from visionr1.eval.sets import EvalSet, box_set, missing_files_error
from visionr1.inputs import read_json

SPLIT = "val2017"


def coco_sets(root: Path, family: str, *, protocol: str = "all", limit: int | None = None,
              mode: str = "default") -> list[EvalSet]:
    ann = Path(root) / layouts.coco_annotation(SPLIT)
    if not ann.is_file():
        raise missing_files_error([ann], f"<data-root>/{layouts.coco_annotation(SPLIT)} and <data-root>/{SPLIT}/")
    return [box_set(f"coco/{SPLIT}", read_json(ann), Path(root) / SPLIT, family, protocol, limit, mode,
                    ann)]
