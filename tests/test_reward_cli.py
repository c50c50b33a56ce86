"""``visionr1 reward score`` / ``explain`` (docs/spec.md §3.4)."""

from __future__ import annotations

import json

import pytest
from conftest import one_error, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

GT = [{"label": "cat", "bbox": [0, 0, 10, 10]}, {"label": "dog", "bbox": [20, 20, 30, 30]}]
GOOD = '```json\n[{"bbox_2d": [0, 0, 10, 10], "label": "cat"}, {"bbox_2d": [20, 20, 30, 30], "label": "dog"}]\n```'


def line(**kw) -> str:
    rec = {"completion": GOOD, "gt": GT, "width": 100, "height": 100, "input_width": 100, "input_height": 100}
    rec.update(kw)
    return json.dumps(rec)


@pytest.fixture
def cases(tmp_path):
    p = tmp_path / "in.jsonl"
    p.write_text("\n".join([
        line(),
        line(completion="[]"),
        line(completion="cat", gt=[], step=7),
        "",  # blank lines are skipped
        line(completion='[{"bbox_2d": [0, 0, 10, 6], "label": "cat"}]', step=90),
    ]) + "\n")
    return p


def test_score_to_file(cases, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert run_cli("reward", "score", cases, "--output", out, "--total-steps", 100, "--switch", 0.5) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["rewards"]["total"] for r in rows] == [3.0, 1.0, 2.0, 1.0]
    assert rows[2]["step"] == 7 and rows[2]["completion"] == "cat"  # the input line is kept as it was
    assert rows[3]["rewards"] == {"format": 1.0, "recall": 0.0, "precision": 0.0, "total": 1.0}  # phase 2
    assert "details" not in rows[0]
    assert "4 completions scored" in capsys.readouterr().err


def test_score_to_stdout_with_details_and_official(cases, capsys):
    assert run_cli("reward", "score", cases, "--details", "--preset", "official") == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(rows) == 4
    assert rows[0]["details"]["preset"] == "official"
    assert rows[2]["rewards"]["format"] == 1.0  # 'cat' is not JSON: format 0, inverted because gt is empty
    assert [m["giou"] for m in rows[0]["details"]["matches"]] == [1.0, 1.0]


def test_input_size_from_smart_resize(tmp_path, capsys):
    p = tmp_path / "in.jsonl"
    rec = {"completion": '[{"bbox_2d": [0, 0, 56, 56], "label": "cat"}]', "gt": [GT[0] | {"bbox": [0, 0, 50, 50]}],
           "width": 100, "height": 100}
    p.write_text(json.dumps(rec) + "\n")
    assert run_cli("reward", "score", p, "--details", "--min-pixels", 112 * 112, "--max-pixels", 112 * 112) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["details"]["input_size"] == [112, 112]
    assert row["rewards"]["precision"] == 1.0  # 56 px of 112 -> 50 px of 100


