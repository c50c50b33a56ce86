"""``visionr1 demo --fast``: every stage of the method, end to end, with the real commands."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli

from visionr1.cli.demo import BENCHMARKS, MODELS
from visionr1.synth.pretrain import shipped_base


def test_demo_fast_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert run_cli("demo", "--out", out, "--fast") == 0
    captured = capsys.readouterr()
    stdout = captured.out.rstrip().splitlines()
    assert stdout[-1].startswith("└")  # the run ends with the report table
    assert "visionr1 review eval" in captured.out and "visionr1 review app demo" in captured.out
    # each stage printed the command it ran
    assert captured.err.count("$ visionr1 ") == 10
    base = shipped_base()
    # SFT and GRPO both start from the shipped base
    assert f"$ visionr1 train sft --model {base} " in captured.err
    assert f"$ visionr1 train grpo --model {base} " in captured.err

    manifest = json.loads((out / "mix" / "manifest.json").read_text())  # the paper's 30K : 5K in miniature
    assert {s: m["produced"]["total"] for s, m in manifest["sources"].items()} == {"coco": 1000, "odinw": 170}
    summary = json.loads((out / "report.json").read_text())
    assert set(summary["results"]) == set(BENCHMARKS)
    for bench, rows in summary["results"].items():
        assert set(rows) == set(MODELS)
        for name in MODELS:
            rep = json.loads((out / "eval" / bench / name / "report.json").read_text())  # runs named after models
            expected = base if name == "base" else out / name
            assert Path(rep["model"]) == expected  # the evaluation read the checkpoint of that stage
            assert rows[name]["queries"] == (8 if bench == "custom" else 16)
            assert 0 <= rows[name]["mAP"] <= 100 and 0 <= rows[name]["reward"] <= 3
            assert 0 <= rows[name]["AR100"] <= 100
            # labels ignored on the detection set; the grounding queries name their category
            any_label = rows[name]["mAP_any_label"]
            assert any_label is None if bench == "odinw" else 0 <= any_label <= 100
        assert rows["base"]["mAP"] > 0  # the shipped base localizes
    assert "| custom | base (pretrained) |" in (out / "report.md").read_text()
    assert "| mAP any label |" in (out / "report.md").read_text()
    assert (out / "reward_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    sft = [json.loads(x) for x in (out / "sft" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in sft if "loss" in r]
    assert len(losses) == 3
    grpo = [json.loads(x) for x in (out / "grpo" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in grpo if "reward" in r] == [1, 2, 3]
    assert summary["grpo_reward"]["steps"] == summary["grpo_recall"]["steps"] == 3 and summary["seconds"]["total"] > 0
    # held-out mAP during training: before the first step, every 2 steps and at the end, for SFT and GRPO
    for name in ("sft", "grpo"):
        assert [r["step"] for r in summary["heldout_during_training"][name]] == [0, 2, 3]
        assert all(0 <= r["reward"] <= 3 for r in summary["heldout_during_training"][name])
    assert "Held-out mAP / AR100 / mean reward during GRPO (3 greedy evaluations" in (out / "report.md").read_text()
    assert summary["seeds"] == 1 and set(summary["grpo_above_base"]) == set(BENCHMARKS)
    report = (out / "report.md").read_text()
    assert "GRPO vs the base in this run:" in report and "not comparable with the paper's" in report

    # an earlier run is only replaced on request
    assert run_cli("demo", "--out", out, "--fast") == 2
    assert "not empty" in capsys.readouterr().err


def test_warns_when_a_model_ignores_its_image():
    """The report's answer counts (eval) feed the demo's warning: one answer to half the images or more."""
    from types import SimpleNamespace

    from visionr1.cli.demo import ignores_image
    from visionr1.eval.metrics import _counts

    es = SimpleNamespace(queries=list(range(10)))
    same = _counts(es, [(None, {"raw": "[]" if i < 6 else f"[{i}]"}) for i in range(10)], [False] * 10)
    apart = _counts(es, [(None, {"raw": f"[{i}]"}) for i in range(10)], [False] * 10)
    assert (same["distinct_answers"], same["most_common_answer"]) == (5, 6)
    assert (apart["distinct_answers"], apart["most_common_answer"]) == (10, 1)
    warnings = ignores_image({"custom": {"base": same, "sft": apart}})
    assert len(warnings) == 1 and "base (pretrained) gives one answer to 6 of 10 custom queries" in warnings[0]


def test_reward_trend_against_noise_and_standard_error():
    """The demo's verdict on the training reward: a drift far below one step's noise is still a rise beyond its
    standard error over 100 steps; a flat noisy series is neither; a clean ramp is both."""
    import random

    from visionr1.cli.demo import reward_trend

    rng = random.Random(0)
    drift = [2.3 + 0.35 * i / 99 + rng.gauss(0, 0.3) for i in range(100)]
    flat = [2.4 + rng.gauss(0, 0.25) for _ in range(100)]
    ramp = [2.0 + i / 99 for i in range(100)]
    d, f, r = reward_trend(drift), reward_trend(flat), reward_trend(ramp)
    assert 0.25 < d["noise"] < 0.4 and 0.05 < d["se"] < 0.12 and d["rising_se"] and not d["rising"]
    assert not f["rising_se"] and not f["rising"] and abs(f["rise"]) < 2 * f["se"]
    assert r["rising"] and r["rising_se"] and r["noise"] < 1e-9 and r["rise"] == round(
        sum(ramp[-25:]) / 25 - sum(ramp[:25]) / 25, 4)


def test_the_demo_world_and_mix_are_named_where_they_are_described():
    """`synth world --profile`'s help ties "the demo" to the profile the demo writes, and only the recipe the demo
    builds says in its description that the demo uses it (a dense-world recipe is not the demo's)."""
    import re

    import typer
    import yaml

    from visionr1.cli.demo import PROFILE, RECIPE
    from visionr1.cli.synth import app
    from visionr1.resources import resource_dir

    params = {p.name: p for p in typer.main.get_command(app).commands["world"].params}
    before = params["profile"].help.split("the demo")
    assert len(before) == 2, params["profile"].help
    assert re.findall(r"\b(standard|dense|simple) \(", before[0])[-1] == PROFILE
    users = {doc["name"] for doc in (yaml.safe_load(f.read_text()) for f in
                                     (resource_dir("configs") / "recipes").glob("*.yaml"))
             if "demo" in doc.get("description", "")}
    assert users == {RECIPE}
