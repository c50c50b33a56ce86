"""``visionr1 synth``: the synthetic shapes world and tiny model used by tests and the demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from visionr1.cli import console
from visionr1.cli.options import check_range

MAX_SEED = 2**32 - 1  # numpy and torch seeds
MAX_IMAGES = 20_000  # a world this size takes ~2 min to generate and more to render; larger ones are refused

app = typer.Typer(help="Synthetic stand-ins: a shapes world in the real dataset formats, a tiny Qwen2.5-VL.",
                  no_args_is_help=True, rich_markup_mode="markdown")


@app.command("world")
def world(
    out: Annotated[Path, typer.Option(help="Folder to write the world into (created; must be empty).")],
    seed: Annotated[int, typer.Option(help="Random seed (0 to 2**32-1); the same seed writes byte-identical "
                                           "files.")] = 0,
    images: Annotated[int, typer.Option(help=f"COCO train images, 1 to {MAX_IMAGES:,}; the other sources scale "
                                             "with it.")] = 200,
    profile: Annotated[str, typer.Option(help="standard (1-40 objects, tiny ones, crowds, 160-640 px images) or "
                                              "simple (1-3 large objects on 112 x 112 images, for learning "
                                              "experiments and the demo).")] = "standard",
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
    family: Annotated[str, typer.Option(help="Model family of the checkpoint.")] = "qwen2.5-vl",
    size: Annotated[str, typer.Option(help="tiny (<2M parameters, tests) or small (~5M, learns the world).")] = "tiny",
    seed: Annotated[int, typer.Option(help="Seed of the weights and tokenizer corpus (0 to 2**32-1); same seed, "
                                           "same files.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace an earlier synthetic model in --out.")] = False,
) -> None:
    """Write a randomly initialised checkpoint with the files of the hub's Qwen2.5-VL-7B-Instruct (config,
    sharded safetensors, preprocessor config, tokenizer, chat template, generation config, card) that loads with
    AutoProcessor / AutoModelForImageTextToText."""
    from safetensors import SafetensorError

    from visionr1.errors import VisionR1Error
    from visionr1.io import output_dir
    from visionr1.synth.tiny_model import CARD, CARD_TAG, FAMILIES, SIZES, build_tiny_model, read_card

    check_range("seed", seed, 0, MAX_SEED)
    for option, value, known in (("family", family, FAMILIES), ("size", size, SIZES)):  # before --force clears
        if value not in known:
            raise VisionR1Error(f"unknown {option} '{value}' (choose from {', '.join(known)})")
    with output_dir(out, force=force, marker=CARD, marker_text=CARD_TAG) as root, \
            console.err.status("building tokenizer and model"):
        try:
            path = build_tiny_model(root, family=family, size=size, seed=seed, force=force)
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
