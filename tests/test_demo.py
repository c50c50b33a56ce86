"""``visionr1 demo --fast``: every stage of the method, end to end, with the real commands."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli

from visionr1.cli.demo import BENCHMARKS, MODELS


def test_demo_fast_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert run_cli("demo", "--out", out, "--fast") == 0
    captured = capsys.readouterr()
    stdout = captured.out.rstrip().splitlines()
    assert stdout[-1].startswith("└")  # the run ends with the report table
    assert "visionr1 review eval" in captured.out and "visionr1 review app demo" in captured.out
    # each stage printed the command it ran
    assert captured.err.count("$ visionr1 ") == 11 and "$ visionr1 train grpo --model" in captured.err

    summary = json.loads((out / "report.json").read_text())
    assert set(summary["results"]) == set(BENCHMARKS)
    for bench, rows in summary["results"].items():
        assert set(rows) == set(MODELS)
        for name in MODELS:
            rep = json.loads((out / "eval" / name / bench / "report.json").read_text())
            expected = out / ("model" if name == "base" else name)
            assert Path(rep["model"]) == expected  # the evaluation read the checkpoint of that stage
            assert rows[name]["queries"] == (4 if bench == "custom" else 8)
            assert 0 <= rows[name]["mAP"] <= 100 and 0 <= rows[name]["reward"] <= 3
    assert "| custom |" in (out / "report.md").read_text()
    assert (out / "reward_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    sft = [json.loads(x) for x in (out / "sft" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in sft if "loss" in r]
    assert len(losses) == 6 and losses[-1] < losses[0]  # the warm start learns
    grpo = [json.loads(x) for x in (out / "grpo" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in grpo if "reward" in r] == [1, 2, 3]
    assert summary["grpo_reward"]["steps"] == 3 and summary["seconds"]["total"] > 0

    # an earlier run is only replaced on request
    assert run_cli("demo", "--out", out, "--fast") == 2
    assert "not empty" in capsys.readouterr().err
