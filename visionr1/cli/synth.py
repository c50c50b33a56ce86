"""``visionr1 synth``: the synthetic shapes world and tiny model used by tests and the demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from visionr1.cli import console

app = typer.Typer(help="Synthetic stand-ins: a shapes world in the real dataset formats, a tiny Qwen2.5-VL.",
                  no_args_is_help=True, rich_markup_mode="markdown")


@app.command("world")
def world(
    out: Annotated[Path, typer.Option(help="Folder to write the world into (created; must be empty).")],
    seed: Annotated[int, typer.Option(help="Random seed; the same seed writes byte-identical files.")] = 0,
    images: Annotated[int, typer.Option(min=1, help="COCO train images; the other sources scale with it.")] = 200,
    profile: Annotated[str, typer.Option(help="standard (1-40 objects, tiny ones, crowds, 160-640 px images) or "
                                              "simple (1-3 large objects on 112 x 112 images, for learning "
                                              "experiments and the demo).")] = "standard",
    force: Annotated[bool, typer.Option("--force", help="Replace an earlier world written to --out.")] = False,
) -> None:
    """Write a deterministic synthetic localization world: COCO, ODinW, V3Det, RefCOCO/+/g, gRefCOCO and
    Visual Genome files in their real formats and folder layouts."""
    from visionr1.data import layouts
    from visionr1.errors import VisionR1Error
    from visionr1.io import prepare_output_dir
    from visionr1.synth.world import PROFILES, build_world
    from visionr1.synth.writers import WORLD_MARKER, write_world

    if profile not in PROFILES:
        raise VisionR1Error(f"unknown --profile '{profile}' (choose from {', '.join(PROFILES)})")
    root = prepare_output_dir(out, force=force, marker=WORLD_MARKER)
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
    family: Annotated[str, typer.Option(help="Model family of the checkpoint.")] = "qwen2.5-vl",
    size: Annotated[str, typer.Option(help="tiny (<2M parameters, tests) or small (~5M, learns the world).")] = "tiny",
    seed: Annotated[int, typer.Option(help="Seed of the weights and tokenizer corpus; same seed, same files.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace an earlier synthetic model in --out.")] = False,
) -> None:
    """Write a randomly initialised checkpoint with the files of the hub's Qwen2.5-VL-7B-Instruct (config,
    sharded safetensors, preprocessor config, tokenizer, chat template, generation config, card) that loads with
    AutoProcessor / AutoModelForImageTextToText."""
    from visionr1.synth.tiny_model import build_tiny_model, read_card

    with console.err.status("building tokenizer and model"):
        path = build_tiny_model(out, family=family, size=size, seed=seed, force=force)
    info = read_card(path)
    table = Table(title=f"synthetic {family} checkpoint in {path}")
    table.add_column("property")
    table.add_column("value", justify="right")
    table.add_row("parameters", f"{info['parameters']:,}")
    table.add_row("size preset", size)
    table.add_row("seed", str(seed))
    table.add_row("files", ", ".join(sorted(p.name for p in path.iterdir())))
    console.out.print(table)
