"""``visionr1 review`` with a real mongod (FiftyOne's bundled one) and the App in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import one_error, run_cli
from hypothesis import given
from hypothesis import strategies as st

from visionr1.data.build import build
from visionr1.data.recipe import load_recipe
from visionr1.eval.coco import coco_sets
from visionr1.eval.runner import answer, prediction_store, score
from visionr1.formats import get_adapter
from visionr1.review.failures import failure_modes

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("VISIONR1_TEST_ARTIFACTS", ROOT / "test-artifacts"))
META = {"model": "test", "family": "qwen2.5-vl", "protocol": "all", "decoding": {}, "min_pixels": 3136,
        "max_pixels": 401408, "limit": None}


# ------------------------------------------------------------------ failure modes


def test_failure_modes_by_construction():
    gt = [[10, 10, 50, 50], [100, 100, 140, 160]]
    labels = ["circle", "star"]
    assert failure_modes(gt, labels, gt, labels) == []
    assert failure_modes(gt[:1], labels[:1], gt, labels) == ["missed"]
    assert failure_modes([gt[0], gt[0], gt[1]], ["circle", "Circle", "star"], gt, labels) == ["duplicate"]
    assert failure_modes([[30, 10, 70, 50], gt[1]], labels, gt, labels) == ["missed", "low_iou"]  # IoU 1/3
    assert failure_modes([gt[0], gt[1]], ["circle", "square"], gt, labels) == ["missed", "wrong_label"]
    assert failure_modes([], [], gt, labels, template_ok=False) == ["format_error", "missed"]
    assert failure_modes([[0, 0, 5, 5]], ["circle"], [], []) == []  # a stray box on an empty image is no mode here


boxes = st.lists(st.tuples(st.floats(0, 200), st.floats(0, 200), st.floats(1, 80), st.floats(1, 80)), max_size=6)


@given(boxes, st.lists(st.sampled_from(["a", "b"]), min_size=6, max_size=6), st.randoms())
def test_failure_modes_do_not_depend_on_order_and_exact_answers_have_none(raw, names, rnd):
    gt = [[x, y, x + w, y + h] for x, y, w, h in raw]
    labels = names[: len(gt)]
    assert failure_modes(gt, labels, gt, labels) in ([], ["duplicate"])  # same-label copies can overlap a lot
    order = list(range(len(gt)))
    rnd.shuffle(order)
    shuffled = failure_modes([gt[i] for i in order], [labels[i] for i in order], gt, labels)
    assert shuffled == failure_modes(gt, labels, gt, labels)


# ------------------------------------------------------------------ review eval


class Flawed:
    """COCO answers with known flaws, by query position k: 0 unparseable, 1 first object left out, 2 first box
    twice, 3 first box moved by half its width (IoU 1/3), 4 exact, 5 first box given another category."""

    name = "flawed"

    def __init__(self) -> None:
        self.adapter, self.k = get_adapter("qwen2.5-vl"), 0

    def generate(self, queries):
        out = []
        for q in queries:
            gt = [{"label": lab, "bbox": list(b)} for lab, b in q.gt]
            case, self.k = self.k % 6, self.k + 1
            if gt and case == 1:
                gt = gt[1:]
            elif gt and case == 2:
                gt = [gt[0], *gt]
            elif gt and case == 3:
                x1, y1, x2, y2 = gt[0]["bbox"]
                gt[0] = {"label": gt[0]["label"], "bbox": [x1 + (x2 - x1) / 2, y1, x2 + (x2 - x1) / 2, y2]}
            elif gt and case == 5:
                gt[0] = {"label": next(c for c in q.categories if c != gt[0]["label"]), "bbox": gt[0]["bbox"]}
            geo = self.adapter.geometry(q.width, q.height)
            out.append("I see shapes." if case == 0 else self.adapter.serialize(gt, geo, exact=True))
        return out


EXPECTED = {0: ["format_error", "missed"], 1: ["missed"], 2: ["duplicate"], 3: ["missed", "low_iou"], 4: [],
            5: ["missed", "wrong_label"]}


def _pixels(dets, w, h) -> np.ndarray:
    """xyxy pixel boxes of FiftyOne detections."""
    rel = np.array([d.bounding_box for d in dets], dtype=np.float64).reshape(-1, 4)
    return np.stack([rel[:, 0], rel[:, 1], rel[:, 0] + rel[:, 2], rel[:, 1] + rel[:, 3]], 1) * [w, h, w, h]


@pytest.fixture(scope="module")
def runs(world_dir, tmp_path_factory):
    """An oracle run and a flawed run of COCO val on the synthetic world."""
    tmp = tmp_path_factory.mktemp("review-runs")
    oracle = tmp / "oracle"
    assert run_cli("eval", "coco", "--data-root", world_dir / "coco", "--out", oracle, "--backend", "oracle") == 0
    flawed = tmp / "flawed"
    sets = coco_sets(world_dir / "coco", "qwen2.5-vl")
    answer(sets, Flawed, flawed, "qwen2.5-vl", 3136, 401408, batch_size=4)
    score("coco", sets, flawed, {**META, "data": {"data_root": str(world_dir / "coco")}}, "constant",
          "faster-coco-eval")
    return oracle, flawed, sets


def test_review_eval_boxes_tags_rewards(fo, runs, tmp_path):
    from visionr1.rewards import RewardConfig, score_batch

    oracle, flawed, sets = runs
    summary_file = tmp_path / "summary.json"
    assert run_cli("review", "eval", oracle, "--compare", flawed, "--name", "vr1-eval", "--json", summary_file) == 0
    summary = json.loads(summary_file.read_text())
    ds = fo.load_dataset("vr1-eval")
    queries = sets[0].queries
    n_gt = sum(len(q.gt) for q in queries)
    assert len(ds) == summary["samples"] == len(queries) and summary["skipped_unanswered"] == 0
    by_qid = {s["query_id"]: s for s in ds}
    flawed_records = prediction_store(flawed, sets[0].name).read()
    config = RewardConfig()
    terms = score_batch([flawed_records[q.qid]["raw"] for q in queries],
                        [[{"label": lab, "bbox": list(b)} for lab, b in q.gt] for q in queries],
                        [q.width for q in queries], [q.height for q in queries], config=config)
    for k, (q, t) in enumerate(zip(queries, terms, strict=True)):
        s = by_qid[q.qid]
        assert s.filepath == q.image and s.metadata.width == q.width
        gt = _pixels(s.gt.detections, q.width, q.height)
        np.testing.assert_allclose(gt, np.array([b for _, b in q.gt]).reshape(-1, 4), atol=1e-6)
        assert [d.label for d in s.gt.detections] == [lab for lab, _ in q.gt]
        got = _pixels(s.oracle.detections, q.width, q.height)
        np.testing.assert_allclose(got, gt, atol=0.02)  # 2-decimal coordinates in the resized image
        assert s.oracle_format == s.oracle_recall == s.oracle_precision == 1.0
        assert [d.confidence for d in s.oracle.detections] == [0.99] * len(q.gt)
        expected = [m for m in EXPECTED[k % 6] if q.gt or m == "format_error"]
        assert sorted(s.tags) == sorted(f"flawed:{m}" for m in expected), (k, q.qid)
        assert s.flawed_parse_ok == (k % 6 != 0)
        assert (s.flawed_format, s.flawed_recall, s.flawed_precision) == (t.format, t.recall, t.precision)
    o, f = summary["runs"]["oracle"], summary["runs"]["flawed"]
    assert (o["tp"], o["fp"], o["fn"]) == (n_gt, 0, 0) and o["headline"] == 100.0
    assert f["fn"] > 0 and f["tp"] + f["fn"] == n_gt and f["tags"]["format_error"] == len(range(0, len(queries), 6))
    assert "visionr1 eval" in summary["note"]
    colours = {f["path"]: f["fieldColor"] for f in ds.app_config.color_scheme.fields}  # as stored in the database
    assert ds.app_config.color_scheme.color_by == "field" and set(colours) == {"gt", "oracle", "flawed"}
    assert len(set(colours.values())) == 3  # ground truth and each run distinct at a glance

    assert run_cli("review", "eval", oracle, "--compare", flawed, "--name", "vr1-eval") == 0  # again: replaced
    assert fo.list_datasets().count("vr1-eval") == 1 and len(fo.load_dataset("vr1-eval")) == len(queries)


def test_interrupted_rebuild_keeps_the_earlier_dataset(fo, runs):
    """A rebuild interrupted after its samples were added (Ctrl-C while FiftyOne evaluates) leaves the earlier
    dataset of that name as it was and no partial one; a completed rebuild replaces it."""
    from visionr1.review.datasets import PARTIAL, review_eval

    oracle, flawed, _ = runs
    review_eval([oracle], name="vr1-keep")
    before = fo.load_dataset("vr1-keep")
    ids = sorted(before.values("id"))

    calls = []

    def interrupt(n):  # one call per run while reading, then one per run evaluated in the new dataset
        calls.append(n)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        review_eval([oracle, flawed], name="vr1-keep", advance=interrupt)
    kept = fo.load_dataset("vr1-keep")
    assert len(calls) == 3 and sorted(kept.values("id")) == ids and not kept.has_field("flawed")
    assert not [d for d in fo.list_datasets() if PARTIAL in d]
    _, summary = review_eval([oracle, flawed], name="vr1-keep")
    again = fo.load_dataset("vr1-keep")
    assert summary["dataset"] == "vr1-keep" and again.has_field("flawed") and len(again) == len(ids)
    assert not [d for d in fo.list_datasets() if PARTIAL in d]


def test_killed_rebuild_leaves_no_partial_dataset(runs, tmp_path):
    """A rebuild killed outright (SIGKILL inside FiftyOne's evaluation, so no cleanup code runs) leaves the earlier
    dataset as it was; its partial dataset is gone once the last process using the database has exited. Separate
    processes, as a user's commands are, on a MongoDB server of this test's own (FIFTYONE_DATABASE_URI): every
    process on this machine shares FiftyOne's bundled mongod, and this test session holds a connection to it."""
    import fiftyone.constants as foc

    oracle, flawed, _ = runs
    port = _free_port()
    (tmp_path / "db").mkdir()
    mongod = subprocess.Popen([str(Path(foc.FIFTYONE_DB_BIN_DIR) / "mongod"), "--dbpath", str(tmp_path / "db"),
                               "--port", str(port), "--bind_ip", "127.0.0.1", "--nounixsocket"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {k: v for k, v in os.environ.items() if k != "FIFTYONE_PRIVATE_DATABASE_PORT"}
    env |= {"FIFTYONE_DATABASE_URI": f"mongodb://127.0.0.1:{port}", "FIFTYONE_DATABASE_NAME": "visionr1-kill"}

    def python(code: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", "import json, os, signal\n"
                               "from visionr1.review.db import import_fiftyone\n"
                               "from visionr1.review.datasets import review_eval\n" + code],
                              capture_output=True, text=True, timeout=300, env=env)

    listing = "fo = import_fiftyone()\nprint(json.dumps({n: len(fo.load_dataset(n)) for n in fo.list_datasets()}))"
    try:
        assert python(f"review_eval([{str(oracle)!r}], name='keep')").returncode == 0
        before = json.loads(python(listing).stdout)
        calls = "n = []\ndef kill(k):\n    n.append(k)\n    if len(n) == 3: os.kill(os.getpid(), signal.SIGKILL)\n"
        killed = python(calls + f"review_eval([{str(oracle)!r}, {str(flawed)!r}], name='keep', advance=kill)")
        assert killed.returncode == -signal.SIGKILL
        left = json.loads(python(listing).stdout)  # this process was the last one using the database
        assert len(left) == 2 and left["keep"] == before["keep"]  # the partial one was still there while it ran
        assert json.loads(python(listing).stdout) == before == {"keep": before["keep"]}
    finally:
        mongod.terminate()
        mongod.wait(timeout=60)


def test_review_eval_refuses_runs_of_other_sets(fo, runs, world_dir, tmp_path, capsys):
    oracle, _, _ = runs
    other = tmp_path / "odinw"
    assert run_cli("eval", "odinw", "--data-root", world_dir / "odinw", "--sets", "pistols", "--out", other,
                   "--backend", "oracle") == 0
    capsys.readouterr()
    assert run_cli("review", "eval", oracle, "--compare", other) == 2
    assert "evaluates other sets" in capsys.readouterr().err
    assert run_cli("review", "eval", tmp_path / "nothing") == 2
    assert "no report at" in capsys.readouterr().err


def test_review_eval_refuses_runs_of_other_data(fo, world_dir, tmp_path, capsys):
    """A run of the same set names on other data (an annotations file with moved boxes) is not drawn on the
    first run's images; a run of the same data in a copied folder is fine."""
    ann = world_dir / "coco" / "annotations" / "instances_val2017.json"
    images = world_dir / "coco" / "val2017"
    doc = json.loads(ann.read_text())
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "instances_val2017.json").write_text(json.dumps(doc))
    for a in doc["annotations"]:
        a["bbox"][2] /= 2
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "instances_val2017.json").write_text(json.dumps(doc))
    for name, folder in (("a", world_dir / "coco" / "annotations"), ("same", copy), ("other", moved)):
        assert run_cli("eval", "custom", "--data-root", images, "--annotations", folder / "instances_val2017.json",
                       "--out", tmp_path / name, "--backend", "oracle", "--limit", 3) == 0
    capsys.readouterr()
    assert run_cli("review", "eval", tmp_path / "a", "--compare", tmp_path / "other") == 2
    one_error(capsys, tmp_path / "other", "answered other data than", "custom/instances_val2017")
    assert run_cli("review", "eval", tmp_path / "a", "--compare", tmp_path / "same", "--name", "vr1-same") == 0


