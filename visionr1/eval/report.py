"""report.json / report.md, rich tables, the paper's reference numbers, and comparisons between runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

from rich.table import Table

from visionr1.data.layouts import ODINW_13, ODINW_OOD
from visionr1.errors import VisionR1Error
from visionr1.io import write_bytes, write_json

# The paper's reference numbers (percent; base -> + Vision-R1), per benchmark: the table, the metric, the sets its
# numbers are over, and the numbers transcribed into SPEC 4 (the averages; the per-set columns of Tables 1, 2 and 9
# and the QA numbers of Table 11 are not transcribed, so nothing is printed for them).
PAPER = {
    "coco": {"table": "Table 1", "metric": "mAP", "sets": ("coco/val2017",),
             "models": {"Qwen2.5-VL-7B": (17.7, 26.6), "Griffon-G-7B": (40.2, 42.0)}},
    "odinw": {"table": "Table 1", "metric": "average mAP", "sets": tuple(f"odinw/{n}" for n in ODINW_13),
              "models": {"Qwen2.5-VL-7B": (37.0, 46.0), "Griffon-G-7B": (43.8, 46.3)}},
    "ood": {"table": "Table 2", "metric": "average mAP", "sets": tuple(f"odinw/{n}" for n in ODINW_OOD),
            "models": {"Qwen2.5-VL-7B": (16.9, 21.7)}},
    "qa": {"table": "Table 11", "metric": "Overall", "sets": (), "models": {}},
}
# Table 1's SFT row (Qwen2.5-VL-7B fine-tuned on the same 49K mix), quoted in issue 16; SPEC 4 has only the base and
# + Vision-R1 columns. The demo prints it for scale.
PAPER_SFT = {"coco": 23.6, "odinw": 35.0}
COLUMNS = {"boxes": ("mAP", "AP50", "AP75", "AR100", "reward", "queries", "parse_failures", "unknown_labels"),
           "rec": ("Acc@0.5", "reward", "queries", "parse_failures"),
           "qa": ("Overall", "questions", "type")}
HEADERS = {"parse_failures": "unread", "unknown_labels": "unknown"}  # short column titles: 80 columns fit
SUMMARY_METRIC = {"boxes": "mAP", "rec": "Acc@0.5", "qa": "Overall"}
# report fields two runs must share for their numbers to be comparable
COMPARABLE = {"protocol": "protocol", "mode": "mode", "score_policy": "score policy", "min_pixels": "min_pixels",
              "max_pixels": "max_pixels", "limit": "query limit"}


def paper_reference(benchmark: str, sets: list[str], limit: int | None) -> dict:
    """The paper's numbers a run can be set beside: its table, and the numbers only when the run covers the sets
    they are over, with no ``--limit`` (a subset's average is not the paper's average)."""
    entry = PAPER.get(benchmark)
    if entry is None:
        return {}
    covered = set(sets) == set(entry["sets"]) and limit is None
    note = None
    if not entry["models"]:
        note = f"the paper's {entry['table']} numbers are not transcribed"
    elif not covered:
        note = (f"the paper's {entry['metric']} is over {len(entry['sets'])} set(s) without a query limit; this run "
                f"evaluates {len(sets)}" + (f" with --limit {limit}" if limit is not None else ""))
    return {"table": entry["table"], "metric": entry["metric"],
            "models": {m: list(v) for m, v in entry["models"].items()} if covered else {}, "note": note}


def _fmt(v, key: str = "") -> str:
    return "-" if v is None else f"{v:.3f}" if key == "reward" else f"{v:.1f}" if isinstance(v, float) else str(v)


def summary_metric(report: dict) -> str:
    return SUMMARY_METRIC[report["kind"]]


def _prefix(names: list[str]) -> str:
    """The ``<benchmark>/`` part every set name shares (shown once, in the title)."""
    heads = {n.split("/", 1)[0] for n in names}
    return f"{heads.pop()}/" if len(heads) == 1 and all("/" in n for n in names) and len(names) > 1 else ""


def report_table(report: dict) -> Table:
    """The sets of a report, compact enough for an 80-column terminal: set names without their shared prefix,
    never cut."""
    cols = COLUMNS[report["kind"]]
    prefix = _prefix(list(report["sets"]))
    scores = f", scores {report['score_policy']}" if report["kind"] == "boxes" else ""
    t = Table(title=f"{report['benchmark']}: {report['model']} ({report['family']}, {report['protocol']}{scores}, "
                    f"mode {report.get('mode', 'default')})", box=None, padding=(0, 0, 0, 1), pad_edge=False,
              title_justify="left")
    t.add_column(f"set ({prefix})" if prefix else "set", no_wrap=True, min_width=max(
        (len(n) - len(prefix) for n in report["sets"]), default=3))
    for c in cols:
        t.add_column(HEADERS.get(c, c), justify="right")
    for name, m in report["sets"].items():
        t.add_row(name[len(prefix):], *(_fmt(m.get(c), c) for c in cols))
    if report.get("average"):
        t.add_row("[bold]average[/]", *(_fmt(report["average"].get(c), c) for c in cols))
    return t


def reference_lines(report: dict) -> list[str]:
    """The paper's numbers beside the measured one, or why there are none."""
    ref = report.get("paper_reference") or {}
    if not ref:
        return []
    if ref.get("models"):
        return [f"paper {ref['table']} ({ref['metric']}, percent; base -> + Vision-R1): " + "; ".join(
            f"{m} {b} -> {v}" for m, (b, v) in ref["models"].items()) + f". Measured here: {_fmt(report['headline'])}."]
    return [f"paper {ref['table']}: no reference printed ({ref['note']})."]


