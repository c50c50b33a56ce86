"""``visionr1 train``: GRPO with the Vision-R1 reward, and the SFT baseline (TRL)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from visionr1.cli import console

app = typer.Typer(help="Post-train a VLM: GRPO with the Vision-R1 reward, or the paper's SFT baseline.",
                  no_args_is_help=True, rich_markup_mode="markdown")

EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}
Model = Annotated[str, typer.Option(help="Checkpoint folder (or hub id) of the policy, e.g. Qwen2.5-VL-7B-Instruct.")]
Data = Annotated[Path, typer.Option(help="A mix written by `visionr1 data build`.")]
Out = Annotated[Path, typer.Option(help="Output folder: checkpoints, final model + processor, metrics.")]
Config = Annotated[Path | None, typer.Option(help="YAML of options (`configs/grpo/*.yaml`, `configs/sft/*.yaml`).")]
Resume = Annotated[str | None, typer.Option(help="Continue this run from a checkpoint folder of it, or 'latest' in "
                                                "--out.")]
Force = Annotated[bool, typer.Option("--force", help="Start over in an --out that holds a training run (cleared "
                                                     "first; a folder of anything else is never cleared).")]


def _run(kind: str, ctx: typer.Context, model: str, data: Path, out: Path, config: Path | None,
         resume: str | None, force: bool) -> None:
    import os
    import warnings

    # transformers 5 renames gradient checkpointing; TRL still uses the old names (not actionable for users)
    warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*deprecated", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*deprecated", category=FutureWarning)
    from visionr1.train.config import load_config, parse_overrides
    from visionr1.train.run import train

    options = load_config(kind, config, parse_overrides(list(ctx.args)), out)
    path = train(kind, model, data, out, options, resume, force)
    if os.environ.get("RANK", "0") == "0":
        console.out.print(f"{kind} done: model and processor in {path}; metrics in {path / 'metrics.jsonl'}")


@app.command("grpo", context_settings=EXTRA)
def grpo_cmd(ctx: typer.Context, model: Model, data: Data, out: Out, config: Config = None,
             resume: Resume = None, force: Force = False) -> None:
    """GRPO (paper Eq. 1-2) with the dual format, recall and precision rewards and progressive rule refinement.
    Any option of the config can be given as `--name value` (e.g. `--max-steps 100 --switch 0.5`); all of them,
    with defaults: `visionr1 train options grpo`."""
    _run("grpo", ctx, model, data, out, config, resume, force)


@app.command("sft", context_settings=EXTRA)
def sft_cmd(ctx: typer.Context, model: Model, data: Data, out: Out, config: Config = None,
            resume: Resume = None, force: Force = False) -> None:
    """Supervised fine-tuning on the same mix, targets = the family's serialized ground truth (paper's baseline).
    Any option of the config can be given as `--name value`; all of them, with defaults: `visionr1 train options
    sft`."""
    _run("sft", ctx, model, data, out, config, resume, force)


@app.command("options")
def options_cmd(kind: Annotated[str, typer.Argument(help="grpo or sft.")] = "grpo") -> None:
    """Every option `train grpo` / `train sft` takes as `--name value` or in the `--config` YAML: TRL's GRPOConfig /
    SFTConfig and visionr1's, with its default and help."""
    from dataclasses import MISSING, fields

    from visionr1.errors import VisionR1Error
    from visionr1.train.config import KINDS

    if kind not in KINDS:
        raise VisionR1Error(f"train options: unknown kind '{kind}' (choose from {', '.join(KINDS)})")
    for f in sorted(fields(KINDS[kind]), key=lambda f: f.name):
        if f.name.startswith("_") or not f.init:
            continue
        default = f.default if f.default is not MISSING else (
            f.default_factory() if f.default_factory is not MISSING else None)
        console.out.print(f"--{f.name.replace('_', '-')} (default {default!r}): "
                          + " ".join(str(f.metadata.get("help", "")).split()), highlight=False, markup=False)
