"""Eq. 3: one-to-one matching of predicted and ground-truth boxes (Hungarian algorithm, scipy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from visionr1.boxes import columns, iou_indexed

MATCHERS = ("box", "box+label")


@dataclass(frozen=True)
class Match:
    """Matched pairs of one completion: prediction index (in written order), ground-truth index, IoU and
    whether the labels agree."""

    pred: np.ndarray
    gt: np.ndarray
    iou: np.ndarray
    same_label: np.ndarray


@dataclass(frozen=True)
class Matches:
    """Matched pairs of many completions, concatenated: completion ``k`` owns ``offsets[k]:offsets[k+1]``."""

    pred: np.ndarray
    gt: np.ndarray
    iou: np.ndarray
    same_label: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, k: int) -> Match:
        a, b = self.offsets[k], self.offsets[k + 1]
        return Match(self.pred[a:b], self.gt[a:b], self.iou[a:b], self.same_label[a:b])


def _offsets(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def canonical_order(boxes: np.ndarray, owner: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """A permutation that groups rows by ``owner`` (ascending) and orders each group by a total order on
    (box, label) values alone, so it does not depend on the order the rows came in. The within-group order is
    the byte order of the values (one C sort instead of a multi-key lexsort)."""
    fields = [("owner", ">i8"), ("box", "<f8", (4,))] + ([("label", ">i8")] if labels is not None else [])
    rec = np.empty(len(boxes), dtype=fields)
    rec["owner"] = owner
    rec["box"] = boxes + 0.0  # -0.0 -> 0.0, so equal values have equal bytes
    if labels is not None:
        rec["label"] = labels
    return np.argsort(rec.view(f"V{rec.dtype.itemsize}"), kind="stable")


PAIR_CHUNK = 8192  # pairs per vectorised pass: temporaries stay small and warm in the allocator


def match_batch(pred: np.ndarray, pred_offsets: np.ndarray, gt: np.ndarray, gt_offsets: np.ndarray,
                pred_labels: np.ndarray | None = None, gt_labels: np.ndarray | None = None,
                matcher: str = "box") -> Matches:
    """Match each completion's predictions (rows ``pred_offsets[k]:pred_offsets[k+1]``) with its ground truth.

    Cost ``-IoU`` (``box``) or ``-IoU + 1[label differs]`` (``box+label``); labels are integer ids, and without
    them every pair counts as same-label. The IoUs of the (prediction, ground truth) pairs of many completions
    are computed in vectorised passes; the assignment runs per completion. Predictions are put in a canonical
    order first, so a result never depends on the order in which boxes were written (ties included).
    """
    if matcher not in MATCHERS:
        raise ValueError(f"unknown matcher {matcher!r}")
    labelled = pred_labels is not None and gt_labels is not None
    if matcher == "box+label" and not labelled:
        raise ValueError("the box+label matcher needs labels")
    b = len(pred_offsets) - 1
    m, n = np.diff(pred_offsets), np.diff(gt_offsets)
    order = canonical_order(pred, np.repeat(np.arange(b), m), pred_labels if matcher == "box+label" else None)
    pair_off = _offsets(m * n)
    box_cols = columns(np.concatenate([pred, gt]))
    counts = np.minimum(m, n)  # the assignment pairs min(M, N) boxes
    ms, ns, po = m.tolist(), n.tolist(), pair_off.tolist()
    rows_all, cols_all, iou_all, same_all = [], [], [], []
    k0 = 0
    while k0 < b:  # completions k0..k1-1 in one vectorised pass of at most PAIR_CHUNK pairs (or one completion)
        k1 = int(np.searchsorted(pair_off, po[k0] + PAIR_CHUNK, side="right")) - 1
        k1 = min(max(k1, k0 + 1), b)
        base = po[k0]
        if po[k1] == base:  # no pairs
            k0 = k1
            continue
        p0, p1 = int(pred_offsets[k0]), int(pred_offsets[k1])
        owner = np.repeat(np.arange(k0, k1), m[k0:k1])
        reps = n[owner]  # each (sorted) prediction row against all ground truth of its completion
        pi = np.repeat(order[p0:p1], reps)
        gi = np.arange(len(pi)) - np.repeat(_offsets(reps)[:-1] - gt_offsets[owner], reps)
        iou = iou_indexed(box_cols, pi, gi + len(pred))
        same = pred_labels[pi] == gt_labels[gi] if labelled else None
        cost = (~same).astype(np.float64) - iou if matcher == "box+label" else -iou
        solved = [linear_sum_assignment(cost[po[k] - base: po[k + 1] - base].reshape(ms[k], ns[k]))
                  for k in range(k0, k1) if po[k + 1] > po[k]]
        # map the chunk's assignments back to pair positions and written prediction order
        rows = np.concatenate([r for r, _ in solved])
        cols = np.concatenate([c for _, c in solved])
        k_of = np.repeat(np.arange(k0, k1), counts[k0:k1])
        flat = pair_off[k_of] - base + rows * n[k_of] + cols
        start = pred_offsets[k_of]
        rows_all.append(order[start + rows] - start)
        cols_all.append(cols)
        iou_all.append(iou[flat])
        same_all.append(same[flat] if labelled else np.ones(len(flat), bool))
        k0 = k1
    if not rows_all:
        z = np.zeros(0, dtype=np.int64)
        return Matches(z, z, np.zeros(0), np.zeros(0, bool), _offsets(counts))
    return Matches(np.concatenate(rows_all), np.concatenate(cols_all), np.concatenate(iou_all),
                   np.concatenate(same_all), _offsets(counts))


def match(pred: np.ndarray, gt: np.ndarray, pred_labels: np.ndarray | None = None,
          gt_labels: np.ndarray | None = None, matcher: str = "box") -> Match:
    """``match_batch`` for a single completion."""
    return match_batch(pred, np.array([0, len(pred)]), gt, np.array([0, len(gt)]), pred_labels, gt_labels,
                       matcher)[0]
