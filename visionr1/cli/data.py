"""``visionr1 data``: build the localization training mix, look at its statistics and samples."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from visionr1.cli import console

app = typer.Typer(help="The training mix: build it from dataset roots (or the synthetic world), inspect it.",
                  no_args_is_help=True, rich_markup_mode="markdown")



@app.command("build")
def build_cmd(
    out: Annotated[Path, typer.Option(help="Output folder (dataset/, data.parquet, manifest.json).")],
    recipe: Annotated[str, typer.Option(help="Built-in recipe name (paper-49k, synthetic, shapes-simple, shapes-dense) "
                                             "or a YAML file. "
                                             "Default: synthetic without dataset roots, else paper-49k.")] = "",
    family: Annotated[str, typer.Option(help="Model family whose instruction templates are rendered.")] = "qwen2.5-vl",
    coco_root: Annotated[Path | None, typer.Option(help="COCO root (annotations/, train2017/, train2014/).")] = None,
    odinw_root: Annotated[Path | None, typer.Option(help="GLIP ODinW folder (the one holding the sets).")] = None,
    v3det_root: Annotated[Path | None, typer.Option(help="V3Det root (annotations/, images/).")] = None,
    refcoco_root: Annotated[Path | None, typer.Option(help="Folder with refcoco/, refcoco+/, refcocog/, "
                                                           "grefcoco/.")] = None,
    vg_root: Annotated[Path | None, typer.Option(help="Visual Genome root (region_descriptions.json, ...).")] = None,
    embed_images: Annotated[bool, typer.Option("--embed-images", help="Store image bytes in the dataset.")] = False,
    allow_short: Annotated[bool, typer.Option("--allow-short", help=(
        "Build a smaller mix when a source has too few samples: every part of the source shrinks alike, keeping the "
        "recipe's shares."))] = False,
    export: Annotated[str | None, typer.Option(help="Also write the released code's format: official.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an earlier build in --out.")] = False,
) -> None:
    """Build the training mix of a recipe from the datasets on disk (docs/spec.md §2): COCO detection, ODinW / V3Det
    grounding, RefCOCO-family / Visual Genome REC. Without dataset roots it builds from the synthetic world."""
    from visionr1.data.build import build
    from visionr1.data.recipe import load_recipe

    roots = {"coco": coco_root, "odinw": odinw_root, "v3det": v3det_root, "refcoco": refcoco_root, "vg": vg_root}
    any_root = any(v is not None for v in roots.values())
    r = load_recipe(recipe or ("paper-49k" if any_root else "synthetic"))
    with console.err.status("building") as status:
        result = build(r, out, family=family, roots=roots, allow_short=allow_short, embed_images=embed_images,
                       export=export, force=force, step=lambda msg: status.update(msg))
    table = Table(title=f"{result.rows} samples ({r.name}, {family}) in {result.out}")
    for col in ("source", "task", "requested", "produced", "hard", "easy", "negative", "hard ratio"):
        table.add_column(col, justify="left" if col in ("source", "task") else "right")
    for rep in result.reports:
        p = rep.produced
        table.add_row(rep.source, rep.task, str(rep.requested), str(p["total"]), str(p["hard"]), str(p["easy"]),
                      str(p["negative"]), f"{rep.hard_ratio:.2f}" if rep.hard_ratio is not None else "-")
    console.out.print(table)
    issues = Table(title="skipped or corrected while reading")
    for col in ("source", "what", "count"):
        issues.add_column(col, justify="right" if col == "count" else "left")
    for rep in result.reports:
        for what, count in rep.issues.items():
            issues.add_row(rep.source, what, str(count))
    if issues.row_count:
        console.out.print(issues)
    for rep in result.reports:
        if rep.short:
            console.err.print(f"[yellow]short:[/] {rep.short}")
    console.out.print(f"fingerprint {result.fingerprint}; manifest: {result.out / 'manifest.json'}")


@app.command("stats")
def stats_cmd(
    path: Annotated[Path, typer.Argument(help="A folder written by `visionr1 data build`.")],
    out: Annotated[Path | None, typer.Option(help="Where to write stats.json and the PNG histograms "
                                                  "(default: `<path>/stats`).")] = None,
) -> None:
    """Counts per source / task / difficulty, negatives, and histograms of instances per sample (PNG)."""
    from visionr1.data.stats import mix_stats

    stats = mix_stats(path, out)
    table = Table(title=f"{stats['rows']} samples in {path}")
    for col in ("source", "task", "samples", "hard", "easy", "negative", "instances", "mean / sample"):
        table.add_column(col, justify="left" if col in ("source", "task") else "right")
    for g in stats["groups"]:
        table.add_row(g["source"], g["task"], str(g["samples"]), str(g["hard"]), str(g["easy"]), str(g["negative"]),
                      str(g["instances"]), f"{g['mean_instances']:.2f}")
    console.out.print(table)
    console.out.print(f"hard ratio (samples with objects): {stats['hard_ratio']:.3f}; "
                      f"plots and stats.json in {stats['out']}")


@app.command("show")
def show_cmd(
    path: Annotated[Path, typer.Argument(help="A folder written by `visionr1 data build`.")],
    out: Annotated[Path, typer.Option(help="Folder for the PNG files.")],
    n: Annotated[int, typer.Option("--n", min=1, help="How many samples to draw.")] = 8,
    seed: Annotated[int, typer.Option(help="Which samples (random, reproducible).")] = 0,
) -> None:
    """Draw samples: the image with its ground-truth boxes and labels, and the prompt."""
    from visionr1.data.stats import show_samples

    files = show_samples(path, out, n, seed)
    console.out.print(f"{len(files)} images written to {out}")
