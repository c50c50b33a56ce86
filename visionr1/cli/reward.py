"""``visionr1 reward``: score completions with the Vision-R1 reward, or explain one case."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.table import Table

from visionr1.cli import console
from visionr1.cli.options import check_range, with_options
from visionr1.errors import VisionR1Error

BATCH = 256  # lines scored together (the vectorised path of score_batch)

app = typer.Typer(help="The criteria-driven reward: score completions (JSONL) or explain one case.",
                  no_args_is_help=True, rich_markup_mode="markdown")

Input = Annotated[Path, typer.Argument(help="JSONL of {completion, gt, width, height[, input_width, input_height, "
                                            "step]}; '-' reads standard input.")]
Step = Annotated[int | None, typer.Option(help="Training step for the threshold schedule (a line's 'step' wins).")]
TotalSteps = Annotated[int | None, typer.Option(help="Total training steps (for --switch).")]

# Reward configuration options shared by every command of the group: (name, annotation, default).
_CONFIG_OPTIONS = [
    ("preset", Annotated[str, typer.Option(help="paper (the paper's equations) or official (the released code).")],
     "paper"),
    ("family", Annotated[str, typer.Option(help="Model family of the completions.")], "qwen2.5-vl"),
    ("switch", Annotated[float | None, typer.Option(help="STEP: phase-2 thresholds from this fraction of the total "
                                                         "steps (default 1.0 = never; 0.5 for griffon-g).")], None),
    ("no_differentiation", Annotated[bool, typer.Option("--no-differentiation",
                                                        help="Ablation: f(x) = x instead of Eq. 8.")], False),
    ("no_refinement", Annotated[bool, typer.Option("--no-refinement",
                                                   help="Ablation: phase-1 thresholds throughout.")], False),
    ("count_reward", Annotated[bool, typer.Option("--count-reward",
                                                  help="Ablation: recall replaced by 1[M = N].")], False),
    ("matcher", Annotated[str, typer.Option(help="box (IoU only) or box+label.")], "box"),
    ("adaptive", Annotated[bool, typer.Option("--adaptive",
                                              help="official preset: switch thresholds at step 1500.")], False),
    ("min_pixels", Annotated[int, typer.Option(help="Image processor min_pixels (for smart_resize).")], 3136),
    ("max_pixels", Annotated[int, typer.Option(help="Image processor max_pixels (for smart_resize).")], 401408),
]


def _reward_config(**o):
    from visionr1.rewards import RewardConfig

    return RewardConfig(preset=o["preset"], family=o["family"], switch=o["switch"],
                        differentiation=not o["no_differentiation"], refinement=not o["no_refinement"],
                        count_reward=o["count_reward"], matcher=o["matcher"], adaptive=o["adaptive"],
                        min_pixels=o["min_pixels"], max_pixels=o["max_pixels"])


with_reward_config = with_options(_CONFIG_OPTIONS, build=_reward_config)


@contextmanager
def _open_input(path: Path) -> Iterator[tuple[BinaryIO, str]]:
    if str(path) == "-":
        yield sys.stdin.buffer, "<stdin>"
        return
    if not path.is_file():
        raise VisionR1Error(f"input file {path} does not exist" if not path.exists() else f"{path} is not a file")
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise VisionR1Error(f"cannot read {path}: {exc.strerror or exc}") from None
    with f:
        yield f, str(path)


def _geometry_of(config):
    """The family's geometry with the run's pixel limits: it checks each line's image size."""
    from visionr1.formats import get_adapter

    adapter = get_adapter(config.family)
    return lambda width, height, input_size: adapter.geometry(
        width, height, min_pixels=config.min_pixels, max_pixels=config.max_pixels, input_size=input_size)


def _check_steps(step: int | None, total_steps: int | None) -> None:
    check_range("step", step, lo=0)
    check_range("total-steps", total_steps, lo=1)


def _output_line(case, terms, details: bool) -> bytes:
    """The input line as written with ``"rewards"`` (and ``"details"``) added."""
    from visionr1.io import json_line

    extra = {"rewards": terms.as_dict()}
    if details:
        extra["details"] = terms.details
    if b'"rewards"' in case.raw or (details and b'"details"' in case.raw):  # may hold the key: replace it
        return json_line(json.loads(case.raw) | extra)
    return case.raw[:-1] + b"," + json_line(extra)[1:]


