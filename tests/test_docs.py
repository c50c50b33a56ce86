"""Every ``visionr1`` command in the documentation's ```bash blocks exists, with options it really has.

Scans README.md and docs/*.md (no subprocesses): each logical shell line (``\\`` continuations joined, comments
dropped, split at ``&&``, ``||``, ``;``, ``|`` and ``&``) that runs ``visionr1 ...`` (also ``.venv/bin/visionr1``,
``python -m visionr1 ...`` and ``-m visionr1.train grpo|sft`` after ``accelerate launch``) must name registered
commands, and each ``--flag`` must be an option of that click command. ``train grpo`` / ``train sft`` accept any
option of their config (``--name value``): there, a flag that is not a click option must be a field of
``VisionR1GRPOConfig`` / ``VisionR1SFTConfig`` (dashes read as underscores). Optional parts written as
``[--flag value]`` are checked too.
"""

from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

import pytest
import typer

from visionr1.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SEPARATORS = {"&&", "||", ";", "|", "&"}
# `visionr1 demo` is being added concurrently: until it is registered, docs that already show it are not checked
# against it (an unregistered name is otherwise an error).
NOT_YET_REGISTERED = {("demo",)}


@dataclass
class Invocation:
    doc: str
    line: int
    path: list[str]  # command names after the program, e.g. ["eval", "coco"]
    args: list[str]  # the tokens after them

    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def bash_blocks(text: str):
    """``(first line number, lines)`` of every fenced bash block."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^\s*(`{3,}|~{3,})\s*(\w+)?", lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m.group(1), (m.group(2) or "").lower()
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        if lang in ("bash", "sh", "shell"):
            yield i + 2, lines[i + 1:j]
        i = j + 1


def strip_comment(line: str) -> str:
    """The line without its shell comment (a ``#`` that starts a word, outside quotes)."""
    quote = None
    for k, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (k == 0 or line[k - 1].isspace()):
            return line[:k]
    return line


def logical_lines(first: int, lines: list[str]):
    """``(line number, text)`` with backslash continuations joined."""
    start, parts = None, []
    for n, raw in enumerate(lines, start=first):
        text = strip_comment(raw).rstrip()
        if start is None:
            start = n
        if text.endswith("\\"):
            parts.append(text[:-1])
            continue
        parts.append(text)
        joined = " ".join(parts).strip()
        if joined:
            yield start, joined
        start, parts = None, []
    if parts and " ".join(parts).strip():
        yield start, " ".join(parts).strip()


def segments(tokens: list[str]):
    """Tokens split at ``&&``, ``||``, ``;``, ``|``, ``&`` (and a ``;`` glued to a word)."""
    current: list[str] = []
    for tok in tokens:
        if tok in SEPARATORS:
            yield current
            current = []
        elif tok.endswith(";") and len(tok) > 1:
            current.append(tok[:-1])
            yield current
            current = []
        else:
            current.append(tok)
    yield current


def invocation(doc: str, line: int, tokens: list[str]) -> Invocation | None:
    """The first ``visionr1`` call in one command of a shell line."""
    for k, tok in enumerate(tokens):
        if tok == "visionr1" or tok.endswith("/visionr1"):
            return Invocation(doc, line, [], tokens[k + 1:])
        if tok == "-m" and k + 1 < len(tokens):
            if tokens[k + 1] == "visionr1":
                return Invocation(doc, line, [], tokens[k + 2:])
            if tokens[k + 1] == "visionr1.train":
                return Invocation(doc, line, ["train"], tokens[k + 2:])
    return None


def invocations(path: Path, root: Path = ROOT) -> tuple[list[Invocation], list[str]]:
    doc = str(path.relative_to(root))
    found, problems = [], []
    for first, lines in bash_blocks(path.read_text(encoding="utf-8")):
        for line, text in logical_lines(first, lines):
            try:
                tokens = shlex.split(text)
            except ValueError as exc:
                if "visionr1" in text:
                    problems.append(f"{doc}:{line}: not a valid shell line ({exc}): {text}")
                continue
            for seg in segments(tokens):
                inv = invocation(doc, line, seg)
                if inv is not None:
                    found.append(inv)
    return found, problems


@cache
def root_command():
    """The click command tree of ``visionr1`` (typer's own click: groups have ``commands``)."""
    return typer.main.get_command(app)


@cache
def config_fields(kind: str) -> frozenset[str]:
    from visionr1.train.config import KINDS  # imports TRL: only when a doc passes config options

    return frozenset(f.name for f in fields(KINDS[kind]))


def option_names(cmd) -> set[str]:
    names = {"--help"}
    for p in cmd.params:
        if p.param_type_name == "option":
            names.update(p.opts)
            names.update(p.secondary_opts)
    return names


def flags(args: list[str]) -> list[str]:
    """``--flag`` names used in ``args`` (``[--flag value]`` optional parts included, ``--flag=value`` split)."""
    out = []
    for tok in args:
        tok = tok.strip("[]")
        if tok.startswith("--") and len(tok) > 2:
            out.append(tok.split("=", 1)[0].rstrip("]"))
    return out


def check(inv: Invocation) -> list[str]:
    """Problems of one invocation (empty when the command and all its flags exist)."""
    cmd = root_command()
    names = list(inv.path)
    args = list(inv.args)
    for name in inv.path:  # a prefix fixed by `-m visionr1.train`
        cmd = cmd.commands[name]
    while hasattr(cmd, "commands") and args and not args[0].startswith("-"):
        name = args.pop(0)
        sub = cmd.commands.get(name)
        if sub is None:
            if (*names, name) in NOT_YET_REGISTERED:
                return []
            known = ", ".join(sorted(cmd.commands))
            return [f"{inv.where()}: unknown command 'visionr1 {' '.join([*names, name])}' (known: {known})"]
        cmd = sub
        names.append(name)
    label = "visionr1 " + " ".join(names) if names else "visionr1"
    allowed = option_names(cmd)
    extra_ok = bool(cmd.context_settings.get("allow_extra_args")) and names[:1] == ["train"]
    problems = []
    for flag in flags(args):
        if flag in allowed:
            continue
        if extra_ok and flag[2:].replace("-", "_") in config_fields(names[-1]):
            continue
        where = f"an option of `{label}` nor a field of its config" if extra_ok else f"an option of `{label}`"
        problems.append(f"{inv.where()}: {flag} is not {where}")
    return problems


def test_docs_are_scanned():
    assert (ROOT / "README.md").is_file()
    assert len(DOCS) > 5
    found = [inv for doc in DOCS for inv in invocations(doc)[0]]
    # the scanner sees the forms the docs use: plain, .venv/bin/, -m visionr1.train after accelerate launch
    assert len(found) > 20
    assert any(inv.path == ["train"] for inv in found)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_documented_commands_exist(doc):
    found, problems = invocations(doc)
    for inv in found:
        problems += check(inv)
    assert not problems, "\n".join(problems)



# ---- documented choice lists (`--profile standard|dense|...`) are the real ones

CHOICE_LIST = re.compile(r"(--[a-z][a-z-]*) \[?((?:[\w.+-]+\\?\|)+[\w.+-]+)")


def real_choices() -> dict[str, set[str]]:
    """Per option that takes one of a fixed set of words, the set the code accepts."""
    from visionr1.eval.backends import BACKENDS
    from visionr1.eval.modes import MODES
    from visionr1.eval.sets import PROTOCOLS
    from visionr1.rewards.config import PRESETS
    from visionr1.rewards.matching import MATCHERS
    from visionr1.synth.tiny_model import FAMILIES, SIZES
    from visionr1.synth.world import PROFILES

    return {"--profile": set(PROFILES), "--size": set(SIZES), "--family": set(FAMILIES), "--preset": set(PRESETS),
            "--matcher": set(MATCHERS), "--mode": set(MODES), "--backend": set(BACKENDS),
            "--protocol": set(PROTOCOLS)}


def choice_problems(doc: Path) -> list[str]:
    real, problems = real_choices(), []
    for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
        for flag, listed in CHOICE_LIST.findall(line):
            words = set(listed.replace("\\|", "|").split("|"))
            if flag not in real:
                problems.append(f"{doc.name}:{n}: {flag} lists choices; add where they come from to real_choices")
            elif words != real[flag]:
                problems.append(f"{doc.name}:{n}: {flag} {'|'.join(sorted(words))} (the code: "
                                f"{'|'.join(sorted(real[flag]))})")
    return problems


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_documented_choices_are_the_real_ones(doc):
    assert not choice_problems(doc), "\n".join(choice_problems(doc))


def test_choice_checker_finds_a_missing_profile(tmp_path):
    f = tmp_path / "x.md"
    f.write_text("| `visionr1 synth world --out DIR [--profile standard\\|dense\\|simple]` | world |\n"
                 "`visionr1 reward score IN [--preset paper|official]`, `--colour red|blue`\n")
    problems = choice_problems(f)
    assert len(problems) == 2, problems
    assert problems[0].startswith("x.md:1: --profile dense|simple|standard (the code: dense|dense-224|simple")
    assert problems[1].startswith("x.md:2: --colour lists choices")


# ---- the checker itself

def _problems(text: str, tmp_path) -> list[str]:
    f = tmp_path / "x.md"
    f.write_text(text)
    found, problems = invocations(f, root=tmp_path)
    return problems + [p for inv in found for p in check(inv)]


def test_checker_finds_wrong_commands_and_flags(tmp_path):
    text = """# t

intro

```bash
visionr1 eval coco --model m --data-root d --out o   # fine
visionr1 eval coconut --model m
.venv/bin/visionr1 synth world --out w && visionr1 data build --out mix \\
    --coco-rot /data/coco [--allow-short] [--no-such]
accelerate launch --config_file c.yaml -m visionr1.train grpo --model m --data d --out o \\
    --max-steps 10 --use-vllm true --not-an-option 1
CUDA_VISIBLE_DEVICES=0 python -m visionr1 eval odinw --data-root d --sets Aquarium --bogus &
visionr1 --version
```

```python
visionr1 eval coco --wrong   # not bash: ignored
```
"""
    problems = _problems(text, tmp_path)
    assert len(problems) == 5, problems
    assert problems[0].startswith("x.md:7: unknown command 'visionr1 eval coconut'")
    assert problems[1] == "x.md:8: --coco-rot is not an option of `visionr1 data build`"
    assert problems[2] == "x.md:8: --no-such is not an option of `visionr1 data build`"
    assert problems[3] == "x.md:10: --not-an-option is not an option of `visionr1 train grpo` nor a field of its config"
    assert problems[4] == "x.md:12: --bogus is not an option of `visionr1 eval odinw`"


def test_checker_skips_commands_not_registered_yet(tmp_path):
    registered = "demo" in root_command().commands
    problems = _problems("```bash\nvisionr1 demo --out runs/demo\n```\n", tmp_path)
    assert problems == [] or registered


# ---- every error message is in docs/troubleshooting.md

TROUBLESHOOTING = ROOT / "docs" / "troubleshooting.md"
# Known gaps ("file: fragment" of a message docs/troubleshooting.md does not show yet), for a message that cannot
# be documented at once; none now. A stale entry (its message documented) fails the test.
UNDOCUMENTED: set[str] = set()


def _fixed_parts(node: ast.expr, constants: dict[str, str]) -> list[str]:
    """The fixed text pieces of a message expression: a string, an f-string's text between its ``{...}``, the
    two sides of ``+``, a module constant's value. Placeholders split pieces."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        out = [""]
        for v in node.values:
            if isinstance(v, ast.Constant):
                out[-1] += v.value
            else:
                out.append("")
        return out
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [*_fixed_parts(node.left, constants), *_fixed_parts(node.right, constants)]
    if isinstance(node, ast.Name) and node.id in constants:
        return [constants[node.id]]
    return []


def error_messages() -> list[tuple[str, str]]:
    """``(file:line, fragment)`` of every ``VisionR1Error(...)`` raised in visionr1/: the message's longest fixed
    piece (whitespace collapsed as ``VisionR1Error`` does, outer punctuation trimmed). A message that is all
    placeholders (``f"{path}: {reason}"``: the reason comes from another message or the system) has none."""
    found = []
    for path in sorted((ROOT / "visionr1").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                     and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
                     for t in n.targets if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "VisionR1Error" and node.args:
                pieces = [" ".join(p.split()).strip(" :;,.()'\"") for p in _fixed_parts(node.args[0], constants)]
                fragment = max(pieces, key=len, default="")
                if len(fragment) >= 8:
                    found.append((f"{rel}:{node.lineno}", fragment))
    return found


def test_every_error_message_is_in_troubleshooting():
    """docs/troubleshooting.md lists every ``error:`` a user can get (with its cause and fix): the fixed part of
    each ``VisionR1Error`` message must appear in it (line breaks and markdown's ``\\|`` aside)."""
    doc = " ".join(TROUBLESHOOTING.read_text(encoding="utf-8").replace("\\|", "|").split())
    messages = error_messages()
    assert len(messages) > 150  # the scanner sees the messages
    missing = {f"{where.split(':')[0]}: {fragment}" for where, fragment in messages if fragment not in doc}
    stale = UNDOCUMENTED - missing
    new = sorted(f"{where}: {fragment}" for where, fragment in messages
                 if fragment not in doc and f"{where.split(':')[0]}: {fragment}" not in UNDOCUMENTED)
    assert not new, "error messages missing from docs/troubleshooting.md:\n" + "\n".join(new)
    assert not stale, "documented now, remove from UNDOCUMENTED:\n" + "\n".join(sorted(stale))


# ---- every model and path a documented command reads exists, or an earlier command of the page writes it

READ_OPTIONS = ("--model", "--data", "--config", "--recipe", "--resume")
WRITE_OPTIONS = ("--out", "--local-dir", "--output", "--output-dir")
_PLACEHOLDER = re.compile(r"[$<>{}]|\.\.\.|^[A-Z][A-Z0-9_]*$")
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")


def _norm(value: str) -> str:
    return value.rstrip("/").removeprefix("./")


def read_paths(text: str, doc: str = "doc") -> list[str]:
    """``doc:line: --option value`` for every path a documented command reads that neither exists in the repository
    nor is written by an earlier command of the same page (``--out`` and the like of any command, ``mkdir``)."""
    written: list[str] = []
    problems = []
    for first, lines in bash_blocks(text):
        for line, raw in logical_lines(first, lines):
            try:
                tokens = shlex.split(raw)
            except ValueError:
                continue
            for seg in segments(tokens):
                reads = []
                for k, tok in enumerate(seg[:-1]):
                    value = _norm(seg[k + 1])
                    if tok in WRITE_OPTIONS:
                        written.append(value)
                    elif tok in READ_OPTIONS:
                        reads.append((tok, value))
                if seg[:1] == ["mkdir"]:
                    written.extend(_norm(t) for t in seg[1:] if not t.startswith("-"))
                for tok, value in reads:
                    if (_PLACEHOLDER.search(value) or value == "latest" or (tok == "--recipe" and "/" not in value)
                            or (tok == "--model" and _HUB_ID.fullmatch(value) and not (ROOT / value).exists()
                                and not value.startswith(("runs/", "/")))):
                        continue  # a placeholder, a built-in recipe name or a hub id
                    if (ROOT / value).exists() or any(value == w or value.startswith(w + "/") for w in written):
                        continue
                    problems.append(f"{doc}:{line}: {tok} {value}")
    return problems


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_documented_paths_exist_or_are_written_first(doc):
    """A user copying a page's commands in order never reads a model, mix or config that does not exist: each
    ``--model`` / ``--data`` / ``--config`` / ``--recipe`` / ``--resume`` path is in the repository or written
    earlier on the same page (placeholders such as ``$MODEL``, ``CKPT`` or ``<ckpt>`` and hub ids aside)."""
    problems = read_paths(doc.read_text(encoding="utf-8"), str(doc.relative_to(ROOT)))
    assert not problems, "paths that nothing on the page writes:\n" + "\n".join(problems)


def test_path_checker_finds_a_path_nothing_writes():
    page = "\n".join(["```bash", "visionr1 synth tiny-model --out runs/model",
                       "visionr1 train grpo --model runs/model --data mix --out runs/grpo",
                       "visionr1 eval coco --model runs/grpo/ --out e",
                       "visionr1 eval coco --model runs/demo/model --out e",
                       "visionr1 train sft --model Qwen/Qwen2.5-VL-7B-Instruct --data $MIX --config x.yaml --out o",
                       "```", ""])
    assert read_paths(page) == ["doc:3: --data mix", "doc:5: --model runs/demo/model", "doc:6: --config x.yaml"]


def test_the_specification_is_the_projects_own():
    """Every reference to the specification points at docs/spec.md (no "SPEC.md" / "SPEC §" of a file the
    repository does not have), and every section it names exists there."""
    spec = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    sections = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", spec, flags=re.M))
    assert {"1", "2", "3", "3.1", "3.2", "3.3", "3.4", "4"} <= sections
    files = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "visionr1").rglob("*.py"),
             *(ROOT / "configs").rglob("*.yaml")]
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"SPEC(\.md| ?§| \d)", text), path
        for ref in re.findall(r"spec(?:\.md)?\]?\(?[\w.]*\)? §(\d+(?:\.\d+)?)", text):
            assert ref in sections, (path, ref)
