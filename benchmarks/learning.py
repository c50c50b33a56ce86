"""Does the method learn? Paper Table 1 in miniature, on a CPU, from the shipped pretrained base.

The base (``models/shapes-base``, made by ``visionr1 synth pretrain``) is the demo's, on the demo's world and mix
(``visionr1.cli.demo.PROFILE`` / ``RECIPE``: the ``simple`` world and its ``shapes-simple`` mix; 4 samples per
step). From it, with the same samples: SFT and GRPO with the Vision-R1 reward (paper preset), and in miniature
the paper's ablations, each over the same seeds: Table 4 with the binary count reward instead of recall, Table 10
with the rules refined at half of the steps (STEP 1/2; the default for Qwen2.5-VL is STEP 1, no switch), Table 3
with the label-aware matcher (``box+label``). Every model is evaluated on held-out sets: the COCO-format val
set (``custom``, every category named: detection) and two ODinW-style sets: mAP / AP50 / AR100 and the mean reward
of the greedy answers, how many distinct answers it gives, and its answer loss with the images shuffled (a model
that ignores its image loses nothing). GRPO and SFT log the held-out mAP every 10 steps during training.

Every stage is a real ``visionr1`` command (printed before it runs), so a result can be reproduced by hand.

    python benchmarks/learning.py                                    # 3 seeds + ablations (see docs/benchmarks.md)
    python benchmarks/learning.py --seeds 0 --steps 10 --eval-limit 16 --no-ablations   # a quick look
    python benchmarks/learning.py --steps 400 --eval-limit 250 --seeds 0 1 2 3 4  # on a GPU: larger, same code
    python benchmarks/learning.py --base runs/dense-base/base --profile dense-224 --recipe shapes-dense  # a dense base

``--profile`` / ``--recipe``: the world and mix of another base (a dense one from ``scripts/gpu_dense_base.sh``);
the answers' token budget (evaluation, held-out curve, GRPO's completions) is the profile's ``answer_tokens``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from visionr1.cli import main
from visionr1.cli.demo import ODINW_SETS, PROFILE, RECIPE, SCALES, heldout_curve, reward_trend
from visionr1.data.layouts import ODINW_13
from visionr1.io import sha256_file, tree_digest
from visionr1.resources import resource_dir
from visionr1.synth.pretrain import image_reliance, shipped_base
from visionr1.synth.world import PROFILES
from visionr1.train.callbacks import read_metrics

MODELS = ("base", "sft", "grpo")
ABLATIONS = {"grpo, count reward (Table 4)": ["--count-reward", "true"],
             "grpo, STEP 1/2 (Table 10)": ["--switch", "0.5"],
             "grpo, box+label matcher (Table 3)": ["--matcher", "box+label"]}
BENCHMARKS = ("custom", "odinw")
IMAGES = 1000  # synthetic COCO train images of the world (the demo's)


def run(argv: list) -> float:
    """Run one ``visionr1`` command in this process; its wall time in seconds."""
    argv = [str(a) for a in argv]
    Console(stderr=True).rule("[dim]$ visionr1 " + " ".join(argv))
    t0 = time.perf_counter()
    if main(argv) != 0:
        raise SystemExit(f"failed: visionr1 {' '.join(argv)}")
    return time.perf_counter() - t0


def evaluate(model: Path, world: Path, out: Path, limit: int, profile: str) -> dict:
    common = ["--limit", limit, "--max-new-tokens", PROFILES[profile].answer_tokens, "--batch-size", 16]
    plan = {"custom": ["eval", "custom", "--model", model, "--data-root", world / "coco" / "val2017",
                       "--annotations", world / "coco" / "annotations" / "instances_val2017.json"],
            "odinw": ["eval", "odinw", "--model", model, "--data-root", world / "odinw", "--sets",
                      ",".join(ODINW_13[:ODINW_SETS])]}
    result = {}
    for bench, argv in plan.items():
        if not (out / bench / "report.json").is_file():
            run([*argv, "--out", out / bench, *common])
        rep = json.loads((out / bench / "report.json").read_text())
        sets = list(rep["sets"].values())
        overall = rep.get("average") or sets[0]
        result[bench] = {"mAP": rep["headline"], "AP50": overall["AP50"], "AR100": overall["AR100"],
                         "mAP_any_label": overall["mAP_any_label"],
                         "reward": overall["reward"], "answered": sum(s["answered"] for s in sets),
                         "distinct_answers": sum(s["distinct_answers"] for s in sets)}
    result["image_loss"] = image_reliance(model, 0, profile)
    return result


def claim(out: Path, base: Path, args: argparse.Namespace, configs: Path) -> None:
    """Resume only a run of the same base weights and settings: a work folder made from another base (the shipped
    one re-made, say), other training configs (``configs``: a learning rate changed in the repository) or other
    steps / learning rates / query limit would mix stale models into the table."""
    key = {"base_weights_sha256": {p.name: sha256_file(p) for p in sorted(base.glob("*.safetensors"))},
           "configs_sha256": tree_digest(configs), "profile": args.profile, "recipe": args.recipe,
           "images": args.images, "steps": args.steps,
           "eval_limit": args.eval_limit, "sft_lr": args.sft_lr, "grpo_lr": args.grpo_lr}
    f = out / "run.json"
    if f.is_file() and (old := json.loads(f.read_text())) != key:
        diff = ", ".join(k for k in key if old.get(k) != key[k])
        raise SystemExit(f"error: {out} holds a run with another {diff}; give another --out or delete it")
    if not f.is_file() and out.is_dir() and any(out.iterdir()):
        raise SystemExit(f"error: {out} holds files but no record of their base and settings ({f.name}); give "
                         "another --out or delete it")
    out.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps(key, indent=2))


def check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The demo's recipe goes with the demo's profile only: another profile names its recipe."""
    if args.recipe is None:
        if args.profile != PROFILE:
            parser.error(f"--profile {args.profile} needs --recipe: {RECIPE} is the {PROFILE} world's mix "
                         "(configs/recipes/shapes-dense.yaml is the dense worlds')")
        args.recipe = RECIPE
    return args


