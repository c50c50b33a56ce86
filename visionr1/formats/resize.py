"""``smart_resize``: the model input size of Qwen2-VL / Qwen2.5-VL style image processors."""

from __future__ import annotations

import math

# Training defaults of the paper / released code (docs/spec.md §1)
MIN_PIXELS = 3136  # 4 * 28 * 28
MAX_PIXELS = 401408  # 512 * 28 * 28
MAX_SIDE = 1 << 20  # largest image side accepted: integer pixel coordinates stay exact in float32 (< 2**24)
MAX_RATIO = 200  # smart_resize's limit on the aspect ratio (transformers' Qwen2-VL image processor)


def check_size(width, height, what: str = "image") -> tuple[int, int]:
    """``(width, height)`` as ints; ``ValueError`` unless both are whole numbers in ``[1, MAX_SIDE]``."""
    if type(width) is int and type(height) is int and 0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE:
        return width, height
    for v in (width, height):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 1 <= v <= MAX_SIDE or v != int(v):
            raise ValueError(f"{what} size {width!r}x{height!r}: each side must be a whole number of pixels in "
                             f"[1, {MAX_SIDE}]")
    return int(width), int(height)


# qwen_vl_utils' fetch_image (called by process_vision_info, as the released Vision-R1 evaluation does) resizes
# every image with its own defaults before the processor applies its min/max_pixels
VL_UTILS_PIXELS = (4 * 28 * 28, 16384 * 28 * 28)


def check_pixel_limits(min_pixels: int, max_pixels: int) -> None:
    """``--min-pixels`` / ``--max-pixels`` a processor can use: positive, min not above max."""
    from visionr1.errors import VisionR1Error

    for name, v in (("min-pixels", min_pixels), ("max-pixels", max_pixels)):
        if v < 1:
            raise VisionR1Error(f"option --{name} must be positive, got {v}")
    if min_pixels > max_pixels:
        raise VisionR1Error(f"option --min-pixels ({min_pixels}) is larger than --max-pixels ({max_pixels})")


def smart_resize(height: int, width: int, factor: int = 28, min_pixels: int = MIN_PIXELS,
                 max_pixels: int = MAX_PIXELS, *, at_least_factor: bool = False) -> tuple[int, int]:
    """``(height, width)`` of the model input: both multiples of ``factor`` (at least ``factor``), area within
    ``[min_pixels, max_pixels]``, aspect ratio kept as closely as possible.

    Identical to ``transformers``' Qwen2-VL image processor (``image_grid_thw * 14``), including Python's
    round-half-to-even when snapping to the factor. ``at_least_factor``: qwen_vl_utils' variant, which rounds a
    side to at least ``factor`` before the pixel limits (it differs for sides under ``factor / 2`` only).
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    ratio = max(height, width) / min(height, width)
    if ratio > MAX_RATIO:
        raise ValueError(f"image size {width}x{height}: aspect ratio {ratio:g} exceeds the model's limit of "
                         f"{MAX_RATIO} (smart_resize)")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if at_least_factor:
        h_bar, w_bar = max(factor, h_bar), max(factor, w_bar)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def vl_utils_size(height: int, width: int, factor: int = 28) -> tuple[int, int]:
    """``(height, width)`` qwen_vl_utils' ``fetch_image`` resizes an image to (its ``VL_UTILS_PIXELS``)."""
    return smart_resize(height, width, factor, *VL_UTILS_PIXELS, at_least_factor=True)
