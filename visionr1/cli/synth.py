"""``visionr1 synth``: the synthetic shapes world and tiny model used by tests and the demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from visionr1.cli import console
from visionr1.cli.options import check_range
from visionr1.inputs import MAX_SEED, resolved
from visionr1.synth import MAX_IMAGES
from visionr1.synth.pretrain_config import PretrainConfig

PRETRAIN = PretrainConfig()  # the defaults of `synth pretrain`

app = typer.Typer(help="Synthetic stand-ins: a shapes world in the real dataset formats, random Qwen2.5-VL / "
                       "Qwen3-VL / Qwen3.5 checkpoints in the hub's file layouts, and the pretraining of a base "
                       "that localizes (the demo's).",
                  no_args_is_help=True, rich_markup_mode="markdown")


@app.command("world")
def world(
    out: Annotated[Path, typer.Option(help="Folder to write the world into (created; must be empty).")],
    seed: Annotated[int, typer.Option(help="Random seed (0 to 2**32-1); the same seed writes byte-identical "
                                           "files.")] = 0,
    images: Annotated[int, typer.Option(help=f"COCO train images, 1 to {MAX_IMAGES:,}; the other sources scale "
                                             "with it.")] = 200,
    profile: Annotated[str, typer.Option(help="standard (1-40 objects, tiny ones, crowds, 160-640 px images), "
                                              "dense (1-14 objects, about half of the COCO scenes with more than "
                                              "10, on 112 x 112 images: recipe shapes-dense), dense-224 (the same "
                                              "split, objects of 28-56 px on 224 x 224 images) or simple (1-3 large "
                                              "objects on 112 x 112 images: the demo and the shipped base).")]
    = "standard",
    force: Annotated[bool, typer.Option("--force", help="Replace an earlier world written to --out.")] = False,
) -> None:
    """Write a deterministic synthetic localization world: COCO, ODinW, V3Det, RefCOCO/+/g, gRefCOCO and
    Visual Genome files in their real formats and folder layouts."""
    from visionr1.data import layouts
    from visionr1.errors import VisionR1Error
    from visionr1.io import output_dir
    from visionr1.synth.world import PROFILES, build_world
    from visionr1.synth.writers import WORLD_MARKER, write_world

    check_range("seed", seed, 0, MAX_SEED)
    check_range("images", images, 1, MAX_IMAGES)
    if profile not in PROFILES:
        raise VisionR1Error(f"unknown --profile '{profile}' (choose from {', '.join(PROFILES)})")
    with output_dir(out, force=force, marker=WORLD_MARKER) as root:
        console.err.print(f"generating the scenes of {images:,} COCO images and the other sources", highlight=False)
        w = build_world(seed, images, profile)
        total = sum(w.sizes().values())
        with console.progress() as bar:
            task = bar.add_task("rendering images", total=total)
            summary = write_world(w, root, lambda n: bar.advance(task, n))

    table = Table(title=f"synthetic world (seed {seed}, {profile}) in {root}")
    for col in ("source", "images", "objects / expressions", "files"):
        table.add_column(col, justify="right" if col in ("images", "objects / expressions") else "left")
    src = summary["sources"]
    for split, c in src["coco"].items():
        table.add_row(f"coco {split}", str(c["images"]), str(c["objects"]), f"coco/{layouts.coco_annotation(split)}")
    odinw_images = sum(c["images"] for sp in src["odinw"].values() for c in sp.values())
    odinw_objects = sum(c["objects"] for sp in src["odinw"].values() for c in sp.values())
    table.add_row(f"odinw ({len(src['odinw'])} sets)", str(odinw_images), str(odinw_objects), "odinw/<set>/...")
    for split, c in src["v3det"].items():
        table.add_row(f"v3det {split}", str(c["images"]), str(c["objects"]),
                      f"v3det/{layouts.V3DET_ANNOTATIONS[split]}")
    refer = src["refer"]
    for name in ("refcoco", "refcoco+", "refcocog", "grefcoco"):
        table.add_row(name, str(refer["images"]), f"{refer[name]} refs", f"refer/{name}/")
    table.add_row("visual genome", str(src["vg"]["images"]), f"{src['vg']['regions']} regions", "vg/")
    console.out.print(table)


@app.command("tiny-model")
def tiny_model(
    out: Annotated[Path, typer.Option(help="Folder for the checkpoint (created; must be empty).")],
    family: Annotated[str, typer.Option(help="Hub checkpoint to copy: qwen2.5-vl, qwen3-vl, qwen3-vl-moe, qwen3.5 or "
                                             "qwen3.5-moe.")] = "qwen2.5-vl",
    size: Annotated[str, typer.Option(help="tiny (<2M parameters, tests) or small (~5M, learns the world).")] = "tiny",
    thinking: Annotated[bool, typer.Option("--thinking", help="The Thinking variant's chat template and sampling "
                                                              "(Qwen3 families; train and evaluate it with --family "
                                                              "qwen3-vl-thinking).")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the weights and tokenizer corpus (0 to 2**32-1); same seed, "
                                           "same files.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace an earlier synthetic model in --out.")] = False,
) -> None:
    """Write a randomly initialised checkpoint with the files of a hub checkpoint (Qwen2.5-VL-7B-Instruct,
    Qwen3-VL-8B-Instruct/-Thinking, Qwen3-VL-30B-A3B-Instruct, Qwen3.5: config, sharded safetensors, preprocessor
    configs, tokenizer, chat template, generation config, card) that loads with AutoProcessor /
    AutoModelForImageTextToText."""
    from safetensors import SafetensorError

    from visionr1.errors import VisionR1Error
    from visionr1.io import output_dir
    from visionr1.synth.tiny_model import (
        CARD,
        CARD_TAG,
        FAMILIES,
        QWEN3_FAMILIES,
        SIZES,
        build_tiny_model,
        read_card,
    )

    check_range("seed", seed, 0, MAX_SEED)
    for option, value, known in (("family", family, FAMILIES), ("size", size, SIZES)):  # before --force clears
        if value not in known:
            raise VisionR1Error(f"unknown {option} '{value}' (choose from {', '.join(known)})")
    if thinking and family not in QWEN3_FAMILIES:
        raise VisionR1Error(f"option --thinking: family '{family}' has no Thinking variant (choose from "
                            f"{', '.join(QWEN3_FAMILIES)})")
    with output_dir(out, force=force, marker=CARD, marker_text=CARD_TAG) as root, \
            console.err.status("building tokenizer and model"):
        try:
            path = build_tiny_model(root, family=family, size=size, seed=seed, force=force, thinking=thinking)
        except SafetensorError as exc:  # the weights writer's I/O errors (no space left) are not OSErrors
            raise VisionR1Error(f"cannot write {root}: {exc}") from None
    info = read_card(path)
    table = Table(title=f"synthetic {family} checkpoint in {path}")
    table.add_column("property")
    table.add_column("value", justify="right")
    table.add_row("parameters", f"{info['parameters']:,}")
    table.add_row("size preset", size)
    table.add_row("seed", str(seed))
    table.add_row("files", ", ".join(sorted(p.name for p in path.iterdir())))
    console.out.print(table)


HELDOUT = (("grounding", "single+pos"), ("detection", "all"))  # held-out tasks of the card: name, eval protocol
SUBSET = 32  # queries per task of the card's fixed subset (the regression test reproduces these exactly)


def heldout_metrics(model: Path, world: Path, limit: int | None) -> dict:
    """Grounding (one category asked) and dense detection (every category named) on the world's COCO val2017
    images, which pretraining never sees, through ``visionr1 eval custom`` with greedy decoding."""
    import json
    import tempfile

    from visionr1.cli import main
    from visionr1.errors import VisionR1Error
    from visionr1.synth.pretrain import world_info
    from visionr1.synth.world import PROFILES

    tokens = PROFILES[world_info(world)["profile"]].answer_tokens
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for task, protocol in HELDOUT:
            dest = Path(tmp) / task
            argv = ["eval", "custom", "--model", model, "--data-root", world / "coco" / "val2017",
                    "--annotations", world / "coco" / "annotations" / "instances_val2017.json", "--protocol",
                    protocol, "--out", dest, "--max-new-tokens", tokens, "--batch-size", 16]
            if main([str(a) for a in [*argv, *(["--limit", limit] if limit else [])]]) != 0:
                raise VisionR1Error(f"the held-out evaluation of {model} failed (its error is printed above)")
            s = next(iter(json.loads((dest / "report.json").read_text())["sets"].values()))
            out[task] = {k: s[k] for k in ("queries", "mAP", "AP50", "AR100", "reward", "parse_failures")}
    return out


def write_pretrain_card(root: Path, world: Path, cfg, seconds: float, eval_limit: int | None) -> dict:
    """Measure a pretrained checkpoint on the held-out sets (all queries and the fixed subset) and write its card:
    the command, world, options, curriculum, hardware, wall time and the results. Returns the results."""
    import platform
    from dataclasses import asdict

    import torch

    from visionr1 import __version__
    from visionr1.io import write_bytes
    from visionr1.synth import pretrain as pt
    from visionr1.synth.tiny_model import CARD, card, read_card

    metrics = {"all": heldout_metrics(root, world, eval_limit), f"first_{SUBSET}": heldout_metrics(root, world,
                                                                                                  SUBSET)}
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else (
        f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)")
    made = read_card(root)  # the --init checkpoint's card (copied with its files) or the random weights' card
    init = {"init": made["pretrain"]} if cfg.init else {}
    config = {**asdict(cfg), "init": "<init>" if cfg.init else None}  # no path of this machine in the card
    world_meta = pt.world_info(world)
    info = {**made, "generator": "visionr1 synth pretrain", "version": __version__, "pretrain": {
        "command": f"visionr1 synth pretrain --world <world> --out <out> --size {cfg.size} --steps {cfg.steps} "
                   f"--seed {cfg.seed} --batch-size {cfg.batch_size} --learning-rate {cfg.learning_rate}"
                   + (" --init <init>" if cfg.init else "") + (" --partial-detection" if cfg.partial_detection else "")
                   + (" --grow-scenes" if cfg.grow_scenes else "") + f" --length-groups {cfg.length_groups}",
        "world": world_meta, "config": config, "curriculum": [list(c) for c in pt.CURRICULUM],
        **({"partial_detection": list(pt.PARTIAL_DETECTION[world_meta["profile"]])} if cfg.partial_detection else {}),
        "hardware": device, "wall_seconds": round(seconds), "heldout": metrics, **init}}
    write_bytes(root / CARD, card(info, f"Synthetic Qwen2.5-VL base ({cfg.size}, pretrained)",
                                  pt.card_body(info)).encode("utf-8"))
    return metrics


@app.command("pretrain")
def pretrain(
    world: Annotated[Path, typer.Option(help="A world written by `visionr1 synth world --profile simple` (or "
                                             "dense); its seed fixes the category vocabulary.")],
    out: Annotated[Path, typer.Option(help="Folder for the checkpoint (created; must be empty unless --resume "
                                           "or --force).")],
    size: Annotated[str, typer.Option(help="Size preset of the initial random weights (synth tiny-model).")]
    = PRETRAIN.size,
    steps: Annotated[int, typer.Option(help="Optimizer steps, 1 to 1,000,000.")] = PRETRAIN.steps,
    seed: Annotated[int, typer.Option(help="Seed of the weights, tokenizer and pretraining stream.")] = PRETRAIN.seed,
    batch_size: Annotated[int, typer.Option(help="Images (conversations) per step, 1 to 1024.")]
    = PRETRAIN.batch_size,
    learning_rate: Annotated[float, typer.Option(help="Peak learning rate (linear warm-up, cosine decay).")]
    = PRETRAIN.learning_rate,
    eval_limit: Annotated[int | None, typer.Option(help="Queries per held-out task of the card (default: all).")]
    = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run in --out from its last "
                                                          "saved state (the result equals an uninterrupted run's).")]
    = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an earlier synthetic model in --out.")] = False,
    init: Annotated[Path | None, typer.Option(help="Continue pretraining this checkpoint of `visionr1 synth "
                                                   "pretrain` (same world seed and size) instead of random weights: "
                                                   "the curriculum runs again over --steps, on the images after "
                                                   "its; the card keeps every run's command.")] = None,
    partial_detection: Annotated[bool, typer.Option(
        "--partial-detection", help="Detection answers name the first few objects of a scene only (1 of them in 7 "
                                    "answers of 10 on the simple profile), as real base models learnt detection from "
                                    "captions and partial annotations: a base with recall to gain.")] = False,
    grow_scenes: Annotated[bool, typer.Option(
        "--grow-scenes", help="Scenes hold at most 3 objects at first, and the most grows to the profile's own "
                              "(14 on dense) by 60% of the steps: a base continued on a new image size learns it on "
                              "scenes it can tell apart first.")] = False,
    length_groups: Annotated[int, typer.Option(
        help="Split each step's images into this many parts of similar answer length, each padded to its own "
             "longest (the same gradients as one batch; at 4, 1.6x faster on dense-224, 1.4x on simple; 1 to "
             "1024, at most one image a part).")] = PRETRAIN.length_groups,
) -> None:
    """Pretrain a synthetic Qwen2.5-VL on the world (name the objects → coarse position → grounding → a little
    detection, on images of its own), then measure it on held-out grounding and detection and write the results
    into its card. The checkpoint is an ordinary one in the hub layout: the base model of the demo."""
    from visionr1.errors import VisionR1Error
    from visionr1.io import lock_dir, prepare_output_dir
    from visionr1.synth import pretrain as pt
    from visionr1.synth.tiny_model import CARD, CARD_TAG, SIZES
    from visionr1.synth.writers import WORLD_MARKER

    check_range("seed", seed, 0, MAX_SEED)
    check_range("steps", steps, 1, 1_000_000)
    check_range("batch-size", batch_size, 1, 1024)
    check_range("learning-rate", learning_rate, 1e-8, 1.0)
    check_range("length-groups", length_groups, 1, 1024)
    check_range("eval-limit", eval_limit, 1, None)
    if size not in SIZES:
        raise VisionR1Error(f"unknown size '{size}' (choose from {', '.join(SIZES)})")
    if not (world / WORLD_MARKER).is_file():
        raise VisionR1Error(f"{world} is not a synthetic world (no {WORLD_MARKER}); write one with `visionr1 synth "
                            "world --profile simple`")
    if resume and force:
        raise VisionR1Error("--resume continues the run in --out and --force replaces it: choose one")
    # every input is checked here, before --out is touched: a refused run never clears the model already there
    info = pt.check_world(world)
    first_image = 0 if init is None else pt.check_init(init, out, info, size)
    cfg = PretrainConfig(size=size, steps=steps, seed=seed, batch_size=batch_size, learning_rate=learning_rate,
                         init=str(resolved(init)) if init else None, first_image=first_image,
                         partial_detection=partial_detection, grow_scenes=grow_scenes, length_groups=length_groups)
    with lock_dir(out) as root:
        if resume:
            pt.check_resume(root, cfg, info)
        else:
            prepare_output_dir(root, force=force, marker=CARD, marker_text=CARD_TAG)
        with console.progress() as bar:
            task = bar.add_task("pretraining", total=steps)

            def log(row: dict) -> None:
                bar.update(task, completed=row["step"])
                if "probe_loss" in row:
                    console.err.print(f"step {row['step']}: loss {row['loss']:.3f}, held-out {row['probe_loss']:.3f}"
                                      f" (images shuffled: {row['probe_loss_shuffled_images']:.3f})",
                                      highlight=False)

            seconds = pt.pretrain(world, root, cfg, resume=resume, log=log)
        metrics = write_pretrain_card(root, world, cfg, seconds, eval_limit)
    table = Table(title=f"pretrained synthetic {size} checkpoint in {root}: held-out COCO val2017 of the world")
    for col in ("task", "queries", "mAP", "AP50", "AR100", "mean reward"):
        table.add_column(col, justify="left" if col == "task" else "right")
    for name, m in metrics["all"].items():
        table.add_row(name, str(m["queries"]), f"{m['mAP']:.1f}", f"{m['AP50']:.1f}", f"{m['AR100']:.1f}",
                      f"{m['reward']:.2f}")
    console.out.print(table)
