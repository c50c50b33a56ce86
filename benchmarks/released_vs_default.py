"""Default vs released evaluation mode on the synthetic world (issue 14).

Every benchmark is answered and scored once per mode (each mode answers in its own model input size: pixel limits,
qwen_vl_utils' resize) by two answerers:

- ``oracle``: the ground truth, exactly (the oracle backend);
- ``drifting``: the ground truth jittered by 3% of each box's size, every fifth box written twice, and 30% of the
  labels drifted to the plural (``circle`` -> ``circles``), as LVLM answers drift.

The default mode scores what the answers mean (single-category queries count every box as the asked category,
annotation ids renumbered); the released mode what the released evaluation counts (labels looked up as written,
annotation id 0 never matched, Q / q collapsed).

    python benchmarks/released_vs_default.py [--images 100] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from visionr1.cli import main as cli
from visionr1.eval.backends import OracleBackend
from visionr1.eval.benchmarks import DEFAULT_PROTOCOL, default_sets, make_sets
from visionr1.eval.modes import DEFAULTS
from visionr1.eval.runner import answer, score
from visionr1.formats import get_adapter

FAMILY = "qwen2.5-vl"


class Drifting:
    """The ground truth, jittered, with duplicates and drifted labels (seeded)."""

    def __init__(self, min_pixels: int, max_pixels: int, pre_resize: bool) -> None:
        self.adapter, self.rng = get_adapter(FAMILY), np.random.default_rng(0)
        self.pixels, self.pre_resize = (min_pixels, max_pixels), pre_resize

    def generate(self, queries) -> list[str]:
        out = []
        for q in queries:
            geo = self.adapter.geometry(q.width, q.height, min_pixels=self.pixels[0], max_pixels=self.pixels[1],
                                        pre_resize=self.pre_resize)
            items = []
            for k, (label, (x1, y1, x2, y2)) in enumerate(q.gt):
                w, h = x2 - x1, y2 - y1
                box = (np.array([x1, y1, x2, y2]) + self.rng.normal(0, 0.03, 4) * [w, h, w, h]).tolist()
                drift = self.rng.random() < 0.3
                items += [{"label": label + "s" if drift else label, "bbox": box}] * (2 if k % 5 == 4 else 1)
            out.append(self.adapter.serialize(items, geo, exact=True))
        return out


def run(world: Path, work: Path) -> list[dict]:
    rows = []
    data = {"coco": {"data_root": str(world / "coco")}, "odinw": {"data_root": str(world / "odinw")},
            "ood": {"data_root": str(world / "odinw")}}
    for benchmark, d in data.items():
        protocol = DEFAULT_PROTOCOL[benchmark]
        d = {**d, "sets": list(default_sets(benchmark))} if benchmark != "coco" else d
        for who in ("oracle", "drifting"):
            row = {"benchmark": benchmark, "protocol": protocol, "answers": who}
            for mode in ("default", "released"):
                m = DEFAULTS[mode]
                released = mode == "released"
                sets = make_sets(benchmark, d, FAMILY, protocol, None, mode)
                out = work / f"{benchmark}-{who}-{mode}"

                def backend(m=m, released=released, who=who):
                    return (OracleBackend(FAMILY, m.min_pixels, m.max_pixels, released) if who == "oracle"
                            else Drifting(m.min_pixels, m.max_pixels, released))

                answer(sets, backend, out, FAMILY, m.min_pixels, m.max_pixels, 64, pre_resize=released)
                meta = {"model": who, "family": FAMILY, "mode": mode, "protocol": protocol, "decoding": {},
                        "min_pixels": m.min_pixels, "max_pixels": m.max_pixels, "limit": None}
                report = score(benchmark, sets, out, meta, "constant", m.evaluator)
                row[mode] = report["headline"]
                row[f"{mode}_unknown_labels"] = sum(s["unknown_labels"] for s in report["sets"].values())
                row[f"{mode}_sets"] = {k.split("/", 1)[-1]: v["mAP"] for k, v in report["sets"].items()}
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100, help="COCO train images of the world (others scale)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp) / "world"
        assert cli(["synth", "world", "--out", str(world), "--images", str(args.images)]) == 0
        rows = run(world, Path(tmp))
    table = Table(title="headline mAP: default vs released mode (synthetic world)")
    for c in ("benchmark", "protocol", "answers", "default", "released", "unknown labels (released)"):
        table.add_column(c)
    for r in rows:
        table.add_row(r["benchmark"], r["protocol"], r["answers"], f"{r['default']:.1f}", f"{r['released']:.1f}",
                      str(r["released_unknown_labels"]))
    Console().print(table)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
