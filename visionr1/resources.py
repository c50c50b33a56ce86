"""Locate the data folders shipped with visionr1 (``templates/``, ``configs/``)."""

from __future__ import annotations

import sys
from pathlib import Path

from visionr1.errors import VisionR1Error


def resource_dir(name: str) -> Path:
    """The ``name`` folder of the source checkout, or of an installed copy under ``<prefix>/share/visionr1``."""
    for base in (Path(__file__).resolve().parent.parent, Path(sys.prefix) / "share" / "visionr1"):
        if (base / name).is_dir():
            return base / name
    raise VisionR1Error(f"visionr1 data folder '{name}' not found (broken installation?)")
