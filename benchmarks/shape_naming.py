"""Which shape is which? How well a pretrained synthetic checkpoint names the objects of held-out scenes.

Asks pretraining's own `name` question ("What is in the image? Give the colour and shape of each object, from
left to right.") about new scenes of the pretraining stream (indices training never reaches, as the probe's),
greedy decoding, and compares the answer with the drawn objects, left to right: how often the number of objects
is right, and where it is, how often each object's colour and shape are. The shapes are what the shipped base
learns slowest (docs/synth.md); chance among the 16 shapes is 6%.

    python benchmarks/shape_naming.py models/shapes-base            # 80 scenes, ~20 s on 2 cores
    python benchmarks/shape_naming.py run1/ models/shapes-base --scenes 200
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from visionr1.formats.resize import MAX_PIXELS, MIN_PIXELS
from visionr1.synth.pretrain import NAME_PROMPT, PROBE_INDEX, domains, left_to_right, make_sample

FAMILY = "qwen2.5-vl"
FIRST = PROBE_INDEX + 10_000  # after the probe's own samples, still far beyond any training step


def name_objects(model_path: Path, scenes: int, world_seed: int = 0) -> dict:
    """Counts of right object numbers, colours and shapes, and the shape confusions, over ``scenes`` scenes."""
    import torch

    from visionr1.models import load_model

    model, proc = load_model(str(model_path), family=FAMILY, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    model.float().eval()
    vocab = domains(world_seed)
    text = proc.apply_chat_template([{"role": "user", "content": [{"type": "image"},
                                                                  {"type": "text", "text": NAME_PROMPT}]}],
                                    tokenize=False, add_generation_prompt=True)
    count = colour = shape = objects = 0
    confusions: Counter = Counter()
    for i in range(scenes):
        scene = make_sample(0, FIRST + i, 0.0, vocab, "simple", FAMILY, MIN_PIXELS, MAX_PIXELS).scene
        want = [(o.colour, o.shape) for o in left_to_right(scene.objects)]
        batch = proc(text=[text], images=[scene.render()], return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**batch, max_new_tokens=40, do_sample=False)
        answer = proc.tokenizer.decode(out[0, batch["input_ids"].shape[1]:], skip_special_tokens=True)
        got = [tuple(part.split()) for part in answer.strip().rstrip(".").split(", ")]
        if len(got) != len(want):
            continue
        count += 1
        for (c, s), g in zip(want, got, strict=True):
            objects += 1
            colour += bool(g) and g[0] == c
            shape += bool(g) and g[-1] == s
            if g and g[-1] != s:
                confusions[f"{s} -> {g[-1]}"] += 1
    return {"model": str(model_path), "scenes": scenes, "count_right": count, "objects": objects,
            "colour_right": colour, "shape_right": shape, "confusions": dict(confusions.most_common(8))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", type=Path, nargs="+", help="pretrained synthetic checkpoints")
    p.add_argument("--scenes", type=int, default=80, help="held-out scenes asked")
    args = p.parse_args()
    rows = [name_objects(m, args.scenes) for m in args.models]
    t = Table(title="naming held-out scenes: objects counted right; of those objects, colour and shape right")
    for col in ("model", "count right", "colour right", "shape right", "commonest confusions"):
        t.add_column(col)
    for r in rows:
        n = max(r["objects"], 1)
        t.add_row(r["model"], f"{r['count_right']}/{r['scenes']}", f"{r['colour_right']}/{r['objects']} "
                  f"({r['colour_right'] / n:.0%})", f"{r['shape_right']}/{r['objects']} ({r['shape_right'] / n:.0%})",
                  ", ".join(f"{k} ({v})" for k, v in list(r["confusions"].items())[:4]))
    Console(width=160).print(t)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