@pytest.mark.parametrize("bad, message", [
    (b"{not json", "not valid JSON"),
    (b'{"completion": "x"}', "missing required field 'gt'"),
    (b'{"completion": 3, "gt": [], "width": 10, "height": 10}', "Expected 'str', got 'int' - at '$.completion'"),
    (b'{"completion": "", "gt": [{"label": "a", "bbox": [5, 5, 5, 9]}], "width": 10, "height": 10}',
     "zero or negative area"),
    (b'{"completion": "", "gt": [{"label": "a", "bbox": [0, 0, 50, 9]}], "width": 10, "height": 10}',
     "outside the 10x10 image"),
    (b'{"completion": "", "gt": [{"label": "a", "bbox": [0, 0, NaN, 9]}], "width": 10, "height": 10}',
     "4 finite numbers"),
    (b'{"completion": "", "gt": [{"label": "a", "bbox": [0, 0, 5, 9, 1]}], "width": 10, "height": 10}',
     "at '$.gt[0].bbox'"),
    (b'{"completion": "", "gt": [{"bbox": [0, 0, 5, 9]}], "width": 10, "height": 10}',
     "missing required field 'label'"),
    (b'{"completion": "", "gt": [], "width": 0, "height": 10}', "each side must be a whole number of pixels"),
    (b'{"completion": "", "gt": [], "width": 1e30, "height": 10}', "each side must be a whole number of pixels"),
    (b'{"completion": "", "gt": [], "width": 1e300, "height": 1e300}', "each side must be a whole number"),
    (b'{"completion": "", "gt": [], "width": 10.5, "height": 10}', "each side must be a whole number"),
    (b'{"completion": "", "gt": [], "width": 100000, "height": 1}', "aspect ratio 100000 exceeds"),
    (b'{"completion": "", "gt": [], "width": 10, "height": 10, "input_width": 1e30, "input_height": 28}',
     "model input size"),
    (b'{"completion": "\xff", "gt": [], "width": 10, "height": 10}', "not UTF-8 text (byte 0xff at column 17)"),
    (b'{"completion": "", "gt": [], "width": 10, "height": 10, "step": -1}', "'step' must be an integer"),
    (b"[1, 2]", "Expected 'object', got 'array'"),
])
def test_malformed_line_names_its_number(tmp_path, capsys, bad, message):
    p = tmp_path / "in.jsonl"
    out = tmp_path / "out.jsonl"
    p.write_bytes((line() + "\n" + line() + "\n").encode() + bad + b"\n")
    assert run_cli("reward", "score", p, "--output", out) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {p}:3: ") and message in err and "\n" not in err
    assert sorted(x.name for x in tmp_path.iterdir()) == ["in.jsonl"]  # no output, no temporary file


def test_missing_input_and_bad_options(tmp_path, capsys):
    assert run_cli("reward", "score", tmp_path / "nope.jsonl") == 2
    assert "does not exist" in capsys.readouterr().err
    p = tmp_path / "in.jsonl"
    p.write_text(line() + "\n")
    assert run_cli("reward", "score", p, "--preset", "best") == 2
    assert "unknown reward preset 'best'" in capsys.readouterr().err
    assert run_cli("reward", "score", p, "--family", "llava") == 2
    assert run_cli("reward", "score", p, "--output", tmp_path) == 2
    assert "is a directory" in capsys.readouterr().err


def test_explain(cases, capsys):
    assert run_cli("reward", "explain", cases, "--line", 5) == 0
    out = capsys.readouterr().out
    for text in ("ground truth (N = 2)", "predictions (M = 1)", "ξ0=0.5", "0.6", "matches (Hungarian)", "2.1000"):
        assert text in out, text
    assert run_cli("reward", "explain", cases, "--line", 99) == 2
    assert "has no line 99" in capsys.readouterr().err
    assert run_cli("reward", "explain", cases, "--line", 4) == 2  # the blank line
    assert ":4: not valid JSON" in capsys.readouterr().err


def test_stdin_through_the_console_script():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "visionr1", "reward", "score", "-"], input=line() + "\n",
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rewards"]["total"] == 3.0


# ------------------------------------------------------------------ issue 15: bad inputs and outputs

@pytest.mark.parametrize("options, message", [
    (["--switch", 2], "switch (STEP) must be a fraction"),
    (["--switch", "nan"], "switch (STEP) must be a fraction"),
    (["--step", -5], "--step must be >= 0, got -5"),
    (["--total-steps", 0], "--total-steps must be >= 1, got 0"),
    (["--preset", "official", "--switch", 0.5], "the official preset does not use switch"),
    (["--preset", "official", "--matcher", "box+label"], "the official preset does not use matcher"),
    (["--preset", "official", "--no-differentiation"], "the official preset does not use differentiation"),
    (["--adaptive"], "the paper preset does not use adaptive"),
])
def test_out_of_range_and_conflicting_options_are_refused(tmp_path, capsys, options, message):
    p = tmp_path / "in.jsonl"
    p.write_text(line() + "\n")
    for cmd in ("score", "explain"):
        assert run_cli("reward", cmd, p, "--output" if cmd == "score" else "--line",
                       tmp_path / "out.jsonl" if cmd == "score" else 1, *options) == 2
        one_error(capsys, message)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["in.jsonl"]


