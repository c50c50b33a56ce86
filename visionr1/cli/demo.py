"""``visionr1 demo``: the whole method end to end on the embedded synthetic world, with the real commands."""

from __future__ import annotations

import itertools
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
TITLES = {"base": "base (pretrained)", "sft": "base → SFT", "grpo": "base → GRPO"}
BENCHMARKS = ("custom", "odinw")
PAPER_ROWS = {"custom": "coco", "odinw": "odinw"}  # the paper's benchmark each demo set stands in for
ODINW_SETS = 2  # the first sets of ODinW-13 (synthetic)
IMAGES = 1000  # synthetic COCO train images: the recipe's detection samples
# the world and mix of the demo, those the shipped base was pretrained on (a base for the dense profile is not
# trained yet: docs/synth.md)
PROFILE, RECIPE = "simple", "shapes-simple"
RECALL = "rewards/recall/mean"  # the recall term of the training reward in metrics.jsonl (what a base that names
# part of each scene has to gain)
IGNORES_IMAGE = 0.5  # warn when one answer is given to this share of the held-out images (or more)


@dataclass(frozen=True)
class Scale:
    """Sizes of one demo run (the training options live in configs/demo/*.yaml). SFT and GRPO take the same
    steps with the same samples per step (4 images; GRPO: 4 prompts x G = 4 completions)."""

    steps: int
    eval_limit: int  # queries per evaluation set
    heldout_every: int  # steps between the held-out evaluations during training
    heldout_limit: int  # queries of the held-out set during training


SCALES = {
    "full": Scale(steps=100, eval_limit=48, heldout_every=20, heldout_limit=16),
    "fast": Scale(steps=3, eval_limit=8, heldout_every=2, heldout_limit=4),
}


def stages(out: Path, scale: Scale, base: Path) -> list[tuple[str, list[str]]]:
    """The demo as a list of (title, ``visionr1`` command line)."""
    from visionr1.data.layouts import ODINW_13
    from visionr1.resources import resource_dir
    from visionr1.synth.world import PROFILES

    configs = resource_dir("configs") / "demo"
    world, mix = out / "world", out / "mix"
    tokens = PROFILES[PROFILE].answer_tokens
    common = ["--limit", scale.eval_limit, "--max-new-tokens", tokens, "--batch-size", 16]
    checkpoints = {"base": base, "sft": out / "sft", "grpo": out / "grpo"}
    val = ["--annotations", world / "coco" / "annotations" / "instances_val2017.json"]
    heldout = ["--heldout-every", scale.heldout_every, "--heldout-annotations", val[1], "--heldout-images",
               world / "coco" / "val2017", "--heldout-limit", scale.heldout_limit, "--heldout-max-new-tokens", tokens]

    def evaluate(name: str) -> list[tuple[str, list[str]]]:  # eval/<benchmark>/<model>: runs named after the model
        ckpt = checkpoints[name]
        return [(f"evaluate {name}: custom COCO-format set (held-out val)",
                 ["eval", "custom", "--model", ckpt, "--data-root", world / "coco" / "val2017", *val,
                  "--out", out / "eval" / "custom" / name, *common]),
                (f"evaluate {name}: ODinW-style sets",
                 ["eval", "odinw", "--model", ckpt, "--data-root", world / "odinw",
                  "--sets", ",".join(ODINW_13[:ODINW_SETS]), "--out", out / "eval" / "odinw" / name, *common])]

    sources = {"coco": world / "coco", "odinw": world / "odinw", "v3det": world / "v3det", "refcoco": world / "refer",
               "vg": world / "vg"}
    plan = [
        (f"synthetic world ({PROFILE} profile)", ["synth", "world", "--out", world, "--profile", PROFILE,
                                                  "--images", IMAGES]),
        ("training mix", ["data", "build", "--out", mix, "--recipe", RECIPE, "--family", "qwen2.5-vl",
                          *[a for src, root in sources.items() for a in (f"--{src}-root", root)]]),
        *evaluate("base"),
        ("SFT on the mix (the paper's baseline)",
         ["train", "sft", "--model", base, "--data", mix, "--out", out / "sft", "--config", configs / "sft.yaml",
          "--max-steps", scale.steps, *heldout]),
        ("GRPO with the Vision-R1 reward (paper preset), same samples",
         ["train", "grpo", "--model", base, "--data", mix, "--out", out / "grpo", "--config",
          configs / "grpo.yaml", "--max-steps", scale.steps, *heldout]),
        *evaluate("sft"),
        *evaluate("grpo"),
    ]
    return [(title, [str(a) for a in argv]) for title, argv in plan]


