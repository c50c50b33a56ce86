"""Pretraining step time with a step's conversations in length-sorted parts (``synth pretrain --length-groups``).

One padded batch pads every conversation to the step's longest; on dense scenes an answer of 14 objects is several
times one of 2, and 30-41% of the batch is padding (docs/benchmarks.md). For each world profile, the same steps of
the shipped base's pretraining stream (full density, ``--partial-detection`` answers, 16 images a step) run
forward and backward as one batch (the baseline, measured in the same run) and in 2, 4 and 8 parts; the script
prints seconds per step,
the speed-up over one batch, the padded share of the positions and the largest difference of any gradient element
from the one batch's (the parts' losses add up to the step's mean: only the order of the sums differs).

    python benchmarks/pretrain_step.py                       # simple and dense-224, 4 steps each (~2 min, 2 cores)
    python benchmarks/pretrain_step.py --profiles dense-224 --steps 8 --parts 1 4
"""

from __future__ import annotations

import argparse
import json
import time

from rich.console import Console
from rich.table import Table

from visionr1 import threads
from visionr1.formats.resize import MAX_PIXELS, MIN_PIXELS
from visionr1.synth import pretrain as pt

BATCH = 16  # the shipped base's --batch-size
FAMILY = "qwen2.5-vl"


def gradients(model, batches: list[dict]):
    """Forward and backward of one step's batches (``answer_loss`` over the step's answer tokens); the gradient."""
    import torch

    tokens = sum(map(pt.answer_tokens, batches))
    for batch in batches:
        pt.answer_loss(model, batch, tokens).backward()
    grad = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    model.zero_grad(set_to_none=True)
    return grad


def measure(profile: str, steps: int, parts: list[int]) -> list[dict]:
    from visionr1.models import load_model

    model, processor = load_model(str(pt.shipped_base()), family=FAMILY, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    model.float().train()
    vocab = pt.domains(0)
    seconds, padded, worst = {k: 0.0 for k in parts}, {k: 0.0 for k in parts}, {k: 0.0 for k in parts}
    for step in range(steps + 1):  # step 0 warms up and is not counted
        samples = [pt.make_sample(0, step * BATCH + i, 1.0, vocab, profile, FAMILY, MIN_PIXELS, MAX_PIXELS,
                                  partial=True) for i in range(BATCH)]
        images = [s.scene.render() for s in samples]
        base = None
        for k in parts:
            t0 = time.perf_counter()
            batches = pt.length_parts(samples, processor, images, k)
            grad = gradients(model, batches)
            if step:
                seconds[k] += time.perf_counter() - t0
                padded[k] += 1 - sum(int(b["attention_mask"].sum()) for b in batches) / sum(
                    b["attention_mask"].numel() for b in batches)
                base = grad if base is None else base
                worst[k] = max(worst[k], float((grad - base).abs().max()))
    one = seconds[parts[0]] / steps
    return [{"profile": profile, "parts": k, "seconds_per_step": round(seconds[k] / steps, 3),
             "speedup": round(one / (seconds[k] / steps), 2), "padded_share": round(padded[k] / steps, 3),
             "max_gradient_difference": worst[k]} for k in parts]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profiles", nargs="+", default=["simple", "dense-224"])
    p.add_argument("--steps", type=int, default=4, help="measured steps per profile (after one warm-up step)")
    p.add_argument("--parts", type=int, nargs="+", default=[1, 2, 4, 8], help="the first is the baseline")
    args = p.parse_args()
    n, why = threads.apply()
    print(f"threads: {n} ({why})")
    rows = [r for profile in args.profiles for r in measure(profile, args.steps, args.parts)]
    t = Table(title=f"pretraining step (forward + backward, {BATCH} images) in length-sorted parts vs one batch")
    for col in ("profile", "parts", "s/step", "speed-up", "padded share", "max |grad diff|"):
        t.add_column(col, justify="left" if col == "profile" else "right")
    for r in rows:
        t.add_row(r["profile"], str(r["parts"]), f"{r['seconds_per_step']:.3f}", f"{r['speedup']:.2f}x",
                  f"{r['padded_share']:.0%}", f"{r['max_gradient_difference']:.1e}")
    Console(width=120).print(t)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
