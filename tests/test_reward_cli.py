"""``visionr1 reward score`` / ``explain`` (SPEC §3.4)."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

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
    ("{not json", "not valid JSON"),
    ('{"completion": "x"}', "missing 'gt', 'width', 'height'"),
    ('{"completion": 3, "gt": [], "width": 10, "height": 10}', "'completion' must be a string"),
    ('{"completion": "", "gt": [{"label": "a", "bbox": [5, 5, 5, 9]}], "width": 10, "height": 10}',
     "zero or negative area"),
    ('{"completion": "", "gt": [{"label": "a", "bbox": [0, 0, 50, 9]}], "width": 10, "height": 10}',
     "outside the 10x10 image"),
    ('{"completion": "", "gt": [{"bbox": [0, 0, 5, 9]}], "width": 10, "height": 10}', "string 'label'"),
    ('{"completion": "", "gt": [], "width": 0, "height": 10}', "'width' must be a positive integer"),
    ('{"completion": "", "gt": [], "width": 10, "height": 10, "step": -1}', "'step' must be an integer"),
    ("[1, 2]", "expected a JSON object"),
])
def test_malformed_line_names_its_number(tmp_path, capsys, bad, message):
    p = tmp_path / "in.jsonl"
    out = tmp_path / "out.jsonl"
    p.write_text(line() + "\n" + line() + "\n" + bad + "\n")
    assert run_cli("reward", "score", p, "--output", out) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {p}:3: ") and message in err and "\n" not in err
    assert not out.exists() and not (tmp_path / "out.jsonl.tmp").exists()


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