def reward_trend(rewards: list[float]) -> dict:
    """A training reward's first and last quarter, their difference, the step-to-step noise (the standard deviation
    of one step's reward around its neighbours: of the successive differences, over sqrt 2) and the standard error
    of the difference (the quarters' spreads over their sizes). ``rising``: the last quarter is above the first by
    more than one step's noise (visible in the raw curve); ``rising_se``: by more than twice its standard error."""
    import statistics

    k = max(1, len(rewards) // 4)
    first, last = statistics.mean(rewards[:k]), statistics.mean(rewards[-k:])
    steps = [b - a for a, b in itertools.pairwise(rewards)]
    noise = statistics.stdev(steps) / 2 ** 0.5 if len(steps) > 1 else 0.0
    se = ((statistics.variance(rewards[:k]) + statistics.variance(rewards[-k:])) / k) ** 0.5 if k > 1 else 0.0
    return {"first_quarter": round(first, 4), "last_quarter": round(last, 4), "rise": round(last - first, 4),
            "noise": round(noise, 4), "se": round(se, 4), "rising": last - first > noise,
            "rising_se": last - first > 2 * se, "steps": len(rewards)}


def heldout_curve(metrics: Path) -> list[dict]:
    """The held-out evaluations during a training run (``train --heldout-every``), from its metrics.jsonl: step,
    mAP, AR100 and mean greedy reward."""
    from visionr1.train.callbacks import read_metrics

    return [{"step": r["step"], "mAP": r["heldout/mAP"], "AR100": r["heldout/AR100"], "reward": r["heldout/reward"]}
            for r in read_metrics(metrics) if "heldout/mAP" in r]


def summarize(out: Path, seconds: dict[str, float]) -> dict:
    """report.json of the demo: headline metrics per model and benchmark, whether GRPO ends above the base, the
    GRPO training reward's trend and held-out curve, stage times."""
    from visionr1.eval.report import load_report
    from visionr1.train.callbacks import METRICS, read_metrics

    results = {}
    for bench in BENCHMARKS:
        rows = {}
        for name in MODELS:
            rep = load_report(out / "eval" / bench / name)
            sets = rep["sets"].values()
            overall = rep.get("average") or next(iter(sets))
            rows[name] = {"mAP": rep["headline"], "AP50": overall["AP50"], "AR100": overall["AR100"],
                          "mAP_any_label": overall["mAP_any_label"], "reward": overall["reward"],
                          "model": rep["model"],
                          **{k: sum(s[k] for s in sets) for k in ("parse_failures", "queries", "answered")},
                          "most_common_answer": max(s["most_common_answer"] for s in sets),
                          "distinct_answers": sum(s["distinct_answers"] for s in sets)}
        results[bench] = rows
    logs = read_metrics(out / "grpo" / METRICS)
    heldout = {name: heldout_curve(out / name / METRICS) for name in ("sft", "grpo")}
    return {"results": results,
            "grpo_above_base": {b: {k: rows["grpo"][k] > rows["base"][k] for k in ("mAP", "AR100")}
                                for b, rows in results.items()},
            "grpo_reward": reward_trend([r["reward"] for r in logs if "reward" in r]),
            "grpo_recall": reward_trend([r[RECALL] for r in logs if RECALL in r]),
            "heldout_during_training": heldout,
            "seeds": 1, "warnings": ignores_image(results),
            "curves": str(out / "grpo" / "reward_curves.png"), "seconds": seconds}


def ignores_image(results: dict) -> list[str]:
    """One line per model and benchmark whose commonest answer was given to ``IGNORES_IMAGE`` of the held-out
    queries or more (each is another image or category): a model that does not look at its image."""
    out = []
    for bench, rows in results.items():
        for name, r in rows.items():
            if r["answered"] >= 4 and r["most_common_answer"] >= IGNORES_IMAGE * r["answered"]:
                out.append(f"{TITLES[name]} gives one answer to {r['most_common_answer']} of {r['answered']} "
                           f"{bench} queries: it ignores its image")
    return out


def _paper(bench: str) -> dict[str, float]:
    """The paper's Qwen2.5-VL-7B mAP for the benchmark a demo set stands in for: base, SFT, + Vision-R1."""
    from visionr1.eval.report import PAPER, PAPER_SFT

    key = PAPER_ROWS[bench]
    base, r1 = PAPER[key]["models"]["Qwen2.5-VL-7B"]
    return {"base": base, "sft": PAPER_SFT[key], "grpo": r1}


def _row(row: dict) -> list[str]:
    return [f"{row['mAP']:.1f}", f"{row['AP50']:.1f}", f"{row['AR100']:.1f}",
            "-" if row["mAP_any_label"] is None else f"{row['mAP_any_label']:.1f}",
            "-" if row["reward"] is None else f"{row['reward']:.2f}"]


# "mAP any label": the detection set's mAP with labels ignored (class-agnostic), localization apart from naming
COLUMNS = ("mAP", "AP50", "AR100", "mAP any label", "reward", "paper mAP, for scale")
NOT_COMPARABLE = ("The synthetic sets are not COCO or ODinW: their numbers are not comparable with the paper's, whose "
                  "Qwen2.5-VL-7B mAP (Table 1: base, SFT, + Vision-R1) is shown for scale only.")


def report_table(summary: dict) -> Table:
    t = Table(title="visionr1 demo, held-out synthetic sets (percent; reward: mean Vision-R1 reward, 0-3); paper: "
                    "Qwen2.5-VL-7B on COCO / ODinW-13 (Table 1), for scale only, not comparable")
    t.add_column("benchmark")
    t.add_column("model")
    for col in COLUMNS:
        t.add_column(col, justify="right")
    for bench, rows in summary["results"].items():
        paper = _paper(bench)
        for i, name in enumerate(MODELS):
            t.add_row(f"{bench} ({PAPER_ROWS[bench]})" if i == 0 else "", TITLES[name], *_row(rows[name]),
                      f"{paper[name]:.1f}", end_section=i == len(MODELS) - 1)
    return t


def verdict(summary: dict) -> str:
    """Whether GRPO ended above the base in this run, per benchmark (mAP and AR100)."""
    parts = []
    for bench, above in summary["grpo_above_base"].items():
        rows = summary["results"][bench]
        parts.append(f"{bench} mAP {rows['base']['mAP']:.1f} → {rows['grpo']['mAP']:.1f}, AR100 "
                     f"{rows['base']['AR100']:.1f} → {rows['grpo']['AR100']:.1f} "
                     f"({'above' if all(above.values()) else 'not above'} the base)")
    return "GRPO vs the base in this run: " + "; ".join(parts) + "."


def trend_line(summary: dict) -> str:
    """The GRPO training reward's and its recall term's first → last quarter, against their noise."""
    def one(g: dict) -> str:
        verdict = ("rising beyond one step's noise" if g["rising"] else "rising beyond its standard error, within "
                   "one step's noise" if g["rising_se"] else "not rising beyond its standard error")
        return (f"{g['first_quarter']:.3f} → {g['last_quarter']:.3f} ({g['rise']:+.3f}; step-to-step noise "
                f"{g['noise']:.3f}, standard error {g['se']:.3f}: {verdict})")

    g, recall = summary["grpo_reward"], summary["grpo_recall"]
    return (f"GRPO training reward (format + recall + precision, 0-3), first → last quarter of {g['steps']} steps: "
            f"{one(g)}; its recall term: {one(recall)}.")


def markdown(summary: dict) -> str:
    lines = ["# visionr1 demo", "",
             "Held-out synthetic sets (percent; reward: mean Vision-R1 reward, 0-3). SFT and GRPO start from the same "
             "pretrained base and see the same samples. " + NOT_COMPARABLE, "",
             "| benchmark | model | " + " | ".join(COLUMNS) + " |", "|---|---|" + "---|" * len(COLUMNS)]
    for bench, rows in summary["results"].items():
        paper = _paper(bench)
        for name in MODELS:
            lines.append(f"| {bench} | {TITLES[name]} | " + " | ".join(_row(rows[name])) + f" | {paper[name]:.1f} |")
    lines += ["", verdict(summary) + " This is one run (one seed); the spread over seeds is measured by "
              "`python benchmarks/learning.py` (3 seeds, docs/benchmarks.md).", "",
              trend_line(summary) + f" Curves, with the held-out mAP during training: `{summary['curves']}`.", ""]
    for name, rows in summary["heldout_during_training"].items():
        if rows:
            lines.append(f"Held-out mAP / AR100 / mean reward during {name.upper()} ({len(rows)} greedy evaluations of "
                         "the first val images): " + ", ".join(f"step {r['step']} {r['mAP']:.1f} / {r['AR100']:.1f} / "
                                                              f"{r['reward']:.2f}" for r in rows) + ".")
    lines += [""] + [f"Warning: {w}." for w in summary["warnings"]] + ([""] if summary["warnings"] else [])
    lines += ["Stage times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in summary["seconds"].items())]
    return "\n".join(lines) + "\n"


def demo(
    out: Annotated[Path, typer.Option(help="Output folder of the whole run (world, mix, checkpoints, evaluations, "
                                           "report; the base model is read from models/shapes-base).")]
    = Path("runs/demo"),
    fast: Annotated[bool, typer.Option("--fast", help="The smallest run that passes every stage (for CI): 3 steps, "
                                                      "8 queries per set; 0.3 min measured on 2 CPU cores, "
                                                      "nothing else running.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an earlier demo run in --out.")] = False,
) -> None:
    """Synthetic world → training mix → the shipped pretrained synthetic Qwen2.5-VL (base) → SFT, and GRPO with the
    Vision-R1 reward, from the base on the same samples → evaluation of base / SFT / GRPO → report and reward
    curves. Every stage is a real `visionr1` command,
    printed before it runs, so any of them can be re-run or changed by hand."""
    from visionr1.cli import main
    from visionr1.errors import VisionR1Error
    from visionr1.io import prepare_output_dir, write_bytes, write_json

    out = prepare_output_dir(out, force=force, marker=MARKER).resolve()
    scale = SCALES["fast" if fast else "full"]
    write_json(out / MARKER, {"generator": "visionr1 demo", "scale": scale.__dict__}, indent=2)
    from visionr1.synth.pretrain import shipped_base

    plan = stages(out, scale, shipped_base())
    from visionr1.threads import announce

    announce()  # every stage runs in this process, with these threads
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
    console.out.print(trend_line(summary) + f" Curves: {out / 'reward_curves.png'}", highlight=False)
    console.out.print(verdict(summary), highlight=False)
    console.out.print(f"report: {out / 'report.md'}, {out / 'report.json'} ({seconds['total'] / 60:.1f} min)")
    console.out.print("review in FiftyOne (`pip install -e '.[review]'`): visionr1 review eval "
                      f"{out / 'eval' / 'custom' / 'grpo'} --compare {out / 'eval' / 'custom' / 'base'} --name demo"
                      " && visionr1 review app demo", markup=False)
    for w in summary["warnings"]:
        console.err.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
    console.out.print(report_table(summary))