def main_(args: argparse.Namespace) -> dict:
    out = args.out.resolve()
    base = (args.base or shipped_base()).resolve()
    tokens = PROFILES[args.profile].answer_tokens
    configs = resource_dir("configs") / "demo"
    claim(out, base, args, configs)
    world, mix = out / "world", out / "mix"
    times: dict[str, float] = {}
    if not (world / "world.json").is_file():
        times["world"] = run(["synth", "world", "--out", world, "--profile", args.profile, "--images", args.images,
                              "--force"])
    if not (mix / "manifest.json").is_file():
        roots = {"coco": "coco", "odinw": "odinw", "v3det": "v3det", "refcoco": "refer", "vg": "vg"}
        times["mix"] = run(["data", "build", "--out", mix, "--recipe", args.recipe, "--force",
                            *[a for src, folder in roots.items() for a in (f"--{src}-root", world / folder)]])
    steps = ["--max-steps", args.steps, "--heldout-every", SCALES["full"].heldout_every, "--heldout-annotations",
             world / "coco" / "annotations" / "instances_val2017.json", "--heldout-images", world / "coco" / "val2017",
             "--heldout-limit", 16, "--heldout-max-new-tokens", tokens]
    lr = {"sft": ["--learning-rate", args.sft_lr] if args.sft_lr else [],
          "grpo": ["--learning-rate", args.grpo_lr] if args.grpo_lr else []}
    results: dict[str, dict] = {"base": {"all": evaluate(base, world, out / "eval" / "base", args.eval_limit,
                                                         args.profile)}}
    for seed in args.seeds:
        d = out / f"seed{seed}"
        plan = {"sft": ["train", "sft", "--model", base, "--data", mix, "--config", configs / "sft.yaml", *steps,
                        *lr["sft"]],
                "grpo": ["train", "grpo", "--model", base, "--data", mix, "--config", configs / "grpo.yaml", *steps,
                         "--max-completion-length", tokens, *lr["grpo"]]}
        if args.ablations:
            plan.update({name: [*plan["grpo"], *extra] for name, extra in ABLATIONS.items()})
        for name, argv in plan.items():
            ckpt = d / name.replace("+", "_").replace(" ", "_").replace(",", "").replace("/", "-")
            if not (ckpt / "config.json").is_file():
                # --force: a run killed before its end is started over (a training folder only)
                times[f"seed{seed}/{name}"] = run([*argv, "--out", ckpt, "--force", "--seed", seed])
            results.setdefault(name, {})[str(seed)] = evaluate(ckpt, world, d / "eval" / ckpt.name, args.eval_limit,
                                                               args.profile)
            logs = read_metrics(ckpt / "metrics.jsonl")
            results[name][str(seed)]["heldout_during_training"] = heldout_curve(ckpt / "metrics.jsonl")
            if "grpo" in name:
                results[name][str(seed)]["train_reward"] = reward_trend([r["reward"] for r in logs if "reward" in r])
    summary = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
               "results": results, "gains": gains(results), "seconds": {k: round(v, 1) for k, v in times.items()}}
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    return summary


