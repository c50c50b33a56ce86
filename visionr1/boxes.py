"""Vectorised box math on ``(N, 4)`` arrays of ``[x1, y1, x2, y2]`` boxes (any one coordinate space).

All functions broadcast over whole arrays; there are no per-box Python loops.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from itertools import chain

import msgspec
import numpy as np


def as_boxes(boxes, dtype=np.float64) -> np.ndarray:
    """``boxes`` as a ``(N, 4)`` array (an empty input gives shape ``(0, 4)``)."""
    return np.asarray(boxes, dtype=dtype).reshape(-1, 4)


_MSGPACK = msgspec.msgpack.Encoder()
_ITEM = 37  # one 4-float msgpack array: 0x94, then 4 x (0xcb + 8-byte big-endian float64)


def pack(quads: Sequence[Sequence[float]]) -> np.ndarray:
    """``(len(quads), 4)`` float64 array of 4-number sequences (Python floats or ints), converted in C.

    Sequences of 4 Python floats (what the parsers produce) take the fast path: msgpack-encode the list in C and
    read the float64 values straight out of the encoding, after checking every array header and float marker
    (any other layout, e.g. ints, falls back to ``struct``). Both are several times faster than ``np.array`` of
    nested lists. ``ValueError`` unless each sequence holds 4 numbers.
    """
    n = len(quads)
    if n == 0:
        return np.zeros((0, 4))
    try:
        buf = _MSGPACK.encode(quads)
    except (TypeError, ValueError):  # not plain numbers: the struct path reports it
        buf = b""
    head = 1 if n < 16 else 3 if n < 1 << 16 else 5
    if len(buf) == head + _ITEM * n:
        layout = np.frombuffer(buf, dtype=np.uint8, offset=head).reshape(n, _ITEM)
        if (layout[:, 0] == 0x94).all() and (layout[:, 1::9] == 0xCB).all():
            return np.ndarray((n, 4), dtype=">f8", buffer=buf, offset=head + 2, strides=(_ITEM, 9)).astype(np.float64)
    if set(map(len, quads)) != {4}:
        raise ValueError("boxes must be 4 numbers each")
    try:
        buf = struct.pack(f"{4 * n}d", *chain.from_iterable(quads))
    except struct.error as e:
        raise ValueError(f"boxes must be 4 numbers each ({e})") from None
    return np.frombuffer(bytearray(buf), dtype=np.float64).reshape(n, 4)


def clip(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    """Boxes clipped to the image ``[0, width] x [0, height]``."""
    return np.minimum(np.maximum(boxes, 0.0), np.array([width, height, width, height], dtype=boxes.dtype))


def _intersection_union(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # coordinate columns (M, 1) against rows (1, N): contiguous inner loops over N
    ax1, ay1, ax2, ay2 = a.T[:, :, None]
    bx1, by1, bx2, by2 = b.T[:, None, :]
    iw = np.minimum(ax2, bx2) - np.maximum(ax1, bx1)
    ih = np.minimum(ay2, by2) - np.maximum(ay1, by1)
    inter = np.maximum(iw, 0) * np.maximum(ih, 0)
    union = ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1)) - inter
    return inter, union


def iou_aligned(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(N,)`` IoU of ``a[i]`` with ``b[i]`` (row by row, for flattened pair lists)."""
    iw = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    ih = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.maximum(iw, 0) * np.maximum(ih, 0)
    union = ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])) - inter
    return inter / np.maximum(union, np.finfo(inter.dtype).tiny)


def columns(boxes: np.ndarray) -> np.ndarray:
    """``(5, N)`` contiguous rows ``x1, y1, x2, y2, area``: the layout ``iou_indexed`` gathers from."""
    c = np.empty((5, len(boxes)), dtype=np.float64)
    c[:4] = boxes.T
    np.multiply(c[2] - c[0], c[3] - c[1], out=c[4])
    return c


def iou_indexed(cols: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """``(K,)`` IoU of box ``i[k]`` with box ``j[k]`` of ``cols`` (from ``columns``): one gather per coordinate
    from contiguous rows, in-place arithmetic."""
    x1, y1, x2, y2, area = cols
    iw = np.minimum(x2[i], x2[j])
    iw -= np.maximum(x1[i], x1[j])
    np.maximum(iw, 0.0, out=iw)
    ih = np.minimum(y2[i], y2[j])
    ih -= np.maximum(y1[i], y1[j])
    np.maximum(ih, 0.0, out=ih)
    iw *= ih  # intersection
    union = area[i]
    union += area[j]
    union -= iw
    np.maximum(union, np.finfo(np.float64).tiny, out=union)
    return np.divide(iw, union, out=iw)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(M, N)`` IoU of every box of ``a`` with every box of ``b`` (0 where the union is empty)."""
    inter, union = _intersection_union(a, b)
    return inter / np.maximum(union, np.finfo(inter.dtype).tiny)


def giou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(M, N)`` generalized IoU (Rezatofighi et al. 2019), computed in the dtype of ``a``
    (DETR's formula: ``iou - (hull - union) / hull``)."""
    inter, union = _intersection_union(a, b)
    ax1, ay1, ax2, ay2 = a.T[:, :, None]
    bx1, by1, bx2, by2 = b.T[:, None, :]
    hull = np.maximum(np.maximum(ax2, bx2) - np.minimum(ax1, bx1), 0) * \
        np.maximum(np.maximum(ay2, by2) - np.minimum(ay1, by1), 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / union - (hull - union) / hull


def l1_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(M, N)`` L1 distance between box coordinate vectors."""
    return np.abs(a[:, None, :] - b[None, :, :]).sum(-1)
