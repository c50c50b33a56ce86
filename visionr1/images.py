"""Images, checked where they are read: inside their dataset folder, a decodable image (in full: every pixel),
no decompression bomb, and the size the annotation gives. One rule set, ``inspect_image``, for every reader
(data build, training, evaluation, review)."""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import numpy as np

from visionr1.errors import VisionR1Error
from visionr1.inputs import is_utf8

MAX_PIXELS = 89_478_485  # PIL's decompression-bomb limit (Image.MAX_IMAGE_PIXELS): larger images are refused
# `data build` decodes every image in full: a file truncated past a valid header passes a header check and would
# stop training hours in. Measured 2.3 ms per 640 x 480 JPEG on one core (header only: 0.03 ms), about 2 minutes
# for the 49K images of the paper's mix, once per build.
FULL_DECODE = True

# why an image cannot be used (``inspect_image``), the same words wherever it is counted or refused
OUTSIDE = "image path outside the image folder"
NOT_TEXT = "image file name not valid UTF-8"
MISSING = "image file missing"
EMPTY = "empty image file"
UNREADABLE = "not a readable image"
BOMB = "image over the decompression-bomb limit"
OTHER_SIZE = "image size differs from the annotation"
TRUNCATED = "truncated or damaged image data"


class ImageCheck(NamedTuple):
    """What ``inspect_image`` found: why the image cannot be used (``None``: it can) and the file's
    ``(width, height)`` when its header reads."""

    reason: str | None
    size: tuple[int, int] | None = None


@contextmanager
def _bombs_checked_here() -> Iterator[None]:
    """PIL warns about large images; ``inspect_image`` refuses them itself (after reading the header)."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def _base(root: str | Path | None) -> str | None:
    return None if root is None else os.path.join(os.path.normpath(root), "")


def _empty(image: str | bytes) -> bool:
    try:
        return len(image) == 0 if isinstance(image, bytes) else os.path.getsize(image) == 0
    except OSError:
        return False


def inspect_image(image: str | Path | bytes, *, root: str | Path | None = None,
                  size: tuple[float, float] | None = None, full: bool = FULL_DECODE,
                  text_name: bool = False) -> ImageCheck:
    """Whether ``image`` (a path, or the file's bytes) can be used, checked in this order: inside ``root`` (on
    the path as written, so symlinked dataset folders work), a name in UTF-8 (``text_name``: the mix's tables
    hold text only), a readable header, at most ``MAX_PIXELS`` pixels, the ``(width, height)`` an annotation
    gives (``size``), and, when ``full``, every pixel decoded (a file truncated past a valid header fails only
    there). A file of another size than annotated is not decoded; its size is returned with the reason."""
    from PIL import Image, UnidentifiedImageError

    if not isinstance(image, bytes):
        image = str(image)
        base = _base(root)
        if base is not None and not os.path.normpath(os.path.join(base, image)).startswith(base):
            return ImageCheck(OUTSIDE)
        if text_name and not is_utf8(image):
            return ImageCheck(NOT_TEXT)
    with _bombs_checked_here():
        try:
            im = Image.open(io.BytesIO(image) if isinstance(image, bytes) else image)
        except FileNotFoundError:
            return ImageCheck(MISSING)
        except Image.DecompressionBombError:
            return ImageCheck(BOMB)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
            return ImageCheck(EMPTY if _empty(image) else UNREADABLE)
        with im:
            found = im.size
            if found[0] * found[1] > MAX_PIXELS:
                return ImageCheck(BOMB, found)
            if size is not None and found != (round(size[0]), round(size[1])):
                return ImageCheck(OTHER_SIZE, found)
            if full:
                try:
                    im.load()
                except (OSError, ValueError, SyntaxError, EOFError):
                    return ImageCheck(TRUNCATED, found)
    return ImageCheck(None, found)


def usable_images(paths: list[str], widths: np.ndarray, heights: np.ndarray, root: str | Path | None,
                  issues, full: bool = FULL_DECODE) -> np.ndarray:
    """Which of ``paths`` (with their annotated sizes) pass ``inspect_image`` inside ``root`` with names in UTF-8
    (decoded in full: ``FULL_DECODE``); each failure is counted in ``issues`` as a skip."""
    ok = np.ones(len(paths), dtype=bool)
    for i, (p, w, h) in enumerate(zip(paths, widths.tolist(), heights.tolist(), strict=True)):
        reason = inspect_image(p, root=root, size=(w, h), full=full, text_name=True).reason
        if reason is not None:
            ok[i] = False
            issues.add(f"{reason} (skipped)")
    return ok


def check_image(path: str | Path) -> None:
    """``path`` as a usable image (its header read), else ``VisionR1Error`` naming it."""
    reason = inspect_image(path, full=False, text_name=True).reason
    if reason is not None:
        raise VisionR1Error(f"{path}: {reason}")
