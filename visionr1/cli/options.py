"""Options shared by several commands, declared once."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Sequence
from typing import Any

from visionr1.errors import VisionR1Error

Option = tuple[str, Any, Any]  # name, Annotated[type, typer.Option(...)], default


def with_options(options: Sequence[Option], build: Callable[..., Any] | None = None, into: str = "config"):
    """Append ``options`` to a typer command's signature. With ``build``, their values are taken out of the call
    and ``build(**values)`` is passed to the command as ``into``."""
    names = [name for name, _, _ in options]

    def decorate(command):
        @functools.wraps(command)
        def wrapper(**kwargs):
            if build is not None:
                kwargs[into] = build(**{n: kwargs.pop(n) for n in names})
            return command(**kwargs)

        hints = typing.get_type_hints(command, include_extras=True)  # resolve string annotations
        own = [p.replace(annotation=hints[p.name], kind=inspect.Parameter.KEYWORD_ONLY)
               for p in inspect.signature(command).parameters.values() if build is None or p.name != into]
        extra = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a)
                 for n, a, d in options]
        wrapper.__signature__ = inspect.Signature(own + extra)
        return wrapper

    return decorate


def check_range(option: str, value: float | None, lo: float | None = None, hi: float | None = None) -> None:
    """One-line error unless ``lo <= value <= hi`` (None: no bound; NaN is refused); a value of None passes."""
    if value is None:
        return
    if not ((lo is None or value >= lo) and (hi is None or value <= hi)):
        bounds = (f"in [{lo}, {hi}]" if lo is not None and hi is not None else f">= {lo}" if lo is not None
                  else f"<= {hi}")
        raise VisionR1Error(f"--{option} must be {bounds}, got {value}")
