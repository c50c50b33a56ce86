"""The paper's result tables (``paper_tables.yaml``, Tables 1, 2, 6, 9 and 11 as printed) and the reference a
report prints beside its measured numbers: per set, for every model row the paper has, and whether the two are
comparable at all."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

TABLES_FILE = Path(__file__).with_name("paper_tables.yaml")
# benchmark -> the tables its reference comes from (the first is the per-set one), and the metric each cell is
COCO_METRICS = ("AP50", "AP75", "mAP")  # in the paper's column order
SOURCES = {"coco": ("Table 1",), "odinw": ("Table 9", "Table 1"), "ood": ("Table 2",),
           "qa": ("Table 11", "Table 6")}
METRIC = {"coco": "mAP", "odinw": "mAP", "ood": "mAP", "qa": "Overall"}
AVERAGE = "odinw/average"
# the COCO info.contributor of every file `visionr1 synth world` writes
SYNTHETIC_CONTRIBUTOR = "visionr1 synthetic world"


@cache
def tables() -> dict:
    """The document of ``paper_tables.yaml``: ``source``, ``notes`` and ``tables`` (name -> ``title``,
    ``columns`` {our name: the paper's}, ``rows`` {model: values in column order}, optional ``average``)."""
    return yaml.safe_load(TABLES_FILE.read_text(encoding="utf-8"))


def table(name: str) -> dict[str, dict[str, object]]:
    """Table ``name`` as {model: {column: value}} (None where the paper prints "-")."""
    t = tables()["tables"][name]
    cols = list(t["columns"])
    return {model: {c: float(v) if isinstance(v, int) else v for c, v in zip(cols, values, strict=True)}
            for model, values in t["rows"].items()}


def base_and_tuned(benchmark: str, base: str) -> tuple[float, float, float]:
    """(base, + SFT, + Vision-R1) of model ``base`` on the headline number of ``coco`` (Table 1 mAP) or ``odinw``
    (Table 1's ODinW-13 average) or ``ood`` (Table 2's average)."""
    name, col = {"coco": ("Table 1", "coco/mAP"), "odinw": ("Table 1", AVERAGE), "ood": ("Table 2", AVERAGE)}[benchmark]
    t = table(name)
    return tuple(t[m][col] for m in (base, f"{base} + SFT", f"{base} + Vision-R1"))


def _cells(benchmark: str, sets: list[str]) -> tuple[dict, dict, list[str]]:
    """Per set {set: {model: {metric: value}}} for the run's sets the tables report, the average {model: {metric:
    value}} when the run covers every set of the per-set table, and the tables used. ODinW: Table 9 per set,
    Table 1 adds the averages of the models Table 9 has no row for (GroundingDINO, Gemini 1.5 Pro, ...)."""
    if benchmark == "coco":
        if "coco/val2017" not in sets:
            return {}, {}, []
        return {"coco/val2017": {m: {k: row[f"coco/{k}"] for k in COCO_METRICS}
                                 for m, row in table("Table 1").items() if row["coco/mAP"] is not None}}, {}, [
            "Table 1"]
    metric = METRIC[benchmark]
    first = tables()["tables"][SOURCES[benchmark][0]]["columns"]
    covered = all(c in sets for c in first if c != AVERAGE)
    per_set: dict[str, dict] = {}
    average: dict[str, dict] = {}
    used: list[str] = []
    seen: set[str] = set()
    for name in SOURCES[benchmark]:
        columns = tables()["tables"][name]["columns"]
        new = {m: row for m, row in table(name).items() if m not in seen}
        seen |= set(new)
        hits = [c for c in columns if c in sets and c != AVERAGE and not (benchmark == "odinw" and name == "Table 1")]
        for col in hits:
            per_set.setdefault(col, {}).update({m: {metric: row[col]} for m, row in new.items()})
        averaged = {m: {metric: row[AVERAGE]} for m, row in new.items()
                    if covered and AVERAGE in columns and row[AVERAGE] is not None}
        average.update(averaged)
        if hits or averaged:
            used.append(name)
    return per_set, average, used


def is_synthetic(coco_docs: list[dict | None]) -> bool:
    """Whether any of the sets' COCO documents was written by ``visionr1 synth world``."""
    return any(((doc or {}).get("info") or {}).get("contributor") == SYNTHETIC_CONTRIBUTOR for doc in coco_docs)


def reference(benchmark: str, sets: list[str], limit: int | None, *, mode: str, synthetic: bool) -> dict:
    """The paper's numbers a report sets beside its own: ``sets`` {set: {model: {metric: value}}} for the run's
    sets the paper reports, ``average`` {model: {metric: value}} only when the run covers every set of the
    table, and ``comparable`` with a ``note`` saying why not (synthetic data, ``--limit``, the protocol)."""
    if benchmark not in SOURCES:
        return {}
    per_set, average, used = _cells(benchmark, sets)
    if not per_set and not average:
        return {"tables": list(SOURCES[benchmark]), "metric": METRIC[benchmark], "comparable": False, "sets": {},
                "average": {}, "note": f"the paper's {', '.join(SOURCES[benchmark])} report none of this run's sets"}
    reasons = []
    if synthetic:
        reasons.append("not comparable, for scale only: this run is on visionr1's synthetic world, not the paper's "
                       "data")
    if limit is not None:
        reasons.append(f"--limit {limit}: a subset of each set, the paper's numbers are over every image")
    if benchmark == "qa":
        protocol = "the paper's QA numbers come from VLMEvalKit with exact matching, as this run's do"
    elif mode == "released":
        protocol = ("the paper's numbers were produced with the released evaluation protocol "
                    "(eval_localization.py), which this run follows (see the differences listed); the Griffon-G "
                    "rows scored boxes with token probabilities, which this run does not")
    else:
        protocol = ("the paper's numbers were produced with the released evaluation protocol, not with this run's "
                    "default mode: the differences listed move the numbers (`--mode released` reproduces it)")
    return {"tables": used, "metric": "mAP / AP50 / AP75" if benchmark == "coco" else METRIC[benchmark],
            "comparable": not reasons, "note": "; ".join(reasons) or None, "protocol": protocol,
            "source": tables()["source"], "sets": per_set, "average": average}
