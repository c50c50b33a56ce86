"""Data build speed and memory on a COCO-train-scale annotation file (issue 4).

Generates ``instances_train2017.json`` at the scale of COCO train2017 (118,287 images, ~860K annotations with
polygon segmentations, 80 categories with COCO's id gaps, ~1% crowd; ~450 MB) plus, per image, a file holding
a PNG header of the annotated size (what the build's image check reads; no pixels), then times, each in a fresh
process:

- the baseline: plain ``json.load`` of that file;
- ``visionr1 data build`` of a 30K detection split (50% hard, 2% negatives), checking every image's header,
  checksumming the annotation file and writing the dataset, parquet and manifest;
- the image check alone (``visionr1.images.usable_images`` over every image), to show its share.

Prints wall time and peak RSS of both and their ratio. Targets: build <= 1.5x the json.load time, peak RSS
<= 4 GiB.

    python benchmarks/data_build.py [--work /tmp/visionr1-bench-coco] [--images 118287] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np

POINTS = 24  # polygon vertices per annotation: the file reaches the ~450 MB of the real one
CATEGORY_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]
RECIPE = """name: bench-coco-30k
seed: 0
sources:
  coco: {task: detection, count: 30000, split: train2017, hard_share: 0.5, negative_share: 0.02,
         absent_categories: [0, 2]}
"""


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` and holds no pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", b"") + chunk(b"IEND", b""))


def generate(root: Path, images: int, seed: int) -> Path:
    """Write the annotation file and the (empty) image files; reused when present."""
    ann = root / "annotations" / "instances_train2017.json"
    marker = root / f".complete-{images}-{seed}-{POINTS}-png"
    if marker.exists():
        return ann
    rng = np.random.default_rng(seed)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    img_dir = root / "train2017"
    img_dir.mkdir(exist_ok=True)
    ids = np.sort(rng.choice(np.arange(1, 600_000), size=images, replace=False))
    w = rng.integers(200, 641, size=images)
    h = rng.integers(200, 641, size=images)
    counts = np.minimum(rng.geometric(1 / 7.3, size=images) - 1, 60)  # mean ~7.3 annotations per image
    with open(ann, "w") as f:
        f.write('{"info": {"description": "visionr1 benchmark: COCO-train-scale synthetic annotations"}, '
                '"licenses": [], "images": [')
        f.write(", ".join(json.dumps({"license": 1, "file_name": f"{i:012d}.jpg", "coco_url": "", "height": int(hh),
                                      "width": int(ww), "date_captured": "2013-11-14 11:18:45", "flickr_url": "",
                                      "id": int(i)}) for i, ww, hh in zip(ids, w, h, strict=True)))
        f.write('], "annotations": [')
        aid = 0
        first = True
        for start in range(0, images, 5000):
            parts = []
            for i in range(start, min(images, start + 5000)):
                n = int(counts[i])
                if not n:
                    continue
                bw = rng.uniform(2, w[i] / 2, n)
                bh = rng.uniform(2, h[i] / 2, n)
                x = rng.uniform(0, w[i] - bw)
                y = rng.uniform(0, h[i] - bh)
                cats = rng.choice(CATEGORY_IDS, size=n)
                crowd = rng.random(n) < 0.01
                poly = rng.uniform(0, 1, (n, POINTS, 2)) * np.stack([bw, bh], 1)[:, None] + np.stack([x, y], 1)[:, None]
                poly = poly.reshape(n, 2 * POINTS).round(2).tolist()
                for k in range(n):
                    pts = ", ".join(map(str, poly[k]))
                    parts.append(f'{{"segmentation": [[{pts}]], "area": {bw[k] * bh[k] * 0.6:.4f}, '
                                 f'"iscrowd": {int(crowd[k])}, "image_id": {ids[i]}, "bbox": [{x[k]:.2f}, {y[k]:.2f}, '
                                 f'{bw[k]:.2f}, {bh[k]:.2f}], "category_id": {cats[k]}, "id": {aid}}}')
                    aid += 1
            if parts:
                f.write(("" if first else ", ") + ", ".join(parts))
                first = False
        f.write('], "categories": [')
        f.write(", ".join(json.dumps({"supercategory": "thing", "id": c, "name": f"category {c}"})
                          for c in CATEGORY_IDS))
        f.write("]}")
    for i, ww, hh in zip(ids, w, h, strict=True):
        (img_dir / f"{i:012d}.jpg").write_bytes(png_header(int(ww), int(hh)))
    marker.touch()
    return ann

IMAGE_CHECK = """
import json, numpy as np
from visionr1.data.sources.base import Issues
from visionr1.images import usable_images
ims = json.load(open({ann!r}))["images"]
usable_images([{images!r} + "/" + i["file_name"] for i in ims], np.array([i["width"] for i in ims]),
              np.array([i["height"] for i in ims]), {images!r}, Issues())
"""


def timed(cmd: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS GiB, exit code) of a fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        sys.stderr.write(proc.stderr.read().decode())
    return wall, usage.ru_maxrss / 2**20, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default="/tmp/visionr1-bench-coco")
    ap.add_argument("--images", type=int, default=118_287)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()
    work = Path(args.work)
    t0 = time.perf_counter()
    ann = generate(work / "coco", args.images, args.seed)
    print(f"annotation file: {ann} ({ann.stat().st_size / 2**20:.0f} MiB), setup {time.perf_counter() - t0:.0f} s")
    recipe = work / "bench-recipe.yaml"
    recipe.write_text(RECIPE)
    load = timed([sys.executable, "-c", f"import json; json.load(open({str(ann)!r}))"])
    build = timed([sys.executable, "-m", "visionr1", "data", "build", "--recipe", str(recipe), "--coco-root",
                   str(work / "coco"), "--out", str(work / "out"), "--force"])
    if build[2]:
        raise SystemExit("the build failed")
    check = timed([sys.executable, "-c", IMAGE_CHECK.format(ann=str(ann), images=str(work / "coco" / "train2017"))])
    manifest = json.loads((work / "out" / "manifest.json").read_text())
    coco = manifest["sources"]["coco"]
    ratio = build[0] / load[0]
    print(f"{'json.load (baseline)':28s} {load[0]:7.1f} s   peak RSS {load[1]:.2f} GiB")
    print(f"{'visionr1 data build (30K)':28s} {build[0]:7.1f} s   peak RSS {build[1]:.2f} GiB   "
          f"{manifest['rows']} samples, hard ratio {coco['hard_ratio']:.3f}")
    print(f"{'image checks (all images)':28s} {check[0] - load[0]:7.1f} s   (a fresh process reading the file and "
          f"checking every image, {check[0]:.1f} s, less json.load)")
    print(f"build / json.load = {ratio:.2f} (target <= 1.5: {'met' if ratio <= 1.5 else 'NOT met'}); "
          f"peak RSS target <= 4 GiB: {'met' if build[1] <= 4 else 'NOT met'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"json_load_s": load[0], "json_load_rss_gib": load[1],
                                               "build_s": build[0], "build_rss_gib": build[1], "ratio": ratio,
                                               "image_check_s": check[0] - load[0],
                                               "rows": manifest["rows"], "hard_ratio": coco["hard_ratio"]}, indent=2))


if __name__ == "__main__":
    main()
