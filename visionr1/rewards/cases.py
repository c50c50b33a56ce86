"""Reward cases in JSONL (docs/spec.md §3.4): validation with errors that name the line.

Each line is decoded straight into typed structures by msgspec (the types, in one schema); lines msgspec
cannot take in one pass (a lone surrogate escape, ``NaN``, a number beyond 64 bits, invalid UTF-8 or JSON) go
through ``json.loads`` and the same schema, which also words the error. The values are then checked once:
image sizes by the family's geometry (``visionr1.formats``), boxes and step here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import msgspec

from visionr1.errors import VisionR1Error
from visionr1.formats import Geometry

BOX_SLACK = 1.0  # pixels a ground-truth box may exceed the image (rounding in public annotations)


class GtItem(msgspec.Struct, gc=False):
    """One ground-truth object of a line, read as ``g["label"]`` / ``g["bbox"]`` like the dicts ``score_batch``
    takes (a struct decodes twice as fast as a dict)."""

    label: str
    bbox: tuple[float, float, float, float]

    def __getitem__(self, key: str):
        return getattr(self, key)


class _Line(msgspec.Struct, gc=False):
    completion: str
    gt: list[GtItem]
    width: int | float
    height: int | float
    input_width: int | float | None = None
    input_height: int | float | None = None
    step: int | None = None


_DECODE = msgspec.json.Decoder(_Line).decode

GeometryOf = Callable[[int | float, int | float, tuple | None], Geometry]


@dataclass(frozen=True)
class Case:
    line: int
    raw: bytes  # the input line as read (without trailing whitespace); the output adds "rewards" to it
    completion: str
    gt: list[GtItem]
    width: int
    height: int
    input_size: tuple[int, int] | None  # as the line gives it (None: smart_resize)
    step: int | None


def _box_problem(i: int, b: tuple, width: int, height: int) -> str:
    if not all(v - v == 0 for v in b):  # inf - inf and nan - nan are nan
        return f"gt[{i}].bbox must be 4 finite numbers [x1, y1, x2, y2], got {list(b)}"
    if not (b[0] < b[2] and b[1] < b[3]):
        return f"gt[{i}].bbox {list(b)} has zero or negative area"
    return f"gt[{i}].bbox {list(b)} lies outside the {width}x{height} image"


def validate_gt(gt: list[GtItem], width: int, height: int) -> None:
    """``ValueError`` unless every box is finite, has positive area and lies inside the image (1 px slack)."""
    lo, hx, hy = -BOX_SLACK, width + BOX_SLACK, height + BOX_SLACK
    for i, g in enumerate(gt):
        x1, y1, x2, y2 = b = g.bbox
        if not (lo <= x1 < x2 <= hx and lo <= y1 < y2 <= hy):  # False for NaN
            raise ValueError(_box_problem(i, b, width, height))


def _typed(raw: bytes) -> _Line:
    try:
        return _DECODE(raw)
    except msgspec.MsgspecError:
        pass
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise ValueError("not valid JSON (nested too deeply)") from None
    try:
        return msgspec.convert(obj, _Line)
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc).replace("`", "'")) from None


def parse_case(raw: bytes, line: int, geometry: GeometryOf) -> Case:
    """One JSONL line as a ``Case``; ``ValueError`` with a short reason when malformed. ``geometry(width, height,
    input_size)`` is the family's (``Adapter.geometry``): it checks the sizes."""
    c = _typed(raw)
    sizes = None if c.input_width is None and c.input_height is None else (c.input_width, c.input_height)
    if sizes is not None and None in sizes:
        raise ValueError("'input_width' and 'input_height' go together")
    geo = geometry(c.width, c.height, sizes)
    validate_gt(c.gt, geo.width, geo.height)
    if c.step is not None and c.step < 0:
        raise ValueError(f"'step' must be an integer >= 0, got {c.step}")
    return Case(line, raw.rstrip(), c.completion, c.gt, geo.width, geo.height, sizes and geo[2:], c.step)


def read_cases(lines: Iterable[bytes], name: str, geometry: GeometryOf) -> Iterator[Case]:
    """Cases of JSONL lines (bytes) in order; blank lines are skipped; a malformed line raises
    ``VisionR1Error("<name>:<line>: <reason>")``."""
    for n, raw in enumerate(lines, start=1):
        if raw.isspace() or not raw:
            continue
        try:
            yield parse_case(raw, n, geometry)
        except ValueError as exc:
            raise VisionR1Error(f"{name}:{n}: {exc}") from None
