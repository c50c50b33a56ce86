"""``visionr1 eval qa``: VLMEvalKit (real, offline) on the synthetic world's multiple-choice TSV."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import one_error, run_cli

from visionr1.errors import VisionR1Error
from visionr1.eval.qa import PAPER_QA, import_vlmeval, run_qa, vlmeval_config
from visionr1.io import lock_dir
from visionr1.synth.writers import LMU_SHAPES

csv.field_size_limit(1 << 30)


def _rows(lmu: Path) -> list[dict]:
    with open(lmu / f"{LMU_SHAPES}.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


class AnswerKey:
    """Answers from the TSV's key: right except on colour questions, where it picks a wrong letter."""

    def __init__(self, rows: list[dict]) -> None:
        self.key = {r["question"] + "|" + "|".join(r[c] for c in "ABCD"): r for r in rows}
        self.calls: list[tuple[str, int]] = []

    def decoding(self) -> dict:
        return {"backend": "answer-key"}

    def chat(self, conversations, images):
        out = []
        for conv, ims in zip(conversations, images, strict=True):
            text = "".join(c["text"] for c in conv[0]["content"] if c["type"] == "text")
            self.calls.append((text, len(ims)))
            question = re.search(r"Question: (.*)\n", text).group(1)
            options = re.findall(r"^([A-D])\. (.*)$", text, re.M)
            row = self.key[question + "|" + "|".join(v for _, v in options)]
            right = row["answer"]
            out.append(right if row["category"] != "attribute" else "ABCD"[("ABCD".index(right) + 1) % 4])
        return out


def test_judged_accuracy_is_what_the_answers_deserve(world_dir, tmp_path):
    lmu = world_dir / "lmudata"
    rows = _rows(lmu)[:12]
    key = AnswerKey(rows)
    report = run_qa(model="answer-key", benchmarks=[LMU_SHAPES], lmu_data=lmu, out=tmp_path, engine="visionr1",
                    family="qwen2.5-vl", backend="hf", min_pixels=3136, max_pixels=401408, max_new_tokens=8,
                    loader=None, limit=12, answerer=key)
    m = report["sets"][LMU_SHAPES]
    right = sum(r["category"] != "attribute" for r in rows)
    assert 0 < right < len(rows)
    assert m["Overall"] == round(100 * right / len(rows), 2)
    assert m["counting"] == m["recognition"] == 100.0 and m["attribute"] == 0.0
    assert m["questions"] == len(key.calls) == 12 and all(n == 1 for _, n in key.calls)  # one image each
    assert report["headline"] == m["Overall"] and report["judge"] == "exact_matching"
    assert (tmp_path / "report.md").read_text().startswith("# qa evaluation")

    class Refuse(AnswerKey):
        def chat(self, conversations, images):
            raise AssertionError("finished questions must not be asked again")

    again = run_qa(model="answer-key", benchmarks=[LMU_SHAPES], lmu_data=lmu, out=tmp_path, engine="visionr1",
                   family="qwen2.5-vl", backend="hf", min_pixels=3136, max_pixels=401408, max_new_tokens=8,
                   loader=None, limit=12, answerer=Refuse(rows))
    assert again["sets"] == report["sets"]


def test_tiny_model_through_the_cli(world_dir, tiny_model_dir, tmp_path, capsys):
    args = ["eval", "qa", "--model", tiny_model_dir, "--lmu-data", world_dir / "lmudata", "--benchmarks",
            LMU_SHAPES, "--out", tmp_path, "--max-new-tokens", "6", "--limit", "5"]
    assert run_cli(*args) == 0
    r = json.loads((tmp_path / "report.json").read_text())
    assert r["sets"][LMU_SHAPES]["questions"] == 5 and 0 <= r["headline"] <= 100
    assert r["decoding"]["greedy"] and r["decoding"]["max_new_tokens"] == 6
    config = json.loads((tmp_path / "vlmeval_config.json").read_text())
    assert config["data"] == {LMU_SHAPES: {"class": "CustomMCQDataset", "dataset": LMU_SHAPES}}
    assert (tmp_path / "vlmeval" / f"{tiny_model_dir.name}_{LMU_SHAPES}.xlsx").is_file()
    # VLMEvalKit reuses the answers in vlmeval/ by model folder name and benchmark: a run with another setting is
    # refused before the model loads, the folder left as it was
    before = _files(tmp_path)
    capsys.readouterr()
    for extra, what in ((["--max-new-tokens", "7"], "max_new_tokens 6 (this run: 7)"),
                        (["--max-pixels", "802816"], "max_pixels 401408 (this run: 802816)")):
        assert run_cli(*args, *extra) == 2
        one_error(capsys, f"--out {tmp_path} holds answers of another run", what)
    with lock_dir(tmp_path):  # what a running evaluation holds: a second one stops at once
        assert run_cli(*args) == 2
        one_error(capsys, tmp_path, "in use by another visionr1 run")
    assert _files(tmp_path) == before


def _files(out: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".lock"}


