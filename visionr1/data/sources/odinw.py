"""ODinW sets as distributed with GLIP (and ``vector``, as the released Vision-R1 evaluation reads it): any set,
either layout, any split."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from visionr1.data import layouts
from visionr1.data.sources.base import AnnotatedImages, Issues
from visionr1.data.sources.coco_format import read_coco_json
from visionr1.errors import VisionR1Error
from visionr1.inputs import is_utf8, printable

_LAYOUT = ("<odinw-root>/<set>/<split>/annotations_without_background.json, or "
           "<odinw-root>/<set>/export/<split>_annotations_without_background.json")


def discover_odinw(root: Path, split: str) -> dict[str, layouts.OdinwSet]:
    """Every set under ``root`` that has ``split`` (``train``, ``valid`` or ``test``), in either layout. Sets of
    the layout table keep their table name; others are named by their folder path."""
    root = Path(root)
    if not root.is_dir():
        raise VisionR1Error(f"ODinW root not found: {root} (expected layout: {_LAYOUT})")
    known = {s.root: s for s in layouts.ODINW_SETS.values()}
    export_name = f"{'val' if split == 'valid' else split}_annotations_without_background.json"
    found: dict[str, layouts.OdinwSet] = {}
    for ann in sorted(root.rglob("*annotations_without_background.json")):
        if ann.name == "annotations_without_background.json" and ann.parent.name == split:
            set_root, export = ann.parent.parent, False
        elif ann.name == export_name:
            set_root, export = ann.parent, True
        else:
            continue
        rel = set_root.relative_to(root).as_posix()
        spec = known.get(rel, layouts.OdinwSet(rel, rel, export))
        found[spec.name] = spec
    return found


def _left_out(found: dict[str, layouts.OdinwSet], exclude: set[str]) -> dict[str, str]:
    """Sets not used for training, with the reason: the ones ``exclude`` names, folders of an excluded dataset that
    the layout table does not know (another export of it, e.g. ``vector/<other version>.coco``), and the variants
    of evaluation sets (their images are an evaluation set's, re-labelled or tiled)."""
    datasets = {layouts.ODINW_SETS[e].dataset if e in layouts.ODINW_SETS else e.split("/")[0] for e in exclude}
    out = {}
    for name, spec in found.items():
        if name in exclude:
            out[name] = "excluded by the recipe"
        elif name not in layouts.ODINW_SETS and spec.dataset in datasets:
            out[name] = f"another export of the excluded dataset {spec.dataset}"
        elif spec.variant_of in layouts.EVAL_SETS:
            out[name] = f"a variant of the evaluation set {spec.variant_of} (name it in 'sets' to use it)"
    return out


def read_odinw(root: Path, split: str = "train", *, sets: Iterable[str] | None = None,
               exclude: Iterable[str] = (), check_images: bool = True) -> list[AnnotatedImages]:
    """The ``split`` of the chosen sets, one container per set with ``source = "odinw/<set>"``. Without ``sets``:
    every set found, minus the ones ``exclude`` names and the variants of evaluation sets; each set left out is
    reported in the first container's issues."""
    found = discover_odinw(root, split)
    skipped = Issues()
    for name in [n for n in found if not is_utf8(n)]:  # the mix's tables hold UTF-8 text only
        skipped.add(f"ODinW set {printable(name)} left out: its folder name is not valid UTF-8 (rename it to use it)")
        del found[name]
    if sets is None:
        left_out = _left_out(found, set(exclude))
        chosen = [name for name in found if name not in left_out]
        for name, why in left_out.items():
            skipped.add(f"ODinW set {name} left out: {why}")
    else:
        chosen = list(sets)
        missing = [s for s in chosen if s not in found]
        if missing:
            raise VisionR1Error(f"ODinW sets without a '{split}' split under {root}: {', '.join(missing)} "
                                f"(expected layout: {_LAYOUT})")
    if not chosen:
        raise VisionR1Error(f"no ODinW set with a '{split}' split under {root} (expected layout: {_LAYOUT})")
    out = []
    for name in chosen:
        spec = found[name]
        out.append(read_coco_json(Path(root) / spec.annotation(split), Path(root) / spec.image_dir(split),
                                  f"odinw/{name}", check_images=check_images))
    out[0].issues.update(skipped)
    return out
