"""GPU check: SFT, GRPO (bf16, 2 prompts per process and micro-step, the 7B config's batch shape) and evaluation of
the synthetic model on CUDA, through the real commands; prints step times and peak GPU memory per stage.

    bash scripts/gpu_check.sh            # on a CUDA machine (installs missing packages from .whl/)
    python benchmarks/gpu_check.py --out DIR [--steps N] [--size small]

Writes DIR/gpu_check.json and a table. Without CUDA it refuses unless --allow-cpu (a dry run of the same path).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def stage(name: str, args: list[str], results: dict) -> None:
    """Run one visionr1 command in-process; record wall time, peak GPU memory and its exit code."""
    import torch

    from visionr1.cli import main

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    print(f"gpu-check: visionr1 {' '.join(args)}", flush=True)
    start = time.perf_counter()
    code = main(args)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    results[name] = {"exit": code, "seconds": round(seconds, 2), "peak_mib": peak and round(peak, 1)}
    if code != 0:
        raise SystemExit(f"gpu-check: {name} failed with exit code {code}")


def step_times(out: Path) -> dict:
    """Mean seconds per optimizer step from the run's own log (trainer's train_runtime over the steps)."""
    from visionr1.train.callbacks import read_metrics

    rows = read_metrics(out / "metrics.jsonl")
    end = next((r for r in reversed(rows) if "train_runtime" in r), {})
    steps = max((r["step"] for r in rows), default=0)
    return {"steps": steps, "train_runtime": end.get("train_runtime"),
            "seconds_per_step": round(end["train_runtime"] / steps, 3) if end and steps else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", default="small", choices=("tiny", "small"))
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--allow-cpu", action="store_true")
    a = parser.parse_args()
    import torch
    import transformers
    import trl

    if not torch.cuda.is_available() and not a.allow_cpu:
        raise SystemExit("gpu-check: no CUDA device (use --allow-cpu for a dry run)")
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    work = a.out / "work"
    results: dict = {"device": device, "torch": torch.__version__, "transformers": transformers.__version__,
                     "trl": trl.__version__, "steps": a.steps, "model_size": a.size}
    bf16 = "true" if torch.cuda.is_available() else "false"
    stage("world", ["synth", "world", "--out", str(work / "world"), "--images", str(a.images), "--force"], results)
    stage("model", ["synth", "tiny-model", "--out", str(work / "model"), "--size", a.size, "--force"], results)
    stage("mix", ["data", "build", "--out", str(work / "mix"), "--recipe", "synthetic", "--force"], results)
    stage("sft", ["train", "sft", "--model", str(work / "model"), "--data", str(work / "mix"),
                  "--out", str(work / "sft"), "--force", "--config", str(ROOT / "configs/sft/qwen2.5-vl-7b.yaml"),
                  "--max-steps", str(a.steps), "--bf16", bf16, "--save-strategy", "no",
                  "--gradient-accumulation-steps", "1", "--learning-rate", "1e-4"], results)
    results["sft"].update(step_times(work / "sft"))
    # the 7B config's shape: 8 completions = 2 prompts of G = 4 per process and micro-step, accumulation 2
    stage("grpo", ["train", "grpo", "--model", str(work / "sft"), "--data", str(work / "mix"),
                   "--out", str(work / "grpo"), "--force", "--config", str(ROOT / "configs/grpo/qwen2.5-vl-7b.yaml"),
                   "--max-steps", str(a.steps), "--bf16", bf16, "--max-completion-length", "128",
                   "--save-strategy", "no"], results)
    results["grpo"].update(step_times(work / "grpo"))
    stage("eval", ["eval", "coco", "--model", str(work / "grpo"), "--data-root", str(work / "world" / "coco"),
                   "--out", str(work / "eval"), "--batch-size", "16", "--max-new-tokens", "128"], results)
    report = json.loads((work / "eval" / "report.json").read_text())
    results["eval"].update({"queries": report["sets"][next(iter(report["sets"]))]["queries"],
                            "mAP": report["headline"]})
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "gpu_check.json").write_text(json.dumps(results, indent=2))
    print(f"\ngpu-check on {device} (torch {results['torch']}, transformers {results['transformers']}, "
          f"trl {results['trl']}), {a.size} model, {a.steps} steps")
    print(f"{'stage':<8}{'exit':>5}{'wall s':>9}{'s/step':>9}{'peak MiB':>10}")
    for name in ("world", "model", "mix", "sft", "grpo", "eval"):
        r = results[name]
        print(f"{name:<8}{r['exit']:>5}{r['seconds']:>9}{r.get('seconds_per_step') or '':>9}"
              f"{r['peak_mib'] if r['peak_mib'] is not None else '-':>10}")


if __name__ == "__main__":
    main()