HUGE = '[{"bbox_2d": [0, 0, 1e20, 1e20], "label": "cat"}, {"bbox_2d": [0, 0, 1e39, 1e39], "label": "cat"}, ' \
       '{"bbox_2d": [0, 0, 1%s, 9], "label": "cat"}, {"bbox_2d": [0, 0, 10, 10], "label": "cat"}]' % ("0" * 400)


@pytest.mark.parametrize("preset", ["paper", "official"])
def test_huge_coordinates_score_without_crashing(tmp_path, capsys, preset):
    """Model-writable text: the reward functions themselves stay defined (a crash would end a GRPO run)."""
    from visionr1.rewards import RewardConfig, reward_funcs

    funcs = reward_funcs(RewardConfig(preset=preset))
    cols = {"gt": [GT], "width": [100], "height": [100], "input_width": [100], "input_height": [100]}
    fmt, rec, prec = (f([HUGE], **cols)[0] for f in funcs)
    assert rec == 0.5 and 0 <= prec <= 1 and fmt in (0.0, 1.0)  # the sane box matches the cat, never the huge ones
    p = tmp_path / "in.jsonl"
    p.write_text(line(completion=HUGE) + "\n")
    assert run_cli("reward", "score", p, "--preset", preset, "--details") == 0
    row = json.loads(capsys.readouterr().out)
    assert row["rewards"]["recall"] == 0.5


def test_five_numbers_fail_the_content_check():
    from visionr1.rewards import score

    five = '[{"bbox_2d": [0, 0, 10, 10, 5], "label": "cat"}, {"bbox_2d": [20, 20, 30, 30], "label": "dog"}]'
    t = score(five, GT, 100, 100, input_size=(100, 100), details=True)
    assert t.format == 0.0 and t.details["template_ok"] and not t.details["content_ok"]
    assert t.recall == 0.5 and len(t.details["predictions"]) == 1  # only the 4-number box is recovered


def test_lone_surrogates_in_labels_and_completions(tmp_path, capsys):
    from visionr1.eval.predictions import PredictionStore, write_records

    p = tmp_path / "in.jsonl"  # json.dumps writes the lone surrogates as "\\ud800" escapes
    p.write_text(line(completion='[{"bbox_2d": [0, 0, 10, 10], "label": "\ud800"}]',
                      gt=[{"label": "\ud800", "bbox": [0, 0, 10, 10]}]) + "\n")
    out = tmp_path / "out.jsonl"
    assert run_cli("reward", "score", p, "--details", "--output", out) == 0
    row = json.loads(out.read_bytes().decode("utf-8"))  # valid UTF-8: the surrogate stays an escape
    assert row["gt"][0]["label"] == "\ud800" and row["details"]["predictions"][0]["label"] == "\ud800"
    assert row["rewards"]["recall"] == 1.0
    assert run_cli("reward", "explain", p) == 0
    assert "\\ud800" in capsys.readouterr().out
    store = PredictionStore(tmp_path / "preds")
    with store.writer(0) as f:
        write_records(f, [{"qid": "q1", "image_id": 1, "raw": "\ud800 cat", "boxes": [], "labels": [],
                           "template_ok": False, "content_ok": True}])
    assert store.read()["q1"]["raw"] == "\ud800 cat"


def test_fifo_output_is_streamed_never_replaced(tmp_path):
    import os
    import stat
    import threading

    p = tmp_path / "in.jsonl"
    p.write_text(line() + "\n" + line(completion="[]") + "\n")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    assert run_cli("reward", "score", p, "--output", fifo) == 0
    reader.join(30)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still the fifo
    assert [json.loads(x)["rewards"]["total"] for x in got[0].splitlines()] == [3.0, 1.0]


