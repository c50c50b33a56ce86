"""FiftyOne datasets of evaluation runs (gt, each run's boxes, reward terms, failure-mode tags) and of training
mixes. Building a dataset again under the same name replaces it."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from visionr1.boxes import as_boxes
from visionr1.errors import VisionR1Error
from visionr1.eval.benchmarks import make_sets
from visionr1.eval.metrics import LabelLookup, reward_terms, score_of
from visionr1.eval.report import load_report
from visionr1.eval.runner import prediction_store
from visionr1.eval.sets import Query
from visionr1.formats.adapters import ADAPTERS
from visionr1.images import check_image
from visionr1.inputs import is_utf8, printable, resolved
from visionr1.review.db import import_fiftyone
from visionr1.review.failures import FAILURE_MODES, failure_modes

Advance = Callable[[int], None]
PARTIAL = ".partial-"  # a dataset being built is named <name>.partial-<8 hex> until it replaces <name>
NOT_UTF8 = "image path is not valid UTF-8 text (FiftyOne cannot store it; rename the file or folder to see it)"
HEADLINE_NOTE = ("headline mAP / Acc@0.5 comes from `visionr1 eval` (report.json); FiftyOne's per-box TP/FP/FN "
                 "are for browsing: it ranks tied confidences differently from COCOeval")


def field_name(text: str, taken: set[str]) -> str:
    """A FiftyOne field name from ``text`` (letters, digits, underscores; not starting with a digit), unique."""
    base = re.sub(r"\W+", "_", text).strip("_") or "run"
    base = f"run_{base}" if base[0].isdigit() else base
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def detections(fo, boxes, labels, width: int, height: int, confidences=None):
    """``fo.Detections`` of xyxy pixel boxes (FiftyOne stores relative ``[x, y, w, h]``)."""
    b = as_boxes(boxes)
    rel = np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1) / [width, height, width, height]
    conf = [None] * len(b) if confidences is None else confidences
    return fo.Detections(detections=[fo.Detection(label=lab, bounding_box=r, confidence=c)
                                     for lab, r, c in zip(labels, rel.tolist(), conf, strict=True)])


def _pred_labels(q: Query, labels: list[str], categories: dict[int, str]) -> list[str]:
    """What the metrics count a box as: the asked category of a single-target query, otherwise the category its
    label names (``LabelLookup``), or the label itself when it names none."""
    if len(q.categories) == 1:
        return [q.categories[0]] * len(labels)
    lookup = LabelLookup(categories)
    return [categories[cid] if (cid := lookup(lab)) is not None else lab for lab in labels]


# what review reads from a report.json beyond what ``load_report`` checks, with the types it needs
REVIEW_KEYS = {"data": (dict,), "family": (str,), "protocol": (str, type(None)), "model": (str,),
               "min_pixels": (int,), "max_pixels": (int,), "headline": (int, float, type(None)),
               "limit": (int, type(None)), "mode": (str,)}


def _report_path(run: Path) -> Path:
    return run / "report.json" if run.is_dir() else run


def _check_report(run: Path, report: dict) -> None:
    """One line naming ``run``'s report.json when it lacks something review needs (a report of an older visionr1,
    or edited by hand), instead of a ``KeyError`` halfway through."""
    path = _report_path(run)
    for key, kinds in {**REVIEW_KEYS, **({"score_policy": (str,)} if report["kind"] == "boxes" else {})}.items():
        value = report.get(key, "default" if key == "mode" else None if key == "limit" else KeyError)
        if not isinstance(value, kinds) or isinstance(value, bool):
            raise VisionR1Error(f"{path}: key '{key}' is missing or not a {' or '.join(k.__name__ for k in kinds)}: "
                                "not a complete visionr1 eval report (run `visionr1 eval` again into that folder)")
    if report["family"] not in ADAPTERS:
        raise VisionR1Error(f"{path}: unknown model family '{report['family']}' (known: {', '.join(ADAPTERS)})")


@dataclass
class EvalRuns:
    """Evaluation runs read and checked for review: their reports, the sets of the first, each run's prediction
    records by set, and how many prediction lines of each run were unreadable (skipped)."""

    paths: list[Path]
    reports: list[dict]
    sets: list
    stores: list[dict[str, dict[str, dict]]]
    unreadable: list[int]


def load_eval_runs(runs: list[Path]) -> EvalRuns:
    """Read and check everything ``review_eval`` needs from ``runs`` (eval output folders; the first decides the
    sets), so that a bad input is one line before any dataset or progress bar exists: the reports, the sets'
    annotations and images, the prediction files (an unreadable line is skipped and counted, as eval's resume
    does). An image whose path is not valid UTF-8 (its bytes are not: see ``visionr1.inputs.is_utf8``) is left
    to ``review_eval`` to skip and count, as FiftyOne cannot store the path."""
    runs = [Path(r) for r in runs]
    reports = [load_report(r) for r in runs]
    base = reports[0]
    if base["kind"] not in ("boxes", "rec"):
        raise VisionR1Error(f"{runs[0]} is a '{base['kind']}' run: only box benchmarks and REC have boxes to review")
    if "data" not in base:
        raise VisionR1Error(f"{runs[0]}/report.json has no data description (written by an older visionr1): run "
                            "`visionr1 eval` again into that folder (answered queries are kept)")
    for run, r in zip(runs, reports, strict=True):
        _check_report(run, r)
    for path, r in zip(runs[1:], reports[1:], strict=True):
        if (r["benchmark"], r.get("protocol"), sorted(r["sets"])) != (base["benchmark"], base["protocol"],
                                                                     sorted(base["sets"])):
            raise VisionR1Error(f"{path} evaluates other sets than {runs[0]} ({r['benchmark']}, {r.get('protocol')}, "
                                f"{len(r['sets'])} sets): compare runs of the same benchmark and protocol")
    sets = _sets_of(runs[0], base)
    for path, r in zip(runs[1:], reports[1:], strict=True):
        _check_same_data(path, r, runs[0], base, sets)
    stores, unreadable = [], []
    for run in runs:
        found, skipped = {}, 0
        for es in sets:
            store = prediction_store(run, es.name)
            found[es.name] = store.read()
            skipped += store.skipped
        stores.append(found)
        unreadable.append(skipped)
    for path in dict.fromkeys(q.image for es in sets for q in es.queries if q.qid in stores[0][es.name]):
        if is_utf8(path):
            check_image(path)
    return EvalRuns(runs, reports, sets, stores, unreadable)


def _sets_of(run: Path, report: dict) -> list:
    """The evaluation sets a run's report describes (its benchmark, data, family, protocol, limit and mode)."""
    try:
        return make_sets(report["benchmark"], report["data"], report["family"], report["protocol"],
                         report.get("limit"), report.get("mode", "default"))
    except (KeyError, TypeError) as exc:  # a data description without a path the benchmark needs
        raise VisionR1Error(f"{_report_path(run)}: the data description lacks {exc}: not a complete visionr1 "
                            "eval report (run `visionr1 eval` again into that folder)") from None


