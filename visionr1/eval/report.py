"""report.json / report.md, rich tables, the paper's reference numbers, and comparisons between runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

from rich.table import Table

from visionr1.data.layouts import ODINW_13, ODINW_OOD
from visionr1.errors import VisionR1Error
from visionr1.eval.paper import base_and_tuned
from visionr1.inputs import printable
from visionr1.io import write_bytes, write_json

# The paper's headline numbers (percent) of the two base models, from visionr1/eval/paper_tables.yaml: per benchmark
# the table, the metric, the sets its number is over, and {model: (base, + Vision-R1)}; PAPER_SFT: Qwen2.5-VL-7B
# + SFT (Table 1). Reports print every row of the tables per set (``visionr1.eval.paper.reference``).
PAPER = {
    bench: {"table": table, "metric": metric, "sets": sets,
            "models": {m: base_and_tuned(bench, m)[::2] for m in ("Qwen2.5-VL-7B", "Griffon-G-7B")}}
    for bench, table, metric, sets in (
        ("coco", "Table 1", "mAP", ("coco/val2017",)),
        ("odinw", "Table 1", "average mAP", tuple(f"odinw/{n}" for n in ODINW_13)),
        ("ood", "Table 2", "average mAP", tuple(f"odinw/{n}" for n in ODINW_OOD)))}
PAPER_SFT = {bench: base_and_tuned(bench, "Qwen2.5-VL-7B")[1] for bench in ("coco", "odinw", "ood")}
COLUMNS = {"boxes": ("mAP", "AP50", "AP75", "AR100", "reward", "queries", "parse_failures", "unknown_labels"),
           "rec": ("Acc@0.5", "reward", "queries", "parse_failures"),
           "qa": ("Overall", "questions", "type")}
HEADERS = {"parse_failures": "unread", "unknown_labels": "unknown"}  # short column titles: 80 columns fit
SUMMARY_METRIC = {"boxes": "mAP", "rec": "Acc@0.5", "qa": "Overall"}
# report fields two runs must share for their numbers to be comparable
COMPARABLE = {"protocol": "protocol", "mode": "mode", "score_policy": "score policy", "min_pixels": "min_pixels",
              "max_pixels": "max_pixels", "limit": "query limit", "evaluator": "evaluator", "family": "family"}
# decoding settings that move the answers (compared where both reports record them; an earlier run's answers
# re-scored record only max_new_tokens)
DECODING = ("max_new_tokens", "repetition_penalty", "greedy", "do_sample", "temperature", "top_p", "top_k", "dtype")


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


FAMILY_ROWS = ("Qwen2.5-VL-7B", "Griffon-G-7B")  # the paper's two base models: base -> + SFT -> + Vision-R1


def _reference_columns(ref: dict) -> list[tuple[str, str]]:
    """(set or "average", metric) of every column of the paper's table in a report."""
    cols = [(s, k) for s, models in ref["sets"].items() for k in next(iter(models.values()), {})]
    return cols + [("average", k) for k in next(iter(ref["average"].values()), {})]


def _measured(report: dict, where: str, metric: str):
    m = report.get("average") if where == "average" else report["sets"].get(where)
    return (m or {}).get(metric)


def reference_lines(report: dict) -> list[str]:
    """The paper's headline numbers (the two base models: base -> + SFT -> + Vision-R1) beside the measured one,
    whether they are comparable, and where the full per-set table is."""
    ref = report.get("paper_reference") or {}
    if not ref:
        return []
    tables = ", ".join(ref["tables"])
    if not ref["sets"] and not ref["average"]:
        return [f"paper {tables}: {ref['note']}."]
    head = ("average", ref["metric"]) if ref["average"] else next(iter(_reference_columns(ref)))
    source = ref["average"] if head[0] == "average" else ref["sets"][head[0]]
    chain = "; ".join(" -> ".join(_fmt(source[m][head[1]]) for m in (b, f"{b} + SFT", f"{b} + Vision-R1")) + f" ({b})"
                      for b in FAMILY_ROWS if all(m in source for m in (b, f"{b} + SFT", f"{b} + Vision-R1")))
    where = "average" if head[0] == "average" else head[0]
    status = ref["note"] or "comparable"
    return [f"paper {tables}, {where} {head[1]} (base -> + SFT -> + Vision-R1): {chain}; measured here: "
            f"{_fmt(_measured(report, *head))}. {status[0].upper()}{status[1:]}. Every model row per set: report.md."]


def reference_markdown(report: dict) -> list[str]:
    """The paper's tables for the run's sets, every model row, with the measured row first."""
    ref = report.get("paper_reference") or {}
    if not ref:
        return []
    lines = ["", f"## The paper's numbers ({', '.join(ref['tables'])}; {ref['metric']}, percent)", ""]
    if not ref["sets"] and not ref["average"]:
        return [*lines, f"None for this run: {ref['note']}."]
    if ref["note"]:
        lines += [f"**{ref['note'][0].upper()}{ref['note'][1:]}.**", ""]
    lines += [f"{ref['protocol'][0].upper()}{ref['protocol'][1:]}.", ""]
    cols = _reference_columns(ref)
    multi = len({k for _, k in cols}) > 1
    prefix = _prefix([s for s, _ in cols if s != "average"] * 2)
    lines += [f"| model{f' (sets: {prefix})' if prefix else ''} | "
              + " | ".join(f"{s.removeprefix(prefix)} {k}" if multi else s.removeprefix(prefix) for s, k in cols)
              + " |",
              "|---|" + "---|" * len(cols),
              "| **measured here** | " + " | ".join(_fmt(_measured(report, s, k)) for s, k in cols) + " |"]
    models = list(dict.fromkeys([*(m for cell in ref["sets"].values() for m in cell), *ref["average"]]))
    for m in models:
        cells = [(ref["average"] if s == "average" else ref["sets"][s]).get(m, {}).get(k) for s, k in cols]
        lines.append(f"| {m} | " + " | ".join(_fmt(v) for v in cells) + " |")
    if not ref["average"] and report.get("average"):
        lines += ["", "No paper average: the run does not cover every set the paper's average is over."]
    return [*lines, "", f"Source: {' '.join(ref['source'].split())}"]


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
                "what this run does differently from the paper's evaluation" if report.get("kind") == "qa" else
                "what this run does differently from the released evaluation (`--mode released` reproduces it)")
        lines += ["", f"Differences ({what}):", "", *[f"- {d}" for d in report["differences"]]]
    return "\n".join(lines + reference_markdown(report)) + "\n"


def write_report(report: dict, out: Path) -> None:
    write_json(out / "report.json", report, indent=2)
    write_bytes(out / "report.md", printable(markdown(report)).encode())  # a path not in UTF-8: in escapes


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
    for key in DECODING:
        values = [(r.get("decoding") or {}).get(key) for r in reports]
        if None not in values and len(set(map(str, values))) > 1:
            out.append(f"decoding {key}: " + " vs ".join(f"{v} ({n})" for v, n in zip(values, names, strict=True)))
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

