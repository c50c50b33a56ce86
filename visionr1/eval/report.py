"""report.json / report.md, rich tables, the paper's reference numbers, and comparisons between runs."""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from visionr1.errors import VisionR1Error
from visionr1.io import write_bytes, write_json

# Paper Tables 1-2 (percent): model -> (base, + Vision-R1)
PAPER_REFERENCE = {
    "coco": {"Qwen2.5-VL-7B": (17.7, 26.6), "Griffon-G-7B": (40.2, 42.0)},
    "odinw": {"Qwen2.5-VL-7B": (37.0, 46.0), "Griffon-G-7B": (43.8, 46.3)},
    "ood": {"Qwen2.5-VL-7B": (16.9, 21.7)},
}
COLUMNS = {"boxes": ("mAP", "AP50", "AP75", "AR100", "reward", "queries", "parse_failures", "unknown_labels"),
           "rec": ("Acc@0.5", "reward", "queries", "parse_failures"),
           "qa": ("Overall", "questions", "type")}
SUMMARY_METRIC = {"boxes": "mAP", "rec": "Acc@0.5", "qa": "Overall"}


def _fmt(v, key: str = "") -> str:
    return "-" if v is None else f"{v:.3f}" if key == "reward" else f"{v:.1f}" if isinstance(v, float) else str(v)


def summary_metric(report: dict) -> str:
    return SUMMARY_METRIC[report["kind"]]


def report_table(report: dict) -> Table:
    cols = COLUMNS[report["kind"]]
    scores = f", scores: {report['score_policy']}" if report["kind"] == "boxes" else ""
    t = Table(title=f"{report['benchmark']}: {report['model']} ({report['family']}, {report['protocol']}{scores})")
    t.add_column("set")
    for c in cols:
        t.add_column(c, justify="right")
    for name, m in report["sets"].items():
        t.add_row(name, *(_fmt(m.get(c), c) for c in cols))
    if report.get("average"):
        t.add_row("[bold]average[/]", *(_fmt(report["average"].get(c), c) for c in cols))
    return t


def markdown(report: dict) -> str:
    cols = COLUMNS[report["kind"]]
    lines = [f"# {report['benchmark']} evaluation", "",
             f"- model: `{report['model']}` (family {report['family']})",
             f"- protocol: {report['protocol']}; " + (
                 f"scores: {report['score_policy']} (LVLMs give no confidences; with tied scores AP depends on the "
                 "answer order); " if report["kind"] == "boxes" else "") + "evaluator: " + report["evaluator"],
             f"- decoding: {json.dumps(report['decoding'])}; min_pixels {report['min_pixels']}, "
             f"max_pixels {report['max_pixels']}", "",
             "| set | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for name, m in report["sets"].items():
        lines.append(f"| {name} | " + " | ".join(_fmt(m.get(c), c) for c in cols) + " |")
    if report.get("average"):
        lines.append("| **average** | " + " | ".join(_fmt(report["average"].get(c), c) for c in cols) + " |")
    ref = report.get("paper_reference")
    if ref:
        lines += ["", f"Paper reference ({summary_metric(report)}, percent; base -> + Vision-R1): " + "; ".join(
            f"{m}: {b} -> {v}" for m, (b, v) in ref.items()) + f". Measured here: {_fmt(report['headline'])}."]
    return "\n".join(lines) + "\n"


def write_report(report: dict, out: Path) -> None:
    write_json(out / "report.json", report, indent=2)
    write_bytes(out / "report.md", markdown(report).encode())


def load_report(path: Path) -> dict:
    p = Path(path)
    p = p / "report.json" if p.is_dir() else p
    if not p.is_file():
        raise VisionR1Error(f"no report at {p} (run `visionr1 eval ...` first)")
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise VisionR1Error(f"{p}:{exc.lineno}: malformed report ({exc.msg})") from None


def compare_table(reports: list[dict], names: list[str]) -> Table:
    """Headline metric of each set in each report, with the difference to the first (like paper Table 1)."""
    metric = summary_metric(reports[0])
    kinds = {r["kind"] for r in reports}
    if len(kinds) > 1:
        raise VisionR1Error(f"cannot compare reports of different kinds ({', '.join(sorted(kinds))})")
    t = Table(title=f"{metric} (percent); Δ against {names[0]}")
    t.add_column("set")
    for i, n in enumerate(names):
        t.add_column(n, justify="right")
        if i:
            t.add_column("Δ", justify="right")
    sets = list(dict.fromkeys(s for r in reports for s in [*r["sets"], *(["average"] if r.get("average") else [])]))
    for s in sets:
        vals = [(r["average"] if s == "average" else r["sets"].get(s, {})).get(metric) if
                (s != "average" or r.get("average")) else None for r in reports]
        row = [s]
        for i, v in enumerate(vals):
            row.append(_fmt(v))
            if i:
                row.append("-" if v is None or vals[0] is None else f"{v - vals[0]:+.1f}")
        t.add_row(*row)
    return t
