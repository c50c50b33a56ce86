"""Where the public datasets keep their files: the one table of real on-disk layouts.

Readers (``visionr1 data``), evaluators (``visionr1 eval``) and the synthetic world (``visionr1 synth``)
all resolve paths through this module, so a layout is described once.
"""

from __future__ import annotations

from dataclasses import dataclass

COCO_SPLITS = ("train2017", "val2017")


def coco_annotation(split: str) -> str:
    """COCO instances file of ``split`` relative to the COCO root, e.g. ``annotations/instances_val2017.json``."""
    return f"annotations/instances_{split}.json"


COCO2014_TRAIN_DIR = "train2014"  # RefCOCO/+/g and gRefCOCO images live in COCO train2014
REFER_DATASETS = {
    # dataset: (splitBy, annotation file, splits)
    "refcoco": ("unc", "refs(unc).p", ("train", "val", "testA", "testB")),
    "refcoco+": ("unc", "refs(unc).p", ("train", "val", "testA", "testB")),
    "refcocog": ("umd", "refs(umd).p", ("train", "val", "test")),
    "grefcoco": ("unc", "grefs(unc).json", ("train", "val", "testA", "testB")),
}
REFER_INSTANCES = "instances.json"

V3DET_ANNOTATIONS = {"train": "annotations/v3det_2023_v1_train.json", "val": "annotations/v3det_2023_v1_val.json"}
V3DET_IMAGES = "images"  # file_name in the json is relative to the V3Det root: images/<category folder>/<file>

VG_REGIONS = "region_descriptions.json"
VG_IMAGE_DATA = "image_data.json"
VG_IMAGE_DIRS = ("VG_100K", "VG_100K_2")


@dataclass(frozen=True)
class OdinwSet:
    """One ODinW set as distributed with GLIP (``DATASET/odinw/...``).

    ``root`` is relative to the odinw folder. Most sets keep each split in ``<root>/<train|valid|test>/``
    with ``annotations_without_background.json`` beside the images; ``export`` sets keep every split's
    images in ``<root>/`` and name the files ``<train|val|test>_annotations_without_background.json``.
    """

    name: str
    root: str
    export: bool = False

    def annotation(self, split: str) -> str:
        """Annotation json of ``split`` (train / valid / test) relative to the odinw folder."""
        if self.export:
            return f"{self.root}/{'val' if split == 'valid' else split}_annotations_without_background.json"
        return f"{self.root}/{split}/annotations_without_background.json"

    def image_dir(self, split: str) -> str:
        """Folder that image ``file_name`` entries of ``split`` are relative to."""
        return self.root if self.export else f"{self.root}/{split}"


ODINW_SPLITS = ("train", "valid", "test")
_ODINW = [
    OdinwSet("AerialMaritimeDrone/large", "AerialMaritimeDrone/large"),
    OdinwSet("Aquarium", "Aquarium/Aquarium Combined.v2-raw-1024.coco"),
    OdinwSet("CottontailRabbits", "CottontailRabbits"),
    OdinwSet("EgoHands/generic", "EgoHands/generic"),
    OdinwSet("NorthAmericaMushrooms", "NorthAmericaMushrooms/North American Mushrooms.v1-416x416.coco"),
    OdinwSet("Packages", "Packages/Raw"),
    OdinwSet("PascalVOC", "PascalVOC"),
    OdinwSet("pistols", "pistols/export", export=True),
    OdinwSet("pothole", "pothole"),
    OdinwSet("Raccoon", "Raccoon/Raccoon.v2-raw.coco"),
    OdinwSet("ShellfishOpenImages", "ShellfishOpenImages/raw"),
    OdinwSet("thermalDogsAndPeople", "thermalDogsAndPeople"),
    OdinwSet("VehiclesOpenImages", "VehiclesOpenImages/416x416"),
    # out-of-domain sets of the paper (Table 2)
    OdinwSet("boggleBoards", "boggleBoards/416x416AutoOrient/export", export=True),
    OdinwSet("MountainDewCommercial", "MountainDewCommercial"),
    OdinwSet("ThermalCheetah", "ThermalCheetah"),
    # `vector` is not part of GLIP's ODinW-35 release; this Roboflow-style layout is an assumption.
    OdinwSet("vector", "vector"),
]
ODINW_SETS: dict[str, OdinwSet] = {s.name: s for s in _ODINW}
ODINW_13 = tuple(s.name for s in _ODINW[:13])
ODINW_OOD = tuple(s.name for s in _ODINW[13:])
