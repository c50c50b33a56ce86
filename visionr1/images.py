"""Images, checked where they are read: inside their dataset folder, a decodable image header, no
decompression bomb, and the size the annotation gives. One rule set for every reader (data build, review)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from visionr1.errors import VisionR1Error
from visionr1.inputs import is_utf8

MAX_PIXELS = 89_478_485  # PIL's decompression-bomb limit (Image.MAX_IMAGE_PIXELS): larger images are refused
# `data build` decodes every image in full: a file truncated past a valid header passes a header check and would
# stop training hours in. Measured 2.3 ms per 640 x 480 JPEG on one core (header only: 0.03 ms), about 2 minutes
# for the 49K images of the paper's mix, once per build.
FULL_DECODE = True


@contextmanager
def _bombs_checked_here() -> Iterator[None]:
    """PIL warns about large images; ``_problem`` refuses them itself (after the size check)."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def _problem(path: str, base: str | None, size: tuple[float, float] | None, full: bool = False) -> str | None:
    from PIL import Image, UnidentifiedImageError

    if base is not None and not os.path.normpath(os.path.join(base, path)).startswith(base):
        return "image path outside the image folder"
    if not is_utf8(path):  # the mix's tables hold UTF-8 text only
        return "image file name not valid UTF-8"
    try:
        with Image.open(path) as im:
            width, height = im.size
            if full and (size is None or (width, height) == (round(size[0]), round(size[1]))) \
                    and width * height <= MAX_PIXELS:
                try:
                    im.load()
                except (OSError, ValueError, SyntaxError, EOFError):
                    return "truncated or damaged image data"
    except FileNotFoundError:
        return "image file missing"
    except Image.DecompressionBombError:
        return "image over the decompression-bomb limit"
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        try:
            return "empty image file" if os.path.getsize(path) == 0 else "not a readable image"
        except OSError:
            return "not a readable image"
    if size is not None and (width, height) != (round(size[0]), round(size[1])):
        return "image size differs from the annotation"
    if width * height > MAX_PIXELS:
        return "image over the decompression-bomb limit"
    return None


def _base(root: str | Path | None) -> str | None:
    return None if root is None else os.path.join(os.path.normpath(root), "")


def image_problem(path: str, root: str | Path | None = None, size: tuple[float, float] | None = None,
                  full: bool = False) -> str | None:
    """Why ``path`` cannot be used as an image (a short reason), or ``None`` when it can. Reads only the header
    unless ``full`` (every pixel decoded).

    ``root``: the file must lie inside it (checked on the path as written, so symlinked dataset folders work);
    ``size``: the ``(width, height)`` an annotation gives, which the file must have."""
    with _bombs_checked_here():
        return _problem(path, _base(root), size, full)


def usable_images(paths: list[str], widths: np.ndarray, heights: np.ndarray, root: str | Path | None,
                  issues, full: bool = FULL_DECODE) -> np.ndarray:
    """Which of ``paths`` pass ``image_problem`` (decoded in full: ``FULL_DECODE``); each failure is counted in
    ``issues`` as a skip."""
    ok = np.ones(len(paths), dtype=bool)
    base = _base(root)
    with _bombs_checked_here():
        for i, (p, w, h) in enumerate(zip(paths, widths.tolist(), heights.tolist(), strict=True)):
            reason = _problem(p, base, (w, h), full)
            if reason is not None:
                ok[i] = False
                issues.add(f"{reason} (skipped)")
    return ok


def decode_problem(image: str | bytes) -> str | None:
    """Why the image file ``image`` (a path, or the file's bytes) cannot be decoded in full, or ``None``."""
    import io

    from PIL import Image

    try:
        with _bombs_checked_here(), Image.open(io.BytesIO(image) if isinstance(image, bytes) else image) as im:
            if im.width * im.height > MAX_PIXELS:
                return "image over the decompression-bomb limit"
            im.load()
    except FileNotFoundError:
        return "image file missing"
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        return "unreadable or truncated image"
    return None


def check_image(path: str | Path) -> None:
    """``path`` as a usable image, else ``VisionR1Error`` naming it."""
    reason = image_problem(str(path))
    if reason is not None:
        raise VisionR1Error(f"{path}: {reason}")
