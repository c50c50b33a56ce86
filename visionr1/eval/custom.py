"""Any COCO-format set: an instances json and its image folder."""

from __future__ import annotations

from pathlib import Path

from visionr1.eval.sets import EvalSet, box_set, missing_files_error
from visionr1.inputs import printable, read_json


def custom_sets(annotations: Path, image_dir: Path, family: str, *, protocol: str = "all",
                limit: int | None = None, name: str | None = None, mode: str = "default") -> list[EvalSet]:
    missing = [p for p in (Path(annotations), Path(image_dir)) if not p.exists()]
    if missing:
        raise missing_files_error(missing, "--annotations <instances.json> --data-root <image folder>")
    # the set's name (report keys, report.md) in UTF-8: an annotations file named in other bytes shows them as \xff
    return [box_set(printable(name or f"custom/{Path(annotations).stem}"), read_json(Path(annotations)),
                    Path(image_dir), family, protocol, limit, mode, Path(annotations))]
