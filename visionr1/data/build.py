"""``visionr1 data build``: read the sources a recipe names, sample the mix, write it (docs/spec.md §2)."""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from visionr1 import __version__
from visionr1.data.recipe import SOURCES, Recipe
from visionr1.data.sampling import SourceReport, detection_samples, grounding_samples, rec_samples, renderer
from visionr1.data.templates import load_templates, template_families
from visionr1.errors import VisionR1Error
from visionr1.inputs import is_utf8, printable, read_json, resolved
from visionr1.io import output_dir, sha256_file, write_json

MANIFEST = "manifest.json"
BUILD_MARKER = ".visionr1-data-build"  # written first: a build killed before its manifest can still be --force'd
DATASET_DIR = "dataset"
PARQUET = "data.parquet"
OFFICIAL_PARQUET = "official.parquet"
ROOT_OPTIONS = {"coco": "--coco-root", "odinw": "--odinw-root", "v3det": "--v3det-root",
                "refcoco": "--refcoco-root", "vg": "--vg-root"}

Step = Callable[[str], None]


@dataclass
class BuildResult:
    out: Path
    rows: int
    fingerprint: str
    reports: list[SourceReport]
    manifest: dict


def features(embed_images: bool):
    """The datasets schema of a mix."""
    from datasets import Features, Image, List, Value

    return Features({
        "id": Value("string"), "source": Value("string"), "task": Value("string"),
        "image": Image() if embed_images else Value("string"), "width": Value("int32"), "height": Value("int32"),
        "categories": List(Value("string")), "gt": List({"label": Value("string"), "bbox": List(Value("float64"))}),
        "num_instances": Value("int32"), "difficulty": Value("string"), "negative": Value("bool"),
        "problem": Value("string"), "template_id": Value("string"),
    })


def to_dataset(rows: list[dict], embed_images: bool = False):
    """A datasets.Dataset of mix rows (converted by pyarrow in one pass; images read when embedded)."""
    import datasets
    import pyarrow as pa
    from datasets.table import InMemoryTable

    datasets.disable_progress_bars()
    feats = features(embed_images)
    if embed_images:
        rows = [{**r, "image": {"bytes": Path(r["image"]).read_bytes(), "path": r["image"]}} for r in rows]
    table = pa.Table.from_pylist(rows, schema=feats.arrow_schema)
    return datasets.Dataset(InMemoryTable(table), info=datasets.DatasetInfo(features=feats))


def synthetic_roots(world: Path, recipe: Recipe) -> dict[str, Path]:
    """Write the synthetic world into ``world`` and return its dataset roots."""
    from visionr1.synth.world import build_world
    from visionr1.synth.writers import write_world

    w = recipe.world
    write_world(build_world(int(w.get("seed", recipe.seed)), int(w.get("images", 200)),
                            str(w.get("profile", "standard"))), world)
    return {"coco": world / "coco", "odinw": world / "odinw", "v3det": world / "v3det", "refcoco": world / "refer",
            "vg": world / "vg"}


def _source_rows(name: str, recipe: Recipe, roots: dict[str, Path], family: str, allow_short: bool,
                 check_images: bool) -> tuple[list[dict], SourceReport, list[Path]]:
    from visionr1.data.sources.coco import read_coco
    from visionr1.data.sources.odinw import read_odinw
    from visionr1.data.sources.refer import read_refer
    from visionr1.data.sources.v3det import read_v3det
    from visionr1.data.sources.vg import read_vg

    spec = recipe.sources[name]
    rng = np.random.default_rng([recipe.seed, SOURCES.index(name)])
    render = renderer(load_templates(family), rng)
    root = roots[name]
    if name in ("coco", "odinw", "v3det"):
        if name == "coco":
            datas = [read_coco(root, spec.split or "train2017", check_images=check_images)]
        elif name == "odinw":
            datas = read_odinw(root, spec.split or "train", sets=spec.sets, exclude=spec.exclude_sets,
                               check_images=check_images)
        else:
            datas = [read_v3det(root, spec.split or "train", check_images=check_images)]
        files = [f for d in datas for f in d.files]
        if spec.task == "detection":
            rows, report = detection_samples(datas[0], spec, recipe, rng, render, allow_short)
        else:
            rows, report = grounding_samples(datas, spec, recipe, rng, render, allow_short, name)
        return rows, report, files
    if name == "refcoco":
        exprs = [read_refer(root, roots.get("coco"), ds, tuple(spec.splits), check_images=check_images)
                 for ds in spec.datasets]
    else:
        exprs = [read_vg(root, min_targets=spec.min_targets, check_images=check_images)]
    rows, report = rec_samples(exprs, spec, recipe, rng, render, allow_short, name)
    return rows, report, [f for e in exprs for f in e.files]


def official_dataset(rows: list[dict], mix):
    """The released code's columns: ``problem``, ``solution`` (JSON ``[[label, [x1, y1, x2, y2]], ...]``),
    ``num_instances`` and ``target_id_maps`` (JSON ``{label: id}``, ids from 1 in prompt order), with ``image``,
    ``width`` and ``height`` as in ``mix`` (the mix's dataset of the same rows: its image column, a path or the
    embedded image, is taken as it is)."""
    import datasets
    import pyarrow as pa
    from datasets import Features, Value
    from datasets.table import InMemoryTable

    out = []
    for r in rows:
        names = list(dict.fromkeys(r["categories"] + [g["label"] for g in r["gt"]]))
        out.append({"width": r["width"], "height": r["height"], "problem": r["problem"],
                    "solution": json.dumps([[g["label"], g["bbox"]] for g in r["gt"]]),
                    "num_instances": r["num_instances"],
                    "target_id_maps": json.dumps({n: i + 1 for i, n in enumerate(names)})})
    feats = Features({"image": mix.features["image"], "width": Value("int32"), "height": Value("int32"),
                      "problem": Value("string"), "solution": Value("string"), "num_instances": Value("int32"),
                      "target_id_maps": Value("string")})
    table = pa.Table.from_pylist(out).add_column(0, "image", mix.data.table.column("image")).cast(feats.arrow_schema)
    return datasets.Dataset(InMemoryTable(table), info=datasets.DatasetInfo(features=feats))


