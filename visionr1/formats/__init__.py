"""Coordinate spaces, output formats and input resizing of each model family (SPEC §1).

The only package that knows how a model family writes boxes; everything else works in original pixels.
"""

from visionr1.formats.adapters import (
    FAMILIES,
    Adapter,
    Geometry,
    Parsed,
    get_adapter,
    normalize_label,
    says_nothing,
    split_think,
)
from visionr1.formats.resize import (
    MAX_PIXELS,
    MAX_SIDE,
    MIN_PIXELS,
    check_pixel_limits,
    check_size,
    smart_resize,
    vl_utils_size,
)

__all__ = ["FAMILIES", "MAX_PIXELS", "MAX_SIDE", "MIN_PIXELS", "Adapter", "Geometry", "Parsed", "check_pixel_limits",
           "check_size", "get_adapter", "normalize_label", "says_nothing", "smart_resize", "split_think",
           "vl_utils_size"]
