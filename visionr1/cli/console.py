"""Shared rich consoles and progress bars: results go to stdout, progress and notes to stderr."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class _Escaping(Console):
    """A console that shows text it cannot write as UTF-8 in escapes: a path named in bytes that are not UTF-8
    (read by Python as lone surrogates, ``\\udcff``) prints as ``\\xff``, not a ``UnicodeEncodeError``."""

    def _render_buffer(self, buffer) -> str:
        from visionr1.inputs import printable

        return printable(super()._render_buffer(buffer))


class _Out(_Escaping):
    def on_broken_pipe(self) -> None:
        """Standard output closed by its reader (`| head`): rich would exit with 1 here; the error goes to
        ``visionr1.cli.main`` instead, which ends every command the same quiet way (``EXIT_CLOSED_PIPE``)."""
        self.quiet = True
        raise BrokenPipeError


out = _Out(soft_wrap=True)
err = _Escaping(stderr=True, soft_wrap=True)


class _Progress(Progress):
    """rich's progress bar; when stderr is not a terminal (a log file, CI), where the bar is not redrawn, a plain
    line ``<description>: <done>/<total>`` each time another tenth of a task is done."""

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._line(task_id)

    def update(self, task_id: TaskID, **changes) -> None:
        """``update(task, completed=n)`` (a loop that counts its own steps) prints the same lines as ``advance``."""
        super().update(task_id, **changes)
        self._line(task_id)

    def _line(self, task_id: TaskID) -> None:
        if self.console.is_terminal:
            return
        task = self._tasks[task_id]
        if task.total:
            tenth = int(10 * task.completed // task.total)
            if tenth > task.fields.get("_tenth", 0):
                task.fields["_tenth"] = tenth
                self.console.print(f"{task.description}: {task.completed:,.0f}/{task.total:,.0f}", highlight=False)


def progress() -> Progress:
    """A progress bar on stderr: description, bar, done/total, elapsed and remaining time (a line per tenth
    when stderr is not a terminal)."""
    return _Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                     TimeRemainingColumn(), console=err)
