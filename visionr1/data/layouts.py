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
    """One ODinW set as distributed with GLIP (``DATASET/odinw/...``), or named by the released Vision-R1
    evaluation (``vector``).

    ``root`` is relative to the odinw folder; its first part is the dataset folder. Most sets keep each split in
    ``<root>/<train|valid|test>/`` with ``annotations_without_background.json`` beside the images; ``export``
    sets keep every split's images in ``<root>/`` and name the files
    ``<train|val|test>_annotations_without_background.json``. ``variant_of`` names the set whose images this
    one re-labels or re-tiles (its splits may hold that set's evaluation images).
    """

    name: str
    root: str
    export: bool = False
    variant_of: str | None = None

    @property
    def dataset(self) -> str:
        """The dataset folder (first part of ``root``)."""
        return self.root.split("/", 1)[0]

    def annotation(self, split: str) -> str:
        """Annotation json of ``split`` (train / valid / test) relative to the odinw folder."""
        if self.export:
            return f"{self.root}/{'val' if split == 'valid' else split}_annotations_without_background.json"
        return f"{self.root}/{split}/annotations_without_background.json"

    def image_dir(self, split: str) -> str:
        """Folder that image ``file_name`` entries of ``split`` are relative to."""
        return self.root if self.export else f"{self.root}/{split}"


ODINW_SPLITS = ("train", "valid", "test")
# The roots of GLIP's configs/odinw_35/*.yaml (REGISTER ann_file / img_dir), and of `vector`, which is not part
# of ODinW-35: the released Vision-R1 evaluation (Vision-R1/eval/eval_localization.py, DATASET_MAP) reads it from
# a nested Roboflow export folder.
VECTOR_ROOT = "vector/vectorCompleteDataset.v5-v5-(resize-+-grayscale-+-rotate-+-blur-+-bb-optimizations).coco"
_ODINW = [
    OdinwSet("AerialMaritimeDrone/large", "AerialMaritimeDrone/large"),
    OdinwSet("AerialMaritimeDrone/tiled", "AerialMaritimeDrone/tiled", variant_of="AerialMaritimeDrone/large"),
    OdinwSet("AmericanSignLanguageLetters", "AmericanSignLanguageLetters/American Sign Language Letters.v1-v1.coco"),
    OdinwSet("Aquarium", "Aquarium/Aquarium Combined.v2-raw-1024.coco"),
    OdinwSet("BCCD", "BCCD/BCCD.v3-raw.coco"),
    OdinwSet("ChessPieces", "ChessPieces/Chess Pieces.v23-raw.coco"),
    OdinwSet("CottontailRabbits", "CottontailRabbits"),
    OdinwSet("DroneControl", "DroneControl/Drone Control.v3-raw.coco"),
    OdinwSet("EgoHands/generic", "EgoHands/generic"),
    OdinwSet("EgoHands/specific", "EgoHands/specific", variant_of="EgoHands/generic"),
    OdinwSet("HardHatWorkers", "HardHatWorkers/raw"),
    OdinwSet("MaskWearing", "MaskWearing/raw"),
    OdinwSet("MountainDewCommercial", "MountainDewCommercial"),
    OdinwSet("NorthAmericaMushrooms", "NorthAmericaMushrooms/North American Mushrooms.v1-416x416.coco"),
    OdinwSet("OxfordPets/by-breed", "OxfordPets/by-breed"),
    OdinwSet("OxfordPets/by-species", "OxfordPets/by-species"),
    OdinwSet("PKLot", "PKLot/640"),
    OdinwSet("Packages", "Packages/Raw"),
    OdinwSet("PascalVOC", "PascalVOC"),
    OdinwSet("Raccoon", "Raccoon/Raccoon.v2-raw.coco"),
    OdinwSet("ShellfishOpenImages", "ShellfishOpenImages/raw"),
    OdinwSet("ThermalCheetah", "ThermalCheetah"),
    OdinwSet("UnoCards", "UnoCards/raw"),
    OdinwSet("VehiclesOpenImages", "VehiclesOpenImages/416x416"),
    OdinwSet("WildfireSmoke", "WildfireSmoke"),
    OdinwSet("boggleBoards", "boggleBoards/416x416AutoOrient/export", export=True),
    OdinwSet("brackishUnderwater", "brackishUnderwater/960x540"),
    OdinwSet("dice", "dice/mediumColor/export", export=True),
    OdinwSet("openPoetryVision", "openPoetryVision/512x512"),
    OdinwSet("pistols", "pistols/export", export=True),
    OdinwSet("plantdoc", "plantdoc/416x416"),
    OdinwSet("pothole", "pothole"),
    OdinwSet("selfdrivingCar", "selfdrivingCar/fixedLarge/export", export=True),
    OdinwSet("thermalDogsAndPeople", "thermalDogsAndPeople"),
    OdinwSet("websiteScreenshots", "websiteScreenshots"),
    OdinwSet("vector", VECTOR_ROOT),
]
ODINW_SETS: dict[str, OdinwSet] = {s.name: s for s in _ODINW}
# GLIP configs/odinw_13 (paper Table 1) and the out-of-domain sets of paper Table 2
ODINW_13 = ("AerialMaritimeDrone/large", "Aquarium", "CottontailRabbits", "EgoHands/generic", "NorthAmericaMushrooms",
            "Packages", "PascalVOC", "pistols", "pothole", "Raccoon", "ShellfishOpenImages", "thermalDogsAndPeople",
            "VehiclesOpenImages")
ODINW_OOD = ("boggleBoards", "MountainDewCommercial", "ThermalCheetah", "vector")
EVAL_SETS = ODINW_13 + ODINW_OOD
