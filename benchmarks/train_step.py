"""GRPO step time on the tiny model, and the share of it spent computing the Vision-R1 reward (issue 5).

For N in {1, 10, 30} ground-truth boxes per sample, builds a mix of synthetic images with exactly N objects,
runs a few real TRL GRPO steps of the tiny Qwen2.5-VL on CPU and reads TRL's ``step_time`` and visionr1's
``reward/seconds`` from metrics.jsonl. The tiny random model writes no boxes, so the script also times the
reward on well-formed completions with N boxes for the same batch (the cost once a model answers properly)
and relates it to the measured step. Target: reward < 2% of the step.

    python benchmarks/train_step.py [--steps 6] [--work /tmp/visionr1-bench-train]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from visionr1.cli import main as cli
from visionr1.formats import get_adapter
from visionr1.rewards import RewardConfig, score_batch
from visionr1.synth.shapes import COLOURS
from visionr1.synth.world import COCO_SHAPES, make_scene
from visionr1.train.callbacks import read_metrics

PER_DEVICE = 8  # completions per step (2 prompts x 4 generations)


def make_mix(folder: Path, n_boxes: int, samples: int = 16) -> Path:
    import datasets

    from visionr1.data.build import to_dataset
    from visionr1.data.templates import load_templates

    template = load_templates("qwen2.5-vl")["detection"][0]
    rows = []
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for i in range(samples):
        rng = np.random.default_rng([n_boxes, i])
        items = [(COCO_SHAPES[k % 8], list(COLOURS)[k % 8], COCO_SHAPES[k % 8]) for k in range(n_boxes)]
        for _ in range(20):  # redraw until every object found a place
            scene = make_scene(rng, f"bench/{n_boxes}/{i}", items, size=(448, 448))
            if len(scene.objects) == n_boxes:
                break
        path = folder / "images" / f"{i}.png"
        scene.render().save(path)
        cats = sorted({o.label for o in scene.objects})
        rows.append({"id": str(i), "source": "synthetic", "task": "detection", "image": str(path), "width": 448,
                     "height": 448, "categories": cats, "gt": [{"label": o.label, "bbox": list(o.box)}
                                                               for o in scene.objects],
                     "num_instances": len(scene.objects), "difficulty": "hard" if n_boxes > 10 else "easy",
                     "negative": False, "problem": template.render(cats), "template_id": template.id})
    datasets.disable_progress_bars()
    to_dataset(rows).save_to_disk(str(folder / "dataset"))
    return folder / "dataset"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--work", default="/tmp/visionr1-bench-train")
    ap.add_argument("--completion-length", type=int, default=128)
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()
    work = Path(args.work)
    model = work / "tiny-model"
    if not (model / "config.json").is_file():
        cli(["synth", "tiny-model", "--out", str(model), "--force"])
    results = []
    adapter = get_adapter("qwen2.5-vl")
    for n in (1, 10, 30):
        data = make_mix(work / f"mix-{n}", n)
        run = work / f"run-{n}" / str(time.time_ns())
        code = cli(["train", "grpo", "--model", str(model), "--data", str(data), "--out", str(run),
                    "--max-steps", str(args.steps), "--per-device-train-batch-size", str(PER_DEVICE),
                    "--max-completion-length", str(args.completion_length), "--gradient-checkpointing", "false",
                    "--save-strategy", "no"])
        if code:
            raise SystemExit(f"training failed for N = {n}")
        logs = read_metrics(run / "metrics.jsonl")
        logs = [r for r in logs if "step_time" in r][1:]  # the first step includes warm-up
        step = statistics.median(r["step_time"] for r in logs)
        reward = statistics.median(r["reward/seconds"] for r in logs)
        # the same batch with well-formed answers: N jittered boxes per completion
        import datasets

        ds = datasets.load_from_disk(str(data))
        rng = np.random.default_rng(0)
        gts = [ds[i % len(ds)]["gt"] for i in range(PER_DEVICE)]
        geo = adapter.geometry(448, 448)
        texts = [adapter.serialize([{**g, "bbox": (np.array(g["bbox"]) + rng.normal(0, 1, 4)).tolist()}
                                    for g in gt], geo) for gt in gts]
        t0 = time.perf_counter()
        reps = 50
        for _ in range(reps):
            score_batch(texts, gts, [448] * PER_DEVICE, [448] * PER_DEVICE, config=RewardConfig())
        well_formed = (time.perf_counter() - t0) / reps
        results.append({"gt_boxes": n, "step_s": step, "reward_s_in_run": reward,
                        "reward_share_in_run": reward / step, "reward_s_well_formed": well_formed,
                        "reward_share_well_formed": well_formed / step})
    print(f"tiny Qwen2.5-VL, CPU, {PER_DEVICE} completions of <= {args.completion_length} tokens per step, "
          f"median of {args.steps - 1} steps")
    print(f"{'gt boxes':>9} {'step (s)':>9} {'reward in run':>15} {'share':>7} {'reward, N-box answers':>22} "
          f"{'share':>7}")
    for r in results:
        print(f"{r['gt_boxes']:>9} {r['step_s']:>9.3f} {r['reward_s_in_run'] * 1e3:>12.2f} ms "
              f"{r['reward_share_in_run']:>7.2%} {r['reward_s_well_formed'] * 1e3:>19.2f} ms "
              f"{r['reward_share_well_formed']:>7.2%}")
    worst = max(max(r["reward_share_in_run"], r["reward_share_well_formed"]) for r in results)
    print(f"target: reward < 2% of the step: {'met' if worst < 0.02 else 'NOT met'} (worst {worst:.2%})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
