"""Coordinate adapters: what each model family writes, in which coordinate space (SPEC §1).

Ground truth is always ``[x1, y1, x2, y2]`` in pixels of the ORIGINAL image. An adapter converts between
that and the family's output text:

| family | output text | coordinate space |
|---|---|---|
| ``qwen2.5-vl`` | JSON list of ``{"bbox_2d": [...], "label": ...}`` | pixels of the resized input (smart_resize) |
| ``qwen2-vl``, ``qwen3-vl`` | the same JSON | integers 0..1000 relative to the image size |
| ``qwen3-vl-thinking`` | a think block closed by ``</think>``, then the same JSON | as ``qwen3-vl`` |
| ``griffon-g`` | ``label-[x1,y1,x2,y2]`` items joined by ``&``; ``None`` | [0, 1], exactly 3 decimals |

Parsing never raises. It happens in two steps: ``read`` (per text: the template check f_tem, the type part of
the content check and every coordinate quadruple it can find) and ``parse_batch`` (for many texts at once,
vectorised: finiteness, positive area, the range part of f_cont, conversion to original pixels, clipping).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import chain
from operator import attrgetter
from typing import NamedTuple

import msgspec
import numpy as np

from visionr1.boxes import as_boxes, pack
from visionr1.errors import VisionR1Error
from visionr1.formats.resize import MAX_PIXELS, MIN_PIXELS, check_size, smart_resize, vl_utils_size


class Geometry(NamedTuple):
    """Original image size and the model input size (after the family's resize)."""

    width: int
    height: int
    input_width: int
    input_height: int


class Coords(msgspec.Struct, array_like=True, gc=False, forbid_unknown_fields=True):
    """4 model-space numbers ``[x1, y1, x2, y2]``, decoded from a JSON array of exactly 4 numbers (a fifth
    number fails the decode: f_cont needs exactly 4)."""

    x1: float
    y1: float
    x2: float
    y2: float


class Box(msgspec.Struct, gc=False):
    """One box as written: 4 model-space numbers and a label. Decoding a template-valid qwen list yields
    these directly (other keys are ignored; a missing key or a non-number fails the decode)."""

    bbox_2d: Coords
    label: str


class Read(NamedTuple):
    """What one text says, before any coordinate math.

    ``typed_ok``: every item was read with 4 numbers of the right type (the type part of f_cont).
    ``boxes`` holds each item that had 4 numbers, not yet filtered for finiteness or positive area;
    ``index`` maps boxes to item numbers when items were skipped (None = identity).
    """

    template_ok: bool
    typed_ok: bool
    reason: str | None
    boxes: list
    n_items: int
    index: list | None = None


_COORDS, _LABEL_OF = attrgetter("bbox_2d"), attrgetter("label")


@dataclass(frozen=True)
class Parsed:
    """What a completion says. ``boxes`` are in original pixels (clipped), ``model_boxes`` as written."""

    template_ok: bool
    content_ok: bool
    reason: str | None
    boxes: np.ndarray
    model_boxes: np.ndarray
    labels: tuple[str, ...]
    n_items: int

    @property
    def format_ok(self) -> bool:
        """f_tem and f_cont (the dual format check of Eq. 4)."""
        return self.template_ok and self.content_ok


@dataclass(frozen=True)
class ParsedBatch:
    """Many parsed completions in concatenated arrays: completion ``k`` owns rows ``offsets[k]:offsets[k+1]``
    of ``boxes`` (original pixels, clipped), ``model_boxes`` and ``labels``."""

    template_ok: np.ndarray
    content_ok: np.ndarray
    reasons: list
    boxes: np.ndarray
    model_boxes: np.ndarray
    items: list  # the recovered Box of each row
    offsets: np.ndarray
    n_items: list

    @cached_property
    def labels(self) -> list[str]:
        """The label of each row (read on first use: the box matcher does not need them)."""
        return list(map(_LABEL_OF, self.items))

    def __len__(self) -> int:
        return len(self.reasons)

    def __getitem__(self, k: int) -> Parsed:
        a, b = int(self.offsets[k]), int(self.offsets[k + 1])
        return Parsed(bool(self.template_ok[k]), bool(self.content_ok[k]), self.reasons[k], self.boxes[a:b],
                      self.model_boxes[a:b], tuple(self.labels[a:b]), self.n_items[k])


def normalize_label(label: str) -> str:
    """Labels compare case-insensitively with whitespace collapsed."""
    return " ".join(label.split()).casefold()


_EMPTY = np.zeros((0, 4))
_STRUCTURE = re.compile(r"[\[\]{}`]")


def says_nothing(text: str) -> bool:
    """True for an answer in plain words with no box syntax at all (no bracket, brace or code fence), such as
    "There is no dog.": evaluation reads it as "no object", not as a failed attempt at the format (the reward's
    template check still fails it, SPEC 3.1)."""
    return isinstance(text, str) and _STRUCTURE.search(text) is None


def _number(v) -> tuple[float | None, bool]:
    """``(value, strict)``: a float (or None) and whether ``v`` was a JSON number (not a string)."""
    t = type(v)
    if t is int or t is float:
        try:
            return float(v), True
        except OverflowError:
            return None, False
    if t is str:
        try:
            return float(v.strip().strip("'\"")), False
        except ValueError:
            return None, False
    return None, False


@lru_cache(maxsize=65536)
def _geometry(factor: int, width: int, height: int, min_pixels: int, max_pixels: int, pre_resize: bool) -> Geometry:
    h, w = vl_utils_size(height, width, factor) if pre_resize else (height, width)
    h, w = smart_resize(h, w, factor, min_pixels, max_pixels)
    return Geometry(width, height, w, h)


class Adapter:
    """Base adapter: a coordinate space, a serializer and a robust parser for one family."""

    family: str = ""
    factor: int = 28  # patch size x spatial merge of the family's vision encoder
    thinking: bool = False  # answers follow a think block closed by </think>

    def geometry(self, width: int, height: int, *, min_pixels: int = MIN_PIXELS, max_pixels: int = MAX_PIXELS,
                 input_size: tuple[int, int] | None = None, pre_resize: bool = False) -> Geometry:
        """Geometry of an image; the input size is given or computed with ``smart_resize``. ``pre_resize``: the
        image was first resized by qwen_vl_utils (``vl_utils_size``), as the released evaluation feeds it.
        ``ValueError`` for a size outside ``check_size`` or an aspect ratio that smart_resize refuses."""
        width, height = check_size(width, height)
        if input_size is None:
            return _geometry(self.factor, width, height, int(min_pixels), int(max_pixels), pre_resize)
        return Geometry(width, height, *check_size(*input_size, what="model input"))

    # ---- coordinate spaces
    def space(self, width, height, input_width, input_height):
        """``(sx, sy, xmax, ymax)``: model-space units per original pixel and the largest valid model-space x
        and y (the content check's W_in, H_in). Takes numbers or arrays."""
        raise NotImplementedError

    def scale(self, geo: Geometry) -> tuple[float, float]:
        """Model-space units per original pixel, ``(sx, sy)``."""
        return self.space(geo.width, geo.height, geo.input_width, geo.input_height)[:2]

    def bounds(self, geo: Geometry) -> tuple[float, float]:
        """Largest valid x and y in model space."""
        return self.space(geo.width, geo.height, geo.input_width, geo.input_height)[2:]

    def to_model(self, boxes, geo: Geometry) -> np.ndarray:
        """Original-pixel boxes in model space (not rounded)."""
        sx, sy = self.scale(geo)
        return as_boxes(boxes) * np.array([sx, sy, sx, sy])

    def to_original(self, boxes, geo: Geometry) -> np.ndarray:
        """Model-space boxes in original pixels (not clipped)."""
        sx, sy = self.scale(geo)
        return as_boxes(boxes) / np.array([sx, sy, sx, sy])

    # ---- text
    def serialize(self, gt: Iterable[Mapping], geo: Geometry, exact: bool = False) -> str:
        """The family's answer text for ground truth ``[{label, bbox}]``: coordinates on the family's grid as
        models write them (SFT targets), or with ``exact`` as precisely as the format allows (qwen: 2 decimals)."""
        raise NotImplementedError

    def read(self, text: str) -> Read:
        """Template check, typed coordinates and labels of one text."""
        raise NotImplementedError

    def parse(self, text: str, geo: Geometry) -> Parsed:
        """Everything ``text`` says, boxes in original pixels."""
        return self.parse_batch([text], [geo])[0]

    def parse_batch(self, texts: Sequence[str], geos: Sequence[Geometry]) -> ParsedBatch:
        """Parse many texts; the coordinate checks and conversions run once over all their boxes.

        A box is recovered when its 4 numbers are finite with x1 < x2 and y1 < y2 (model space); it is then
        converted to original pixels and clipped. f_cont additionally needs every item typed and recovered
        and every coordinate within ``[0, bounds]``.
        """
        reads = [self.read(t) for t in texts]
        n = len(reads)
        template_ok, typed_ok, reasons, box_lists, n_items, _ = zip(*reads, strict=True) if reads else ((),) * 6
        counts = np.fromiter(map(len, box_lists), dtype=np.int64, count=n)
        boxes = list(chain.from_iterable(box_lists))
        arr = pack(list(map(_COORDS, boxes)))
        size = pack(geos)
        # per completion: sx, sy, xmax, ymax (model space), width, height; then per box
        per = np.stack([*np.broadcast_arrays(*self.space(*size.T)), size[:, 0], size[:, 1]], axis=1)
        geo_arr = np.repeat(per, counts, axis=0)
        owner = np.repeat(np.arange(n), counts)
        x1, y1, x2, y2 = arr.T
        with np.errstate(invalid="ignore"):
            keep = (x1 < x2) & (y1 < y2) & np.isfinite(arr).all(axis=1)
            inside = keep & (x1 >= 0) & (y1 >= 0) & (x2 <= geo_arr[:, 2]) & (y2 <= geo_arr[:, 3])
        bad = np.bincount(owner, weights=~inside, minlength=n) if len(arr) else np.zeros(n)
        template_ok = np.array(template_ok, dtype=bool).reshape(n)
        content_ok = np.array(typed_ok, dtype=bool).reshape(n) & (bad == 0)
        reasons = list(reasons)
        for k in np.flatnonzero(~content_ok & (bad > 0)):
            if reasons[k] is None:
                rows = owner == k
                reasons[k] = self._range_reason(reads[k], arr[rows], keep[rows], inside[rows], geos[k])
        if not keep.all():
            arr, owner, geo_arr = arr[keep], owner[keep], geo_arr[keep]
            boxes = [box for box, k in zip(boxes, keep.tolist(), strict=True) if k]
            counts = np.bincount(owner, minlength=n)
        orig = arr / np.tile(geo_arr[:, :2], 2)
        np.maximum(orig, 0.0, out=orig)
        np.minimum(orig, np.tile(geo_arr[:, 4:], 2), out=orig)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return ParsedBatch(template_ok, content_ok, reasons, orig, arr, boxes, offsets, list(n_items))

    def _range_reason(self, read: Read, arr: np.ndarray, keep: np.ndarray, inside: np.ndarray,
                      geo: Geometry) -> str:
        i = int(np.argmin(inside))  # the first offending box
        item = read.index[i] if read.index is not None else i
        if not keep[i]:
            return f"item {item}: not 4 finite numbers with x1 < x2 and y1 < y2"
        wmax, hmax = self.bounds(geo)
        return f"item {item}: {arr[i].tolist()} outside [0, {wmax:g}] x [0, {hmax:g}]"


def _snap(model: np.ndarray, hi: tuple[float, float], step: float) -> np.ndarray:
    """Round model-space boxes to the grid ``step`` inside ``[0, hi]`` keeping positive area."""
    q = np.round(model / step) * step
    q = np.clip(q, 0, [hi[0], hi[1], hi[0], hi[1]])
    for lo_i, hi_i, lim in ((0, 2, hi[0]), (1, 3, hi[1])):
        flat = q[:, hi_i] <= q[:, lo_i]
        q[flat, hi_i] = np.minimum(q[flat, lo_i] + step, lim)
        q[flat, lo_i] = q[flat, hi_i] - step
    return q


# ------------------------------------------------------------------ qwen JSON families

_OBJECT = re.compile(r"\{[^{}]*\}")
_BBOX = re.compile(r"""["']bbox_2d["']\s*:\s*\[([^\[\]]*)\]""")
_LABEL = re.compile(r"""["']label["']\s*:\s*(?:"((?:[^"\\\n]|\\.)*)"|'([^'\n]*)')""")


_DECODE_ITEMS = msgspec.json.Decoder(list[Box]).decode


def _unfence(s: str) -> str | None:
    """Body of a stripped answer after removing one optional ```json fence (not stripped); None if the fence is
    not closed."""
    if not s.startswith("```json"):
        return s
    if len(s) < 10 or not s.endswith("```"):
        return None
    return s[7:-3]


def _strict(text: str) -> list[Box] | None:
    """Items of a template-valid JSON list (decoded and type-checked in C), or None."""
    try:
        return _DECODE_ITEMS(text)
    except (msgspec.DecodeError, UnicodeEncodeError):  # the latter: lone surrogates
        return None


def _recover_strict(s: str) -> list[Box] | None:
    """Well-formed items inside a non-template answer, tried in C before the item-by-item scan: the list
    inside prose, a truncated list closed after its last complete item, objects without the list brackets,
    Python quotes."""
    i, j, o, k = s.find("["), s.rfind("]"), s.find("{"), s.rfind("}")
    spans = []
    if 0 <= i < j:
        spans.append(s[i: j + 1])
    if 0 <= i < k:
        spans.append(s[i: k + 1] + "]")
    if 0 <= o < k:
        spans.append("[" + s[o: k + 1] + "]")
    for t in spans + [t.replace("'", '"') for t in spans if "'" in t]:
        items = _strict(t)
        if items:
            return items
    return None


def _loads(s: str):
    try:
        return json.loads(s)
    except (ValueError, RecursionError):
        return None


def _scan_items(text: str) -> list[dict]:
    """Every flat ``{...}`` object of ``text`` that mentions a ``bbox_2d``, read leniently (numbers as
    strings, any quotes): the last resort for answers that are not JSON at all."""
    items = []
    for m in _OBJECT.finditer(text):
        chunk = m.group(0)
        b = _BBOX.search(chunk) if "bbox_2d" in chunk else None
        if b is None:
            continue
        lab = _LABEL.search(chunk)
        label = (lab.group(1) if lab.group(1) is not None else lab.group(2)) if lab else ""
        items.append({"bbox_2d": b.group(1).split(","), "label": label})
    return items


def _items_read(items: list[Box], template_ok: bool, reason: str | None) -> Read:
    return Read(template_ok, True, reason, items, len(items))


def _itemwise_read(items: list, template_ok: bool, reason: str | None) -> Read:
    """Item by item, for anything that is not a clean list: strings as numbers, missing keys, junk."""
    typed_ok = True
    boxes, index = [], []
    for i, it in enumerate(items):
        if type(it) is not dict:
            if template_ok:
                template_ok, reason = False, f"item {i} is not an object"
            typed_ok = False
            continue
        label = it.get("label")
        if type(label) is not str or "bbox_2d" not in it:
            if template_ok:
                template_ok, reason = False, f"item {i} lacks a string 'label' or a 'bbox_2d'"
            label = label if type(label) is str else ""
        b = it.get("bbox_2d")
        vals = [_number(v) for v in b] if type(b) is list and len(b) == 4 else None
        if vals is None or any(v is None for v, _ in vals):
            if typed_ok:
                typed_ok, reason = False, reason or f"item {i}: bbox_2d is not a list of 4 numbers"
            continue
        if typed_ok and not all(strict for _, strict in vals):
            typed_ok, reason = False, reason or f"item {i}: bbox_2d has numbers written as strings"
        boxes.append(Box(Coords(*(v for v, _ in vals)), label))
        index.append(i)
    return Read(template_ok, typed_ok, reason, boxes, len(items), index)


THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def split_think(text: str) -> tuple[str | None, str]:
    """``(think, answer)`` of a Thinking model's completion: the text before the last ``</think>`` (without an
    opening ``<think>``, which the chat template may have put in the prompt) and the answer after it; ``think``
    is None when the block is never closed (then the answer is empty)."""
    text = text if isinstance(text, str) else ""
    head, sep, tail = text.rpartition(THINK_CLOSE)
    if not sep:
        return None, ""
    opened = head.lstrip()
    return (opened[len(THINK_OPEN):] if opened.startswith(THINK_OPEN) else head), tail


class QwenJSON(Adapter):
    """JSON list of ``{"bbox_2d": [x1, y1, x2, y2], "label": ...}``, usually inside a ```json fence; with
    ``thinking`` after a think block closed by ``</think>`` (Qwen3-VL Thinking), which is what is read."""

    def __init__(self, family: str, relative: bool, factor: int, thinking: bool = False) -> None:
        self.family, self.relative, self.factor, self.thinking = family, relative, factor, thinking

    def space(self, width, height, input_width, input_height):
        if self.relative:  # integers 0..1000 relative to the image
            return 1000.0 / width, 1000.0 / height, 1000.0, 1000.0
        return input_width / width, input_height / height, input_width * 1.0, input_height * 1.0

    def serialize(self, gt: Iterable[Mapping], geo: Geometry, exact: bool = False) -> str:
        gt = list(gt)
        if not gt:
            return self._think_prefix() + "```json\n[]\n```"
        model = self.to_model([g["bbox"] for g in gt], geo)
        q = _snap(model, self.bounds(geo), 0.01) if exact else _snap(model, self.bounds(geo), 1.0).astype(int)
        lines = [json.dumps({"bbox_2d": [round(v, 2) for v in b.tolist()] if exact else b.tolist(),
                             "label": g["label"]}, ensure_ascii=False) for b, g in zip(q, gt, strict=True)]
        return self._think_prefix() + "```json\n[\n\t" + ",\n\t".join(lines) + "\n]\n```"

    def _think_prefix(self) -> str:
        # an empty think block, as the Qwen3 chat templates write one for an answer without reasoning
        return f"{THINK_OPEN}\n\n{THINK_CLOSE}\n\n" if self.thinking else ""

    def read(self, text: str) -> Read:
        if self.thinking:
            think, text = split_think(text)
            if think is None:  # an unclosed think block has no answer: f_tem fails, nothing is scored
                return Read(False, True, f"think block not closed by {THINK_CLOSE}", [], 0)
        s = text.strip() if isinstance(text, str) else ""
        body = _unfence(s)
        if body is not None:
            items = _strict(body)  # the common case: a template-valid list (surrounding whitespace is valid JSON)
            if items is not None:
                return _items_read(items, True, None)
            body = body.strip()
            if not body:
                return Read(True, True, None, [], 0)
        reason = "unclosed ```json fence" if body is None else "not a JSON list"
        data = _loads(body) if body and body[0] == "[" else None
        if type(data) is list:  # valid JSON, but not every item is {bbox_2d: [4 numbers], label: str}
            return _itemwise_read(data, True, None)
        if "bbox_2d" not in s:  # no item to recover
            return Read(False, True, reason, [], 0)
        items = _recover_strict(s)
        if items is not None:
            return _items_read(items, False, reason)
        return _itemwise_read(_scan_items(s), False, reason)


# ------------------------------------------------------------------ griffon-g

_GRIFFON_ITEM = re.compile(r"([^&\[\]\n]*?)-\[([^\[\]]*)\]")
_THREE_DECIMALS = re.compile(r"[01]\.\d{3}")


class GriffonG(Adapter):
    """``label-[x1,y1,x2,y2]`` items joined by ``&`` (``None`` for no object), coordinates in [0, 1] with
    exactly three decimals."""

    family = "griffon-g"
    factor = 1  # Griffon-G's input size does not enter its coordinates

    def geometry(self, width: int, height: int, *, min_pixels: int = MIN_PIXELS, max_pixels: int = MAX_PIXELS,
                 input_size: tuple[int, int] | None = None, pre_resize: bool = False) -> Geometry:
        width, height = check_size(width, height)
        return Geometry(width, height, *(check_size(*input_size, what="model input") if input_size else
                                         (width, height)))

    def space(self, width, height, input_width, input_height):
        return 1.0 / width, 1.0 / height, 1.0, 1.0

    def serialize(self, gt: Iterable[Mapping], geo: Geometry, exact: bool = False) -> str:
        gt = list(gt)  # three decimals are the format: ``exact`` changes nothing
        if not gt:
            return "None"
        q = _snap(self.to_model([g["bbox"] for g in gt], geo), (1.0, 1.0), 0.001)
        return "&".join(f"{g['label']}-[{b[0]:.3f},{b[1]:.3f},{b[2]:.3f},{b[3]:.3f}]"
                        for b, g in zip(q, gt, strict=True))

    def read(self, text: str) -> Read:
        s = text.strip() if isinstance(text, str) else ""
        if s in ("", "None"):
            return Read(True, True, None, [], 0)
        matches = [_GRIFFON_ITEM.fullmatch(p) for p in s.split("&")]
        template_ok = all(m is not None and m.group(1).strip() for m in matches)
        reason = None if template_ok else "not label-[x1,y1,x2,y2] items joined by '&'"
        found = matches if template_ok else list(_GRIFFON_ITEM.finditer(s))
        typed_ok = template_ok
        boxes, index = [], []
        for i, m in enumerate(found):
            raw = [v.strip() for v in m.group(2).split(",")]
            vals = [_number(v)[0] for v in raw] if len(raw) == 4 else None
            if vals is None or None in vals:
                if typed_ok:
                    typed_ok, reason = False, f"item {i}: not 4 numbers"
                continue
            if typed_ok and not all(_THREE_DECIMALS.fullmatch(v) for v in raw):
                typed_ok, reason = False, f"item {i}: coordinates must be written with 3 decimals"
            boxes.append(Box(Coords(*vals), m.group(1).strip()))
            index.append(i)
        return Read(template_ok, typed_ok, reason, boxes, len(found), index)


ADAPTERS: dict[str, Adapter] = {
    "qwen2.5-vl": QwenJSON("qwen2.5-vl", relative=False, factor=28),
    "qwen2-vl": QwenJSON("qwen2-vl", relative=True, factor=28),
    "qwen3-vl": QwenJSON("qwen3-vl", relative=True, factor=32),
    "qwen3-vl-thinking": QwenJSON("qwen3-vl-thinking", relative=True, factor=32, thinking=True),
    "griffon-g": GriffonG(),
}
FAMILIES: Sequence[str] = tuple(ADAPTERS)


def get_adapter(family: str) -> Adapter:
    """The adapter of ``family``; a one-line error for an unknown family."""
    try:
        return ADAPTERS[family]
    except KeyError:
        raise VisionR1Error(f"unknown model family '{family}' (known: {', '.join(ADAPTERS)})") from None
