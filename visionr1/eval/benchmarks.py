"""The localization benchmarks by name: default protocol, default sets, and how to build their evaluation sets
from the data description a report keeps (so that a run can be rebuilt, e.g. by ``visionr1 review``)."""

from __future__ import annotations

from pathlib import Path

from visionr1.data.layouts import ODINW_13, ODINW_OOD
from visionr1.errors import VisionR1Error
from visionr1.eval.sets import EvalSet

DEFAULT_PROTOCOL = {"coco": "all", "odinw": "single+pos", "ood": "single+pos", "rec": "rec", "custom": "all"}


def default_sets(benchmark: str) -> tuple[str, ...]:
    from visionr1.eval.rec import REC_SPLITS

    return {"odinw": ODINW_13, "ood": ODINW_OOD, "rec": REC_SPLITS}.get(benchmark, ())


def make_sets(benchmark: str, data: dict, family: str, protocol: str, limit: int | None,
              mode: str = "default") -> list[EvalSet]:
    """Evaluation sets of ``benchmark`` from ``data`` (``data_root`` and, per benchmark, ``sets``,
    ``coco_root``, ``annotations``); ``mode`` decides the prompts of the ``all`` protocol."""
    root = Path(data["data_root"])
    if benchmark == "coco":
        from visionr1.eval.coco import coco_sets

        return coco_sets(root, family, protocol=protocol, limit=limit, mode=mode)
    if benchmark in ("odinw", "ood"):
        from visionr1.eval.odinw import odinw_sets

        return odinw_sets(root, data["sets"], family, protocol=protocol, limit=limit, mode=mode)
    if benchmark == "rec":
        from visionr1.eval.rec import rec_sets

        if protocol != DEFAULT_PROTOCOL["rec"]:  # it would be ignored, yet recorded in the report and run.json
            raise VisionR1Error(f"--protocol {protocol} does not apply to eval rec: REC asks one query per "
                                "sentence (single+pos and all are protocols of the box benchmarks)")
        return rec_sets(root, Path(data["coco_root"]), data["sets"], family, limit=limit)
    if benchmark == "custom":
        from visionr1.eval.custom import custom_sets

        return custom_sets(Path(data["annotations"]), root, family, protocol=protocol, limit=limit, mode=mode)
    raise VisionR1Error(f"unknown benchmark '{benchmark}' (choose from {', '.join(DEFAULT_PROTOCOL)})")
