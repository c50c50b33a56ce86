import json
import re
import subprocess
import sys

import pytest
from conftest import one_error, run_cli

from visionr1.cli import EXIT_CLOSED_PIPE, app

GROUPS = ("data", "train", "eval", "review", "reward", "synth", "demo")


def test_help_lists_only_implemented_groups(capsys):
    assert run_cli("--help") == 0
    text = capsys.readouterr().out
    commands_panel = text[text.index("Commands"):]
    shown = set(re.findall(r"^│ (\S+)\s", commands_panel, flags=re.M))
    registered = {g.name for g in app.registered_groups} | {c.name for c in app.registered_commands}
    assert "synth" in shown
    assert shown == registered
    assert shown <= set(GROUPS)
    # every group shown has real commands (no placeholders)
    for g in app.registered_groups:
        assert g.typer_instance.registered_commands, f"group {g.name} has no commands"


def test_synth_help_names_what_its_commands_make(capsys):
    """The synth group's help (also in the top-level command list) names the stand-ins of every command: the world,
    the checkpoint families of tiny-model and pretraining."""
    assert run_cli("synth", "--help") == 0
    about = " ".join(capsys.readouterr().out.split("Options")[0].split())
    for what in ("shapes world", "Qwen2.5-VL", "Qwen3-VL", "Qwen3.5", "pretraining"):
        assert what in about, what


def test_version(capsys):
    assert run_cli("--version") == 0
    assert capsys.readouterr().out.strip().startswith("visionr1 ")


def test_world_out_is_a_file(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert run_cli("synth", "world", "--out", f, "--images", 2) == 2
    assert str(f) in one_error(capsys)


def test_world_out_under_a_file(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert run_cli("synth", "world", "--out", f / "sub", "--images", 2) == 2
    assert "cannot create" in one_error(capsys)


def test_world_out_unwritable(capsys):
    # /proc refuses new folders even to root, unlike chmod-protected folders
    assert run_cli("synth", "world", "--out", "/proc/visionr1-world", "--images", 2) == 2
    assert "/proc/visionr1-world" in one_error(capsys)


def test_world_refuses_foreign_nonempty_dir(tmp_path, capsys):
    (tmp_path / "precious.txt").write_text("keep me")
    assert run_cli("synth", "world", "--out", tmp_path, "--images", 2) == 2
    assert "not empty" in one_error(capsys)
    assert run_cli("synth", "world", "--out", tmp_path, "--images", 2, "--force") == 2
    assert "refusing to clear" in one_error(capsys)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_world_force_replaces_earlier_world(tmp_path, capsys):
    assert run_cli("synth", "world", "--out", tmp_path, "--images", 1, "--seed", 1) == 0
    stray = tmp_path / "coco" / "stray.txt"
    stray.write_text("old")
    assert run_cli("synth", "world", "--out", tmp_path, "--images", 1, "--seed", 1, "--force") == 0
    assert not stray.exists() and (tmp_path / "world.json").exists()


def test_tiny_model_unknown_family(tmp_path, capsys):
    assert run_cli("synth", "tiny-model", "--out", tmp_path / "m", "--family", "llava") == 2
    assert "unknown family 'llava'" in one_error(capsys)


def test_usage_error_exit_code(capsys):
    assert run_cli("synth", "world", "--out", "x", "--images", "0") == 2
    assert "--images" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--help"], ["synth", "world", "--out", "/proc/x"]])
def test_console_script(args):
    """The installed entry point behaves like the in-process CLI (exit codes, one-line errors)."""
    proc = subprocess.run([sys.executable, "-m", "visionr1", *args], capture_output=True, text=True, timeout=120)
    if args == ["--help"]:
        assert proc.returncode == 0 and "synth" in proc.stdout
    else:
        assert proc.returncode == 2
        assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("error: ")


@pytest.mark.parametrize("command, read", [(["reward", "score"], 1), (["reward", "explain", "--line", "1"], 0)],
                         ids=["score-jsonl", "explain-rich"])
def test_closed_stdout_ends_quietly(tmp_path, command, read):
    """`visionr1 ... | head -1`: when the reader closes standard output early, the command stops with exit code
    141 (128 + SIGPIPE) and says nothing: no traceback, no "Exception ignored" at exit. The JSONL writer
    (after one line was read) and the rich tables (closed before anything was read) take the same path."""
    case = json.dumps({"completion": '[{"bbox_2d": [1, 2, 30, 40], "label": "cat"}]',
                       "gt": [{"label": "cat", "bbox": [1, 2, 30, 40]}], "width": 100, "height": 100})
    cases = tmp_path / "cases.jsonl"
    cases.write_text((case + "\n") * 5000)  # far more than a pipe holds
    proc = subprocess.Popen([sys.executable, "-m", "visionr1", *command[:2], str(cases), *command[2:]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for _ in range(read):
        assert json.loads(proc.stdout.readline())["rewards"]["total"] > 0
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == EXIT_CLOSED_PIPE == 141
    assert "Traceback" not in err and "Exception ignored" not in err and err == "", err


@pytest.mark.parametrize("command", [["--help"], ["eval", "coco", "--help"]], ids=["root", "subcommand"])
def test_help_to_a_closed_pipe_ends_quietly(command):
    """`visionr1 eval coco --help | true`: the help (printed by rich while the arguments are parsed) hits a closed
    pipe; the command stops with 141 like any other output, not rich's exit code 1."""
    proc = subprocess.Popen([sys.executable, "-m", "visionr1", *command], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # before the interpreter has started: the first write meets a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == EXIT_CLOSED_PIPE and err == "", err


@pytest.mark.parametrize("how", ["advance", "update"])
def test_progress_prints_a_line_per_tenth_off_a_terminal(how, monkeypatch):
    """Off a terminal (a log file, CI, nohup) the bar is not redrawn, so it prints a plain line each tenth of a
    task, whether the loop advances the bar or sets how much is done (``update(completed=n)``)."""
    import io

    from rich.console import Console

    from visionr1.cli import console

    log = io.StringIO()
    monkeypatch.setattr(console, "err", Console(file=log, force_terminal=False, soft_wrap=True))
    with console.progress() as bar:
        task = bar.add_task("pretraining", total=200)
        for step in range(1, 201):
            if how == "advance":
                bar.advance(task)
            elif step % 25 == 0:  # a loop that reports every 25 steps
                bar.update(task, completed=step)
    lines = [x for x in log.getvalue().splitlines() if x.startswith("pretraining:")]
    want = range(20, 201, 20) if how == "advance" else (25, 50, 75, 100, 125, 150, 175, 200)
    assert lines == [f"pretraining: {n}/200" for n in want]
