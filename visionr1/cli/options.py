"""Options shared by several commands, declared once."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Sequence
from typing import Any

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
