"""``visionr1 eval`` on the synthetic world: oracle, degraded predictions against pycocotools, the tiny model end
to end, kill-and-resume, sharding, reports."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from visionr1.data import layouts
from visionr1.eval.coco import coco_sets
from visionr1.eval.runner import answer, prediction_store, score
from visionr1.formats import get_adapter

ROOT = Path(__file__).resolve().parent.parent
META = {"model": "test", "family": "qwen2.5-vl", "protocol": "all", "decoding": {}, "min_pixels": 3136,
        "max_pixels": 401408, "limit": None}


def report_of(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


# ------------------------------------------------------------------ oracle: perfect answers score 100


@pytest.mark.parametrize("bench, args", [
    ("coco", ["--data-root", "{w}/coco"]),
    ("odinw", ["--data-root", "{w}/odinw"]),
    ("ood", ["--data-root", "{w}/odinw"]),
    ("rec", ["--data-root", "{w}/refer"]),
    ("custom", ["--data-root", "{w}/v3det", "--annotations", "{w}/v3det/annotations/v3det_2023_v1_val.json"]),
])
def test_oracle_scores_100(world_dir, tmp_path, bench, args):
    out = tmp_path / bench
    assert run_cli("eval", bench, *[a.format(w=world_dir) for a in args], "--out", out, "--backend", "oracle") == 0
    r = report_of(out)
    key = "Acc@0.5" if bench == "rec" else "mAP"
    assert r["headline"] == 100.0
    assert all(m[key] == 100.0 and m["parse_failures"] == 0 and m["answered"] == m["queries"] > 0
               for m in r["sets"].values())
    # the training reward on the held-out answers: format and recall perfect, precision = mean IoU of integer
    # (or 0-1000) coordinates against the float ground truth
    for m in r["sets"].values():
        assert m["reward_terms"]["format"] == m["reward_terms"]["recall"] == 1.0
        assert 0.9 < m["reward_terms"]["precision"] <= 1.0 and m["reward"] == pytest.approx(
            sum(m["reward_terms"].values()), abs=1e-3)
    if bench in ("odinw", "ood"):  # one category asked per query: nothing class-agnostic, per set or averaged
        assert r["average"]["mAP_any_label"] is None and all(m["mAP_any_label"] is None for m in r["sets"].values())
    n_sets = {"coco": 1, "odinw": 13, "ood": 4, "rec": 8, "custom": 1}[bench]
    assert len(r["sets"]) == n_sets
    assert (out / "report.md").read_text().startswith(f"# {bench} evaluation")
    if bench in ("coco", "odinw", "ood"):
        assert r["paper_reference"]


def test_limit_leaves_unasked_categories_out(world_dir, tmp_path):
    """single+pos with --limit: an image asked for some of its categories only is not charged for the others."""
    out = tmp_path / "lim"
    assert run_cli("eval", "odinw", "--data-root", world_dir / "odinw", "--out", out, "--backend", "oracle",
                   "--limit", "3") == 0
    r = report_of(out)
    assert all(m["queries"] <= 3 for m in r["sets"].values())
    assert r["headline"] == 100.0 and all(m["mAP"] in (100.0, None) for m in r["sets"].values())


def test_griffon_oracle_and_all_protocol(world_dir, tmp_path):
    out = tmp_path / "g"
    assert run_cli("eval", "odinw", "--data-root", world_dir / "odinw", "--out", out, "--backend", "oracle",
                   "--family", "griffon-g", "--protocol", "all", "--sets", "PascalVOC,pistols") == 0
    r = report_of(out)
    assert r["protocol"] == "all" and set(r["sets"]) == {"odinw/PascalVOC", "odinw/pistols"}
    assert all(m["mAP"] > 80 and m["AP50"] == 100.0 for m in r["sets"].values())  # 3 decimals cost a little IoU
    # detection queries in every set: the class-agnostic numbers are averaged too
    assert r["average"]["AP50_any_label"] == 100.0
    assert r["average"]["mAP_any_label"] == round(sum(m["mAP_any_label"] for m in r["sets"].values()) / 2, 2)


@pytest.mark.parametrize("protocol", ["single+pos", "all"])
def test_case_distinct_categories_stay_distinct(world_dir, tmp_path, protocol):
    """boggleBoards has the categories Q and q (and o / "o ", t / t\\), V3Det guitar / Guitar: the data keeps them
    apart, so must the label lookup; the oracle scores 100 under both protocols."""
    v3det = world_dir / "v3det"
    runs = {"ood": ["--data-root", world_dir / "odinw", "--sets", "boggleBoards"],
            "custom": ["--data-root", v3det, "--annotations", v3det / layouts.V3DET_ANNOTATIONS["val"]]}
    for bench, args in runs.items():
        out = tmp_path / bench
        assert run_cli("eval", bench, *args, "--out", out, "--backend", "oracle", "--protocol", protocol) == 0
        m = next(iter(report_of(out)["sets"].values()))
        assert (m["mAP"], m["AR100"], m["unknown_labels"]) == (100.0, 100.0, 0), (bench, m)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="abQq o\\", min_size=1, max_size=3), min_size=1, max_size=8, unique=True))
def test_label_lookup(names):
    """Every category name finds its own category; a label finds a category up to case and spacing only when one
    category alone matches it that way; a label matching several that way finds none."""
    from visionr1.eval.metrics import LabelLookup
    from visionr1.formats import normalize_label

    cats = {10 + i: n for i, n in enumerate(names)}
    lookup = LabelLookup(cats)
    assert all(lookup(n) == cid for cid, n in cats.items())
    for label in {n.upper() for n in names} | {f" {n} " for n in names}:
        same = [cid for cid, n in cats.items() if normalize_label(n) == normalize_label(label)]
        exact = [cid for cid, n in cats.items() if n == label]
        assert lookup(label) == (exact[0] if exact else same[0] if len(same) == 1 else None)


# ------------------------------------------------------------------ degraded answers vs pycocotools directly


class Degraded:
    """Drops every other object and jitters the rest (a stand-in for a weak model)."""

    name = "degraded"

    def __init__(self, jitter: float = 3.0) -> None:
        self.adapter, self.rng, self.jitter = get_adapter("qwen2.5-vl"), np.random.default_rng(0), jitter

    def generate(self, queries):
        out = []
        for q in queries:
            geo = self.adapter.geometry(q.width, q.height)
            keep = [{"label": lab.upper(), "bbox": (np.array(b) + self.rng.normal(0, self.jitter, 4)).tolist()}
                    for k, (lab, b) in enumerate(q.gt) if k % 2 == 0]
            keep.append({"label": "not a category", "bbox": [1, 1, 20, 20]})
            out.append(self.adapter.serialize(keep, geo, exact=True))
        return out


def _pycocotools(gt_file: Path, detections: list[dict], image_ids: list[int], use_cats: int = 1) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_file))
        e = COCOeval(gt, gt.loadRes(detections), "bbox")
        e.params.imgIds = image_ids
        e.params.useCats = use_cats
        e.evaluate()
        e.accumulate()
        e.summarize()
    return e.stats


@pytest.mark.parametrize("policy", ["constant", "rank-decay"])
def test_degraded_answers_score_what_pycocotools_computes(world_dir, tmp_path, policy):
    sets = coco_sets(world_dir / "coco", "qwen2.5-vl")
    answer(sets, Degraded, tmp_path, "qwen2.5-vl", 3136, 401408, batch_size=4)
    reports = {ev: score("coco", sets, tmp_path, META, policy, ev) for ev in ("faster-coco-eval", "pycocotools")}
    records = prediction_store(tmp_path, sets[0].name).read()
    doc = json.loads((world_dir / "coco" / layouts.coco_annotation("val2017")).read_text())
    ids = {c["name"].lower(): c["id"] for c in doc["categories"]}
    dets, unknown, anything = [], 0, []
    for q in sets[0].queries:
        rec = records[q.qid]
        for rank, (b, lab) in enumerate(zip(rec["boxes"], rec["labels"], strict=True)):
            det = {"image_id": q.image_id, "category_id": ids.get(lab.lower(), 1),
                   "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                   "score": 0.99 if policy == "constant" else 1 / (1 + rank)}
            anything.append(det)  # class-agnostic: every box, the unknown label's too
            if lab.lower() not in ids:
                unknown += 1
                continue
            dets.append(det)
    gt_file, image_ids = world_dir / "coco" / layouts.coco_annotation("val2017"), sorted(q.image_id for q in
                                                                                         sets[0].queries)
    stats = _pycocotools(gt_file, dets, image_ids)
    agnostic = _pycocotools(gt_file, anything, image_ids, use_cats=0)
    assert 0 < stats[0] < 1  # degraded, not trivial
    assert agnostic[0] != stats[0]
    for m in (r["sets"]["coco/val2017"] for r in reports.values()):
        assert m["unknown_labels"] == unknown == len(sets[0].queries)
        for key, i in (("mAP", 0), ("AP50", 1), ("AP75", 2), ("AR100", 8)):
            assert m[key] == round(100 * stats[i], 2), key
        assert (m["mAP_any_label"], m["AP50_any_label"]) == (round(100 * agnostic[0], 2),
                                                             round(100 * agnostic[1], 2))
    assert reports["faster-coco-eval"]["sets"] == reports["pycocotools"]["sets"]  # both evaluators agree exactly


class Misnamed:
    """Every object boxed exactly and named as the next category: a model that localizes and cannot name."""

    name = "misnamed"

    def __init__(self, names: list[str]) -> None:
        self.adapter, self.next = get_adapter("qwen2.5-vl"), dict(zip(names, names[1:] + names[:1], strict=True))

    def generate(self, queries):
        return [self.adapter.serialize([{"label": self.next[lab], "bbox": list(b)} for lab, b in q.gt],
                                       self.adapter.geometry(q.width, q.height), exact=True) for q in queries]


@pytest.mark.parametrize("evaluator", ["faster-coco-eval", "pycocotools"])
def test_any_label_map_separates_localizing_from_naming(world_dir, tmp_path, evaluator):
    """Boxes exactly right with every label wrong: mAP 0 and class-agnostic mAP 100 on detection queries; where a
    query names its category (single+pos), the category is not predicted and there is no class-agnostic mAP."""
    def metrics(protocol: str, out: Path) -> dict:
        sets = coco_sets(world_dir / "coco", "qwen2.5-vl", protocol=protocol, limit=24)
        answer(sets, lambda: Misnamed(list(sets[0].categories.values())), out, "qwen2.5-vl", 3136, 401408,
               batch_size=4)
        return score("coco", sets, out, META, "constant", evaluator)["sets"]["coco/val2017"]

    m = metrics("all", tmp_path / "all")
    assert (m["mAP"], m["unknown_labels"]) == (0.0, 0)
    assert m["mAP_any_label"] == m["AP50_any_label"] == 100.0
    m = metrics("single+pos", tmp_path / "single")
    assert m["mAP"] == 100.0 and m["mAP_any_label"] is None  # the asked category is every box's category


class HalfRight:
    """REC answers: the referred box for every other query; otherwise a box shifted by its own width (IoU 0), no
    box at all in plain words, or a broken answer."""

    name = "half-right"

    def __init__(self) -> None:
        self.adapter, self.n = get_adapter("qwen2.5-vl"), 0

    def generate(self, queries):
        out = []
        for q in queries:
            x1, y1, x2, y2 = q.gt[0][1]
            geo = self.adapter.geometry(q.width, q.height)
            box = [x1, y1, x2, y2] if self.n % 2 == 0 else [x2, y1, 2 * x2 - x1, y2]
            broken = "I cannot find it." if self.n % 8 == 3 else '```json\n[{"bbox_2d": [1, 2'
            out.append(self.adapter.serialize([{"label": q.gt[0][0], "bbox": box}], geo, exact=True)
                       if self.n % 4 != 3 else broken)
            self.n += 1
        return out


def test_rec_accuracy_counts_the_first_box(world_dir, tmp_path):
    from visionr1.eval.rec import rec_sets

    sets = rec_sets(world_dir / "refer", world_dir / "coco", ["refcoco:val"], "qwen2.5-vl")
    answer(sets, HalfRight, tmp_path, "qwen2.5-vl", 3136, 401408, batch_size=3)
    m = score("rec", sets, tmp_path, META, "constant", "faster-coco-eval")["sets"]["refcoco:val"]
    n = len(sets[0].queries)
    assert n >= 4 and m["answered"] == n
    assert m["Acc@0.5"] == round(100 * len(range(0, n, 2)) / n, 2)
    assert m["parse_failures"] == len(range(7, n, 8)) > 0  # "I cannot find it." says "no object": not a failure


@pytest.mark.parametrize("protocol", ["all", "single+pos", "bogus"])
def test_rec_refuses_a_protocol(world_dir, tmp_path, capsys, protocol):
    """REC asks one query per sentence whatever --protocol says: a protocol it would ignore (and write into its
    report and run.json, so that `eval compare` flags two identical runs) is one error line, and nothing is
    written."""
    from conftest import one_error

    out = tmp_path / "rec"
    assert run_cli("eval", "rec", "--data-root", world_dir / "refer", "--out", out, "--backend", "oracle",
                   "--sets", "refcoco:val", "--protocol", protocol) == 2
    one_error(capsys, "--protocol", protocol)
    assert not out.exists()
    assert run_cli("eval", "rec", "--data-root", world_dir / "refer", "--out", out, "--backend", "oracle",
                   "--sets", "refcoco:val", "--limit", "2") == 0
    assert report_of(out)["protocol"] == "rec"


def test_rec_runs_differing_only_in_box_scoring_options_are_comparable(world_dir, tmp_path, capsys):
    """REC scores Acc@0.5 of the first box: the COCO evaluator and the score policy do not apply. They were
    recorded all the same (the evaluator), so `eval compare --strict` refused two runs with the same answers."""
    runs = []
    for name, extra in (("a", ()), ("b", ("--evaluator", "pycocotools", "--score-policy", "rank-decay"))):
        runs.append(tmp_path / name)
        assert run_cli("eval", "rec", "--data-root", world_dir / "refer", "--out", runs[-1], "--backend", "oracle",
                       "--sets", "refcoco:val", "--limit", "2", *extra) == 0
        assert (report_of(runs[-1])["evaluator"], report_of(runs[-1])["score_policy"]) == ("n/a", "n/a")
    capsys.readouterr()
    assert run_cli("eval", "compare", *runs, "--strict") == 0
    assert "not comparable" not in capsys.readouterr().out


def test_odinw_annotation_id_zero_is_evaluated(world_dir, tmp_path):
    """Roboflow/ODinW files number annotations from 0; COCOeval would never count id 0 as found."""
    doc = json.loads((world_dir / "odinw" / layouts.ODINW_SETS["PascalVOC"].annotation("valid")).read_text())
    assert min(a["id"] for a in doc["annotations"]) == 0
    out = tmp_path / "o"
    assert run_cli("eval", "odinw", "--data-root", world_dir / "odinw", "--sets", "PascalVOC", "--out", out,
                   "--backend", "oracle") == 0
    assert report_of(out)["sets"]["odinw/PascalVOC"]["AR100"] == 100.0


# ------------------------------------------------------------------ the tiny model end to end


def test_tiny_model_end_to_end(tiny_model_dir, world_dir, tmp_path):
    common = ["--model", tiny_model_dir, "--max-new-tokens", "12", "--batch-size", "3"]
    assert run_cli("eval", "coco", "--data-root", world_dir / "coco", "--out", tmp_path / "coco", "--limit", "3",
                   *common) == 0
    assert run_cli("eval", "odinw", "--data-root", world_dir / "odinw", "--out", tmp_path / "odinw", "--limit", "2",
                   "--sets", "Aquarium,pistols", *common) == 0
    assert run_cli("eval", "rec", "--data-root", world_dir / "refer", "--out", tmp_path / "rec", "--limit", "2",
                   "--sets", "refcoco:val,refcocog:test", *common) == 0
    for sub, n in (("coco", 3), ("odinw", 4), ("rec", 4)):
        r = report_of(tmp_path / sub)
        assert sum(m["answered"] for m in r["sets"].values()) == n
        assert r["decoding"]["greedy"] and r["decoding"]["max_new_tokens"] == 12
        assert r["decoding"]["dtype"] == "float32"  # what the model answered in (bfloat16 on a GPU that has it)
        records = [json.loads(x) for p in (tmp_path / sub / "predictions").rglob("part-*.jsonl")
                   for x in p.read_text().splitlines()]
        assert len(records) == n and all(isinstance(x["raw"], str) for x in records)


def test_kill_and_resume(tiny_model_dir, world_dir, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "visionr1", "eval", "odinw", "--data-root", str(world_dir / "odinw"), "--out",
           str(out), "--model", str(tiny_model_dir), "--max-new-tokens", "48", "--batch-size", "1",
           "--sets", "PascalVOC,pistols,Aquarium"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def parts() -> list[Path]:
        return list((out / "predictions").rglob("part-*.jsonl")) if (out / "predictions").exists() else []

    deadline = time.time() + 300
    while time.time() < deadline and sum(p.read_text().count("\n") for p in parts()) < 5:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = sum(p.read_text().count("\n") for p in parts())
    assert done_before >= 5 and not (out / "report.json").exists()
    assert subprocess.run(cmd, capture_output=True, timeout=600).returncode == 0
    r = report_of(out)
    total = sum(m["queries"] for m in r["sets"].values())
    qids = [json.loads(x)["qid"] for p in parts() for x in p.read_text().splitlines()]
    assert len(qids) == len(set(qids)) == total > done_before  # every query exactly once


def test_two_processes_share_the_queries(world_dir, tmp_path):
    out = tmp_path / "ddp"
    proc = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
         str(ROOT / "configs/accelerate/cpu2.yaml"), "-m", "visionr1", "eval", "coco", "--data-root",
         str(world_dir / "coco"), "--out", str(out), "--backend", "oracle", "--batch-size", "2"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    part = {p.name: [json.loads(x)["qid"] for x in p.read_text().splitlines()]
            for p in (out / "predictions" / "coco_val2017").glob("part-*.jsonl")}
    assert set(part) == {"part-0.jsonl", "part-1.jsonl"}
    assert not set(part["part-0.jsonl"]) & set(part["part-1.jsonl"])
    assert report_of(out)["headline"] == 100.0


# ------------------------------------------------------------------ errors, compare


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ")
    return err


def test_missing_files_are_listed_together(world_dir, tmp_path, capsys):
    import shutil

    odinw = tmp_path / "odinw"
    shutil.copytree(world_dir / "odinw", odinw)
    for name in ("Aquarium", "pistols"):
        (odinw / layouts.ODINW_SETS[name].annotation("valid")).unlink()
    assert run_cli("eval", "odinw", "--data-root", odinw, "--out", tmp_path / "o", "--backend", "oracle") == 2
    err = _one_line(capsys)
    assert "missing 2 dataset files" in err and "Aquarium Combined" in err and "val_annotations" in err
    assert run_cli("eval", "coco", "--data-root", tmp_path, "--out", tmp_path / "c", "--backend", "oracle") == 2
    assert "instances_val2017.json" in _one_line(capsys)
    assert run_cli("eval", "coco", "--data-root", world_dir / "coco", "--out", tmp_path / "c") == 2
    assert "needs --model" in _one_line(capsys)
    assert run_cli("eval", "coco", "--data-root", world_dir / "coco", "--out", tmp_path / "c", "--backend", "x") == 2
    assert "unknown backend 'x'" in _one_line(capsys)
    assert run_cli("eval", "odinw", "--data-root", world_dir / "odinw", "--sets", "Nope", "--out", tmp_path / "c",
                   "--backend", "oracle") == 2
    assert "unknown ODinW set Nope" in _one_line(capsys)


def test_compare(world_dir, tmp_path, capsys):
    a, b = tmp_path / "base", tmp_path / "tuned"
    sets = coco_sets(world_dir / "coco", "qwen2.5-vl")
    answer(sets, Degraded, a, "qwen2.5-vl", 3136, 401408, batch_size=4)
    score("coco", sets, a, META, "constant", "faster-coco-eval")
    assert run_cli("eval", "coco", "--data-root", world_dir / "coco", "--out", b, "--backend", "oracle") == 0
    capsys.readouterr()
    assert run_cli("eval", "compare", a / "report.json", b) == 0
    out = capsys.readouterr().out
    base = report_of(a)["headline"]
    assert "base" in out and "tuned" in out and f"{100 - base:+.1f}" in out
    assert run_cli("eval", "compare", a) == 2


# ------------------------------------------------------------------ provenance, comparisons, references, reading


def test_an_eval_folder_remembers_what_answered(world_dir, tiny_model_dir, tmp_path, capsys):
    """Answers of one model are never reported under another: another model, other pixel limits, another mode or
    a folder of unknown origin are refused before any model is loaded; the same run resumes."""
    out = tmp_path / "run"
    common = ["eval", "odinw", "--data-root", world_dir / "odinw", "--sets", "pothole", "--out", out]
    assert run_cli(*common, "--backend", "oracle") == 0
    run = json.loads((out / "run.json").read_text())
    assert (run["model"], run["backend"], run["min_pixels"], run["max_pixels"]) == ("(oracle)", "oracle", 3136, 401408)
    before = {p: p.read_bytes() for p in (out / "predictions").rglob("*.jsonl")}
    for extra, what in ((["--model", tiny_model_dir], "model '(oracle)'"),
                        (["--backend", "oracle", "--max-pixels", "802816"], "max_pixels 401408"),
                        (["--backend", "oracle", "--mode", "released"], "mode 'default'"),
                        (["--backend", "oracle", "--protocol", "all"], "protocol 'single+pos'")):
        assert run_cli(*common, *extra) == 2
        err = _one_line(capsys)
        assert f"--out {out} holds answers of another run" in err and what in err, err
    assert {p: p.read_bytes() for p in (out / "predictions").rglob("*.jsonl")} == before
    assert run_cli(*common, "--backend", "oracle", "--score-policy", "rank-decay") == 0  # re-scoring is fine
    (out / "run.json").unlink()
    assert run_cli(*common, "--backend", "oracle") == 2
    assert "holds answers of an unknown run" in _one_line(capsys)


def test_answers_in_another_dtype_are_not_reused(world_dir, tiny_model_dir, tmp_path, capsys):
    """The hf backend answers in bfloat16 on a GPU and float32 elsewhere: a folder whose answers were made in the
    other dtype (a run started on another machine) is refused before the model loads."""
    from visionr1.eval.backends import hf_dtype

    out = tmp_path / "run"
    cmd = ["eval", "odinw", "--data-root", world_dir / "odinw", "--sets", "pothole", "--out", out, "--limit", "1",
           "--model", tiny_model_dir, "--max-new-tokens", "2"]
    assert run_cli(*cmd) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["dtype"] == hf_dtype()
    other = "float32" if hf_dtype() == "bfloat16" else "bfloat16"
    (out / "run.json").write_text(json.dumps({**run, "dtype": other}))
    capsys.readouterr()
    assert run_cli(*cmd) == 2
    assert f"dtype '{other}' (this run: '{hf_dtype()}')" in _one_line(capsys)


def test_model_fingerprint_changes_with_the_weights(tiny_model_dir, tmp_path):
    from visionr1.eval.runner import model_fingerprint

    copy_dir = tmp_path / "m"
    shutil.copytree(tiny_model_dir, copy_dir)
    assert model_fingerprint(str(copy_dir)) == model_fingerprint(str(tiny_model_dir)) is not None
    weights = next(copy_dir.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert model_fingerprint(str(copy_dir)) != model_fingerprint(str(tiny_model_dir))
    assert model_fingerprint("Qwen/Qwen2.5-VL-7B-Instruct") is None  # not in the hub cache


def test_model_fingerprint_of_a_cached_hub_id(tiny_model_dir, tmp_path, monkeypatch, world_dir, capsys):
    """A hub id is identified by the snapshot of the hub cache it loads from (huggingface_hub's layout:
    models--org--name/refs/main naming snapshots/<commit>/): a newer snapshot is another model."""
    from huggingface_hub import constants

    from visionr1.eval.runner import model_fingerprint

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    repo = tmp_path / "hub" / "models--org--tiny"
    shutil.copytree(tiny_model_dir, repo / "snapshots" / ("a" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    first = model_fingerprint("org/tiny")
    assert first == model_fingerprint(str(tiny_model_dir)) is not None
    assert model_fingerprint("org/other") is None and model_fingerprint("not a/valid/id") is None
    newer = repo / "snapshots" / ("b" * 40)
    shutil.copytree(tiny_model_dir, newer)
    weights = next(newer.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    (repo / "refs" / "main").write_text("b" * 40)
    assert model_fingerprint("org/tiny") not in (None, first)


def test_compare_flags_incompatible_reports(world_dir, tmp_path, capsys):
    """A delta from the score policy alone on identical answers, or between averages over different set lists, is
    not a model difference: compare marks it (and --strict refuses)."""
    odinw = world_dir / "odinw"
    a, b, c = tmp_path / "constant", tmp_path / "decay", tmp_path / "three"
    for out, extra in ((a, []), (c, ["--sets", "pothole,Raccoon,pistols"])):
        assert run_cli("eval", "odinw", "--data-root", odinw, "--out", out, "--backend", "oracle", *extra) == 0
    shutil.copytree(a, b)
    assert run_cli("eval", "odinw", "--data-root", odinw, "--out", b, "--backend", "oracle", "--score-policy",
                   "rank-decay") == 0
    capsys.readouterr()
    assert run_cli("eval", "compare", a, b) == 0
    text = capsys.readouterr().out
    assert "score policy: constant (constant) vs rank-decay (decay)" in text and "+0.0*" in text
    assert run_cli("eval", "compare", a, c) == 0
    text = capsys.readouterr().out
    assert "sets: 13 (constant) vs 3 (three)" in text
    average = next(line for line in text.splitlines() if line.startswith("average"))
    assert average.split()[-1] == "-"  # no delta between averages over different sets
    assert run_cli("eval", "compare", a, c, "--strict") == 2
    assert "not comparable" in _one_line(capsys)
    assert run_cli("eval", "compare", a, a) == 0
    assert "*" not in capsys.readouterr().out


def test_report_table_fits_80_columns(world_dir, tmp_path):
    from rich.console import Console

    from visionr1.eval.report import report_table

    out = tmp_path / "ood"
    assert run_cli("eval", "odinw", "--data-root", world_dir / "odinw", "--out", out, "--backend", "oracle") == 0
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(report_table(report_of(out)))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80 and not any("…" in line for line in lines[1:])
    for name in layouts.ODINW_13:
        assert any(line.startswith(name + " ") for line in lines), name


class PlainWords:
    """Says there is nothing, in words, or breaks off a JSON answer."""

    name = "plain"

    def generate(self, queries):
        return ["There is no dog." if i % 2 else '```json\n[{"bbox_2d": [1, 2, 3' for i, _ in enumerate(queries)]


def test_an_answer_in_plain_words_is_an_empty_answer(world_dir, tmp_path):
    sets = coco_sets(world_dir / "coco", "qwen2.5-vl")
    answer(sets, PlainWords, tmp_path, "qwen2.5-vl", 3136, 401408, batch_size=len(sets[0].queries))
    m = score("coco", sets, tmp_path, META, "constant", "faster-coco-eval")["sets"]["coco/val2017"]
    assert m["parse_failures"] == len(sets[0].queries[::2]) and m["detections"] == 0


def test_claim_records_the_snapshot_of_a_hub_id_downloaded_since(tmp_path):
    """An earlier run whose hub id was not cached recorded no fingerprint; the run after it, same id, records the
    snapshot's instead of refusing, while another model is still refused."""
    from visionr1.errors import VisionR1Error
    from visionr1.eval.runner import claim_run

    out = tmp_path / "out"
    (out / "predictions" / "set").mkdir(parents=True)
    (out / "predictions" / "set" / "part-0.jsonl").write_text("")
    (out / "run.json").write_text(json.dumps({"model": "org/tiny", "model_fingerprint": None, "backend": "hf"}))
    claim_run(out, {"model": "org/tiny", "model_fingerprint": "abc", "backend": "hf"})
    assert json.loads((out / "run.json").read_text())["model_fingerprint"] == "abc"
    with pytest.raises(VisionR1Error, match="model_fingerprint 'abc' \\(this run: 'def'\\)"):
        claim_run(out, {"model": "org/tiny", "model_fingerprint": "def", "backend": "hf"})
    with pytest.raises(VisionR1Error, match="model 'org/tiny'"):
        claim_run(out, {"model": "org/other", "model_fingerprint": None, "backend": "hf"})