def gains(results: dict) -> dict:
    """Per trained model and seed: its held-out numbers minus the base's (custom mAP / AR100, odinw mAP), and the
    mean over the held-out sets' mAP minus SFT's of the same seed."""
    base = results["base"]["all"]
    out = {}
    for name, per_seed in results.items():
        if name == "base":
            continue
        out[name] = {seed: {"custom_mAP": round(r["custom"]["mAP"] - base["custom"]["mAP"], 2),
                            "custom_AR100": round(r["custom"]["AR100"] - base["custom"]["AR100"], 2),
                            "odinw_mAP": round(r["odinw"]["mAP"] - base["odinw"]["mAP"], 2),
                            **({"mean_mAP_vs_sft": round(statistics.mean(r[b]["mAP"] - results["sft"][seed][b]["mAP"]
                                                                         for b in BENCHMARKS), 2)}
                               if name != "sft" and seed in results.get("sft", {}) else {})}
                     for seed, r in per_seed.items()}
    return out


def _mean_sd(values: list[float]) -> str:
    return f"{statistics.mean(values):.1f}" + (f" ± {statistics.stdev(values):.1f}" if len(values) > 1 else "")


def table(summary: dict) -> Table:
    t = Table(title="held-out results from the base, mean ± sd over seeds: mAP / AP50 / AR100 (percent), "
                    "mean reward (0-3), distinct answers, answer loss with own / shuffled images")
    for col in ("model", "seeds", "custom mAP", "custom AR100", "odinw mAP", "odinw AR100", "custom AP50",
                "custom mAP any label", "reward", "distinct", "loss own / shuffled"):
        t.add_column(col, justify="left" if col == "model" else "right")
    for name, per_seed in summary["results"].items():
        runs = list(per_seed.values())
        t.add_row(name, str(len(runs)),
                  *(_mean_sd([r[b][k] for r in runs]) for b in BENCHMARKS for k in ("mAP", "AR100")),
                  _mean_sd([r["custom"]["AP50"] for r in runs]),
                  _mean_sd([r["custom"]["mAP_any_label"] for r in runs]),
                  f"{statistics.mean(r['custom']['reward'] for r in runs):.2f}",
                  f"{statistics.mean(r['custom']['distinct_answers'] for r in runs):.0f}/"
                  f"{runs[0]['custom']['answered']}",
                  f"{statistics.mean(r['image_loss']['loss'] for r in runs):.3f} / "
                  f"{statistics.mean(r['image_loss']['loss_shuffled_images'] for r in runs):.3f}")
    return t


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/learning"),
                   help="work folder (re-running with the same base and settings resumes)")
    p.add_argument("--base", type=Path, help="base checkpoint (default: the shipped models/shapes-base)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=SCALES["full"].steps,
                   help="SFT and GRPO steps (4 samples each; default: the demo's)")
    p.add_argument("--eval-limit", type=int, default=SCALES["full"].eval_limit,
                   help="held-out queries per evaluation set (default: the demo's)")
    p.add_argument("--sft-lr", type=float, help="override configs/demo/sft.yaml's learning rate")
    p.add_argument("--grpo-lr", type=float, help="override configs/demo/grpo.yaml's learning rate")
    p.add_argument("--no-ablations", dest="ablations", action="store_false", help="skip Tables 3, 4 and 10")
    p.add_argument("--profile", choices=list(PROFILES), default=PROFILE,
                   help=f"world profile of the base (default: the demo's, {PROFILE})")
    p.add_argument("--recipe", help=f"mix recipe for the profile (default with the demo's profile: {RECIPE})")
    p.add_argument("--images", type=int, default=IMAGES, help="COCO train images of the world (default: the demo's)")
    s = main_(check_args(p.parse_args(), p))
    Console(width=170).print(table(s))
    print(json.dumps({"gains_over_base_and_sft": s["gains"], "seconds": s["seconds"]}, indent=1))
