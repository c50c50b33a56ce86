"""Evaluation speed (issue 6).

1. Inference: the real answering path (``visionr1.eval.runner.answer`` with the HF backend) on the tiny
   Qwen2.5-VL, batch size B against batch size 1 on the same COCO queries of a synthetic world. Target >= 3x.
2. Metrics: COCO bbox evaluation of 5,000 synthetic val images (~70K objects, crowd regions included) and
   degraded detections (dropped, jittered, false positives; rank-decay scores), faster-coco-eval against
   pycocotools, through ``visionr1.eval.metrics.coco_stats``. The 12 statistics must be identical.

    python benchmarks/eval_speed.py [--queries 32] [--batch-size 8] [--images 5000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from visionr1.cli import main as cli
from visionr1.eval.backends import HFBackend
from visionr1.eval.coco import coco_sets
from visionr1.eval.metrics import coco_stats
from visionr1.eval.runner import answer
from visionr1.synth.world import COCO_CATEGORY_IDS, COCO_SHAPES, coco_scenes
from visionr1.synth.writers import coco_document

PIXELS = (3136, 401408)


def inference(work: Path, queries: int, batch_size: int, max_new_tokens: int) -> dict:
    world, model = work / "world", work / "model"
    assert cli(["synth", "world", "--out", str(world), "--images", str(4 * queries), "--force"]) == 0
    assert cli(["synth", "tiny-model", "--out", str(model), "--force"]) == 0
    sets = coco_sets(world / "coco", "qwen2.5-vl", limit=queries)
    backend = HFBackend(str(model), "qwen2.5-vl", *PIXELS, max_new_tokens=max_new_tokens)
    backend.generate(sets[0].queries[:2])  # warm-up
    times = {}
    for b in (1, batch_size):
        out = work / f"answers-b{b}"
        t0 = time.perf_counter()
        answer(sets, lambda: backend, out, "qwen2.5-vl", *PIXELS, batch_size=b)
        times[b] = time.perf_counter() - t0
    n = len(sets[0].queries)
    return {"queries": n, "max_new_tokens": max_new_tokens, "batch_size": batch_size,
            "unbatched_s": round(times[1], 3), "batched_s": round(times[batch_size], 3),
            "unbatched_qps": round(n / times[1], 2), "batched_qps": round(n / times[batch_size], 2),
            "speedup": round(times[1] / times[batch_size], 2)}


def ground_truth_and_detections(images: int, seed: int) -> tuple[dict, list[dict]]:
    scenes = coco_scenes(seed, "val2017", images)
    cats = [{"supercategory": "shape", "id": c, "name": s} for s, c in zip(COCO_SHAPES, COCO_CATEGORY_IDS,
                                                                           strict=True)]
    infos = [{"id": i + 1, "file_name": f"{i + 1:012d}.jpg", "width": s.width, "height": s.height}
             for i, s in enumerate(scenes)]
    gt = coco_document(scenes, infos, cats, {c["name"]: c["id"] for c in cats}, range(1, 10**9), "coco",
                       "eval speed benchmark")
    rng = np.random.default_rng(seed)
    dets = []
    for info, s in zip(infos, scenes, strict=True):
        rank = 0
        for o in s.objects:
            if rng.random() < 0.3:
                continue
            x1, y1, x2, y2 = o.box
            w, h = x2 - x1, y2 - y1
            jx, jy = rng.normal(0, 0.08, 2) * (w, h)
            cat = COCO_CATEGORY_IDS[COCO_SHAPES.index(o.label)] if rng.random() > 0.1 else int(
                rng.choice(COCO_CATEGORY_IDS))
            dets.append({"image_id": info["id"], "category_id": cat, "bbox": [x1 + jx, y1 + jy, w, h],
                         "score": 1 / (1 + rank)})
            rank += 1
        for _ in range(int(rng.integers(0, 3))):  # false positives
            x, y = rng.uniform(0, 0.8) * s.width, rng.uniform(0, 0.8) * s.height
            dets.append({"image_id": info["id"], "category_id": int(rng.choice(COCO_CATEGORY_IDS)),
                         "bbox": [x, y, 0.1 * s.width, 0.1 * s.height], "score": 1 / (1 + rank)})
            rank += 1
    return gt, dets


def metrics(images: int, seed: int) -> dict:
    gt, dets = ground_truth_and_detections(images, seed)
    ids = [im["id"] for im in gt["images"]]
    out = {"images": images, "objects": len(gt["annotations"]), "detections": len(dets)}
    stats = {}
    for ev in ("pycocotools", "faster-coco-eval"):
        t0 = time.perf_counter()
        stats[ev] = coco_stats(gt, dets, ids, ev)
        out[f"{ev}_s"] = round(time.perf_counter() - t0, 3)
    out["speedup"] = round(out["pycocotools_s"] / out["faster-coco-eval_s"], 2)
    out["identical_stats"] = bool(np.array_equal(stats["pycocotools"], stats["faster-coco-eval"]))
    out["max_abs_difference"] = float(np.abs(stats["pycocotools"] - stats["faster-coco-eval"]).max())
    out["mAP"] = round(100 * float(stats["pycocotools"][0]), 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--queries", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        inf = inference(Path(tmp), args.queries, args.batch_size, args.max_new_tokens)
    met = metrics(args.images, args.seed)
    console = Console()
    t = Table(title="eval speed")
    for c in ("measure", "baseline", "visionr1", "ratio", "target"):
        t.add_column(c, justify="right" if c != "measure" else "left")
    t.add_row(f"HF inference, {inf['queries']} queries (tiny model)", f"b=1: {inf['unbatched_s']:.2f} s",
              f"b={inf['batch_size']}: {inf['batched_s']:.2f} s", f"{inf['speedup']:.2f}x", ">= 3x")
    t.add_row(f"COCO mAP, {met['images']} images / {met['detections']} detections",
              f"pycocotools {met['pycocotools_s']:.2f} s", f"faster-coco-eval {met['faster-coco-eval_s']:.2f} s",
              f"{met['speedup']:.2f}x", "identical stats: " + ("yes" if met["identical_stats"] else "NO"))
    console.print(t)
    result = {"inference": inf, "metrics": met}
    console.print_json(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