def test_review_eval_of_a_rec_run(fo, world_dir, tmp_path):
    run = tmp_path / "rec"
    assert run_cli("eval", "rec", "--data-root", world_dir / "refer", "--sets", "refcoco:val", "--limit", "5",
                   "--out", run, "--backend", "oracle") == 0
    assert run_cli("review", "eval", run, "--name", "vr1-rec") == 0
    ds = fo.load_dataset("vr1-rec")
    assert len(ds) == 5 and ds.count_sample_tags() == {}
    for s in ds:
        assert len(s.gt.detections) == 1  # one referred object, named by its expression
        assert [d.label for d in s.rec.detections] == [s.gt.detections[0].label]
        assert s.rec_recall == s.rec_precision == 1.0 and s.rec_eval_tp == 1


def _damaged_run(oracle: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the oracle run (to damage) and its one predictions part file."""
    run = tmp_path / "run"
    shutil.copytree(oracle, run)
    (part,) = (run / "predictions").glob("*/part-*.jsonl")
    return run, part


def _report_without_family(report: bytes) -> bytes:
    doc = json.loads(report)
    del doc["family"]
    return json.dumps(doc).encode()


@pytest.mark.parametrize("damage", [lambda r: b"[1, 2]", lambda r: b"{}", lambda r: b"\xff\xfe not text",
                                    lambda r: r[: len(r) // 2], _report_without_family],
                         ids=["list", "empty-object", "not-utf8", "truncated", "no-family"])
def test_review_eval_refuses_a_bad_report(fo, runs, tmp_path, capsys, damage):
    """A report.json that is not a whole visionr1 report is one line naming it; no dataset is made."""
    run, _ = _damaged_run(runs[0], tmp_path)
    report = run / "report.json"
    report.write_bytes(damage(report.read_bytes()))
    before = set(fo.list_datasets())
    capsys.readouterr()
    assert run_cli("review", "eval", run, "--name", "vr1-bad-report") == 2
    one_error(capsys, report)
    assert set(fo.list_datasets()) == before


def _cut_last_line(lines: list[bytes]) -> list[bytes]:
    return [*lines[:-1], lines[-1][: len(lines[-1]) // 2]]


@pytest.mark.parametrize("damage", [
    lambda lines: [b"\x89PNG\r\x00\xff\xfe\x1a garbage\n", *lines[1:]],  # binary garbage instead of a record
    _cut_last_line,  # a writer killed mid-line
    lambda lines: [json.dumps({k: v for k, v in json.loads(lines[0]).items() if k != "qid"}).encode() + b"\n",
                   *lines[1:]]], ids=["binary", "truncated", "no-qid"])
def test_review_eval_counts_unreadable_prediction_lines(fo, runs, tmp_path, capsys, damage):
    """A prediction line that is not a record is skipped, counted and reported (the reader eval's resume uses);
    its query is unanswered."""
    run, part = _damaged_run(runs[0], tmp_path)
    lines = part.read_bytes().splitlines(keepends=True)
    part.write_bytes(b"".join(damage(lines)))
    summary_file = tmp_path / "summary.json"
    capsys.readouterr()
    assert run_cli("review", "eval", run, "--name", "vr1-bad-lines", "--json", summary_file) == 0
    out = capsys.readouterr().out
    assert "1 unreadable prediction line skipped" in " ".join(out.split())
    summary = json.loads(summary_file.read_text())
    assert summary["runs"]["run"]["unreadable_lines"] == 1
    assert summary["skipped_unanswered"] == 1 and summary["samples"] == len(lines) - 1
    assert len(fo.load_dataset("vr1-bad-lines")) == len(lines) - 1


# ------------------------------------------------------------------ review data


def test_review_data_mirrors_the_mix(fo, world_dir, tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"name": "review-test", "sources": {
        "coco": {"task": "detection", "count": 10, "split": "train2017", "negative_share": 0.2},
        "refcoco": {"task": "rec", "count": 5, "datasets": ["refcoco"]}}}))
    mix = build(load_recipe(str(recipe)), tmp_path / "mix", roots={"coco": world_dir / "coco",
                                                                   "refcoco": world_dir / "refer"}).out
    from visionr1.data.stats import load_mix

    rows = list(load_mix(mix))
    assert run_cli("review", "data", mix, "--name", "vr1-data") == 0
    assert f"building the dataset: {len(rows)}/{len(rows)}" in capsys.readouterr().err  # progress off a terminal
    ds = fo.load_dataset("vr1-data")
    assert len(ds) == len(rows)
    assert ds.count_sample_tags() == {k: v for k, v in {
        "detection": sum(r["task"] == "detection" for r in rows), "rec": sum(r["task"] == "rec" for r in rows),
        "hard": sum(r["difficulty"] == "hard" for r in rows), "easy": sum(r["difficulty"] == "easy" for r in rows),
        "negative": sum(r["negative"] for r in rows)}.items() if v}
    by_id = {s["mix_id"]: s for s in ds}
    for r in rows:
        s = by_id[r["id"]]
        assert (s.problem, s.task, s.negative, s.filepath) == (r["problem"], r["task"], r["negative"], r["image"])
        np.testing.assert_allclose(_pixels(s.gt.detections, r["width"], r["height"]),
                                   np.array([g["bbox"] for g in r["gt"]]).reshape(-1, 4), atol=1e-6)


def test_review_data_with_embedded_images_of_a_moved_dataset(fo, world_dir, tmp_path):
    coco = tmp_path / "coco"
    shutil.copytree(world_dir / "coco", coco)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"name": "embedded", "sources": {
        "coco": {"task": "detection", "count": 4, "split": "train2017"}}}))
    mix = build(load_recipe(str(recipe)), tmp_path / "mix", roots={"coco": coco}, embed_images=True).out
    originals = {p.name: p.read_bytes() for p in (coco / "train2017").iterdir()}
    shutil.rmtree(coco)
    assert run_cli("review", "data", mix, "--name", "vr1-embedded") == 0
    ds = fo.load_dataset("vr1-embedded")
    assert len(ds) == 4
    for s in ds:
        path = Path(s.filepath)
        assert path.parent == mix / "review-images" and path.read_bytes() in originals.values()


# ------------------------------------------------------------------ errors without FiftyOne or a database


def _cli_in_subprocess(prelude: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    code = f"import sys\n{prelude}\nfrom visionr1.cli import main\nsys.exit(main({list(args)!r}))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_without_fiftyone_or_mongod_one_line_errors(tmp_path):
    proc = _cli_in_subprocess("sys.modules['fiftyone'] = None", "review", "app", "x")
    assert proc.returncode == 2 and proc.stderr.strip().startswith("error: review needs FiftyOne: pip install")
    proc = _cli_in_subprocess(f"import fiftyone.constants as foc; foc.FIFTYONE_DB_BIN_DIR = {str(tmp_path)!r}",
                              "review", "app", "x", env={"FIFTYONE_DATABASE_URI": ""})
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "no MongoDB for FiftyOne" in proc.stderr and "FIFTYONE_DATABASE_URI" in proc.stderr
    proc = _cli_in_subprocess("", "review", "app", "x",
                              env={"FIFTYONE_DATABASE_URI": "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=500"})
    assert proc.returncode == 2 and "cannot reach FiftyOne's database at mongodb://127.0.0.1:9" in proc.stderr


# ------------------------------------------------------------------ the App in a real browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", json.dumps({"query": query}).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,900", "--virtual-time-budget=20000"]


def test_app_serves_the_dataset_to_headless_chromium(fo, runs, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium); .ci/run installs it")
    from PIL import Image

    oracle, _, sets = runs
    assert run_cli("review", "eval", oracle, "--name", "vr1 app") == 0  # a space: the URL must be quoted
    port = _free_port()
    app = subprocess.Popen([sys.executable, "-m", "visionr1", "review", "app", "vr1 app", "--port", str(port)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/fiftyone", timeout=2)
                break
            except OSError:
                assert app.poll() is None, app.stdout.read()
                time.sleep(0.5)
        data = _graphql(port, '{ dataset(name: "vr1 app") { name estimatedSampleCount } }')["data"]["dataset"]
        assert data == {"name": "vr1 app", "estimatedSampleCount": len(sets[0].queries)}
        url = f"http://127.0.0.1:{port}/datasets/vr1%20app"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "review-app.png"
        shot.unlink(missing_ok=True)
        base = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium'}"]
        for _ in range(3):  # a cold or loaded machine can dump the page before the App has rendered
            dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=180).stdout
            if "vr1 app" in dom:
                break
        assert "vr1 app" in dom  # the App rendered the dataset's name
        for _ in range(3):  # a loaded machine can catch the App still on its "Pixelating..." loading screen
            subprocess.run([*base, f"--screenshot={shot}", url], capture_output=True, timeout=180, check=True)
            with Image.open(shot) as im:
                assert im.size == (1400, 900)
                colours = len(im.convert("RGB").resize((140, 90)).getcolors(maxcolors=140 * 90))
            if colours > 50:
                break
        assert colours > 50  # a rendered grid of images, not a blank or error page
    finally:
        os.killpg(app.pid, 15)
        app.wait(timeout=60)
    assert "FiftyOne App: http://localhost:" in app.stdout.read()
