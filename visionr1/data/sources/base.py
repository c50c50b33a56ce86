"""Containers shared by the readers: box-annotated images and referring expressions, in flat arrays."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from visionr1.errors import VisionR1Error


class Issues(Counter):
    """Problem -> how many items it affected; each reason says whether they were skipped or kept (shown in
    the build summary and written to the manifest)."""

    def add(self, reason: str, n: int = 1) -> None:
        if n:
            self[reason] += int(n)


@dataclass
class AnnotatedImages:
    """Images with labelled boxes (COCO, ODinW, V3Det). Image ``i`` owns annotation rows
    ``offsets[i]:offsets[i+1]`` of ``boxes`` (xyxy, original pixels) and ``labels`` (indices into
    ``categories``). ``crowd[i]`` marks images that hold a crowd region (COCO ``iscrowd=1``)."""

    source: str
    categories: list[str]
    paths: list[str]
    image_ids: np.ndarray
    widths: np.ndarray
    heights: np.ndarray
    offsets: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    crowd: np.ndarray
    files: list[Path] = field(default_factory=list)  # annotation files read (for checksums)
    issues: Issues = field(default_factory=Issues)
    ann_ids: np.ndarray | None = None  # the annotation id of each box, where the format has one
    crowd_ann_ids: np.ndarray | None = None  # annotation ids of the crowd regions left out

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)


@dataclass
class Expressions:
    """Referring expressions (RefCOCO family, gRefCOCO, Visual Genome). Expression ``e`` refers to image
    ``image[e]`` and owns target rows ``offsets[e]:offsets[e+1]`` of ``boxes``; no rows = no target."""

    source: str
    texts: list[str]
    image: np.ndarray  # index into paths
    paths: list[str]
    widths: np.ndarray
    heights: np.ndarray
    offsets: np.ndarray
    boxes: np.ndarray
    keys: list[str]  # a stable id per expression (ref id / region group)
    files: list[Path] = field(default_factory=list)
    issues: Issues = field(default_factory=Issues)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)


def offsets_of(owner: np.ndarray, n: int) -> np.ndarray:
    """Offsets of rows sorted by ``owner`` (values in ``0..n-1``)."""
    out = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=n), out=out[1:])
    return out


def require_file(path: Path, what: str, layout: str) -> Path:
    """``path`` if it is a file, else a one-line error naming it and the expected layout."""
    if not path.is_file():
        raise VisionR1Error(f"{what} not found: {path} (expected layout: {layout})")
    return path


def clean_boxes(xyxy: np.ndarray, width: np.ndarray, height: np.ndarray,
                issues: Issues) -> tuple[np.ndarray, np.ndarray]:
    """Validate boxes against their image: non-finite or zero-area boxes are skipped, boxes reaching outside the
    image are clipped to it (and skipped if nothing is left). Returns (kept mask, clipped boxes)."""
    finite = np.isfinite(xyxy).all(axis=1)
    positive = finite & (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    issues.add("zero-area or non-finite box (skipped)", int((~positive).sum()))
    lim = np.stack([width, height, width, height], axis=1).astype(np.float64)
    clipped = np.minimum(np.maximum(np.where(positive[:, None], xyxy, 0.0), 0.0), lim)
    inside = positive & (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    issues.add("box outside the image (skipped)", int((positive & ~inside).sum()))
    issues.add("box reaching outside the image (clipped)", int((inside & (clipped != xyxy).any(axis=1)).sum()))
    return inside, clipped
