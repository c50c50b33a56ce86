"""Run an evaluation: answer every query (sharded over processes, resumable), score, report."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from visionr1 import __version__
from visionr1.errors import VisionR1Error
from visionr1.eval.metrics import ANY_LABEL, box_metrics, mean_reward, rec_metrics
from visionr1.eval.modes import differences
from visionr1.eval.paper import is_synthetic, reference
from visionr1.eval.predictions import PredictionStore, write_records
from visionr1.eval.report import write_report
from visionr1.eval.sets import EvalSet, Query, query_geometry
from visionr1.formats import get_adapter, split_think
from visionr1.inputs import read_json
from visionr1.io import record_differences, write_json


def prediction_store(out: Path, set_name: str) -> PredictionStore:
    """Where a run in ``out`` keeps the predictions of one set: a folder named after the set; a name longer than
    a file name may be (a set named after a long category name) is cut and told apart by its hash."""
    name = re.sub(r"[^A-Za-z0-9._+-]+", "_", set_name)
    if len(name) > MAX_NAME:
        name = f"{name[:MAX_NAME - 17]}-{hashlib.sha256(set_name.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"
    return PredictionStore(out / "predictions" / name)


MAX_NAME = 120  # characters of a predictions folder name (file systems allow 255 bytes)


RUN_FILE = "run.json"
# the folders that hold answers: the box and REC benchmarks' predictions, VLMEvalKit's work folder (eval qa)
ANSWERS = ("predictions/*/part-*.jsonl", "vlmeval/*")


def hub_snapshot(model: str) -> Path | None:
    """The folder of the hub cache that the hub id ``model`` loads from (its ``main`` snapshot), or None when it
    is not cached (or is no hub id)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        hit = try_to_load_from_cache(model, "config.json")
    except ValueError:  # not a valid repo id
        return None
    return Path(hit).parent if isinstance(hit, str) else None


def model_fingerprint(model: str | None) -> str | None:
    """A cheap identity of a local checkpoint folder, or of the cached snapshot a hub id loads from: its configs,
    and the names, sizes, first and last 64 KiB of its weight files (a checkpoint retrained into the same folder,
    or a newer snapshot of a hub id, changes it). None for no model or a hub id not cached yet."""
    folder = Path(model) if model else None
    if folder is not None and not folder.is_dir():
        folder = hub_snapshot(str(model))
    if folder is None:
        return None
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):
        if p.name in ("config.json", "generation_config.json", "preprocessor_config.json"):
            h.update(p.name.encode() + p.read_bytes())
        elif p.suffix in (".safetensors", ".bin", ".pt") and p.is_file():
            size = p.stat().st_size
            with open(p, "rb") as f:
                head = f.read(1 << 16)
                f.seek(max(size - (1 << 16), 0))
                tail = f.read()
            h.update(f"{p.name}:{size}".encode() + head + tail)
    return h.hexdigest()[:16]


def claim_run(out: Path, identity: dict, sets: Sequence[EvalSet] = (), write: bool = True) -> None:
    """Make sure the answers already in ``out`` come from the run described by ``identity`` (every setting that
    decides an answer: model and its fingerprint, backend, family, mode, pixel limits, protocol, answer length,
    batch size, model loader, dtype; the caller's dict is the list; a dict value holds one entry per set, and only the
    sets in both must agree) and were given to the queries of ``sets`` (see ``query_key``), then record it in
    ``out/run.json`` (the main process writes). Answers made otherwise are never mixed with this run's: a one-line
    error says what differs, before any model is loaded, and nothing in ``out`` changes."""
    path = out / RUN_FILE
    held = sorted({out / p.relative_to(out).parts[0] for pattern in ANSWERS for p in out.glob(pattern)})
    if held:
        if not path.is_file():
            raise VisionR1Error(f"--out {out} holds answers of an unknown run (no {RUN_FILE}: an older visionr1 did "
                                "not record which model answered): give a new --out")
        before = read_json(path, dict)
        # a hub id the earlier run downloaded had no fingerprint then: this run records its snapshot's
        fresh = before.get("model_fingerprint") is None and before.get("model") == identity.get("model")
        diff = (record_differences(before, identity, per_entry=True, ignore=("model_fingerprint",) if fresh else ())
                or _other_queries(out, sets))
        if diff:
            raise VisionR1Error(f"--out {out} holds answers of another run: {'; '.join(diff)}. Give a new --out, or "
                                f"remove {' and '.join(map(str, held))} to answer everything again")
        # a set added to the folder is recorded beside the earlier ones
        identity = {k: {**before[k], **v} if isinstance(v, dict) and isinstance(before.get(k), dict) else v
                    for k, v in identity.items()}
    if write:
        write_json(path, identity, indent=2)


def query_key(q: Query) -> str:
    """What a query asks: its image (path and size), prompt and categories, and the ground truth (what the oracle
    answers). Recorded with each answer, so that an answer is reused only for the query it answered, not for one
    of the same id in other data (another annotations file or image folder under the same set name)."""
    asked = [q.image, q.width, q.height, q.file_size, q.prompt, q.categories, q.category_id, q.gt]
    return hashlib.sha256(json.dumps(asked).encode()).hexdigest()[:16]


def _other_queries(out: Path, sets: Sequence[EvalSet]) -> list[str]:
    """Per set, the answers in ``out`` to a query of this run's id that asked something else (``query_key``)."""
    diff = []
    for es in sets:
        keys = {q.qid: query_key(q) for q in es.queries}
        other = [qid for qid, rec in prediction_store(out, es.name).read().items()
                 if qid in keys and rec.get("query") != keys[qid]]
        if other:
            diff.append(f"{len(other)} answer{'s' * (len(other) > 1)} of set {es.name} were to other queries (another "
                        f"image, prompt or ground truth under the same id, e.g. {other[0]})")
    return diff