def test_answers_to_another_tsv_of_the_same_name_are_not_reused(world_dir, tmp_path):
    """A benchmark TSV of the same name with other questions (another world's, a regenerated custom set) is not
    answered from the answers VLMEvalKit kept; adding a benchmark to the folder is fine."""
    lmu, out = world_dir / "lmudata", tmp_path / "out"
    rows = _rows(lmu)[:4]
    common = dict(model="answer-key", lmu_data=lmu, out=out, engine="visionr1", family="qwen2.5-vl", backend="hf",
                  min_pixels=3136, max_pixels=401408, max_new_tokens=8, loader=None, limit=4)
    assert run_qa(benchmarks=[LMU_SHAPES], answerer=AnswerKey(rows), **common)["sets"][LMU_SHAPES]["questions"] == 4
    other = tmp_path / "lmu"
    other.mkdir()
    text = (lmu / f"{LMU_SHAPES}.tsv").read_text()
    head, first, rest = text.split("\n", 2)
    cells = first.split("\t")
    cells[2] = "Which shape is it?"  # another question under the same index
    (other / f"{LMU_SHAPES}.tsv").write_text("\n".join([head, "\t".join(cells), rest]))
    (other / "Extra.tsv").write_text(text)
    before = _files(out)
    with pytest.raises(VisionR1Error, match=f"holds answers of another run: .*{LMU_SHAPES}"):
        run_qa(benchmarks=[LMU_SHAPES], answerer=AnswerKey(rows), **{**common, "lmu_data": other})
    assert _files(out) == before
    shutil.copyfile(lmu / f"{LMU_SHAPES}.tsv", other / f"{LMU_SHAPES}.tsv")
    report = run_qa(benchmarks=[LMU_SHAPES, "Extra"], answerer=AnswerKey(rows), **{**common, "lmu_data": other})
    assert set(report["sets"]) == {LMU_SHAPES, "Extra"}


def test_answers_of_another_vlmeval_release_are_not_reused(world_dir, tmp_path):
    """VLMEvalKit builds the prompts: run.json records the installed release, and a folder answered under another
    one is refused before anything in it changes."""
    from importlib.metadata import version

    lmu, out = world_dir / "lmudata", tmp_path / "out"
    rows = _rows(lmu)[:2]
    common = dict(benchmarks=[LMU_SHAPES], model="answer-key", lmu_data=lmu, out=out, engine="visionr1",
                  family="qwen2.5-vl", backend="hf", min_pixels=3136, max_pixels=401408, max_new_tokens=8,
                  loader=None, limit=2)
    run_qa(answerer=AnswerKey(rows), **common)
    record = json.loads((out / "run.json").read_text())
    assert record["vlmeval"] == f"ms-vlmeval {version('ms-vlmeval')}"
    record["vlmeval"] = "ms-vlmeval 0.0.1"  # the folder of a run under an older release
    (out / "run.json").write_text(json.dumps(record, indent=2))
    before = _files(out)
    with pytest.raises(VisionR1Error, match=re.escape("holds answers of another run: vlmeval 'ms-vlmeval 0.0.1'")):
        run_qa(answerer=AnswerKey(rows), **common)
    assert _files(out) == before


def test_vlmeval_engine_config_is_valid_for_vlmeval(world_dir, monkeypatch):
    """The generated config is what `python -m vlmeval.run --config` reads: its data section builds with
    VLMEvalKit's own builder and its model class exists there."""
    import torch

    monkeypatch.setenv("LMUData", str(world_dir / "lmudata"))
    vd = import_vlmeval()
    assert torch.is_grad_enabled()  # vlmeval.vlm turns autograd off when imported; visionr1 puts it back
    import vlmeval.vlm
    from vlmeval.run import build_dataset_from_config

    ds = vd.build_dataset(LMU_SHAPES)
    config = vlmeval_config("/ckpt/Qwen2.5-VL-7B-Instruct", "Qwen2.5-VL-7B-Instruct", "vlmeval", {LMU_SHAPES: ds},
                            min_pixels=3136, max_pixels=12845056, max_new_tokens=512, use_vllm=False)
    model = config["model"]["Qwen2.5-VL-7B-Instruct"]
    assert hasattr(vlmeval.vlm, model["class"]) and model["max_pixels"] == 12845056
    rebuilt = build_dataset_from_config(config["data"], LMU_SHAPES)
    assert type(rebuilt) is type(ds) and len(rebuilt) == len(_rows(world_dir / "lmudata"))


def test_missing_benchmarks_are_listed_with_their_source(world_dir, tiny_model_dir, tmp_path, capsys):
    assert run_cli("eval", "qa", "--model", tiny_model_dir, "--lmu-data", world_dir / "lmudata", "--out",
                   tmp_path) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: missing 4 VLMEvalKit TSV files")
    assert all(f"{b}.tsv (from https://" in err[0] for b in PAPER_QA)
    assert run_cli("eval", "qa", "--model", tiny_model_dir, "--lmu-data", tmp_path / "nope", "--out", tmp_path) == 2
    assert "LMUData folder" in capsys.readouterr().err


def test_without_vlmeval_a_one_line_install_hint(world_dir, tiny_model_dir):
    code = ("import sys; sys.modules['vlmeval'] = None\n"
            "from visionr1.cli import main\n"
            f"sys.exit(main(['eval', 'qa', '--model', {str(tiny_model_dir)!r}, '--lmu-data', "
            f"{str(world_dir / 'lmudata')!r}, '--benchmarks', {LMU_SHAPES!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: eval qa needs VLMEvalKit: pip install 'visionr1[qa]' (it installs "
                                   "ms-vlmeval; nvidia-vlmeval works too)")


def test_help_describes_what_eval_qa_does():
    """`eval qa --help` describes its own folder and pixel defaults, not those of the box benchmarks: qa writes
    VLMEvalKit's files (no predictions/) and has no released mode. The box benchmarks keep theirs."""
    import typer

    from visionr1.cli.eval import app

    commands = typer.main.get_command(app).commands
    qa = {p.name: p.help for p in commands["qa"].params}
    coco = {p.name: p.help for p in commands["coco"].params}
    assert "vlmeval/" in qa["out"] and "predictions/" not in qa["out"] and "predictions/" in coco["out"]
    for name in ("min_pixels", "max_pixels"):
        assert "released" not in qa[name] and "released mode" in coco[name]
    assert "use_vllm" in qa["backend"] and "oracle" in coco["backend"]
