"""Run an evaluation: answer every query (sharded over processes, resumable), score, report."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from visionr1 import __version__
from visionr1.eval.metrics import box_metrics, mean_reward, rec_metrics
from visionr1.eval.predictions import PredictionStore, write_records
from visionr1.eval.report import PAPER_REFERENCE, write_report
from visionr1.eval.sets import EvalSet, Query
from visionr1.formats import get_adapter


def prediction_store(out: Path, set_name: str) -> PredictionStore:
    """Where a run in ``out`` keeps the predictions of one set."""
    return PredictionStore(out / "predictions" / re.sub(r"[^A-Za-z0-9._+-]+", "_", set_name))


def answer(sets: list[EvalSet], make_backend: Callable[[], object], out: Path, family: str, min_pixels: int,
           max_pixels: int, batch_size: int, rank: int = 0, world: int = 1, progress=None) -> object | None:
    """Answer the unfinished queries this process owns (every ``world``-th one) and stream them to JSONL.
    Returns the backend if one was needed."""
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
                texts = backend.generate(batch)
                geos = [adapter.geometry(q.width, q.height, min_pixels=min_pixels, max_pixels=max_pixels)
                        for q in batch]
                parsed = adapter.parse_batch(texts, geos)
                write_records(f, [{"qid": q.qid, "image_id": q.image_id, "raw": t,
                                   "boxes": [[round(v, 2) for v in b] for b in p.boxes.tolist()],
                                   "labels": list(p.labels), "template_ok": p.template_ok, "content_ok": p.content_ok}
                                  for q, t, p in zip(batch, texts, (parsed[k] for k in range(len(batch))),
                                                     strict=True)])
                if progress:
                    progress.advance(task, len(batch))
    return backend


def score(benchmark: str, sets: list[EvalSet], out: Path, meta: dict, score_policy: str, evaluator: str) -> dict:
    """Metrics of every set from the stored predictions, their average, and the report files."""
    kind = sets[0].kind
    results = {}
    for es in sets:
        records = prediction_store(out, es.name).read()
        results[es.name] = {**(rec_metrics(es, records) if kind == "rec"
                               else box_metrics(es, records, score_policy, evaluator)),
                            **mean_reward(es, records, meta["family"], meta["min_pixels"], meta["max_pixels"])}
    keys = ("Acc@0.5", "reward") if kind == "rec" else ("mAP", "AP50", "AP75", "AR100", "reward")
    average = None
    if len(results) > 1:
        average = {k: round(sum(m[k] or 0 for m in results.values()) / len(results), 4 if k == "reward" else 2)
                   for k in keys}
        for k in ("queries", "parse_failures") + (() if kind == "rec" else ("unknown_labels",)):
            average[k] = sum(m[k] for m in results.values())
    headline = (average or next(iter(results.values())))[keys[0]]
    report = {"created_by": "visionr1 eval", "visionr1": __version__, "benchmark": benchmark, "kind": kind,
              **meta, "score_policy": score_policy if kind != "rec" else "n/a", "evaluator": evaluator,
              "sets": results, "average": average, "headline": headline,
              "paper_reference": {m: list(v) for m, v in PAPER_REFERENCE.get(benchmark, {}).items()}}
    write_report(report, out)
    return report