def _check_same_data(run: Path, report: dict, base: Path, base_report: dict, sets: list) -> None:
    """A run compared with ``base`` answered the same data: its queries (from its own report's data description)
    show the same image files, sizes and ground truth under the ids they share, else its answers would be drawn
    on another image. The family, mode and model may differ (that is what a comparison is for)."""
    if report.get("data") == base_report["data"]:
        return
    try:
        own = _sets_of(run, report)
    except VisionR1Error as exc:
        raise VisionR1Error(f"{run} answered other data than {base}, which cannot be read to compare: {exc}") from None
    theirs = {es.name: {q.qid: q for q in es.queries} for es in own}
    for es in sets:
        other = [q.qid for q in es.queries if (t := theirs.get(es.name, {}).get(q.qid)) is not None
                 and (Path(t.image).name, t.width, t.height, t.gt) != (Path(q.image).name, q.width, q.height, q.gt)]
        if other:
            raise VisionR1Error(f"{run} answered other data than {base}: {len(other)} queries of set {es.name} show "
                                f"another image or ground truth (e.g. {other[0]}); compare runs of the same data")


def review_eval(runs: list[Path] | EvalRuns, name: str | None = None, advance: Advance | None = None):
    """A FiftyOne dataset of ``runs`` (eval output folders, or ``load_eval_runs`` of them; the first decides the
    sets): one sample per query the first run answered. Returns ``(dataset, summary)``. Skipped and counted in
    ``summary["skipped"]``: what the sets left out (as in the eval report) and queries whose image path is not
    valid UTF-8; text FiftyOne cannot store (a lone surrogate a model wrote) is kept as an escape."""
    loaded = runs if isinstance(runs, EvalRuns) else load_eval_runs(runs)
    runs, reports, sets, stores = loaded.paths, loaded.reports, loaded.sets, loaded.stores
    base = reports[0]
    fo = import_fiftyone()
    taken = {"gt", "set", "query_id", "image_id", "prompt", "filepath", "metadata", "tags", "id"}
    fields = [field_name(resolved(r).name, taken) for r in runs]

    queries = [(es, q) for es in sets for q in es.queries if q.qid in stores[0][es.name]]
    skipped = sum(len(es.queries) for es in sets) - len(queries)
    left_out: Counter[str] = Counter()
    for es in sets:
        left_out.update(es.skipped)
    unnamed = [q.image for _, q in queries if not is_utf8(q.image)]
    if unnamed:
        left_out[f"queries whose {NOT_UTF8}, first {printable(unnamed[0])}"] = len(unnamed)
        queries = [(es, q) for es, q in queries if is_utf8(q.image)]
    samples = [fo.Sample(filepath=q.image, metadata=fo.ImageMetadata(width=q.width, height=q.height), set=es.name,
                         query_id=q.qid, image_id=q.image_id, prompt=q.prompt,
                         gt=detections(fo, [b for _, b in q.gt], [lab for lab, _ in q.gt], q.width, q.height))
               for es, q in queries]
    summary = {"dataset": None, "benchmark": base["benchmark"], "samples": len(samples),
               "skipped_unanswered": skipped, "skipped": dict(left_out), "note": HEADLINE_NOTE, "runs": {}}
    for field, run, report, store, unreadable in zip(fields, runs, reports, stores, loaded.unreadable, strict=True):
        recs = [store[es.name].get(q.qid) for es, q in queries]
        terms = reward_terms([q for _, q in queries], [r["raw"] if r else "" for r in recs], report["family"],
                             report["min_pixels"], report["max_pixels"], report.get("mode") == "released")
        tags: Counter = Counter()
        for s, (es, q), rec, t in zip(samples, queries, recs, terms, strict=True):
            if rec is None:
                s.tags.append(f"{field}:unanswered")
                tags["unanswered"] += 1
                continue
            labels = _pred_labels(q, rec["labels"], es.categories)
            s[field] = detections(fo, rec["boxes"], [printable(lab) for lab in labels], q.width, q.height,
                                  [score_of(k, report["score_policy"]) for k in range(len(labels))]
                                  if report["kind"] == "boxes" else None)
            s[f"{field}_answer"] = printable(rec["raw"])
            s[f"{field}_parse_ok"] = bool(rec["template_ok"])
            for term, value in t.as_dict().items():
                s[f"{field}_{'reward' if term == 'total' else term}"] = float(value)
            modes = failure_modes(rec["boxes"], labels, [b for _, b in q.gt], [lab for lab, _ in q.gt],
                                  template_ok=rec["template_ok"])
            s.tags.extend(f"{field}:{m}" for m in modes)
            tags.update(modes)
        answered = [t for t, r in zip(terms, recs, strict=True) if r]
        summary["runs"][field] = {
            "run": str(run), "model": report["model"], "headline": report["headline"],
            "headline_metric": "Acc@0.5" if report["kind"] == "rec" else "mAP", "answered": len(answered),
            "unreadable_lines": unreadable,
            "tags": {m: tags[m] for m in (*FAILURE_MODES, "unanswered")},
            "mean_reward": {k: round(float(np.mean([getattr(t, k) for t in answered])), 4) if answered else None
                            for k in ("format", "recall", "precision", "total")}}
        if advance:
            advance(1)
    with _new_dataset(fo, name or f"visionr1-eval-{fields[0]}", samples, checked=True) as dataset:
        for field in fields:
            if dataset.has_field(field):
                key = f"{field}_eval"
                dataset.evaluate_detections(field, gt_field="gt", eval_key=key, iou=0.5, progress=False)
                summary["runs"][field].update({k: int(dataset.sum(f"{key}_{k}")) for k in ("tp", "fp", "fn")})
            if advance:
                advance(1)
        dataset.app_config.color_scheme = colour_scheme(fo, fields)
        dataset.info = {"created_by": "visionr1 review eval",
                        "runs": {f: printable(str(r)) for f, r in zip(fields, runs, strict=True)},
                        "note": HEADLINE_NOTE}
        dataset.save()
    summary["dataset"] = dataset.name
    return dataset, summary


