"""The reward equations of the paper (§3.2-3.3), one function each.

They are vectorised over a batch of completions: per-completion quantities are ``(B,)`` arrays, matched pairs
come as flat arrays with ``owner`` giving each pair's completion, thresholds are scalars or ``(B,)`` arrays.
"""

from __future__ import annotations

import numpy as np


def differentiate(x, xi1, xi2):
    """Eq. 8: ``f(x) = 1 if x >= ξ2; 0 if x < ξ1; else x``. Takes floats or arrays (thresholds broadcast)."""
    if isinstance(x, np.ndarray):
        return np.where(x >= xi2, 1.0, np.where(x < xi1, 0.0, x))
    return 1.0 if x >= xi2 else 0.0 if x < xi1 else float(x)


def dual_format(template_ok: np.ndarray, content_ok: np.ndarray) -> np.ndarray:
    """Eq. 4: 1 iff the completion follows the template (f_tem) and its content is valid (f_cont)."""
    return (np.asarray(template_ok) & np.asarray(content_ok)).astype(np.float64)


def _empty_cases(value: np.ndarray, n_gt: np.ndarray, n_pred: np.ndarray) -> np.ndarray:
    """N = 0 (negative sample): 1 if nothing is predicted else 0; M = 0 < N: 0."""
    return np.where(n_gt == 0, (n_pred == 0).astype(np.float64), np.where(n_pred == 0, 0.0, value))


def recall(pair_iou: np.ndarray, owner: np.ndarray, n_gt: np.ndarray, n_pred: np.ndarray, xi0, xi1, xi2,
           differentiation: bool = True) -> np.ndarray:
    """Eq. 5: ``f(#{matched pairs with IoU >= ξ0} / N)`` per completion. ``pair_iou`` holds the IoUs of the
    eligible matched pairs of all completions, ``owner`` their completion index."""
    xi0 = np.broadcast_to(xi0, n_gt.shape)
    hits = np.bincount(owner, weights=pair_iou >= xi0[owner], minlength=len(n_gt))
    r = hits / np.maximum(n_gt, 1)
    return _empty_cases(differentiate(r, xi1, xi2) if differentiation else r, n_gt, n_pred)


def precision(pair_iou: np.ndarray, owner: np.ndarray, n_gt: np.ndarray, n_pred: np.ndarray, xi0, xi1, xi2,
              differentiation: bool = True) -> np.ndarray:
    """Eq. 6: ``Σ f(IoU)`` over matched pairs with IoU >= ξ0, divided by M (extra or duplicate boxes lower it),
    per completion."""
    xi0, xi1, xi2 = (np.broadcast_to(x, n_gt.shape)[owner] for x in (xi0, xi1, xi2))
    f = differentiate(pair_iou, xi1, xi2) if differentiation else pair_iou
    s = np.bincount(owner, weights=np.where(pair_iou >= xi0, f, 0.0), minlength=len(n_gt))
    return _empty_cases(s / np.maximum(n_pred, 1), n_gt, n_pred)


def count(n_gt: np.ndarray, n_pred: np.ndarray) -> np.ndarray:
    """The ablation that replaces recall (§4.3): 1 iff the number of boxes is right."""
    return (n_pred == n_gt).astype(np.float64)


def total(fmt: np.ndarray, rec: np.ndarray, prec: np.ndarray, weights=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Eq. 7: weighted sum of the dual format, recall and precision rewards."""
    return weights[0] * fmt + weights[1] * rec + weights[2] * prec
