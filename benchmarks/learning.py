"""Does the method learn? Paper Table 1 in miniature, on a CPU.

On the ``simple`` synthetic world (1-3 shapes on 112 x 112 images) a ``small`` synthetic Qwen2.5-VL (random
init, ~4.8M parameters) is trained with SFT until it knows the answer format and rough boxes; from that
checkpoint, the same number of extra steps is spent either on GRPO with the Vision-R1 reward (paper preset) or on
more SFT. Each checkpoint is evaluated on held-out images (COCO-format val split, every category named in the
query): mAP, AP50 and the mean Vision-R1 reward of the greedy answers.

Every stage is a real ``visionr1`` command (printed before it runs), so a result can be reproduced by hand.

    python benchmarks/learning.py                       # 2 seeds, ~30 min on 2 cores
    python benchmarks/learning.py --seeds 0 --sft-steps 40 --extra-steps 10 --eval-limit 32   # a quick look
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from visionr1.cli import main
from visionr1.resources import resource_dir
from visionr1.train.callbacks import read_metrics

MODELS = ("base", "sft", "sft+grpo", "sft+more-sft")


def run(argv: list) -> float:
    """Run one ``visionr1`` command in this process; its wall time in seconds."""
    argv = [str(a) for a in argv]
    Console(stderr=True).rule("[dim]$ visionr1 " + " ".join(argv))
    t0 = time.perf_counter()
    if main(argv) != 0:
        raise SystemExit(f"failed: visionr1 {' '.join(argv)}")
    return time.perf_counter() - t0


def evaluate(model: Path, world: Path, out: Path, limit: int) -> dict:
    if not (out / "report.json").is_file():
        run(["eval", "custom", "--model", model, "--data-root", world / "coco" / "val2017",
             "--annotations", world / "coco" / "annotations" / "instances_val2017.json", "--out", out,
             "--limit", limit, "--max-new-tokens", 96, "--batch-size", 16])
    rep = json.loads((out / "report.json").read_text())
    m = next(iter(rep["sets"].values()))
    return {k: m[k] for k in ("mAP", "AP50", "AP75", "reward", "reward_terms", "parse_failures", "answered")}


def main_(args: argparse.Namespace) -> dict:
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    world, mix, configs = out / "world", out / "mix", resource_dir("configs")
    times: dict[str, float] = {}
    if not (world / "world.json").is_file():
        times["world"] = run(["synth", "world", "--out", world, "--profile", "simple", "--images", args.images,
                              "--force"])
    if not (mix / "manifest.json").is_file():
        recipe = yaml.safe_load((configs / "recipes" / "shapes-simple.yaml").read_text())
        recipe["sources"]["coco"]["count"] = args.images
        (out / "recipe.yaml").write_text(yaml.safe_dump(recipe))
        times["mix"] = run(["data", "build", "--out", mix, "--recipe", out / "recipe.yaml", "--coco-root",
                            world / "coco", "--force"])
    results: dict[str, dict] = {}
    for seed in args.seeds:
        d = out / f"seed{seed}"
        ckpt = {"base": d / "model", "sft": d / "sft", "sft+grpo": d / "grpo", "sft+more-sft": d / "more-sft"}
        plan = [
            ("base", ["synth", "tiny-model", "--out", ckpt["base"], "--size", "small", "--seed", seed, "--force"]),
            ("sft", ["train", "sft", "--model", ckpt["base"], "--data", mix, "--out", ckpt["sft"], "--config",
                     configs / "demo" / "sft.yaml", "--max-steps", args.sft_steps, "--seed", seed]),
            ("sft+grpo", ["train", "grpo", "--model", ckpt["sft"], "--data", mix, "--out", ckpt["sft+grpo"],
                          "--config", configs / "demo" / "grpo.yaml", "--max-steps", args.extra_steps,
                          "--seed", seed]),
            # the same extra steps and sequences per step (16) as GRPO, at GRPO's learning rate
            ("sft+more-sft", ["train", "sft", "--model", ckpt["sft"], "--data", mix, "--out", ckpt["sft+more-sft"],
                              "--config", configs / "demo" / "sft.yaml", "--max-steps", args.extra_steps,
                              "--learning-rate", args.extra_lr, "--warmup-steps", 0, "--seed", seed + 1000]),
        ]
        results[str(seed)] = {}
        for name, argv in plan:
            if not (ckpt[name] / "config.json").is_file():
                times[f"seed{seed}/{name}"] = run(argv)
            results[str(seed)][name] = evaluate(ckpt[name], world, d / "eval" / name.replace("+", "_"),
                                                args.eval_limit)
        grpo_log = read_metrics(ckpt["sft+grpo"] / "metrics.jsonl")
        rewards = [r["reward"] for r in grpo_log if "reward" in r]
        k = max(1, len(rewards) // 4)
        results[str(seed)]["grpo_train_reward"] = {"first_quarter": statistics.mean(rewards[:k]),
                                                   "last_quarter": statistics.mean(rewards[-k:])}
    summary = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
               "results": results, "seconds": {k: round(v, 1) for k, v in times.items()}}
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    return summary


def table(summary: dict) -> Table:
    t = Table(title="held-out mAP / AP50 (percent) and mean Vision-R1 reward (0-3), simple synthetic world")
    t.add_column("seed")
    for name in MODELS:
        t.add_column(name, justify="right")
    t.add_column("GRPO − more SFT (mAP)", justify="right")
    rows = summary["results"]
    for seed, r in rows.items():
        t.add_row(seed, *(f"{r[n]['mAP']:.1f} / {r[n]['AP50']:.1f} / {r[n]['reward']:.3f}" for n in MODELS),
                  f"{r['sft+grpo']['mAP'] - r['sft+more-sft']['mAP']:+.1f}")
    if len(rows) > 1:
        mean = {n: {k: statistics.mean(r[n][k] for r in rows.values()) for k in ("mAP", "AP50", "reward")}
                for n in MODELS}
        t.add_row("mean", *(f"{mean[n]['mAP']:.1f} / {mean[n]['AP50']:.1f} / {mean[n]['reward']:.3f}"
                            for n in MODELS), f"{mean['sft+grpo']['mAP'] - mean['sft+more-sft']['mAP']:+.1f}")
    return t


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/learning"), help="work folder (re-running resumes)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--images", type=int, default=2000, help="training images = SFT/GRPO samples")
    p.add_argument("--sft-steps", type=int, default=200, help="SFT warm-start steps (16 samples each)")
    p.add_argument("--extra-steps", type=int, default=60, help="GRPO steps, and more-SFT steps, after the SFT")
    p.add_argument("--extra-lr", type=float, default=1e-4, help="learning rate of the more-SFT baseline "
                                                                "(GRPO's, from configs/demo/grpo.yaml)")
    p.add_argument("--eval-limit", type=int, default=200, help="held-out queries per evaluation")
    s = main_(p.parse_args())
    console = Console()
    console.print(table(s))
    console.print(json.dumps({"seconds": s["seconds"]}))
