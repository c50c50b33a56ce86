"""Vectorised box math on ``(N, 4)`` arrays of ``[x1, y1, x2, y2]`` boxes (any one coordinate space).

All functions broadcast over whole arrays; there are no per-box Python loops.
"""

from __future__ import annotations

import numpy as np


def as_boxes(boxes, dtype=np.float64) -> np.ndarray:
    """``boxes`` as a ``(N, 4)`` array (an empty input gives shape ``(0, 4)``)."""
    return np.asarray(boxes, dtype=dtype).reshape(-1, 4)


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
