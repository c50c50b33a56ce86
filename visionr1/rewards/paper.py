"""The ``paper`` preset: dual format, recall and precision rewards of paper §3.2-3.3 (docs/spec.md §3.1)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain
from operator import itemgetter

import numpy as np

from visionr1.boxes import pack
from visionr1.formats import Geometry, get_adapter, normalize_label
from visionr1.rewards import equations as eq
from visionr1.rewards.config import RewardConfig
from visionr1.rewards.matching import match_batch
from visionr1.rewards.terms import RewardTerms

_BBOX = itemgetter("bbox")


def score_paper_batch(completions: Sequence[str], gts: Sequence[Sequence[Mapping]], geos: Sequence[Geometry],
                      steps: Sequence[int], total_steps: int | None, config: RewardConfig,
                      details: bool = False) -> list[RewardTerms]:
    """Reward terms of many completions; ``gts[k]`` is ``[{label, bbox}]`` in original pixels.

    Parsing, the IoUs of all (prediction, ground truth) pairs and the equations run vectorised over the
    whole batch; only the Hungarian assignment runs per completion.
    """
    b = len(completions)
    pb = get_adapter(config.family).parse_batch(completions, geos)
    n_gt = np.fromiter(map(len, gts), dtype=np.int64, count=b)
    gt_off = np.zeros(b + 1, dtype=np.int64)
    np.cumsum(n_gt, out=gt_off[1:])
    gt_boxes = pack(list(map(_BBOX, chain.from_iterable(gts))))
    pl = gl = None
    if config.matcher == "box+label" or details:  # labels do not enter the box matcher
        # label ids in sorted order of the label text, so that they never depend on the order of the boxes
        names = [normalize_label(x) for x in pb.labels] + [normalize_label(g["label"]) for gt in gts for g in gt]
        ids = np.unique(np.array(names, dtype=str), return_inverse=True)[1].astype(np.int64).reshape(-1)
        pl, gl = ids[: len(pb.labels)], ids[len(pb.labels):]
    matches = match_batch(pb.boxes, pb.offsets, gt_boxes, gt_off, pl, gl, config.matcher)

    schedule = config.schedule
    phases = {s: schedule.phase(s, total_steps) for s in set(steps)}
    ths = [schedule.phase2 if phases[s] == 2 else schedule.phase1 for s in steps]
    if len(phases) == 1:  # one step for the whole batch (as TRL calls it): scalar thresholds
        xi0, xi1, xi2 = ths[0].xi0, ths[0].xi1, ths[0].xi2
    else:
        xi0, xi1, xi2 = (np.array([getattr(t, k) for t in ths]) for k in ("xi0", "xi1", "xi2"))
    n_pred = np.diff(pb.offsets)
    owner = np.repeat(np.arange(b), np.diff(matches.offsets))
    iou = matches.iou
    if config.matcher == "box+label":  # a matched pair counts only when the labels agree
        iou, owner = iou[matches.same_label], owner[matches.same_label]
    fmt = eq.dual_format(pb.template_ok, pb.content_ok)
    rec = (eq.count(n_gt, n_pred) if config.count_reward
           else eq.recall(iou, owner, n_gt, n_pred, xi0, xi1, xi2, config.differentiation))
    prec = eq.precision(iou, owner, n_gt, n_pred, xi0, xi1, xi2, config.differentiation)
    tot = eq.total(fmt, rec, prec, config.weights)
    cols = zip(fmt.tolist(), rec.tolist(), prec.tolist(), tot.tolist(), n_pred.tolist(), pb.template_ok.tolist(),
               strict=True)
    if not details:
        return [RewardTerms(f, r, p, t, None, m, ok) for f, r, p, t, m, ok in cols]
    return [RewardTerms(f, r, p, t, _details(pb[k], matches[k], ths[k], phases[steps[k]], geos[k], config), m, ok)
            for k, (f, r, p, t, m, ok) in enumerate(cols)]


def _details(parsed, m, th, phase: int, geo: Geometry, config: RewardConfig) -> dict:
    counted = (m.iou >= th.xi0) & (m.same_label | (config.matcher == "box"))
    f = eq.differentiate(m.iou, th.xi1, th.xi2) if config.differentiation else m.iou
    return {
        "preset": "paper", "family": config.family, "phase": phase, "thresholds": th.as_dict(),
        "input_size": [geo.input_width, geo.input_height], "template_ok": parsed.template_ok,
        "content_ok": parsed.content_ok, "reason": parsed.reason,
        "predictions": [{"label": lab, "bbox": _r(b), "bbox_model": _r(mb)}
                        for lab, b, mb in zip(parsed.labels, parsed.boxes, parsed.model_boxes, strict=True)],
        "matches": [{"pred": int(p), "gt": int(g), "iou": round(float(i), 6), "same_label": bool(s),
                     "counted": bool(c), "f": round(float(v), 6) if c else 0.0}
                    for p, g, i, s, c, v in zip(m.pred, m.gt, m.iou, m.same_label, counted, f, strict=True)],
    }


def _r(b) -> list[float]:
    return [round(float(v), 3) for v in b]