def markdown(report: dict) -> str:
    cols = COLUMNS[report["kind"]]
    lines = [f"# {report['benchmark']} evaluation", "",
             f"- model: `{report['model']}` (family {report['family']})",
             f"- mode: {report.get('mode', 'default')}",
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
    if report.get("differences"):
        what = ("not reproduced by this run" if report.get("mode") == "released" else
                "what this run does differently from the released evaluation (`--mode released` reproduces it)")
        lines += ["", f"Differences ({what}):", "", *[f"- {d}" for d in report["differences"]]]
    refs = reference_lines(report)
    return "\n".join(lines + (["", *refs] if refs else [])) + "\n"


def write_report(report: dict, out: Path) -> None:
    write_json(out / "report.json", report, indent=2)
    write_bytes(out / "report.md", markdown(report).encode())


def load_report(path: Path) -> dict:
    p = Path(path)
    p = p / "report.json" if p.is_dir() else p
    if not p.is_file():
        raise VisionR1Error(f"no report at {p} (run `visionr1 eval ...` first)")
    try:
        report = json.loads(p.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise VisionR1Error(f"cannot read {p}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise VisionR1Error(f"{p}: not UTF-8 text (byte {exc.start}): not a visionr1 report") from None
    except json.JSONDecodeError as exc:
        raise VisionR1Error(f"{p}:{exc.lineno}: malformed report ({exc.msg})") from None
    if not isinstance(report, dict):
        raise VisionR1Error(f"{p}: a JSON {type(report).__name__}, not a visionr1 report")
    for key, kind in (("kind", str), ("benchmark", str), ("sets", dict)):
        if not isinstance(report.get(key), kind):
            raise VisionR1Error(f"{p}: key '{key}' is missing or not a {kind.__name__}: not a visionr1 report")
    if report["kind"] not in SUMMARY_METRIC:
        raise VisionR1Error(f"{p}: unknown report kind {report['kind']!r} ({', '.join(SUMMARY_METRIC)})")
    if not all(isinstance(m, dict) for m in report["sets"].values()) or not isinstance(report.get("average"),
                                                                                      (dict, type(None))):
        raise VisionR1Error(f"{p}: 'sets' and 'average' must hold metrics objects: not a visionr1 report")
    metric = SUMMARY_METRIC[report["kind"]]
    for name, m in [*report["sets"].items(), ("average", report.get("average") or {})]:
        v = m.get(metric)
        if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v)):
            raise VisionR1Error(f"{p}: {metric} of '{name}' is {v!r}, not a number")
    return report


def incompatibilities(reports: list[dict], names: list[str]) -> list[str]:
    """Why the numbers of ``reports`` are not comparable (empty when they are): settings that move the numbers,
    and set lists that differ (their averages are over different sets). Reports of different kinds or
    benchmarks are an error."""
    for field in ("kind", "benchmark"):
        values = {r[field] for r in reports}
        if len(values) > 1:
            raise VisionR1Error(f"cannot compare reports of different {field}s ({', '.join(sorted(values))})")
    out = []
    for field, label in COMPARABLE.items():
        values = [r.get(field, "default" if field == "mode" else None) for r in reports]
        if len(set(map(str, values))) > 1:
            out.append(f"{label}: " + " vs ".join(f"{v} ({n})" for v, n in zip(values, names, strict=True)))
    set_lists = [sorted(r["sets"]) for r in reports]
    if any(s != set_lists[0] for s in set_lists):
        out.append("sets: " + " vs ".join(f"{len(s)} ({n})" for s, n in zip(set_lists, names, strict=True))
                   + " (the averages are over different sets)")
    return out


def compare_table(reports: list[dict], names: list[str]) -> Table:
    """Headline metric of each set in each report, with the difference to the first (like paper Table 1). A Δ
    between runs that are not comparable (``incompatibilities``) is marked ``*``, and is not given for averages
    over different sets."""
    metric = summary_metric(reports[0])
    problems = incompatibilities(reports, names)
    same_sets = not any("sets:" in p for p in problems)
    mark = "*" if problems else ""
    sets = list(dict.fromkeys(s for r in reports for s in [*r["sets"], *(["average"] if r.get("average") else [])]))
    prefix = _prefix([s for s in sets if s != "average"])
    t = Table(title=f"{metric} (percent); Δ against {names[0]}", box=None, padding=(0, 0, 0, 1), pad_edge=False,
              caption=("* not comparable: " + "; ".join(problems)) if problems else None, caption_justify="left")
    t.add_column(f"set ({prefix})" if prefix else "set", no_wrap=True)
    for i, n in enumerate(names):
        t.add_column(n, justify="right")
        if i:
            t.add_column("Δ", justify="right")
    for s in sets:
        vals = [(r["average"] if s == "average" else r["sets"].get(s, {})).get(metric) if
                (s != "average" or r.get("average")) else None for r in reports]
        row = [s if s == "average" else s[len(prefix):]]
        for i, v in enumerate(vals):
            row.append(_fmt(v))
            if i:
                row.append("-" if v is None or vals[0] is None or (s == "average" and not same_sets)
                           else f"{v - vals[0]:+.1f}{mark}")
        t.add_row(*row)
    return t

