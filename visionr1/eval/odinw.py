"""ODinW-13 (GLIP's ``odinw_13`` sets, valid splits) and the out-of-domain sets of paper Table 2."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from visionr1.data import layouts
from visionr1.errors import VisionR1Error
from visionr1.eval.sets import EvalSet, box_set, missing_files_error
from visionr1.inputs import read_json

SPLIT = "valid"


def odinw_sets(root: Path, names: Sequence[str], family: str, *, protocol: str = "single+pos",
               limit: int | None = None, mode: str = "default") -> list[EvalSet]:
    """One evaluation set per ODinW set name; every missing annotation file is reported at once."""
    unknown = [n for n in names if n not in layouts.ODINW_SETS]
    if unknown:
        raise VisionR1Error(f"unknown ODinW set {', '.join(unknown)} (known: {', '.join(layouts.ODINW_SETS)})")
    specs = [layouts.ODINW_SETS[n] for n in names]
    missing = [Path(root) / s.annotation(SPLIT) for s in specs if not (Path(root) / s.annotation(SPLIT)).is_file()]
    if missing:
        raise missing_files_error(missing, "<data-root>/<set>/valid/annotations_without_background.json (GLIP "
                                           "odinw layout; pistols and boggleBoards: <set>/export/"
                                           "val_annotations_without_background.json)")
    return [box_set(f"odinw/{s.name}", read_json(Path(root) / s.annotation(SPLIT)), Path(root) / s.image_dir(SPLIT),
                    family, protocol, limit, mode, Path(root) / s.annotation(SPLIT)) for s in specs]
