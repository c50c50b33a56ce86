"""Statistics and pictures of a built mix (``visionr1 data stats`` / ``show``)."""

from __future__ import annotations

import io
import re
import textwrap
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from visionr1.data.build import DATASET_DIR, load_manifest
from visionr1.errors import VisionR1Error
from visionr1.inputs import arrow_folder
from visionr1.io import make_dir, write_bytes, write_json


def mix_folder(path: Path) -> Path:
    """The ``dataset/`` folder of the built mix ``path``, checked without reading it: a manifest, the folder, a
    path the datasets library can open (UTF-8 text); else one line naming the mix."""
    load_manifest(path)
    folder = Path(path) / DATASET_DIR
    if not folder.is_dir():
        raise VisionR1Error(f"{path}: the mix has no {DATASET_DIR}/ folder (run `visionr1 data build` again)")
    arrow_folder(folder)
    return folder


def load_mix(path: Path):
    """The datasets.Dataset of a built mix."""
    import datasets

    folder = mix_folder(path)
    datasets.disable_progress_bars()
    try:
        ds = datasets.load_from_disk(str(folder))
        if ds.num_rows:  # the first and last records: a truncated file fails here, not halfway through
            ds[0], ds[ds.num_rows - 1]
    except Exception as exc:  # datasets / pyarrow raise many kinds for damaged files; all mean the same here
        raise VisionR1Error(f"{folder}: not a readable dataset ({type(exc).__name__}: "
                            f"{' '.join(str(exc).split())[:160]}); run `visionr1 data build` again") from None
    return ds


def mix_stats(path: Path, out: Path | None = None) -> dict:
    """Counts per (source, task), the hard ratio, and instance histograms written as PNG + stats.json."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ds = load_mix(path).select_columns(["source", "task", "num_instances", "difficulty", "negative"])
    cols = ds.to_dict()
    groups: dict[tuple[str, str], dict] = defaultdict(lambda: {"samples": 0, "hard": 0, "easy": 0, "negative": 0,
                                                              "instances": 0})
    for src, task, n, diff, neg in zip(cols["source"], cols["task"], cols["num_instances"], cols["difficulty"],
                                       cols["negative"], strict=True):
        g = groups[(src.split("/")[0], task)]
        g["samples"] += 1
        g["instances"] += n
        g["negative" if neg else diff] += 1
    rows = [{"source": s, "task": t, **g, "mean_instances": g["instances"] / g["samples"]}
            for (s, t), g in sorted(groups.items())]
    n = np.array(cols["num_instances"])
    pos = ~np.array(cols["negative"], dtype=bool)
    hard = np.array(cols["difficulty"]) == "hard"
    out = make_dir(Path(out) if out else Path(path) / "stats")
    tasks = sorted(set(cols["task"]))
    fig, axes = plt.subplots(1, len(tasks) + 1, figsize=(4 * (len(tasks) + 1), 3.2), squeeze=False)
    bins = np.arange(0, max(int(n.max()) if len(n) else 1, 1) + 2) - 0.5
    for ax, (title, sel) in zip(axes[0], [("all", np.ones(len(n), bool))]
                                + [(t, np.array(cols["task"]) == t) for t in tasks], strict=True):
        ax.hist(n[sel], bins=bins, color="#4c72b0")
        ax.set_title(f"{title} ({int(sel.sum())} samples)")
        ax.set_xlabel("instances per sample")
    axes[0][0].set_ylabel("samples")
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=100)
    plt.close(fig)
    write_bytes(out / "instances.png", png.getvalue())
    stats = {"rows": len(n), "groups": rows, "hard_ratio": float(hard[pos].mean()) if pos.any() else 0.0,
             "negatives": int((~pos).sum()),
             "instance_histogram": np.bincount(n).tolist() if len(n) else [], "out": str(out)}
    write_json(out / "stats.json", stats, indent=2)
    return stats


def _image(value) -> Image.Image:
    if isinstance(value, Image.Image):
        return value.convert("RGB")
    try:
        return Image.open(value).convert("RGB")
    except OSError as exc:
        raise VisionR1Error(f"cannot open image {value}: {exc}") from None


def show_samples(path: Path, out: Path, n: int, seed: int = 0) -> list[Path]:
    """Draw ``n`` random samples: ground-truth boxes with labels on the image, the prompt underneath."""
    ds = load_mix(path)
    if not len(ds):
        raise VisionR1Error(f"{path}: the mix has no samples to show")
    out = make_dir(out)
    picks = np.random.default_rng(seed).choice(len(ds), size=min(n, len(ds)), replace=False)
    files = []
    for k, i in enumerate(sorted(picks.tolist())):
        row = ds[i]
        img = _image(row["image"])
        draw = ImageDraw.Draw(img)
        for g in row["gt"]:
            x1, y1, x2, y2 = g["bbox"]
            draw.rectangle((x1, y1, x2, y2), outline=(0, 255, 0), width=2)
            draw.text((x1 + 2, max(0, y1 - 11)), g["label"], fill=(0, 255, 0))
        caption = textwrap.wrap(f"[{row['task']}, {row['difficulty']}, {row['num_instances']} gt] {row['problem']}",
                                width=max(30, img.width // 7))
        canvas = Image.new("RGB", (img.width, img.height + 14 * len(caption) + 6), (255, 255, 255))
        canvas.paste(img, (0, 0))
        cd = ImageDraw.Draw(canvas)
        for j, line in enumerate(caption):
            cd.text((4, img.height + 3 + 14 * j), line, fill=(0, 0, 0))
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", row["id"])[:80]
        f = out / f"{k:03d}-{name}.png"
        png = io.BytesIO()
        canvas.save(png, format="png")
        write_bytes(f, png.getvalue())
        files.append(f)
    return files