GT_COLOUR = "#2ca02c"  # ground truth green; each run's predictions another colour of matplotlib's tab10, not green
RUN_COLOURS = ("#d62728", "#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def colour_scheme(fo, fields: list[str]):
    """The App's colours by field: the ground truth and each run's boxes distinct at a glance (FiftyOne's default
    colours by label value, so gt and predictions of one class look the same)."""
    return fo.ColorScheme(color_by="field", fields=[{"path": "gt", "fieldColor": GT_COLOUR}] + [
        {"path": f, "fieldColor": RUN_COLOURS[i % len(RUN_COLOURS)]} for i, f in enumerate(fields)])


@contextmanager
def _new_dataset(fo, name: str, samples: list, checked: bool = False):
    """A persistent FiftyOne dataset ``name`` holding ``samples``, whose images are checked first unless
    ``checked`` (one line naming a file that is not a usable image). It is built under a temporary name and
    replaces a dataset called ``name`` only when the block ends: if anything fails (or is interrupted) before,
    the partial dataset is deleted and the earlier one is left as it was. Until then it is not persistent, so
    that a build killed outright (SIGKILL, power loss) leaves nothing either: FiftyOne deletes non-persistent
    datasets when the last process using its database exits."""
    for path in () if checked else dict.fromkeys(s.filepath for s in samples):
        check_image(path)
    dataset = fo.Dataset(f"{name}{PARTIAL}{uuid.uuid4().hex[:8]}")
    try:
        dataset.add_samples(samples, progress=False)
        yield dataset
    except BaseException:
        dataset.delete()
        raise
    dataset.persistent = True
    if fo.dataset_exists(name):
        fo.delete_dataset(name)
    dataset.name = name
    dataset.reload()  # without it the App, started afterwards, stayed on "Pixelating..." (2 of 2; cause unknown)


def _image_path(row: dict, mix: Path) -> str:
    """A file FiftyOne can show: the sample's image path, or its embedded bytes written under the mix."""
    image = row["image"]
    if isinstance(image, str):
        return image
    if image.get("path") and Path(image["path"]).is_file():
        return image["path"]
    suffix = Path(image.get("path") or "").suffix or ".png"
    out = mix / "review-images" / (re.sub(r"[^A-Za-z0-9._-]+", "_", row["id"]) + suffix)
    if not out.is_file():
        out.parent.mkdir(exist_ok=True)
        out.write_bytes(image["bytes"])
    return str(out)


def review_data(mix: Path, name: str | None = None, limit: int | None = None, advance: Advance | None = None):
    """A FiftyOne dataset of a built training mix: gt, task, difficulty, negative, prompt. Returns
    ``(dataset, summary)``."""
    from datasets import Image

    from visionr1.data.build import load_manifest
    from visionr1.data.stats import load_mix

    load_manifest(mix)
    rows = load_mix(mix)
    if isinstance(rows.features["image"], Image):
        rows = rows.cast_column("image", Image(decode=False))
    if limit is not None:
        rows = rows.select(range(min(limit, len(rows))))
    fo = import_fiftyone()
    samples = []
    for row in rows:
        samples.append(fo.Sample(
            filepath=_image_path(row, Path(mix)), metadata=fo.ImageMetadata(width=row["width"], height=row["height"]),
            gt=detections(fo, [g["bbox"] for g in row["gt"]], [g["label"] for g in row["gt"]], row["width"],
                          row["height"]),
            mix_id=row["id"], source=row["source"], task=row["task"], difficulty=row["difficulty"],
            negative=row["negative"], problem=row["problem"], categories=list(row["categories"]),
            num_instances=row["num_instances"], template_id=row["template_id"],
            tags=[row["task"], row["difficulty"], *(["negative"] if row["negative"] else [])]))
        if advance:
            advance(1)
    with _new_dataset(fo, name or f"visionr1-data-{field_name(resolved(mix).name, set())}",
                      samples) as dataset:
        dataset.info = {"created_by": "visionr1 review data", "mix": str(mix)}
        dataset.save()
    summary = {"dataset": dataset.name, "samples": len(samples),
               "task": dict(Counter(s["task"] for s in samples)),
               "difficulty": dict(Counter(s["difficulty"] for s in samples)),
               "negative": sum(bool(s["negative"]) for s in samples),
               "boxes": sum(len(s["gt"].detections) for s in samples)}
    return dataset, summary
