"""The ``visionr1`` command line: one typer sub-application per command group."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from visionr1 import __version__
from visionr1.cli import data, demo, eval, review, reward, synth, train
from visionr1.errors import VisionR1Error
from visionr1.inputs import printable

# exit code when standard output is closed early (`visionr1 ... | head -1`): 128 + SIGPIPE, what the shell reports
# for any program stopped by a closed pipe (`set -o pipefail` sees it; without pipefail the pipeline's status is
# the reader's)
EXIT_CLOSED_PIPE = 141


class _StdoutClosed(Exception):
    """Standard output was closed by its reader. Not an ``OSError``, so that click does not handle it itself."""


class _Group(typer.core.TyperGroup):
    """The root command: a closed standard output anywhere below it becomes ``_StdoutClosed`` for ``main``."""

    def make_context(self, *args, **kwargs):  # --help is printed while the arguments are parsed
        try:
            return super().make_context(*args, **kwargs)
        except BrokenPipeError:
            raise _StdoutClosed from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise _StdoutClosed from None


app = typer.Typer(
    cls=_Group,
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
def _root(version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
          threads: Annotated[int | None, typer.Option(
              "--threads", help="CPU threads per process (default: VISIONR1_THREADS, else OMP_NUM_THREADS, else the "
                                "CPUs not busy at start shared by this machine's processes of the run).")] = None,
          ) -> None:
    if version:
        typer.echo(f"visionr1 {__version__}")
        raise typer.Exit()
    from visionr1 import threads as cpu_threads

    cpu_threads.apply(threads)  # said in the log by the commands that compute (cpu_threads.announce)


def _stdout_to_devnull() -> None:
    """Point the process's standard output at /dev/null, so that flushing what is still buffered (at exit too)
    raises nothing: no "Exception ignored ... BrokenPipeError" message. A replaced ``sys.stdout`` without a file
    descriptor (a test's capture) is left alone."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user mistakes (``VisionR1Error``) print one ``error:`` line and return exit code 2. When the
    reader of standard output goes away (`| head -1`), the command stops quietly with ``EXIT_CLOSED_PIPE``."""
    try:
        try:
            typer.main.get_command(app).main(args=argv, prog_name="visionr1", standalone_mode=True)
        except SystemExit as exc:  # click's standalone mode exits for --help, usage errors and typer.Exit
            if isinstance(exc.__context__, BrokenPipeError):  # rich's answer to EPIPE (`--help | head -1`)
                raise _StdoutClosed from None
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except VisionR1Error as exc:
            print(f"error: {printable(str(exc))}", file=sys.stderr)  # a path not in UTF-8: in escapes
            code = 2
        else:
            code = 0
        sys.stdout.flush()  # what is still buffered: a reader gone by now shows here, not at exit
        return code
    except (_StdoutClosed, BrokenPipeError):
        _stdout_to_devnull()
        return EXIT_CLOSED_PIPE