def build(recipe: Recipe, out: Path, *, family: str = "qwen2.5-vl", roots: dict[str, Path | None] | None = None,
          allow_short: bool = False, embed_images: bool = False, export: str | None = None,
          check_images: bool = True, force: bool = False, step: Step | None = None) -> BuildResult:
    """Build the mix of ``recipe`` into ``out``. Without any dataset root, the synthetic world is written to
    ``out/world`` and used instead. ``check_images``: every image opened and decoded (unusable ones skipped and
    counted); without it an image file name that is not UTF-8 refuses the build."""
    if family not in template_families():
        raise VisionR1Error(f"unknown family '{family}' for data build (choose from {', '.join(template_families())})")
    if export not in (None, "official"):
        raise VisionR1Error(f"unknown export '{export}' (choose: official)")
    step = step or (lambda _: None)
    given = {k: resolved(v) for k, v in (roots or {}).items() if v is not None}
    for k, v in given.items():
        if not v.is_dir():
            raise VisionR1Error(f"{ROOT_OPTIONS[k]} {v} is not a directory")
    with output_dir(out, force=force, marker=(MANIFEST, BUILD_MARKER)) as out:  # cleared if the build fails
        (out / BUILD_MARKER).write_text("visionr1 data build\n")
        synthetic = not given
        if synthetic:
            step("writing the synthetic world")
            given = synthetic_roots(out / "world", recipe)
        missing = [n for n in recipe.sources if n not in given and recipe.sources[n].count]
        if "refcoco" in recipe.sources and "coco" not in given and "refcoco" in given:
            missing.append("coco (RefCOCO images are COCO train2014 images)")
        if missing:
            raise VisionR1Error(f"recipe '{recipe.name}' needs " + ", ".join(
                f"{ROOT_OPTIONS.get(m, '--coco-root')} ({m})" for m in missing))

        rows, reports, files = [], [], []
        for name, spec in recipe.sources.items():
            if not spec.count:
                continue
            step(f"{name}: reading and sampling {spec.count} {spec.task} samples")
            r, report, f = _source_rows(name, recipe, given, family, allow_short, check_images)
            rows += r
            reports.append(report)
            files += f
        if not check_images and (odd := next((r["image"] for r in rows if not is_utf8(r["image"])), None)):
            # the image check skips and counts such a name (images.NOT_TEXT); unchecked, Arrow would refuse it
            raise VisionR1Error(f"{printable(odd)}: image file name not valid UTF-8, which the mix's tables cannot "
                                "hold: build with check_images=True to skip and count such images, or rename them")
        order = np.random.default_rng([recipe.seed, len(SOURCES)]).permutation(len(rows))
        rows = [rows[i] for i in order]

        step(f"writing {len(rows)} samples")
        ds = to_dataset(rows, embed_images)
        ds.save_to_disk(str(out / DATASET_DIR))
        ds.to_parquet(str(out / PARQUET))
        if export == "official":
            official_dataset(rows, ds).to_parquet(str(out / OFFICIAL_PARQUET))
        step("checksums")
        positives = [r for r in rows if not r["negative"]]
        manifest = {
            "created_by": "visionr1 data build", "visionr1": __version__, "recipe": recipe.to_dict(),
            "recipe_file": recipe.path, "seed": recipe.seed, "family": family, "synthetic_world": synthetic,
            "roots": {k: str(v) for k, v in sorted(given.items())}, "rows": len(rows), "fingerprint": ds._fingerprint,
            "hard_ratio": (sum(r["difficulty"] == "hard" for r in positives) / len(positives)) if positives else None,
            "negatives": len(rows) - len(positives), "allow_short": allow_short, "embed_images": embed_images,
            "export": export, "sources": {r.source: r.to_dict() for r in reports},
            "inputs": {str(f): sha256_file(f) for f in dict.fromkeys(files)},
            "versions": _versions(), "files": {"dataset": DATASET_DIR, "parquet": PARQUET,
                                               **({"official": OFFICIAL_PARQUET} if export else {})},
        }
        write_json(out / MANIFEST, manifest, indent=2)
        return BuildResult(out, len(rows), ds._fingerprint, reports, manifest)


def _versions() -> dict[str, str]:
    import datasets
    import msgspec
    import pyarrow

    return {"python": platform.python_version(), "numpy": np.__version__, "datasets": datasets.__version__,
            "pyarrow": pyarrow.__version__, "msgspec": msgspec.__version__, "platform": sys.platform}


def load_manifest(path: Path) -> dict:
    """The manifest of a built mix (``path`` is the build folder)."""
    f = Path(path) / MANIFEST
    if not f.is_file():
        raise VisionR1Error(f"{path} is not a built mix ({MANIFEST} missing; run `visionr1 data build` first)")
    return read_json(f, dict)
