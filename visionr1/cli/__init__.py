"""The ``visionr1`` command line: one typer sub-application per command group."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from visionr1 import __version__
from visionr1.cli import data, demo, eval, review, reward, synth, train
from visionr1.errors import VisionR1Error

app = typer.Typer(
    name="visionr1",
    help="Vision-R1: vision-guided, rule-rewarded GRPO post-training for object localization in VLMs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
app.add_typer(data.app, name="data")
app.add_typer(eval.app, name="eval")
app.add_typer(review.app, name="review")
app.add_typer(reward.app, name="reward")
app.add_typer(synth.app, name="synth")
app.add_typer(train.app, name="train")
app.command("demo")(demo.demo)


@app.callback(invoke_without_command=True)
def _root(version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False) -> None:
    if version:
        typer.echo(f"visionr1 {__version__}")
        raise typer.Exit()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user mistakes (``VisionR1Error``) print one ``error:`` line and return exit code 2."""
    try:
        typer.main.get_command(app).main(args=argv, prog_name="visionr1", standalone_mode=True)
    except SystemExit as exc:  # click's standalone mode exits for --help, usage errors and typer.Exit
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except VisionR1Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