@app.command("score")
@with_reward_config
def score_cmd(
    input: Input,
    config,
    output: Annotated[Path | None, typer.Option(help="Output JSONL (default: standard output). A device or fifo "
                                                    "is written to, never replaced.")] = None,
    step: Step = None,
    total_steps: TotalSteps = None,
    details: Annotated[bool, typer.Option("--details", help="Add the parsed boxes and the matching.")] = False,
) -> None:
    """Score each line of INPUT: the line is written back with `"rewards": {format, recall, precision, total}`.
    A malformed line stops with an error naming its line number (exit code 2) and leaves no output file."""
    from visionr1.io import atomic_output
    from visionr1.rewards import score_batch
    from visionr1.rewards.cases import read_cases

    _check_steps(step, total_steps)
    sums, n = [0.0, 0.0, 0.0, 0.0], 0
    with atomic_output(output) as out, _open_input(input) as (stream, name):
        cases = read_cases(stream, name, _geometry_of(config))
        while batch := list(islice(cases, BATCH)):
            results = score_batch([c.completion for c in batch], [c.gt for c in batch], [c.width for c in batch],
                                  [c.height for c in batch],
                                  steps=[c.step if c.step is not None else (step or 0) for c in batch],
                                  total_steps=total_steps, input_sizes=[c.input_size for c in batch],
                                  config=config, details=details)
            out.write(b"".join([_output_line(c, t, details) for c, t in zip(batch, results, strict=True)]))
            for t in results:
                sums[0] += t.format
                sums[1] += t.recall
                sums[2] += t.precision
                sums[3] += t.total
            n += len(batch)
    table = Table(title=f"{n} completions scored ({config.preset} preset, {config.family})")
    for col in ("format", "recall", "precision", "total"):
        table.add_column(f"mean {col}", justify="right")
    table.add_row(*(f"{s / n:.4f}" if n else "-" for s in sums))
    console.err.print(table)


@app.command("explain")
@with_reward_config
def explain_cmd(
    input: Input,
    config,
    line: Annotated[int, typer.Option(help="Line number of the case to explain (1-based).")] = 1,
    step: Step = None,
    total_steps: TotalSteps = None,
) -> None:
    """Show how one case is scored: parsed boxes, matches with their IoU, thresholds and each reward term."""
    from visionr1.rewards import score
    from visionr1.rewards.cases import parse_case

    check_range("line", line, lo=1)
    _check_steps(step, total_steps)
    with _open_input(input) as (stream, name):
        text = next(islice(stream, line - 1, None), None)
    if text is None:
        raise VisionR1Error(f"{name} has no line {line}")
    try:
        case = parse_case(text, line, _geometry_of(config))
    except ValueError as exc:
        raise VisionR1Error(f"{name}:{line}: {exc}") from None
    terms = score(case.completion, case.gt, case.width, case.height,
                  step=case.step if case.step is not None else (step or 0), total_steps=total_steps,
                  input_size=case.input_size, config=config, details=True)
    _print_explanation(case, terms, config)


def _clip(text: str, n: int = 300) -> str:
    return repr(text[:n]) + ("…" if len(text) > n else "")


def _print_explanation(case, terms, config) -> None:
    from visionr1.formats import get_adapter, split_think
    from visionr1.inputs import printable

    d = terms.details
    out = console.out
    head = Table(title=f"{case.line}: {config.preset} preset, {config.family}", show_header=False)
    head.add_column("", style="bold")
    head.add_column("")
    head.add_row("image / model input", f"{case.width}x{case.height} / {d['input_size'][0]}x{d['input_size'][1]}")
    if config.preset == "paper":
        th = d["thresholds"]
        head.add_row("phase / thresholds", f"{d['phase']}: ξ0={th['xi0']} ξ1={th['xi1']} ξ2={th['xi2']}")
        head.add_row("template / content", f"{d['template_ok']} / {d['content_ok']}"
                     + (f" ({d['reason']})" if d["reason"] else ""))
    else:
        head.add_row("recall threshold / precision bounds", f"{d['recall_threshold']} / {d['precision_bounds']}")
    adapter = get_adapter(config.family)
    if adapter.thinking:  # what is scored is the answer after </think>: show both parts
        think, answer = split_think(case.completion)
        head.add_row("think", "not closed by </think>: no answer is read" if think is None else
                     f"{len(think.strip())} characters: " + _clip(think.strip()))
        head.add_row("answer (scored)", _clip(answer))
    else:
        head.add_row("completion", _clip(case.completion))
    out.print(head)

    gt = Table(title=f"ground truth (N = {len(case.gt)})")
    for col in ("#", "label", "bbox (original px)"):
        gt.add_column(col)
    for i, g in enumerate(case.gt):
        gt.add_row(str(i), printable(g["label"]), str([round(v, 2) for v in g["bbox"]]))
    out.print(gt)

    preds = Table(title=f"predictions (M = {len(d['predictions'])})")
    for col in ("#", "label", "bbox (model space)", "bbox (original px)"):
        preds.add_column(col)
    for i, p in enumerate(d["predictions"]):
        preds.add_row(str(i), printable(str(p["label"])), str(p["bbox_model"]), str(p.get("bbox", "")))
    out.print(preds)

    matches = Table(title="matches (Hungarian)")
    keys = [k for k in (d["matches"][0] if d["matches"] else {}) if k not in ("pred", "gt")]
    for col in ("pred", "gt", *keys):
        matches.add_column(col, justify="right")
    for m in d["matches"]:
        matches.add_row(*(str(m[k]) for k in ("pred", "gt", *keys)))
    out.print(matches)

    result = Table(title="reward")
    for col in ("format", "recall", "precision", "total"):
        result.add_column(col, justify="right")
    result.add_row(*(f"{v:.4f}" for v in terms.as_dict().values()))
    out.print(result)