def test_device_output_is_never_replaced(tmp_path, capsys):
    """A null device and a full device of our own (same major/minor as /dev/null and /dev/full)."""
    import os
    import stat

    p = tmp_path / "in.jsonl"
    p.write_text(line() + "\n")
    null, full = tmp_path / "null", tmp_path / "full"
    try:
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
        full.open("wb").close()  # a nodev mount refuses to open it
    except OSError:
        pytest.skip("creating device nodes needs root and a file system mounted with dev")
    link = tmp_path / "link-to-null"
    link.symlink_to(null)
    for target in (null, link):
        assert run_cli("reward", "score", p, "--output", target) == 0
        assert stat.S_ISCHR(os.stat(target).st_mode) and link.is_symlink()
    capsys.readouterr()
    assert run_cli("reward", "score", p, "--output", full) == 2
    one_error(capsys, f"cannot write {full}: No space left on device")
    assert stat.S_ISCHR(os.lstat(full).st_mode)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["full", "in.jsonl", "link-to-null", "null"]


def test_full_disk_leaves_nothing_and_the_next_run_recovers(tmp_path, capsys):
    """A file size limit (EFBIG, what a full disk looks like to a writer) while writing the output."""
    import resource

    p = tmp_path / "in.jsonl"
    p.write_text("".join(line() + "\n" for _ in range(600)))
    out = tmp_path / "out.jsonl"
    out.write_text("earlier output\n")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, hard))
    try:
        code = run_cli("reward", "score", p, "--output", out)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert code == 2
    one_error(capsys, f"cannot write {out}: File too large")
    assert out.read_text() == "earlier output\n"  # untouched
    assert sorted(x.name for x in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]
    assert run_cli("reward", "score", p, "--output", out) == 0
    assert len(out.read_text().splitlines()) == 600


def test_read_only_folder_and_a_concurrent_writer(tmp_path, capsys):
    import fcntl
    import os

    p = tmp_path / "in.jsonl"
    p.write_text(line() + "\n")
    out = tmp_path / "out.jsonl"
    with open(tmp_path / ".out.jsonl.tmp", "wb") as other:  # another run is writing out.jsonl
        fcntl.flock(other, fcntl.LOCK_EX)
        assert run_cli("reward", "score", p, "--output", out) == 2
        one_error(capsys, f"{out} is being written by another visionr1 run")
    assert not out.exists()
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        assert run_cli("reward", "score", p, "--output", ro / "out.jsonl") == 2
        one_error(capsys, f"cannot write {ro / 'out.jsonl'}: Permission denied")
    assert run_cli("reward", "score", p, "--output", tmp_path / "no" / "such" / "out.jsonl") == 2
    one_error(capsys, "No such file or directory")


def test_rescoring_an_output_replaces_its_rewards(tmp_path):
    p, out, again = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "again.jsonl"
    p.write_text(line() + "\n")
    assert run_cli("reward", "score", p, "--output", out) == 0
    assert run_cli("reward", "score", out, "--output", again, "--preset", "official") == 0
    assert again.read_text().count('"rewards"') == 1


_value = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                      lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
                      max_leaves=12)
_line = st.one_of(
    st.binary(max_size=60),
    st.fixed_dictionaries({"completion": st.text(max_size=40) | _value, "gt": _value | st.just(GT),
                           "width": _value | st.integers(-5, 3000), "height": _value | st.integers(-5, 3000)},
                          optional={"input_width": _value, "input_height": _value, "step": _value})
    .map(lambda d: json.dumps(d).encode()),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_line, min_size=1, max_size=4))
def test_fuzzed_input_lines_give_output_or_one_error_line(tmp_path_factory, lines):
    import contextlib
    import io

    folder = tmp_path_factory.mktemp("fuzz")
    p, out = folder / "in.jsonl", folder / "out.jsonl"
    p.write_bytes(b"\n".join(x.replace(b"\n", b" ") for x in lines) + b"\n")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = run_cli("reward", "score", p, "--output", out)
    if code == 2:
        text = err.getvalue().strip()
        assert text.startswith(f"error: {p}:") and "\n" not in text
        assert not out.exists()
    else:
        assert code == 0
        rows = [json.loads(x) for x in out.read_bytes().splitlines()]
        assert len(rows) == sum(1 for x in lines if x.replace(b"\n", b" ").strip())
        assert all(0 <= r["rewards"]["total"] <= 3 for r in rows)
