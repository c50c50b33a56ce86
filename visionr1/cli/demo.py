"""``visionr1 demo``: the whole method end to end on the embedded synthetic world, with the real commands."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from visionr1.cli import console

MARKER = "demo.json"
MODELS = ("base", "sft", "grpo")  # evaluated checkpoints, in the order of the report's columns
BENCHMARKS = ("custom", "odinw")
ODINW_SETS = 2  # the first sets of ODinW-13 (synthetic)
IMAGES = 1000  # synthetic COCO train images: the shapes-simple recipe's samples


@dataclass(frozen=True)
class Scale:
    """Sizes of one demo run (the training options live in configs/demo/*.yaml)."""

    model_size: str  # synth tiny-model --size
    sft_steps: int
    grpo_steps: int
    eval_limit: int  # queries per evaluation set
    max_new_tokens: int


SCALES = {
    "full": Scale(model_size="small", sft_steps=80, grpo_steps=24, eval_limit=32, max_new_tokens=96),
    "fast": Scale(model_size="tiny", sft_steps=6, grpo_steps=3, eval_limit=4, max_new_tokens=32),
}


def stages(out: Path, scale: Scale) -> list[tuple[str, list[str]]]:
    """The demo as a list of (title, ``visionr1`` command line)."""
    from visionr1.data.layouts import ODINW_13
    from visionr1.resources import resource_dir

    configs = resource_dir("configs") / "demo"
    world, model, mix = out / "world", out / "model", out / "mix"
    common = ["--limit", scale.eval_limit, "--max-new-tokens", scale.max_new_tokens, "--batch-size", 8]
    checkpoints = {"base": model, "sft": out / "sft", "grpo": out / "grpo"}

    def evaluate(name: str) -> list[tuple[str, list[str]]]:
        ckpt, dest = checkpoints[name], out / "eval" / name
        return [(f"evaluate {name}: custom COCO-format set",
                 ["eval", "custom", "--model", ckpt, "--data-root", world / "coco" / "val2017",
                  "--annotations", world / "coco" / "annotations" / "instances_val2017.json",
                  "--out", dest / "custom", *common]),
                (f"evaluate {name}: ODinW-style sets",
                 ["eval", "odinw", "--model", ckpt, "--data-root", world / "odinw",
                  "--sets", ",".join(ODINW_13[:ODINW_SETS]), "--out", dest / "odinw", *common])]

    plan = [
        ("synthetic world (simple profile)", ["synth", "world", "--out", world, "--profile", "simple",
                                              "--images", IMAGES]),
        (f"synthetic Qwen2.5-VL checkpoint ({scale.model_size})",
         ["synth", "tiny-model", "--out", model, "--size", scale.model_size]),
        ("training mix", ["data", "build", "--out", mix, "--recipe", "shapes-simple", "--family", "qwen2.5-vl",
                          "--coco-root", world / "coco"]),
        *evaluate("base"),
        ("SFT warm start", ["train", "sft", "--model", model, "--data", mix, "--out", out / "sft",
                            "--config", configs / "sft.yaml", "--max-steps", scale.sft_steps]),
        ("GRPO with the Vision-R1 reward (paper preset)",
         ["train", "grpo", "--model", out / "sft", "--data", mix, "--out", out / "grpo",
          "--config", configs / "grpo.yaml", "--max-steps", scale.grpo_steps]),
        *evaluate("sft"),
        *evaluate("grpo"),
    ]
    return [(title, [str(a) for a in argv]) for title, argv in plan]


def summarize(out: Path, seconds: dict[str, float]) -> dict:
    """report.json of the demo: headline metrics per model and benchmark, GRPO reward, stage times."""
    from visionr1.eval.report import load_report
    from visionr1.train.callbacks import METRICS, read_metrics

    results = {}
    for bench in BENCHMARKS:
        rows = {}
        for name in MODELS:
            rep = load_report(out / "eval" / name / bench)
            overall = rep.get("average") or next(iter(rep["sets"].values()))
            rows[name] = {"mAP": rep["headline"], "AP50": overall["AP50"], "reward": overall["reward"],
                          "parse_failures": sum(s["parse_failures"] for s in rep["sets"].values()),
                          "queries": sum(s["queries"] for s in rep["sets"].values())}
        results[bench] = rows
    logs = read_metrics(out / "grpo" / METRICS)
    rewards = [r["reward"] for r in logs if "reward" in r]
    half = max(1, len(rewards) // 2)
    return {"results": results,
            "grpo_reward": {"first_half": sum(rewards[:half]) / half,
                            "second_half": sum(rewards[half:]) / max(1, len(rewards) - half),
                            "steps": len(rewards)},
            "curves": str(out / "grpo" / "reward_curves.png"), "seconds": seconds}


def _cell(row: dict) -> str:
    reward = "-" if row["reward"] is None else f"{row['reward']:.2f}"
    return f"{row['mAP']:.1f} / {row['AP50']:.1f} / {reward}"


def report_table(summary: dict) -> Table:
    t = Table(title="visionr1 demo, held-out synthetic sets: mAP / AP50 (percent) / mean Vision-R1 reward (0-3)")
    t.add_column("benchmark")
    for name in MODELS:
        t.add_column({"base": "base (random init)", "sft": "SFT", "grpo": "SFT + GRPO"}[name], justify="right")
    t.add_column("parse failures (base → GRPO)", justify="right")
    for bench, rows in summary["results"].items():
        t.add_row(bench, *(_cell(rows[n]) for n in MODELS),
                  f"{rows['base']['parse_failures']}/{rows['base']['queries']} → "
                  f"{rows['grpo']['parse_failures']}/{rows['grpo']['queries']}")
    return t


def markdown(summary: dict) -> str:
    lines = ["# visionr1 demo", "", "Held-out synthetic sets: mAP / AP50 (percent) / mean Vision-R1 reward (0-3).", "",
             "| benchmark | base | SFT | SFT + GRPO |", "|---|---|---|---|"]
    for bench, rows in summary["results"].items():
        lines.append(f"| {bench} | " + " | ".join(_cell(rows[n]) for n in MODELS) + " |")
    g = summary["grpo_reward"]
    lines += ["", f"GRPO mean reward (format + recall + precision, 0-3): {g['first_half']:.3f} in the first half "
              f"of {g['steps']} steps, {g['second_half']:.3f} in the second. Curves: `{summary['curves']}`.", "",
              "Stage times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in summary["seconds"].items())]
    return "\n".join(lines) + "\n"


def demo(
    out: Annotated[Path, typer.Option(help="Output folder of the whole run (world, model, mix, checkpoints, "
                                           "evaluations, report).")] = Path("runs/demo"),
    fast: Annotated[bool, typer.Option("--fast", help="The smallest run that passes every stage (< 3 min; "
                                                      "for CI): tiny model, a few steps.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an earlier demo run in --out.")] = False,
) -> None:
    """Synthetic world → synthetic Qwen2.5-VL → training mix → SFT warm start → GRPO with the Vision-R1 reward →
    evaluation of base / SFT / GRPO → report and reward curves. Every stage is a real `visionr1` command,
    printed before it runs, so any of them can be re-run or changed by hand."""
    from visionr1.cli import main
    from visionr1.errors import VisionR1Error
    from visionr1.io import prepare_output_dir, write_bytes, write_json

    out = prepare_output_dir(out, force=force, marker=MARKER).resolve()
    scale = SCALES["fast" if fast else "full"]
    write_json(out / MARKER, {"generator": "visionr1 demo", "scale": scale.__dict__}, indent=2)
    plan = stages(out, scale)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    for i, (title, argv) in enumerate(plan, 1):
        console.err.rule(f"[bold]demo {i}/{len(plan)}: {title}")
        console.err.print("[dim]$ visionr1 " + " ".join(argv))
        t0 = time.perf_counter()
        if main(argv) != 0:
            raise VisionR1Error(f"demo stage {i} ({title}) failed; its error is printed above. Command: "
                                f"visionr1 {' '.join(argv)}")
        seconds[title] = round(time.perf_counter() - t0, 1)
    seconds["total"] = round(time.perf_counter() - start, 1)
    summary = summarize(out, seconds)
    write_json(out / "report.json", summary, indent=2)
    write_bytes(out / "report.md", markdown(summary).encode())
    shutil.copy(out / "grpo" / "reward_curves.png", out / "reward_curves.png")
    console.err.rule("[bold]demo done")
    g = summary["grpo_reward"]
    console.out.print(f"GRPO mean reward {g['first_half']:.3f} → {g['second_half']:.3f} (first → second half of "
                      f"{g['steps']} steps); curves: {out / 'reward_curves.png'}")
    console.out.print(f"report: {out / 'report.md'}, {out / 'report.json'} ({seconds['total'] / 60:.1f} min)")
    console.out.print("review in FiftyOne (`pip install -e '.[review]'`): visionr1 review eval "
                      f"{out / 'eval' / 'grpo' / 'custom'} --compare {out / 'eval' / 'base' / 'custom'} --name demo"
                      " && visionr1 review app demo", markup=False)
    console.out.print(report_table(summary))