def answer(sets: list[EvalSet], make_backend: Callable[[], object], out: Path, family: str, min_pixels: int,
           max_pixels: int, batch_size: int, rank: int = 0, world: int = 1, progress=None, *,
           pre_resize: bool = False) -> object | None:
    """Answer the unfinished queries this process owns (every ``world``-th one) and stream them to JSONL.
    Returns the backend if one was needed. ``pre_resize``: the backend resizes images as the released
    evaluation does (``Adapter.geometry``)."""
    adapter = get_adapter(family)
    todo = []
    for es in sets:
        store = prediction_store(out, es.name)
        done = store.read()
        # own queries by their position in the set, not among the unfinished ones: the other processes may
        # already be writing, and every process must agree on who answers what
        todo.append((store, [q for q in es.queries[rank::world] if q.qid not in done]))
    total = sum(len(t[1]) for t in todo)
    if not total:
        return None
    backend = make_backend()
    task = progress.add_task("answering", total=total) if progress else None
    for store, queries in todo:
        with store.writer(rank) as f:
            for i in range(0, len(queries), batch_size):
                batch: list[Query] = queries[i: i + batch_size]
                write_records(f, answer_batch(backend, batch, adapter, min_pixels, max_pixels, pre_resize))
                if progress:
                    progress.advance(task, len(batch))
    return backend


def answer_batch(backend, batch: list[Query], adapter, min_pixels: int, max_pixels: int,
                 pre_resize: bool = False) -> list[dict]:
    """The backend's answers to ``batch``, parsed in the family's space: one prediction record per query."""
    texts = backend.generate(batch)
    geos = [query_geometry(adapter, q, min_pixels, max_pixels, pre_resize) for q in batch]
    parsed = adapter.parse_batch(texts, geos)
    records = [{"qid": q.qid, "query": query_key(q), "image_id": q.image_id, "raw": t,
                "boxes": [[round(v, 2) for v in b] for b in p.boxes.tolist()], "labels": list(p.labels),
                "template_ok": p.template_ok, "content_ok": p.content_ok}
               for q, t, p in zip(batch, texts, (parsed[k] for k in range(len(batch))), strict=True)]
    if getattr(adapter, "thinking", False):  # the answer is read after the think block; its length is recorded
        for rec, t in zip(records, texts, strict=True):
            think = split_think(t)[0]
            rec["think_chars"] = None if think is None else len(think.strip())
    return records


def score(benchmark: str, sets: list[EvalSet], out: Path, meta: dict, score_policy: str, evaluator: str) -> dict:
    """Metrics of every set from the stored predictions, their average, the mode and what differs from the
    released evaluation, the paper's reference numbers, and the report files. ``meta`` describes the run (model,
    family, protocol, decoding, min/max_pixels, limit, and optionally mode and batch_size)."""
    kind = sets[0].kind
    mode = meta.get("mode", "default")
    family, pixels = meta["family"], {"min_pixels": meta["min_pixels"], "max_pixels": meta["max_pixels"]}
    adapter = get_adapter(family)

    def geometry(q: Query):
        return query_geometry(adapter, q, pixels["min_pixels"], pixels["max_pixels"], mode == "released")

    results = {}
    for es in sets:
        store = prediction_store(out, es.name)
        records = store.read()
        skipped = {**es.skipped, **({"unreadable prediction lines (their queries were answered again)":
                                     store.skipped} if store.skipped else {})}
        results[es.name] = {**(rec_metrics(es, records) if kind == "rec"
                               else box_metrics(es, records, score_policy, evaluator, mode, geometry)),
                            **mean_reward(es, records, family, **pixels, pre_resize=mode == "released"),
                            **({"skipped": skipped} if skipped else {})}
    keys = ("Acc@0.5", "reward") if kind == "rec" else ("mAP", "AP50", "AP75", "AR100", "reward")
    average = None
    if len(results) > 1:
        average = {k: round(sum(m[k] or 0 for m in results.values()) / len(results), 4 if k == "reward" else 2)
                   for k in keys}
        for k in ("queries", "parse_failures") + (() if kind == "rec" else ("unknown_labels",)):
            average[k] = sum(m[k] for m in results.values())
        if kind != "rec":  # class-agnostic: over the sets only when every set has one (detection queries)
            average.update({k: None if any(m[k] is None for m in results.values()) else
                            round(sum(m[k] for m in results.values()) / len(results), 2) for k in ANY_LABEL})
    headline = (average or next(iter(results.values())))[keys[0]]
    differ = (differences(mode, protocol=meta["protocol"], **pixels, decoding=meta["decoding"],
                          batch_size=meta.get("batch_size", 1), score_policy=score_policy, evaluator=evaluator,
                          limit=meta.get("limit"), padded=any(1 < len(es.categories) < 80 for es in sets),
                          empty_sets=tuple(n for n, m in results.items() if m.get("detections") == 0))
              if kind == "boxes" else
              ["the released evaluation has no Qwen2.5-VL path for this benchmark: nothing to reproduce"])
    boxes = kind != "rec"  # REC scores the first box: no COCO evaluator, no score policy
    report = {"created_by": "visionr1 eval", "visionr1": __version__, "benchmark": benchmark, "kind": kind,
              **meta, "mode": mode, "differences": differ, "score_policy": score_policy if boxes else "n/a",
              "evaluator": evaluator if boxes else "n/a", "sets": results, "average": average, "headline": headline,
              "paper_reference": reference(benchmark, list(results), meta.get("limit"), mode=mode,
                                            synthetic=is_synthetic([es.coco for es in sets]))}
    write_report(report, out)
    return report
